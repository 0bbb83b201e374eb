"""tftransformer.data: data sets, loaders and tokenized input pipelines."""

from tftransformer.data.augment import (
    EDA_OPERATIONS,
    SYNONYM_SOURCES,
    augment_classification_data,
    augment_dataset,
    augment_texts,
    back_translate,
    embedding_synonyms,
    get_synonyms,
    random_deletion,
    random_insertion,
    random_swap,
    roget_path,
    synonym_replacement,
)
from tftransformer.data.chunking import chunk_documents, make_long_document_dataset
from tftransformer.data.classification_dataset import (
    default_bucket_boundaries,
    make_classification_dataset,
)
from tftransformer.data.data_error import DataError
from tftransformer.data.embedded_checkpoint import (
    embedded_checkpoint_dir,
    embedded_vocabulary_path,
)
from tftransformer.data.few_shot_pairs import make_few_shot_pairs
from tftransformer.data.loaders import (
    SUPPORTED_FORMATS,
    load_text_classification,
    load_text_classification_file,
    load_text_classification_splits,
)
from tftransformer.data.multi_label_data import MultiLabelData
from tftransformer.data.multi_task import (
    SAMPLING_RULES,
    TASK_ID_KEY,
    concatenate_tasks,
    interleave_tasks,
    sampling_probabilities,
)
from tftransformer.data.pair_loaders import load_text_pairs, make_pair_dataset
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
from tftransformer.data.political_speeches import (
    PARTY_LABELS,
    POLITICAL_SPLIT_FRACTIONS,
    POLITICAL_SPLIT_SEED,
    load_political_speeches,
    political_speeches_path,
)
from tftransformer.data.regression_data import RegressionData
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
from tftransformer.data.target_loaders import (
    load_multi_label_file,
    load_multi_label_splits,
    load_regression_file,
    load_regression_splits,
)
from tftransformer.data.text_classification_data import TextClassificationData
from tftransformer.data.text_pairs import TextPairs
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
from tftransformer.data.wnut_entity_types import load_wnut16_entity_types
from tftransformer.data.word_affect import (
    WORD_AFFECT_SPLIT_SEED,
    WORD_AFFECT_TARGETS,
    load_word_affect,
    word_affect_path,
)
from tftransformer.data.word_piece import (
    SEQUENCE_RESERVED_TOKENS,
    learn_word_piece_vocabulary,
    split_words,
    tokenize_texts,
    word_piece_tokenizer,
)

__all__ = [
    "MultiLabelData",
    "RegressionData",
    "WORD_AFFECT_SPLIT_SEED",
    "WORD_AFFECT_TARGETS",
    "load_multi_label_file",
    "load_multi_label_splits",
    "load_regression_file",
    "load_regression_splits",
    "load_wnut16_entity_types",
    "load_word_affect",
    "word_affect_path",
    "make_few_shot_pairs",
    "TextPairs",
    "load_text_pairs",
    "make_pair_dataset",
    "SEQUENCE_RESERVED_TOKENS",
    "learn_word_piece_vocabulary",
    "split_words",
    "tokenize_texts",
    "word_piece_tokenizer",
    "PARTY_LABELS",
    "POLITICAL_SPLIT_FRACTIONS",
    "POLITICAL_SPLIT_SEED",
    "SAMPLING_RULES",
    "TASK_ID_KEY",
    "chunk_documents",
    "concatenate_tasks",
    "interleave_tasks",
    "load_political_speeches",
    "make_long_document_dataset",
    "political_speeches_path",
    "sampling_probabilities",
    "EDA_OPERATIONS",
    "SYNONYM_SOURCES",
    "augment_classification_data",
    "augment_dataset",
    "augment_texts",
    "back_translate",
    "embedding_synonyms",
    "get_synonyms",
    "random_deletion",
    "random_insertion",
    "random_swap",
    "roget_path",
    "synonym_replacement",
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
    "embedded_vocabulary_path",
    "export_bible_pairs",
    "load_rotten_tomatoes",
    "load_sentence_pairs",
    "load_tagging_file",
    "load_text_classification",
    "load_text_classification_file",
    "load_text_classification_splits",
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
