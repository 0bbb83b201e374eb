import tensorflow as tf

from tftransformer._arguments import class_names, output_shape
from tftransformer.export.text_classifier_serving_module import (
    TextClassifierServingModule,
)

__all__ = ["TextRegressorServingModule"]


class TextRegressorServingModule(TextClassifierServingModule):
    """Serves a `TextRegressor` on raw strings.

    As `TextClassifierServingModule` (tokenization in the graph, optional
    `text_pair` input), answering `score`: float32 `(batch, num_targets)`,
    in the targets' own units (the model's standardized outputs times
    `target_std` plus `target_mean`, both in the graph).

    Args:
        model: a float32 `TextRegressor`.
        preprocessor, text_pair, name: as `TextClassifierServingModule`'s.
        label_names: the target names (written to `assets/labels.txt`).

    Example:
    ```python
    module = TextRegressorServingModule(regressor, preprocessor, ["valence"])
    module.serve(tf.constant(["a fine film"]))["score"]  # [[2.4]]
    ```
    """

    def __init__(self, model, preprocessor, label_names, text_pair=False, name=None):
        super().__init__(model, preprocessor, label_names, text_pair, name)
        mean, std = model.standardization()
        self.target_mean = tf.constant(mean, tf.float32)
        self.target_std = tf.constant(std, tf.float32)

    @staticmethod
    def check_model(model, label_names=None):
        shape = output_shape(model)
        if shape is None or len(shape) != 2 or not shape[-1]:
            raise ValueError(
                "The model must output (batch, num_targets). Received a model "
                f"{model.name!r} with output shape {shape}"
            )
        if label_names is None:
            label_names = [str(j) for j in range(shape[-1])]
        return class_names("label_names", label_names, shape[-1])

    def _classify(self, text):
        return {"score": self._outputs(text) * self.target_std + self.target_mean}
