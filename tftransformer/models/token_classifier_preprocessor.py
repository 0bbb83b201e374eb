import keras
import keras_hub
import tensorflow as tf

from tftransformer.data.packing import check_packing_arguments
from tftransformer.data.tagging import tokenize_and_align, words_to_ragged
from tftransformer.presets import bert_tokenizer_from_preset


@keras.saving.register_keras_serializable(package="tftransformer")
class TokenClassifierPreprocessor(keras_hub.models.Preprocessor):
    """Turns sentences of words into BERT inputs aligned with the words.

    Sentences are raw strings, split on whitespace (`tf.strings.split`), or
    ragged tensors of words. Each word is tokenized into WordPiece pieces;
    the sequence is `[CLS] pieces [SEP]`, cut to `sequence_length`, and the
    batch is padded to its longest sequence rounded up to
    `pad_to_multiple_of`. Given word tag ids `y`, the labels are the tag id at
    each word's first piece and `IGNORE_LABEL` (-100) elsewhere; a word cut
    off by `sequence_length` has no label. See
    `tftransformer.data.tokenize_and_align`.

    Args:
        tokenizer: a `keras_hub.models.BertTokenizer`.
        sequence_length: int >= 2, the longest sequence (truncation limit),
            `[CLS]` and `[SEP]` included.
        pad_to_multiple_of: int or None, rounding of the padded length.
        **kwargs: passed to `keras_hub.models.Preprocessor`.

    Call arguments:
        x: a batch of sentences: a 1-D string tensor or list of `str`, a
            `tf.RaggedTensor` of words, or a list of lists of words.
        y: optional int tag ids, one per word: a `tf.RaggedTensor` or a
            list of lists.
        sample_weight: optional, passed through.

    Returns:
        `x` as a dict of `token_ids`, `padding_mask` and `segment_ids`, each
        `(batch, padded_length)`, packed with the aligned labels (when `y` is
        given) and `sample_weight` as `keras.utils.pack_x_y_sample_weight`
        does.

    Example:
    ```python
    backbone, preprocessor = tftransformer.presets.load_backbone("embedded")
    token_preprocessor = TokenClassifierPreprocessor(preprocessor.tokenizer)
    x = token_preprocessor(["Obama visits Paris"])
    x["token_ids"].shape  # (1, 16)
    features = token_preprocessor.align(["Obama visits Paris"])
    features["word_starts"]  # [[1, 2, 3]]
    ```
    """

    # Not picked by keras-hub's preset lookup for BERT backbones.
    backbone_cls = None
    tokenizer_cls = keras_hub.models.BertTokenizer

    @classmethod
    def from_preset(cls, preset, **kwargs):
        """Loads a BERT preset's tokenizer into this preprocessor.

        Args:
            preset: `"embedded"`, a keras-hub preset name or a local preset
                or Hugging Face BERT directory.
            **kwargs: constructor arguments (`sequence_length`,
                `pad_to_multiple_of`, ...).

        Returns:
            A `TokenClassifierPreprocessor`.
        """
        # With the checkpoint's accent stripping, which keras-hub's own
        # `BertTokenizer.from_preset` leaves out for Hugging Face directories.
        tokenizer = bert_tokenizer_from_preset(preset)
        return cls(tokenizer, **kwargs)

    def __init__(self, tokenizer, sequence_length=128, pad_to_multiple_of=16, **kwargs):
        sequence_length, pad_to_multiple_of = check_packing_arguments(
            "sequence_length", sequence_length, pad_to_multiple_of
        )
        super().__init__(**kwargs)
        self.tokenizer = tokenizer
        self.sequence_length = sequence_length
        self.pad_to_multiple_of = pad_to_multiple_of

    def align(self, x, y=None):
        """Tokenizes sentences and returns the features with `word_starts`.

        Args:
            x: a batch of sentences, as for `call`.
            y: optional ragged int tag ids, one per word.

        Returns:
            The dict of `tftransformer.data.tokenize_and_align`: `token_ids`,
            `padding_mask`, `segment_ids`, `word_starts` (ragged, each word's
            first piece position, -1 when truncated) and, with `y`, `labels`.
        """
        return tokenize_and_align(
            words_to_ragged(x),
            self.tokenizer,
            self.sequence_length,
            tag_ids=y,
            pad_to_multiple_of=self.pad_to_multiple_of,
        )

    def call(self, x, y=None, sample_weight=None):
        if isinstance(x, dict):
            # Already tokenized.
            return keras.utils.pack_x_y_sample_weight(x, y, sample_weight)
        if isinstance(y, tf.Tensor):
            raise ValueError(
                "y must hold one tag id per word: a tf.RaggedTensor or a list of "
                f"lists, not a dense tensor. Received: y.shape={y.shape}"
            )
        features = self.align(x, y)
        labels = features.pop("labels", None)
        features.pop("word_starts")
        return keras.utils.pack_x_y_sample_weight(features, labels, sample_weight)

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "sequence_length": self.sequence_length,
                "pad_to_multiple_of": self.pad_to_multiple_of,
            }
        )
        return config
