import keras
import keras_hub
import tensorflow as tf
from keras_hub.layers import MultiSegmentPacker

from tftransformer._arguments import check_bool, check_choice, check_int
from tftransformer.data.packing import check_packing_arguments, padded_length
from tftransformer.models.backbone_adapter import pair_separators as family_separators
from tftransformer.presets import bert_tokenizer_from_preset

# keras-hub's `MultiSegmentPacker` algorithms: how a pair shares the length.
TRUNCATIONS = ("round_robin", "waterfall")


@keras.saving.register_keras_serializable(package="tftransformer")
class TextClassifierPreprocessor(keras_hub.models.BertTextClassifierPreprocessor):
    """Classifier preprocessing that pads each batch only to its longest example.

    keras-hub's preprocessor pads every batch to `sequence_length` (512 for
    most presets), so a batch of 20-token reviews pays for 512 positions.
    This subclass keeps the same tokenization and `[CLS] ... [SEP]` packing,
    truncates to `sequence_length`, and then cuts the batch to the longest
    real row rounded up to `pad_to_multiple_of`, which bounds the number of
    distinct shapes (and so of traced train steps) to
    `sequence_length / pad_to_multiple_of`.

    It takes the tokenizer of any keras-hub text encoder family and packs
    with that tokenizer's start, end and pad tokens; a pair of texts is
    separated as the family's keras-hub preprocessor separates it
    (`<s> a </s></s> b </s>` for RoBERTa and XLM-RoBERTa).

    Args:
        tokenizer: a keras-hub tokenizer, e.g. `keras_hub.models.BertTokenizer`.
        sequence_length: int, the maximum packed length (truncation limit).
        truncate: how to truncate pairs, as in keras-hub.
        pad_to_multiple_of: int, the padded length is rounded up to a
            multiple of this. `None` or `1` pads to the exact batch maximum.
        dynamic_padding: bool. `False` restores keras-hub's fixed padding to
            `sequence_length` (needed for fixed-shape export or XLA on TPU).
        pair_separators: int >= 1, end tokens between the two texts of a
            pair; `None` for the tokenizer's family's number
            (`tftransformer.models.backbone_adapter.pair_separators`).
        **kwargs: passed to `keras_hub.models.BertTextClassifierPreprocessor`.

    Call arguments:
        x: a batch of strings, or a tuple of two batches for sentence pairs.
            Pass a pair by keyword (`preprocessor(x=(first, second))`) or
            with `y` (`preprocessor((first, second), None)`): a lone
            positional tuple is read as `(x, y)`, as in every keras-hub
            preprocessor.
        y: optional labels, passed through.
        sample_weight: optional sample weights, passed through.

    Returns:
        `x` as a dict of `token_ids`, `padding_mask` and `segment_ids`, each
        of shape `(batch, padded_length)`, packed with `y` and
        `sample_weight` as `keras.utils.pack_x_y_sample_weight` does.

    Example:
    ```python
    backbone, preprocessor = tftransformer.presets.load_backbone("embedded")
    x = preprocessor(["a short review", "another one, a little longer"])
    x["token_ids"].shape  # (2, 16): the longest row, rounded up to 16
    ```
    """

    # Not a candidate in keras-hub's class lookup for BERT presets: keras-hub
    # picks among all subclasses sharing a `backbone_cls`, so keeping ours
    # there would change what `BertTextClassifierPreprocessor.from_preset`
    # returns everywhere. `from_preset` below loads presets explicitly.
    backbone_cls = None

    @classmethod
    def from_preset(cls, preset, **kwargs):
        """Loads a BERT preset's tokenizer into this preprocessor.

        Args:
            preset: `"embedded"`, a keras-hub preset name or a local preset
                or Hugging Face BERT directory.
            **kwargs: constructor arguments (`sequence_length`,
                `pad_to_multiple_of`, ...).

        Returns:
            A `TextClassifierPreprocessor`.
        """
        # With the checkpoint's accent stripping, which keras-hub's own
        # `BertTokenizer.from_preset` leaves out for Hugging Face directories.
        tokenizer = bert_tokenizer_from_preset(preset)
        return cls(tokenizer, **kwargs)

    def __init__(
        self,
        tokenizer,
        sequence_length=128,
        truncate="round_robin",
        pad_to_multiple_of=16,
        dynamic_padding=True,
        pair_separators=None,
        **kwargs,
    ):
        sequence_length, pad_to_multiple_of = check_packing_arguments(
            "sequence_length", sequence_length, pad_to_multiple_of
        )
        if pair_separators is None:
            pair_separators = family_separators(tokenizer)
        pair_separators = check_int("pair_separators", pair_separators, 1)
        # Checked now, not at the first batch deep in tf.data.
        truncate = check_choice("truncate", truncate, TRUNCATIONS)
        dynamic_padding = check_bool("dynamic_padding", dynamic_padding)
        super().__init__(
            tokenizer=tokenizer,
            sequence_length=sequence_length,
            truncate=truncate,
            **kwargs,
        )
        self.pad_to_multiple_of = pad_to_multiple_of
        self.dynamic_padding = dynamic_padding
        self.pair_separators = pair_separators

    def build(self, input_shape):
        super().build(input_shape)
        # keras-hub's packer, with the family's separator between texts.
        self.packer = MultiSegmentPacker(
            start_value=self.tokenizer.start_token_id,
            end_value=self.tokenizer.end_token_id,
            sep_value=[self.tokenizer.end_token_id] * self.pair_separators,
            pad_value=self.tokenizer.pad_token_id,
            truncate=self.truncate,
            sequence_length=self.sequence_length,
        )

    def call(self, x, y=None, sample_weight=None):
        outputs = super().call(x, y=y, sample_weight=sample_weight)
        if not self.dynamic_padding:
            return outputs
        x, y, sample_weight = keras.utils.unpack_x_y_sample_weight(outputs)
        x = trim_to_longest(x, self.pad_to_multiple_of, self.sequence_length)
        return keras.utils.pack_x_y_sample_weight(x, y, sample_weight)

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "pad_to_multiple_of": self.pad_to_multiple_of,
                "dynamic_padding": self.dynamic_padding,
                "pair_separators": self.pair_separators,
            }
        )
        return config


def trim_to_longest(features, pad_to_multiple_of, max_length):
    """Cuts packed BERT features to the batch's longest real row.

    Args:
        features: dict with `token_ids`, `padding_mask` and optionally
            `segment_ids`, each `(batch, seq)` or `(seq,)` for one example.
        pad_to_multiple_of: int or None, rounding of the kept length.
        max_length: int, the kept length never exceeds it.

    Returns:
        The same dict with every entry cut to the kept length.
    """
    mask = tf.convert_to_tensor(features["padding_mask"])
    if mask.shape.rank == 1:
        # A single unbatched example: batching later pads it anyway.
        return features
    longest = tf.reduce_max(tf.reduce_sum(tf.cast(mask, tf.int32), axis=-1))
    longest = tf.maximum(longest, 1)
    kept = padded_length(longest, pad_to_multiple_of, max_length)
    return {
        key: tf.convert_to_tensor(value)[:, :kept] for key, value in features.items()
    }
