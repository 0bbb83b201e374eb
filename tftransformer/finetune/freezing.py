"""Freezes the lower layers of a Transformer backbone."""

import functools
import numbers

from tftransformer.finetune.backbone_layers import embedding_layers, encoder_layers

__all__ = ["freeze_layers"]

# Marks a `call` already wrapped by `_run_in_inference_mode_while_frozen`.
_INFERENCE_WHEN_FROZEN = "_tftransformer_inference_when_frozen"


def _run_in_inference_mode_while_frozen(layer):
    """Makes `layer` ignore `training=True` while `layer.trainable` is False.

    Keras 3 only does this for `BatchNormalization`; a frozen block would
    otherwise keep applying dropout. The check is made at call time, so
    setting `trainable = True` later turns dropout back on (after the model
    is recompiled, as any change of `trainable` needs). The forced
    `training=False` reaches the sublayers because every Keras, keras-hub and
    tftransformer layer passes `training` on explicitly.
    """
    if getattr(layer.call, _INFERENCE_WHEN_FROZEN, False):
        return
    call = layer.call

    @functools.wraps(call)
    def inference_when_frozen_call(*args, **kwargs):
        if not layer.trainable and "training" in kwargs:
            kwargs["training"] = False
        return call(*args, **kwargs)

    setattr(inference_when_frozen_call, _INFERENCE_WHEN_FROZEN, True)
    layer.call = inference_when_frozen_call


def freeze_layers(model, num_layers):
    """Freezes the embeddings and the first `num_layers` encoder layers.

    Frozen layers get `trainable = False`, so the optimizer leaves their
    weights alone (weight decay included), and they run in inference mode:
    no dropout even under `fit`. Layers frozen earlier stay frozen; to
    unfreeze, set `layer.trainable = True`. Compile the model after calling
    this, as Keras reads `trainable` when it builds the train step.

    A `.keras` file does not keep the freeze: keras-hub backbones and
    `tftransformer.models.TransformerEncoder` rebuild their layers from
    constructor arguments, a plain functional model gets the layers' flags
    back but Keras leaves the variables of their sublayers trainable, and the
    inference mode is not saved at all. Call `freeze_layers` again on a
    loaded model: it is idempotent.

    Args:
        model: a backbone, or a model containing one (see
            `tftransformer.finetune.find_backbone`).
        num_layers: int between 0 and the number of encoder layers. 0 freezes
            nothing, not even the embeddings.

    Returns:
        The list of layers it froze: the embedding layers, then encoder
        layers 0 to `num_layers - 1`; empty when `num_layers` is 0.

    Raises:
        ValueError: if `num_layers` is not an int in that range.

    Example:
    ```python
    classifier = keras_hub.models.BertTextClassifier(backbone, num_classes=2)
    frozen = freeze_layers(classifier, num_layers=4)
    classifier.compile(optimizer=create_optimizer(2e-5, num_train_steps=1000))
    ```
    """
    encoders = encoder_layers(model)
    if (
        isinstance(num_layers, bool)
        or not isinstance(num_layers, numbers.Integral)
        or not 0 <= num_layers <= len(encoders)
    ):
        raise ValueError(
            f"num_layers must be an int between 0 and {len(encoders)}, the "
            f"number of encoder layers. Received: num_layers={num_layers!r}"
        )
    if num_layers == 0:
        return []
    frozen = embedding_layers(model) + encoders[: int(num_layers)]
    for layer in frozen:
        # The property setter is called directly: the TensorFlow backend's
        # __setattr__ skips it when the flag is already False, and a loaded
        # model can have the flag False while the sublayers' variables are
        # still trainable.
        type(layer).trainable.fset(layer, False)
        _run_in_inference_mode_while_frozen(layer)
    return frozen
