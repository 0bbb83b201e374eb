"""The settings every training run shares, and those of fine-tuning."""

import dataclasses

from tftransformer.distribute import STRATEGY_NAMES
from tftransformer.finetune.optimizers import LEARNING_RATE_SCHEDULES
from tftransformer.finetune.strategy_options import check_strategy_options
from tftransformer.training._settings import ConfigError, check_fields, setting

__all__ = ["FinetuneConfig", "TrainingConfig"]

MIXED_PRECISION = ("none", "bfloat16", "float16")


@dataclasses.dataclass
class TrainingConfig:
    """Settings every training run shares: the optimizer and its schedule,
    precision, distribution, the run directory and the budget.

    Each field is defined once, with its help text and bounds: `Trainer`
    reads it, `tftransformer.training.run` turns it into an absl flag (and
    reads `--config=FILE.json`), and a resumed run is refused when a field
    that changes its results differs from the run that checkpointed.
    Values are checked when the config is made, naming the field and the
    value received. `FinetuneConfig` adds the pretrained backbone and the
    transfer recipe; a script adds its own fields with `setting(...)`.

    Example:
    ```python
    @dataclasses.dataclass
    class Config(TrainingConfig):
        hidden_dim: int = setting(128, "Width of the model.", minimum=1)
    ```
    """

    # Optimizer and schedule.
    epochs: int = setting(3, "Training epochs.", minimum=1)
    batch_size: int = setting(
        32, "Batch size per replica (the global batch is this x replicas).", minimum=1
    )
    learning_rate: float = setting(
        5e-5, "Peak learning rate (AdamW).", minimum=0, exclusive_minimum=True
    )
    weight_decay: float = setting(
        0.01, "Decoupled weight decay (not on LayerNorm and biases).", minimum=0
    )
    warmup_fraction: float = setting(
        0.1,
        "Fraction of steps of linear warmup.",
        minimum=0,
        maximum=1,
        exclusive_maximum=True,
    )
    learning_rate_schedule: str = setting(
        "linear",
        "Learning rate after warmup: linear decay to 0 (BERT's), cosine "
        "decay to 0, or constant.",
        choices=LEARNING_RATE_SCHEDULES,
    )
    gradient_accumulation_steps: int = setting(
        1,
        "Sum the gradients of N batches before each optimizer step: the "
        "update of a batch N times larger, in the memory of one.",
        minimum=1,
    )
    mixed_precision: str = setting(
        "none",
        "Compute precision; variables stay float32.",
        choices=MIXED_PRECISION,
    )
    jit_compile: bool = setting(False, "Compile the train step with XLA.")
    distribution: str = setting(
        "auto",
        "tf.distribute strategy; --batch_size is per replica.",
        choices=STRATEGY_NAMES,
        run_setting=False,
    )
    # The run: where it writes, when it stops.
    model_dir: str = setting(
        "runs/finetune", "Output directory of the run.", run_setting=False
    )
    save_freq: int | None = setting(
        None,
        "Also checkpoint every N training steps (default: at each epoch's end "
        "only). Rerunning a killed command resumes from the last checkpoint.",
        minimum=1,
        run_setting=False,
    )
    keep_checkpoints: int | None = setting(
        1,
        "Per-epoch weight files kept in checkpoints/: the N most recent plus "
        "the best (0: the best only; None: all).",
        minimum=0,
        run_setting=False,
    )
    patience: int = setting(
        2, "Early stopping patience (epochs without improvement).", minimum=0
    )
    max_train_minutes: float | None = setting(
        None,
        "Training budget of the whole run in minutes, resumes included: stop "
        "at the epoch end after which another epoch would overrun it.",
        minimum=0,
        exclusive_minimum=True,
        run_setting=False,
    )
    tensorboard: bool = setting(
        True, "Write TensorBoard logs to model_dir/logs.", run_setting=False
    )
    seed: int = setting(
        0, "Random seed (weights, shuffling, subsets).", minimum=0, maximum=2**32 - 1
    )

    # What early stopping watches, and which way is better.
    monitor = "val_loss"
    monitor_mode = "min"

    def __post_init__(self):
        self.validate()

    def validate(self):
        """Checks every field; raises `ConfigError`.

        Runs when the config is made; call it again after changing fields.
        """
        check_fields(self)

    @property
    def dtype(self):
        """The backbone's dtype policy name, or None for the global policy."""
        if self.mixed_precision == "none":
            return None
        return f"mixed_{self.mixed_precision}"

    def run_settings(self):
        """The fields a resumed run must share with the run that checkpointed."""
        return {
            field.name: getattr(self, field.name)
            for field in dataclasses.fields(self)
            if field.metadata.get("run_setting", True)
        }

    def to_dict(self):
        """Every field, as a JSON-serialisable dict (what `--config` reads)."""
        return dataclasses.asdict(self)


@dataclasses.dataclass
class FinetuneConfig(TrainingConfig):
    """`TrainingConfig` plus the pretrained backbone and the transfer recipe.

    Task configs (`ClassificationConfig`, ...) subclass it, and so can a
    user's script.

    Example:
    ```python
    config = FinetuneConfig(freeze_layers=2, epochs=1, model_dir="runs/x")
    config.run_settings()["freeze_layers"]  # 2
    ```
    """

    preset: str = setting(
        "embedded",
        "Backbone: 'embedded', a local keras-hub preset or Hugging Face "
        "directory, or a keras-hub preset name (needs network).",
    )
    max_length: int = setting(
        128,
        "Longest tokenized sequence; batches are padded to their longest "
        "example, up to this.",
        minimum=2,
    )
    fused_encoder: bool = setting(
        False,
        "Train keras-hub encoder blocks on the fused path (one QKV GEMM, "
        "XLA-compiled softmax, GELU, dropout, residual sums and layer "
        "norms); inference and saved models are unchanged.",
    )
    pack_sequences: bool = setting(
        False,
        "Train on rows of max_length tokens packed with several texts each "
        "(best fit; attention kept inside each text, positions restarting), "
        "so little compute goes to padding; batch_size then counts rows: "
        "divide it by the texts a row, which the summary before training "
        "prints.",
    )
    # The transfer recipe (see tftransformer.finetune.check_strategy_options).
    freeze_layers: int = setting(
        0, "Freeze the embeddings and the first N encoder layers.", minimum=0
    )
    freeze_backbone: bool = setting(False, "Linear probe: train only the head.")
    gradual_unfreeze: bool = setting(
        False,
        "Head first, then one encoder layer more from the top every "
        "--unfreeze_every_epochs (embeddings last).",
    )
    unfreeze_every_epochs: int = setting(1, "Epochs between unfreezings.", minimum=1)
    unfreeze_every_steps: int = setting(
        0, "Steps between unfreezings instead (0: epochs).", minimum=0
    )
    head_warmup_steps: int = setting(
        0, "Train the new head alone for the first N steps.", minimum=0
    )
    layer_decay: float | None = setting(
        None,
        "Layer-wise learning-rate decay in (0, 1]: encoder layer l of L trains "
        "at lr*decay**(L-l), embeddings at lr*decay**(L+1).",
        minimum=0,
        maximum=1,
        exclusive_minimum=True,
    )
    lora_rank: int = setting(
        0,
        "LoRA adapters of this rank on the attention query/value projections; "
        "the rest of the backbone is frozen (0: off). The adapters are also "
        "saved alone, to adapters.lora.h5.",
        minimum=0,
    )
    extra_blocks: int = setting(
        0,
        "New encoder blocks between the backbone and the head (text and token "
        "classification, regression).",
        minimum=0,
    )

    # Whether the run packs its training texts when `pack_sequences` is set.
    packs_sequences = False
    # False where the run's task model stacks no `extra_blocks` on its
    # backbone (a script's own model may).
    takes_extra_blocks = True

    def validate(self):
        """Checks every field and the transfer recipe; raises `ConfigError`."""
        super().validate()
        if self.pack_sequences and not self.packs_sequences:
            raise ConfigError(
                "pack_sequences applies to text classification (single-label, "
                "multi-label, regression), token classification and continued "
                "pretraining; "
                f"{type(self).__name__}'s examples are not packed. Received: "
                "pack_sequences=True"
            )
        if self.extra_blocks and not self.takes_extra_blocks:
            raise ConfigError(
                "extra_blocks applies to text classification (single-label, "
                "multi-label, regression) and token classification; "
                f"{type(self).__name__}'s model takes no extra encoder blocks. "
                f"Received: extra_blocks={self.extra_blocks}"
            )
        try:
            check_strategy_options(**self.strategy_options(), num_layers=None)
        except ValueError as error:
            raise ConfigError(str(error)) from None

    def strategy_options(self):
        """The transfer recipe, as `finetune.check_strategy_options` takes it."""
        return dict(
            freeze_layers=self.freeze_layers,
            freeze_backbone=self.freeze_backbone,
            gradual_unfreeze=self.gradual_unfreeze,
            layer_decay=self.layer_decay,
            lora_rank=self.lora_rank or None,
            extra_blocks=self.extra_blocks,
            head_warmup_steps=self.head_warmup_steps,
            unfreeze_every_epochs=self.unfreeze_every_epochs,
            unfreeze_every_steps=self.unfreeze_every_steps,
        )
