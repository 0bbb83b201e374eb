import keras
import keras_hub

from tftransformer.models.pruned_bert_backbone import PrunedBertBackbone
from tftransformer.models.pruned_bert_tokenizer import PrunedBertTokenizer


@keras.saving.register_keras_serializable(package="tftransformer")
class PrunedBertTextClassifierPreprocessor(
    keras_hub.models.BertTextClassifierPreprocessor
):
    """BERT's text classifier preprocessor, for presets of a `PrunedBertBackbone`.

    keras-hub picks a preset's preprocessor class by the preset's backbone
    class; this class is what `tftransformer.presets.load_backbone` and
    `keras_hub.models.TextClassifierPreprocessor.from_preset` find for a
    directory written by `PrunedBertBackbone.save_to_preset`. It packs and
    pads exactly as `BertTextClassifierPreprocessor`.

    Args:
        tokenizer: a `keras_hub.models.BertTokenizer`.
        sequence_length: int, the packed length.
        **kwargs: passed to `keras_hub.models.BertTextClassifierPreprocessor`.

    Call arguments:
        x: a batch of strings, or a tuple of two batches for sentence pairs.
        y: optional labels, passed through.
        sample_weight: optional sample weights, passed through.

    Returns:
        BERT's `token_ids`, `segment_ids` and `padding_mask`, packed with `y`
        and `sample_weight`.

    Example:
    ```python
    backbone, preprocessor = tftransformer.presets.load_backbone("runs/pruned")
    type(preprocessor).__name__  # "PrunedBertTextClassifierPreprocessor"
    ```
    """

    backbone_cls = PrunedBertBackbone
    tokenizer_cls = PrunedBertTokenizer
