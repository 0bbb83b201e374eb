import keras
import keras_hub

from tftransformer.models.pruned_bert_backbone import PrunedBertBackbone


@keras.saving.register_keras_serializable(package="tftransformer")
class PrunedBertTokenizer(keras_hub.models.BertTokenizer):
    """BERT's WordPiece tokenizer, for presets of a `PrunedBertBackbone`.

    keras-hub picks a preset's tokenizer class by the preset's backbone class,
    so without this class `keras_hub.models.BertTokenizer.from_preset(path)`
    refuses a directory written by `PrunedBertBackbone.save_to_preset`. It
    tokenizes exactly as `BertTokenizer`, and loading such a preset returns
    the `BertTokenizer` that was saved.

    Args:
        vocabulary: a list of word pieces or the path of a vocabulary file.
        lowercase: bool, whether to lowercase the input.
        **kwargs: passed to `keras_hub.models.BertTokenizer`.

    Example:
    ```python
    pruned = tftransformer.finetune.prune_heads(backbone, {0: [3], 1: [0]})
    pruned.save_to_preset("runs/pruned")
    preprocessor.save_to_preset("runs/pruned")
    tokenizer = keras_hub.models.BertTokenizer.from_preset("runs/pruned")
    ```
    """

    backbone_cls = PrunedBertBackbone
