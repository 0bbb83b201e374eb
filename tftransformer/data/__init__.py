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
from tftransformer.data.rotten_tomatoes import (
    SENTIMENT_LABELS,
    SPLIT_FRACTIONS,
    SPLIT_SEED,
    load_rotten_tomatoes,
    rotten_tomatoes_dataset,
    rotten_tomatoes_path,
)
from tftransformer.data.text_classification_data import TextClassificationData
from tftransformer.data.tfds_loaders import (
    TFDS_PREFIX,
    load_tfds_text_classification,
    parse_tfds_spec,
)

__all__ = [
    "DataError",
    "SENTIMENT_LABELS",
    "SPLIT_FRACTIONS",
    "SPLIT_SEED",
    "SUPPORTED_FORMATS",
    "TFDS_PREFIX",
    "TextClassificationData",
    "default_bucket_boundaries",
    "embedded_checkpoint_dir",
    "embedded_tokenizer",
    "embedded_vocabulary_path",
    "load_rotten_tomatoes",
    "load_text_classification",
    "load_text_classification_file",
    "load_tfds_text_classification",
    "make_classification_dataset",
    "parse_tfds_spec",
    "rotten_tomatoes_dataset",
    "rotten_tomatoes_path",
]
