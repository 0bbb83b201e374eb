"""tftransformer.finetune: fine-tuning strategies and training defaults.

Strategies are functions or callbacks acting on a model; they find a
backbone's embedding and encoder layers with `find_backbone`,
`embedding_layers` and `encoder_layers`.
"""

from tftransformer.finetune.cosine_similarity_loss import CosineSimilarityLoss
from tftransformer.finetune.fused_adamw import FusedAdamW
from tftransformer.finetune.fused_encoder import use_fused_encoder
from tftransformer.finetune.gradual_unfreezing import GradualUnfreezing
from tftransformer.finetune.head_warmup import HeadWarmup
from tftransformer.finetune.layer_decay import layer_decay_multipliers
from tftransformer.finetune.layerwise_adamw import LayerwiseAdamW
from tftransformer.finetune.lora import (
    apply_lora,
    load_lora_weights,
    lora_variables,
    merge_lora,
    restart_lora_adapters,
    save_lora_weights,
)
from tftransformer.finetune.losses import class_weights, classification_loss
from tftransformer.finetune.multiple_negatives_ranking_loss import (
    MultipleNegativesRankingLoss,
)
from tftransformer.finetune.optimizers import (
    LEARNING_RATE_SCHEDULES,
    WEIGHT_DECAY_EXCLUSIONS,
    compute_train_steps,
    count_train_steps,
    create_optimizer,
)
from tftransformer.finetune.shrink import (
    head_importance,
    keep_layers,
    least_important_heads,
    prune_heads,
)
from tftransformer.finetune.smoothed_sparse_categorical_crossentropy import (
    SmoothedSparseCategoricalCrossentropy,
)
from tftransformer.finetune.strategy_options import (
    check_strategy_options,
)
from tftransformer.finetune.triplet_loss import TripletLoss
from tftransformer.finetune.warmup_cosine_decay import WarmupCosineDecay
from tftransformer.finetune.warmup_linear_decay import WarmupLinearDecay
from tftransformer.models.backbone_layers import (
    embedding_layers,
    encoder_layers,
    find_backbone,
)
from tftransformer.models.freezing import (
    freeze_backbone,
    freeze_layers,
    freeze_layers_by_name,
    frozen_layer_names,
    is_frozen,
)

__all__ = [
    "LEARNING_RATE_SCHEDULES",
    "WEIGHT_DECAY_EXCLUSIONS",
    "CosineSimilarityLoss",
    "MultipleNegativesRankingLoss",
    "TripletLoss",
    "FusedAdamW",
    "GradualUnfreezing",
    "HeadWarmup",
    "LayerwiseAdamW",
    "SmoothedSparseCategoricalCrossentropy",
    "WarmupCosineDecay",
    "WarmupLinearDecay",
    "apply_lora",
    "check_strategy_options",
    "class_weights",
    "classification_loss",
    "compute_train_steps",
    "count_train_steps",
    "create_optimizer",
    "embedding_layers",
    "encoder_layers",
    "find_backbone",
    "freeze_backbone",
    "freeze_layers",
    "freeze_layers_by_name",
    "head_importance",
    "keep_layers",
    "least_important_heads",
    "frozen_layer_names",
    "is_frozen",
    "layer_decay_multipliers",
    "load_lora_weights",
    "lora_variables",
    "merge_lora",
    "prune_heads",
    "restart_lora_adapters",
    "save_lora_weights",
    "use_fused_encoder",
]
