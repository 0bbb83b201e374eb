"""tftransformer.models: functional models composed from the layers."""

from tftransformer.models.causal_lm import CausalLM
from tftransformer.models.contrastive_embedder import ContrastiveEmbedder
from tftransformer.models.decoding import beam_search
from tftransformer.models.distiller import Distiller
from tftransformer.models.long_document_classifier import LongDocumentClassifier
from tftransformer.models.multi_label_classifier import MultiLabelClassifier
from tftransformer.models.multi_task_model import MultiTaskModel
from tftransformer.models.pruned_bert_backbone import PrunedBertBackbone
from tftransformer.models.pruned_bert_text_classifier_preprocessor import (
    PrunedBertTextClassifierPreprocessor,
)
from tftransformer.models.pruned_bert_tokenizer import PrunedBertTokenizer
from tftransformer.models.question_answerer import QuestionAnswerer
from tftransformer.models.question_answerer_preprocessor import (
    QuestionAnswererPreprocessor,
)
from tftransformer.models.question_answering_spans import best_answers
from tftransformer.models.semantic_search_index import SemanticSearchIndex
from tftransformer.models.seq2seq_transformer import Seq2SeqTransformer
from tftransformer.models.seq2seq_translator import seq2seq_translator
from tftransformer.models.span_cross_entropy import SpanCrossEntropy
from tftransformer.models.text_classifier import TextClassifier
from tftransformer.models.text_classifier_preprocessor import TextClassifierPreprocessor
from tftransformer.models.text_embedder import TextEmbedder
from tftransformer.models.text_regressor import TextRegressor
from tftransformer.models.token_classifier import TokenClassifier
from tftransformer.models.token_classifier_preprocessor import (
    TokenClassifierPreprocessor,
)
from tftransformer.models.transformer_classifier import TransformerClassifier
from tftransformer.models.transformer_encoder import TransformerEncoder
from tftransformer.presets.bert_tokenizer import BertTokenizer

__all__ = [
    "QuestionAnswerer",
    "QuestionAnswererPreprocessor",
    "SpanCrossEntropy",
    "best_answers",
    "BertTokenizer",
    "CausalLM",
    "ContrastiveEmbedder",
    "Distiller",
    "LongDocumentClassifier",
    "MultiTaskModel",
    "PrunedBertBackbone",
    "PrunedBertTextClassifierPreprocessor",
    "PrunedBertTokenizer",
    "SemanticSearchIndex",
    "Seq2SeqTransformer",
    "MultiLabelClassifier",
    "TextClassifier",
    "TextRegressor",
    "TextClassifierPreprocessor",
    "TextEmbedder",
    "TokenClassifier",
    "TokenClassifierPreprocessor",
    "TransformerClassifier",
    "TransformerEncoder",
    "beam_search",
    "seq2seq_translator",
]
