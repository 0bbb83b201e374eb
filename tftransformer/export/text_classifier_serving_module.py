import keras
import tensorflow as tf

from tftransformer._arguments import class_names, output_shape
from tftransformer.export._untracked import set_untracked

__all__ = ["TextClassifierServingModule", "check_text_classifier"]

TEXT_INPUT = "text"
TEXT_PAIR_INPUT = "text_pair"


def string_batch(strings):
    """A serving input, checked in the graph to be a 1-D batch of strings.

    A loaded SavedModel's signature takes tensors of any shape although it
    declares `(None,)`: a 2-D input was flattened into as many rows, a
    scalar read as a batch of one. The check fails the request with
    "Shape of tensor text [2,2] is not compatible with expected shape [?]".
    """
    return tf.ensure_shape(strings, [None])


def check_text_classifier(model, label_names=None):
    """Checks what a text classifier export needs; returns the label names.

    Args:
        model: the classifier.
        label_names: its label names, or None for `"0"`, `"1"`, ...

    Raises:
        ValueError: for a model without one output per class (at least 2)
            or label names that do not name its classes.
    """
    shape = output_shape(model)
    if shape is None or len(shape) != 2 or shape[-1] is None or shape[-1] < 2:
        # A softmax over one logit is 1 for every input.
        raise ValueError(
            "The model must output one logit (or probability) per class, "
            "(batch, num_classes) with at least 2 classes; a single logit of "
            f"a sigmoid classifier is not served. Received a model {model.name!r} "
            f"with output shape {shape}"
        )
    if label_names is None:
        label_names = [str(i) for i in range(shape[-1])]
    return class_names("label_names", label_names, shape[-1])


class TextClassifierServingModule(tf.Module):
    """A `tf.Module` classifying raw strings with a Keras text classifier.

    Tokenization, `[CLS] ... [SEP]` packing, truncation to the
    preprocessor's `sequence_length` and padding to the batch's longest row
    all run inside the graph, so the saved signature takes strings and needs
    only TensorFlow and TensorFlow Text ops to run (no Python tokenizer, no
    Keras). It holds the model's variables the way `keras.export.ExportArchive`
    does, as plain lists on the module, so `tf.saved_model.save` writes them.

    Args:
        model: a float32 `keras.Model` taking the preprocessor's feature dict
            and returning logits `(batch, num_classes)` (or probabilities,
            when its `activation` is softmax). Logits are divided by its
            `temperature`, when it has one, before the softmax.
        preprocessor: a keras-hub text classifier preprocessor (e.g.
            `tftransformer.models.TextClassifierPreprocessor`) turning a
            batch of strings, or a tuple of two for pairs, into that dict.
        label_names: list of `num_classes` strings, in class-id order.
        text_pair: bool, whether the signature takes a second string input
            `text_pair` (for models trained on sentence pairs).
        name: optional module name.

    Call arguments (of `serve`):
        text: 1-D `tf.string`, any batch size.
        text_pair: 1-D `tf.string` of the same size, only with
            `text_pair=True`.

    Returns (of `serve`):
        A dict with `probabilities` (float32, `(batch, num_classes)`),
        `label_id` (int64, `(batch,)`, the arg-max class) and `label`
        (string, `(batch,)`, its name).

    Example:
    ```python
    module = TextClassifierServingModule(classifier, preprocessor, ["neg", "pos"])
    module.serve(tf.constant(["a fine film"]))["label"]  # [b"pos"]
    tf.saved_model.save(module, "serving/sentiment/1",
                        signatures={"serving_default": module.serve})
    ```
    """

    def __init__(self, model, preprocessor, label_names, text_pair=False, name=None):
        super().__init__(name=name)
        label_names = self.check_model(model, label_names)
        activation = getattr(model, "activation", None)
        if activation in (None, keras.activations.linear):
            self._outputs_are_logits = True
        elif activation is keras.activations.softmax:
            self._outputs_are_logits = False
        else:
            raise ValueError(
                "The model must output logits or softmax probabilities. "
                f"Received a model with activation={activation!r}"
            )
        set_untracked(self, "_model", model)
        self._preprocessor = preprocessor
        # A fitted softmax temperature (`TextClassifier.temperature`) is part
        # of the graph: clients get the calibrated probabilities.
        temperature = float(getattr(model, "temperature", None) or 1.0)
        if temperature != 1.0 and not self._outputs_are_logits:
            raise ValueError(
                "A temperature scales logits; this model outputs probabilities. "
                f"Received: temperature={temperature}"
            )
        self.temperature = tf.constant(temperature, tf.float32)
        # Lists created here are tracked, so the variables are saved.
        self.model_variables = list(model.variables)
        self.label_names = tf.constant(label_names)
        self.text_pair = text_pair

        text_spec = tf.TensorSpec([None], tf.string, name=TEXT_INPUT)
        if text_pair:
            pair_spec = tf.TensorSpec([None], tf.string, name=TEXT_PAIR_INPUT)

            def serve(text, text_pair):
                # The packer would misread unequal sizes (rows dropped, ids
                # out of range), and TF Serving does not compare them.
                check = tf.debugging.assert_equal(
                    tf.size(text),
                    tf.size(text_pair),
                    message="text and text_pair must hold the same number of strings",
                )
                with tf.control_dependencies([check]):
                    return self._classify((string_batch(text), string_batch(text_pair)))

            self.serve = tf.function(serve, input_signature=[text_spec, pair_spec])
        else:

            def serve(text):
                return self._classify(string_batch(text))

            self.serve = tf.function(serve, input_signature=[text_spec])

    @staticmethod
    def check_model(model, label_names=None):
        """Checks the model this module serves; returns its output names."""
        return check_text_classifier(model, label_names)

    def _outputs(self, text):
        """The model's float32 outputs on a batch of strings (or pairs)."""
        # A keyword argument: keras-hub reads a positional `(text, pair)`
        # tuple as `(x, y)`.
        features = self._preprocessor(x=text)
        return tf.cast(self._model(features, training=False), tf.float32)

    def _classify(self, text):
        outputs = self._outputs(text)
        if self._outputs_are_logits:
            probabilities = tf.nn.softmax(outputs / self.temperature, axis=-1)
        else:
            probabilities = outputs
        label_id = tf.argmax(probabilities, axis=-1, output_type=tf.int64)
        return {
            "probabilities": probabilities,
            "label_id": label_id,
            "label": tf.gather(self.label_names, label_id),
        }
