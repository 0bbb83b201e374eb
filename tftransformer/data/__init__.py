"""tftransformer.data: data sets, loaders and tokenized input pipelines."""

from tftransformer.data.classification_dataset import (
    default_bucket_boundaries,
    make_classification_dataset,
)
from tftransformer.data.data_error import DataError
from tftransformer.data.embedded_checkpoint import (
    embedded_checkpoint_dir,
    embedded_tokenizer,
    embedded_vocabulary_path,
)
from tftransformer.data.loaders import (
    SUPPORTED_FORMATS,
    load_text_classification,
    load_text_classification_file,
)
from tftransformer.data.parallel_text import (
    BIBLE_MODULES,
    BIBLE_PACKAGES,
    align_verses,
    clean_osis,
    export_bible_pairs,
    load_sentence_pairs,
    parse_imp,
    read_sword_module,
)
from tftransformer.data.rotten_tomatoes import (
    SENTIMENT_LABELS,
    SPLIT_FRACTIONS,
    SPLIT_SEED,
    load_rotten_tomatoes,
    rotten_tomatoes_dataset,
    rotten_tomatoes_path,
)
from tftransformer.data.tagging import (
    IGNORE_LABEL,
    TAGGING_FORMATS,
    build_tag_vocabulary,
    load_tagging_file,
    make_tagging_dataset,
    tokenize_and_align,
    words_to_ragged,
)
from tftransformer.data.tagging_data import TaggingData
from tftransformer.data.text_classification_data import TextClassificationData
from tftransformer.data.tfds_loaders import (
    TFDS_PREFIX,
    load_tfds_text_classification,
    parse_tfds_spec,
)
from tftransformer.data.wnut import (
    WNUT16_ENTITY_TYPES,
    WNUT16_SPLIT_FRACTIONS,
    WNUT16_SPLIT_SEED,
    WNUT16_TAGS,
    load_wnut16,
    wnut16_path,
)

__all__ = [
    "BIBLE_MODULES",
    "BIBLE_PACKAGES",
    "DataError",
    "IGNORE_LABEL",
    "SENTIMENT_LABELS",
    "SPLIT_FRACTIONS",
    "SPLIT_SEED",
    "SUPPORTED_FORMATS",
    "TAGGING_FORMATS",
    "TFDS_PREFIX",
    "TaggingData",
    "TextClassificationData",
    "WNUT16_ENTITY_TYPES",
    "WNUT16_SPLIT_FRACTIONS",
    "WNUT16_SPLIT_SEED",
    "WNUT16_TAGS",
    "build_tag_vocabulary",
    "align_verses",
    "clean_osis",
    "default_bucket_boundaries",
    "embedded_checkpoint_dir",
    "embedded_tokenizer",
    "embedded_vocabulary_path",
    "export_bible_pairs",
    "load_rotten_tomatoes",
    "load_sentence_pairs",
    "load_tagging_file",
    "load_text_classification",
    "load_text_classification_file",
    "load_tfds_text_classification",
    "load_wnut16",
    "make_classification_dataset",
    "make_tagging_dataset",
    "parse_imp",
    "parse_tfds_spec",
    "read_sword_module",
    "rotten_tomatoes_dataset",
    "rotten_tomatoes_path",
    "tokenize_and_align",
    "wnut16_path",
    "words_to_ragged",
]
