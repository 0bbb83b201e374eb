import weakref

import keras
import keras_hub
import tensorflow as tf

# Hugging Face's BERT tokenizer (`BasicTokenizer._clean_text`) treats space
# separators (Unicode category Zs: no-break space, thin space, ideographic
# space, ...) as spaces and deletes other control and format characters
# (category C: zero-width space and joiner, soft hyphen, byte order mark,
# NUL, ...) and U+FFFD. keras-hub splits on ASCII whitespace only (RE2's
# `\s`), so "word\u00a0word" became one [UNK], and splits words at format
# characters instead of joining them.
_SPACES = r"[\t\n\r\p{Zs}]"
_DELETED = r"[\p{C}\x{FFFD}]"

# TF Text's built WordPiece models, by vocabulary and settings, while a
# tokenizer holds one (`BertTokenizer._set_vocabulary_tf`).
_BUILT_WORD_PIECES = weakref.WeakValueDictionary()


# keras-hub's `WordPieceTokenizer` attributes holding the vocabulary.
_UNTRACKED = frozenset({"vocabulary", "_token_to_id_map"})


def _word_piece_key(tokenizer):
    return (
        tuple(tokenizer.vocabulary),
        tokenizer.compute_dtype,
        tokenizer.suffix_indicator,
        tokenizer.oov_token,
    )


def clean_text(text):
    """Hugging Face BERT's text cleaning of a string tensor (dense or ragged)."""
    if isinstance(text, tf.RaggedTensor):
        return tf.ragged.map_flat_values(clean_text, text)
    text = tf.strings.regex_replace(text, _SPACES, " ")
    return tf.strings.regex_replace(text, _DELETED, "")


@keras.saving.register_keras_serializable(package="tftransformer")
class BertTokenizer(keras_hub.models.BertTokenizer):
    """keras-hub's BERT WordPiece tokenizer, cleaning text as Hugging Face's.

    Before keras-hub's tokenization, every Unicode space separator (no-break
    space, thin space, ideographic space, ...) becomes a space, and other
    control and format characters (zero-width space and joiner, soft hyphen,
    byte order mark, ...) are deleted, as Hugging Face's BERT tokenizer
    does, so checkpoints trained with it see the same word pieces: keras-hub
    alone turns "nice\u00a0film" into one `[UNK]`, and splits "zero\u200bwidth"
    into two words. The cleaning is two `tf.strings.regex_replace` ops, so
    it runs in `tf.data` pipelines and exported serving graphs.

    Args:
        vocabulary: a list of word pieces or the path of a vocabulary file.
        lowercase: bool, whether to lowercase the input.
        **kwargs: passed to `keras_hub.models.BertTokenizer` (`strip_accents`,
            ...).

    Call arguments:
        inputs: a string, a batch of strings (dense or ragged) or a list.

    Returns:
        Token ids as keras-hub's `BertTokenizer` returns them.

    Example:
    ```python
    tokenizer = tftransformer.models.BertTokenizer.from_preset("embedded")
    tokenizer(["a nice\u00a0film"])  # the ids of "a", "nice", "film"
    ```
    """

    # Not a candidate in keras-hub's tokenizer lookup for BERT presets, which
    # picks among all subclasses sharing a `backbone_cls`.
    backbone_cls = None

    @classmethod
    def from_preset(cls, preset, **kwargs):
        """Loads a BERT preset's vocabulary and settings into this tokenizer.

        Args:
            preset: `"embedded"`, a local Hugging Face BERT or keras-hub
                preset directory, or a keras-hub preset name or handle.
            **kwargs: constructor arguments overriding the preset's.

        Returns:
            A `tftransformer.models.BertTokenizer`.
        """
        from tftransformer.presets import bert_tokenizer_from_preset

        tokenizer = bert_tokenizer_from_preset(preset)
        if type(tokenizer) is cls and not kwargs:
            return tokenizer
        return cls.from_keras_hub(tokenizer, **kwargs)

    @classmethod
    def from_keras_hub(cls, tokenizer, **kwargs):
        """The same tokenizer (vocabulary and settings) as this class.

        Args:
            tokenizer: a `keras_hub.models.BertTokenizer`.
            **kwargs: constructor arguments to override.

        Returns:
            A `tftransformer.models.BertTokenizer`.
        """
        if not isinstance(tokenizer, keras_hub.models.BertTokenizer):
            raise ValueError(
                "tokenizer must be a keras_hub.models.BertTokenizer. Received: "
                f"{type(tokenizer).__name__}"
            )
        if tf.executing_eagerly() and tokenizer._fast_word_piece is not None:
            # The new tokenizer takes the built model instead of building it
            # again.
            _BUILT_WORD_PIECES.setdefault(
                _word_piece_key(tokenizer), tokenizer._fast_word_piece
            )
        config = tokenizer.get_config()
        # BertTokenizer adds its own special tokens.
        config.pop("special_tokens", None)
        config.update(vocabulary=tokenizer.get_vocabulary(), **kwargs)
        return cls.from_config(config)

    def __setattr__(self, name, value):
        # The vocabulary's pieces and their ids (30,522 for BERT) are plain
        # strings and ints: Keras' and TensorFlow's attribute tracking,
        # which looks for layers and variables, wraps every entry: more than
        # half the time of making the tokenizer.
        if name in _UNTRACKED:
            object.__setattr__(self, name, value)
        else:
            super().__setattr__(name, value)

    def _set_vocabulary_tf(self):
        # keras-hub builds TF Text's `FastWordpieceTokenizer` whenever a
        # vocabulary is set (0.04 s for BERT's 30,522 pieces), and loading a
        # preset sets the same vocabulary twice: the tokenizer, then the
        # preprocessor loading its assets again. The built model is
        # read-only: tokenizers with the same vocabulary and settings share
        # it. Built in a graph, it stays there.
        if not tf.executing_eagerly():
            return super()._set_vocabulary_tf()
        key = _word_piece_key(self)
        built = _BUILT_WORD_PIECES.get(key)
        if built is None:
            super()._set_vocabulary_tf()
            _BUILT_WORD_PIECES[key] = self._fast_word_piece
        else:
            self._fast_word_piece = built

    def tokenize(self, inputs):
        if not isinstance(inputs, (tf.Tensor, tf.RaggedTensor)):
            inputs = tf.convert_to_tensor(inputs)
        if inputs.dtype == tf.string:
            inputs = clean_text(inputs)
        return super().tokenize(inputs)
