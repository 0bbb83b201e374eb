"""tftransformer.finetune: fine-tuning strategies and training defaults.

Strategies are functions or callbacks acting on a model; they find a
backbone's embedding and encoder layers with `find_backbone`,
`embedding_layers` and `encoder_layers`.
"""

from tftransformer.finetune.backbone_layers import (
    embedding_layers,
    encoder_layers,
    find_backbone,
)
from tftransformer.finetune.callbacks import training_callbacks
from tftransformer.finetune.freezing import freeze_layers
from tftransformer.finetune.losses import class_weights, classification_loss
from tftransformer.finetune.optimizers import (
    WEIGHT_DECAY_EXCLUSIONS,
    compute_train_steps,
    create_optimizer,
)
from tftransformer.finetune.smoothed_sparse_categorical_crossentropy import (
    SmoothedSparseCategoricalCrossentropy,
)
from tftransformer.finetune.warmup_linear_decay import WarmupLinearDecay

__all__ = [
    "WEIGHT_DECAY_EXCLUSIONS",
    "SmoothedSparseCategoricalCrossentropy",
    "WarmupLinearDecay",
    "class_weights",
    "classification_loss",
    "compute_train_steps",
    "create_optimizer",
    "embedding_layers",
    "encoder_layers",
    "find_backbone",
    "freeze_layers",
    "training_callbacks",
]
