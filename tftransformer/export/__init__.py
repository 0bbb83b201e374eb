"""tftransformer.export: SavedModels and LiteRT models that answer raw strings.

Exports write TF Serving's versioned layout (`<base_path>/<version>/`), run
tokenization inside the graph, compute in float32 (or Keras int8) whatever
the training precision, and can record warmup requests. LiteRT exports
(float32, dynamic-range int8, calibrated int8) tokenize with TF Text ops
that have LiteRT kernels; `export_variants` writes and measures them all
(`export_run_variants`: on a training run's own test data).
"""

from tftransformer.export.export_run_variants import export_run_variants
from tftransformer.export.export_variants import VARIANTS, export_variants
from tftransformer.export.few_shot_classifier_export import (
    export_few_shot_classifier,
)
from tftransformer.export.generator_export import export_generator
from tftransformer.export.generator_run_export import export_generator_run
from tftransformer.export.generator_serving_module import (
    PROMPT_INPUT,
    GeneratorServingModule,
)
from tftransformer.export.inference_copy import (
    PRECISIONS,
    inference_copy,
)
from tftransformer.export.litert_export import (
    LITERT_FILE,
    LITERT_QUANTIZATIONS,
    export_litert,
)
from tftransformer.export.litert_generator_run_export import (
    export_litert_generator_run,
)
from tftransformer.export.litert_model import LITERT_RUNTIMES, LiteRTModel
from tftransformer.export.model_versions import (
    check_base_path,
    existing_versions,
    next_version,
)
from tftransformer.export.multi_label_serving_module import MultiLabelServingModule
from tftransformer.export.question_answerer_export import export_question_answerer
from tftransformer.export.question_answerer_serving_module import (
    QuestionAnswererServingModule,
)
from tftransformer.export.text_classifier_export import (
    LABELS_FILE,
    SIGNATURE_NAME,
    export_for_serving,
)
from tftransformer.export.text_classifier_serving_module import (
    TEXT_INPUT,
    TEXT_PAIR_INPUT,
    TextClassifierServingModule,
)
from tftransformer.export.text_embedder_export import export_text_embedder
from tftransformer.export.text_regressor_serving_module import (
    TextRegressorServingModule,
)
from tftransformer.export.token_classifier_export import (
    TAGS_FILE,
    export_token_classifier,
)
from tftransformer.export.token_classifier_serving_module import (
    TokenClassifierServingModule,
)
from tftransformer.export.variants_config import VariantsConfig
from tftransformer.export.variants_report import VariantsReport
from tftransformer.export.warmup import (
    WARMUP_FILE,
    make_predict_request,
    read_warmup_requests,
    write_warmup_requests,
)

__all__ = [
    "GeneratorServingModule",
    "LABELS_FILE",
    "LITERT_FILE",
    "LITERT_QUANTIZATIONS",
    "LITERT_RUNTIMES",
    "LiteRTModel",
    "MultiLabelServingModule",
    "PRECISIONS",
    "PROMPT_INPUT",
    "QuestionAnswererServingModule",
    "SIGNATURE_NAME",
    "TAGS_FILE",
    "TEXT_INPUT",
    "TEXT_PAIR_INPUT",
    "TextClassifierServingModule",
    "TextRegressorServingModule",
    "TokenClassifierServingModule",
    "VARIANTS",
    "VariantsConfig",
    "VariantsReport",
    "WARMUP_FILE",
    "check_base_path",
    "existing_versions",
    "export_few_shot_classifier",
    "export_for_serving",
    "export_generator",
    "export_generator_run",
    "export_litert",
    "export_litert_generator_run",
    "export_question_answerer",
    "export_run_variants",
    "export_text_embedder",
    "export_token_classifier",
    "export_variants",
    "inference_copy",
    "make_predict_request",
    "next_version",
    "read_warmup_requests",
    "write_warmup_requests",
]
