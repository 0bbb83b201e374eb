import tensorflow as tf

from tftransformer._arguments import check_int, class_names, output_shape
from tftransformer.data.tagging import tokenize_and_align
from tftransformer.export._untracked import set_untracked
from tftransformer.export.text_classifier_serving_module import (
    TEXT_INPUT,
    string_batch,
)

__all__ = ["TokenClassifierServingModule", "check_token_classifier"]


def check_token_classifier(model, sequence_length, tag_names):
    """Checks what a token classifier export needs; returns the tag names.

    Raises:
        ValueError: for a model without per-token logits `(batch, seq,
            num_tags)`, tag names that do not name its tags (`"O"` among
            them), or a `sequence_length` outside [2, the backbone's
            `max_sequence_length`], naming the values received.
    """
    shape = output_shape(model)
    if shape is None or len(shape) != 3:
        raise ValueError(
            "Expected a token classifier: per-token logits (batch, seq, "
            f"num_tags). Received a model {model.name!r} with output shape {shape}"
        )
    tag_names = class_names("tag_names", tag_names, shape[-1])
    if "O" not in tag_names:
        raise ValueError(
            "tag_names must include 'O', the tag of words cut off by "
            f"sequence_length. Received: tag_names={tag_names!r}"
        )
    sequence_length = check_int("sequence_length", sequence_length, 2)
    backbone = getattr(model, "backbone", None)
    maximum = getattr(backbone, "max_sequence_length", None)
    # Learned positions (BERT's; sinusoidal and relative ones have no end).
    learned = getattr(backbone, "position_kind", "learned") == "learned"
    if learned and maximum is not None and sequence_length > maximum:
        # The position table ends there: longer inputs fail when served.
        raise ValueError(
            f"sequence_length must not exceed the backbone's max_sequence_length "
            f"({maximum}). Received: sequence_length={sequence_length}"
        )
    return tag_names


class TokenClassifierServingModule(tf.Module):
    """A `tf.Module` tagging the words of raw sentences with a token classifier.

    Whitespace splitting (`tf.strings.split`), per-word WordPiece
    tokenization, `[CLS] ... [SEP]` packing, truncation to
    `sequence_length` and the mapping of each word to its first piece run in
    the graph (`tftransformer.data.tokenize_and_align`), so the saved
    signature takes strings and needs only TensorFlow and TensorFlow Text
    ops. The model's variables are held as a plain list on the module, so
    `tf.saved_model.save` writes them.

    Args:
        model: a float32 `keras.Model` taking the BERT feature dict and
            returning per-token logits `(batch, seq, num_tags)`.
        tokenizer: the keras-hub WordPiece tokenizer the model was trained
            with.
        sequence_length: int >= 2, the truncation limit, `[CLS]` and `[SEP]`
            included.
        tag_names: list of `num_tags` tag strings in id order, `"O"` among
            them (the tag of truncated words).
        name: optional module name.

    Call arguments (of `serve`):
        text: 1-D `tf.string`, one sentence per entry, any batch size.

    Returns (of `serve`):
        A dict, padded to the batch's longest sentence (`max_words`):
        `tags` (string, `(batch, max_words)`, `""` past a sentence's end),
        `tag_ids` (int64, `(batch, max_words)`, -1 past the end), `words`
        (string, `(batch, max_words)`, the whitespace-split words, `""` past
        the end), `num_words` (int32, `(batch,)`) and `truncated` (bool,
        `(batch, max_words)`: words cut off by `sequence_length`, tagged
        `"O"`) and `probabilities` (float32, `(batch, max_words, num_tags)`:
        `softmax(logits / model.temperature)` at each word's first piece,
        zeros for truncated words and past the end).

    Example:
    ```python
    module = TokenClassifierServingModule(tagger, tokenizer, 128, tag_names)
    module.serve(tf.constant(["Obama visits Paris"]))["tags"]
    # [[b"B-person", b"O", b"B-geo-loc"]]
    ```
    """

    def __init__(self, model, tokenizer, sequence_length, tag_names, name=None):
        super().__init__(name=name)
        tag_names = check_token_classifier(model, sequence_length, tag_names)
        set_untracked(self, "_model", model)
        self._tokenizer = tokenizer
        self._sequence_length = int(sequence_length)
        self._outside_id = tag_names.index("O")
        # Lists created here are tracked, so the variables are saved.
        self.model_variables = list(model.variables)
        self.tag_names = tf.constant(tag_names)
        # A fitted softmax temperature (`TokenClassifier.temperature`) is part
        # of the graph: clients get the calibrated probabilities.
        self.temperature = tf.constant(
            float(getattr(model, "temperature", None) or 1.0), tf.float32
        )

        text_spec = tf.TensorSpec([None], tf.string, name=TEXT_INPUT)

        def serve(text):
            return self._tag(string_batch(text))

        self.serve = tf.function(serve, input_signature=[text_spec])

    def _tag(self, text):
        words = tf.strings.split(text)  # ragged (batch, (num_words))
        features = tokenize_and_align(words, self._tokenizer, self._sequence_length)
        word_starts = features.pop("word_starts")
        logits = self._model(features, training=False)
        token_tags = tf.argmax(logits, axis=-1, output_type=tf.int64)  # (batch, seq)
        starts = word_starts.flat_values
        truncated = starts < 0
        indices = tf.stack(
            [tf.cast(word_starts.value_rowids(), tf.int32), tf.maximum(starts, 0)],
            axis=1,
        )
        word_tags = tf.gather_nd(token_tags, indices)
        probabilities = tf.nn.softmax(
            tf.gather_nd(tf.cast(logits, tf.float32), indices) / self.temperature
        )
        probabilities = tf.where(
            truncated[:, None], tf.zeros_like(probabilities), probabilities
        )
        word_tags = tf.where(
            truncated, tf.constant(self._outside_id, tf.int64), word_tags
        )
        tag_ids = words.with_flat_values(word_tags)
        return {
            "tags": words.with_flat_values(
                tf.gather(self.tag_names, word_tags)
            ).to_tensor(""),
            "tag_ids": tag_ids.to_tensor(-1),
            "words": words.to_tensor(""),
            "num_words": tf.cast(words.row_lengths(), tf.int32),
            "truncated": words.with_flat_values(truncated).to_tensor(False),
            "probabilities": words.with_flat_values(probabilities).to_tensor(0.0),
        }
