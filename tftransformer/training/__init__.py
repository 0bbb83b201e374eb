"""tftransformer.training: the training core a user's own script calls.

Callbacks for resumable, chief-only, atomically saved runs
(`training_callbacks`, `ResumableTraining`, `TimeBudget`, ...), the checks of
a run directory, and the training summary.
"""

from tftransformer.training.callbacks import (
    training_callbacks,
)
from tftransformer.training.checkpointing import (
    BACKUP_DIR,
    CHECKPOINT_FILE,
    atomic_write,
    check_run_directory,
    epoch_seed,
    fingerprint,
    read_checkpoint,
    read_checkpoint_state,
    remove_temporary_files,
    save_weights_atomically,
    write_checkpoint,
)
from tftransformer.training.epoch_weights_checkpoint import (
    EpochWeightsCheckpoint,
)
from tftransformer.training.resumable_training import (
    ResumableTraining,
)
from tftransformer.training.stop_on_non_finite_loss import (
    StopOnNonFiniteLoss,
)
from tftransformer.training.time_budget import (
    TimeBudget,
)
from tftransformer.training.training_summary import (
    describe_training,
    format_training_summary,
    write_training_summary,
)

__all__ = [
    "BACKUP_DIR",
    "CHECKPOINT_FILE",
    "EpochWeightsCheckpoint",
    "ResumableTraining",
    "StopOnNonFiniteLoss",
    "TimeBudget",
    "atomic_write",
    "check_run_directory",
    "describe_training",
    "epoch_seed",
    "fingerprint",
    "format_training_summary",
    "read_checkpoint",
    "read_checkpoint_state",
    "remove_temporary_files",
    "save_weights_atomically",
    "training_callbacks",
    "write_checkpoint",
    "write_training_summary",
]
