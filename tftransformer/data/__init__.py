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
    synonym_replacement,
)
from tftransformer.data.chunking import chunk_documents, make_long_document_dataset
from tftransformer.data.classification_dataset import (
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
from tftransformer.data.masked_lm import (
    load_text_files,
    make_masked_lm_dataset,
    masked_lm_rows,
    whole_word_mask,
)
from tftransformer.data.multi_task import (
    SAMPLING_RULES,
    TASK_ID_KEY,
    concatenate_tasks,
    interleave_tasks,
    sampling_probabilities,
)
from tftransformer.data.pair_loaders import load_text_pairs, make_pair_dataset
from tftransformer.data.parallel_text import (
    BIBLE_PACKAGES,
    export_bible_pairs,
    load_sentence_pairs,
)
from tftransformer.data.political_speeches import (
    PARTY_LABELS,
    load_political_speeches,
)
from tftransformer.data.rotten_tomatoes import (
    SENTIMENT_LABELS,
    load_rotten_tomatoes,
    rotten_tomatoes_dataset,
    rotten_tomatoes_texts,
)
from tftransformer.data.sequence_datasets import (
    join_word_pieces,
    load_language_model_texts,
    load_texts,
    make_language_model_dataset,
    make_teacher_forcing_dataset,
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
from tftransformer.data.text_pairs import TextPairs
from tftransformer.data.tfds_loaders import (
    load_tfds_text_classification,
)
from tftransformer.data.unknown_pieces import (
    UNKNOWN_SHARE_WARNING,
    unknown_piece_share,
    unknown_token_id,
)
from tftransformer.data.wnut import (
    WNUT16_ENTITY_TYPES,
    WNUT16_TAGS,
    load_wnut16,
)
from tftransformer.data.word_piece import (
    SEQUENCE_RESERVED_TOKENS,
    learn_word_piece_vocabulary,
    split_words,
    tokenize_texts,
    word_piece_tokenizer,
)

__all__ = [
    "load_text_files",
    "make_masked_lm_dataset",
    "masked_lm_rows",
    "whole_word_mask",
    "rotten_tomatoes_texts",
    "join_word_pieces",
    "load_language_model_texts",
    "load_texts",
    "make_language_model_dataset",
    "make_teacher_forcing_dataset",
    "UNKNOWN_SHARE_WARNING",
    "unknown_piece_share",
    "unknown_token_id",
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
    "SAMPLING_RULES",
    "TASK_ID_KEY",
    "chunk_documents",
    "concatenate_tasks",
    "interleave_tasks",
    "load_political_speeches",
    "make_long_document_dataset",
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
    "synonym_replacement",
    "BIBLE_PACKAGES",
    "DataError",
    "IGNORE_LABEL",
    "SENTIMENT_LABELS",
    "SUPPORTED_FORMATS",
    "TAGGING_FORMATS",
    "TaggingData",
    "TextClassificationData",
    "WNUT16_ENTITY_TYPES",
    "WNUT16_TAGS",
    "build_tag_vocabulary",
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
    "rotten_tomatoes_dataset",
    "tokenize_and_align",
    "words_to_ragged",
]
