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
    load_text_rows,
)
from tftransformer.data.masked_lm import (
    load_text_files,
    make_masked_lm_dataset,
    masked_lm_rows,
    whole_word_mask,
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
    load_sentence_pairs,
)
from tftransformer.data.question_answering_windows import (
    QuestionAnsweringWindows,
    context_pieces,
    make_question_answering_windows,
)
from tftransformer.data.regression_data import RegressionData
from tftransformer.data.sequence_datasets import (
    join_word_pieces,
    load_language_model_texts,
    load_texts,
    make_language_model_dataset,
    make_teacher_forcing_dataset,
)
from tftransformer.data.squad import load_squad, squad_examples
from tftransformer.data.squad_example import SquadExample
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
from tftransformer.data.text_packing import padded_token_share
from tftransformer.data.text_pairs import TextPairs
from tftransformer.data.text_rows import TextRows
from tftransformer.data.tfds_loaders import (
    load_tfds_text_classification,
)
from tftransformer.data.unknown_pieces import (
    UNKNOWN_SHARE_WARNING,
    unknown_piece_share,
    unknown_token_id,
)
from tftransformer.data.word_piece import (
    SEQUENCE_RESERVED_TOKENS,
    learn_word_piece_vocabulary,
    split_words,
    tokenize_texts,
    word_piece_tokenizer,
)

__all__ = [
    "QuestionAnsweringWindows",
    "SquadExample",
    "context_pieces",
    "load_squad",
    "make_question_answering_windows",
    "squad_examples",
    "DataError",
    "EDA_OPERATIONS",
    "IGNORE_LABEL",
    "MultiLabelData",
    "RegressionData",
    "SAMPLING_RULES",
    "SEQUENCE_RESERVED_TOKENS",
    "SUPPORTED_FORMATS",
    "SYNONYM_SOURCES",
    "TAGGING_FORMATS",
    "TASK_ID_KEY",
    "TaggingData",
    "TextClassificationData",
    "TextPairs",
    "TextRows",
    "UNKNOWN_SHARE_WARNING",
    "augment_classification_data",
    "augment_dataset",
    "augment_texts",
    "back_translate",
    "build_tag_vocabulary",
    "chunk_documents",
    "concatenate_tasks",
    "embedded_checkpoint_dir",
    "embedded_vocabulary_path",
    "embedding_synonyms",
    "get_synonyms",
    "interleave_tasks",
    "join_word_pieces",
    "learn_word_piece_vocabulary",
    "load_language_model_texts",
    "load_multi_label_file",
    "load_multi_label_splits",
    "load_regression_file",
    "load_regression_splits",
    "load_sentence_pairs",
    "load_tagging_file",
    "load_text_classification",
    "load_text_classification_file",
    "load_text_classification_splits",
    "load_text_rows",
    "load_text_files",
    "load_text_pairs",
    "load_texts",
    "load_tfds_text_classification",
    "make_classification_dataset",
    "make_few_shot_pairs",
    "make_language_model_dataset",
    "make_long_document_dataset",
    "make_masked_lm_dataset",
    "make_pair_dataset",
    "make_tagging_dataset",
    "make_teacher_forcing_dataset",
    "masked_lm_rows",
    "padded_token_share",
    "random_deletion",
    "random_insertion",
    "random_swap",
    "sampling_probabilities",
    "split_words",
    "synonym_replacement",
    "tokenize_and_align",
    "tokenize_texts",
    "unknown_piece_share",
    "unknown_token_id",
    "whole_word_mask",
    "word_piece_tokenizer",
    "words_to_ragged",
]
