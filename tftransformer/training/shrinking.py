"""A fine-tuned classifier shrunk (fewer layers and heads) and fine-tuned again."""

import dataclasses
import os

import keras_hub

from tftransformer._arguments import check_int
from tftransformer.finetune.shrink import (
    head_importance,
    least_important_heads,
    prune_heads,
)
from tftransformer.finetune.shrink import keep_layers as first_layers
from tftransformer.presets import load_backbone
from tftransformer.training._compressed_runs import (
    format_scores,
    score_models,
    write_report,
)
from tftransformer.training._several_models import (
    refuse_export_dir,
    trains_several_models,
)
from tftransformer.training.checkpointing import remove_temporary_files
from tftransformer.training.text_classification import train_text_classifier

__all__ = ["format_shrink_report", "shrink_classifier"]


@trains_several_models
def shrink_classifier(
    config,
    keep_layers,
    keep_heads=0,
    importance_batches=16,
    timing_rounds=3,
    verbose=1,
):
    """Fine-tunes the config's classifier, shrinks it, and fine-tunes it again.

    The full model is a `train_text_classifier` run in `model_dir/full`. Its
    backbone then keeps its first `keep_layers` encoder layers and, in
    each, the `keep_heads` attention heads that matter most to its loss on
    `importance_batches` training batches (Michel et al. 2019,
    `tftransformer.finetune.head_importance`). The shrunk backbone is saved
    as a keras-hub preset (`model_dir/shrunk_preset`) and fine-tuned with a
    new head by the same config, in `model_dir/shrunk`. Both models are
    scored on the test split, and their inference speed timed in this
    process, the two models alternating.

    Args:
        config: a `ClassificationConfig`.
        keep_layers: int >= 1, the encoder layers kept (the first N).
        keep_heads: int >= 0, heads kept per layer (0: all).
        importance_batches: int >= 1, training batches that score the heads.
        timing_rounds: int >= 1, timed passes over the test split per model.
        verbose: 0 or 1.

    Returns:
        A dict with `full` and `shrunk` (each: `accuracy`, `macro_f1`,
        `examples_per_second`, `backbone_parameters`, `train_seconds`,
        `num_layers`, `num_heads`), `speedup` (shrunk over full examples/s),
        `removed_heads` (`{layer: [heads]}`), `preset_dir`,
        `full_model_path` (the full model's `model.keras`) and `models`
        (the two classifiers). Also written, without the models, to
        `model_dir/shrink_report.json`.
    """
    keep_layers = check_int("keep_layers", keep_layers, 1)
    refuse_export_dir(config, "shrink_classifier", "a full and a shrunk classifier")
    keep_heads = check_int("keep_heads", keep_heads, 0)
    importance_batches = check_int("importance_batches", importance_batches, 1)
    timing_rounds = check_int("timing_rounds", timing_rounds, 1)
    config.validate()
    # Refuse impossible sizes before any training.
    backbone, _ = load_backbone(config.preset, sequence_length=config.max_length)
    if keep_layers > backbone.num_layers or keep_heads > backbone.num_heads:
        raise ValueError(
            f"The backbone has {backbone.num_layers} layers of "
            f"{backbone.num_heads} heads. Received: keep_layers={keep_layers}, "
            f"keep_heads={keep_heads}"
        )
    del backbone
    model_dir = config.model_dir

    def fine_tune(name, preset):
        run_config = dataclasses.replace(
            config, preset=preset, model_dir=os.path.join(model_dir, name)
        )
        return train_text_classifier(run_config, verbose=verbose)

    full = fine_tune("full", config.preset)
    # Heads are ranked by their effect on the fine-tuned model's loss.
    removed_heads = {}
    shrunk_backbone = first_layers(full.model.backbone, keep_layers)
    if keep_heads and keep_heads < shrunk_backbone.num_heads:
        importance = head_importance(
            full.model,
            full.trainer.dataset(full.train, full.model),
            num_batches=importance_batches,
        )[:keep_layers]
        removed_heads = least_important_heads(importance, keep_heads)
        shrunk_backbone = prune_heads(shrunk_backbone, removed_heads)
    # The shrunk backbone is a preset like any other.
    preset_dir = os.path.join(model_dir, "shrunk_preset")
    chief = full.trainer.chief
    if chief:
        shrunk_backbone.save_to_preset(preset_dir)
        keras_hub.models.BertTextClassifierPreprocessor(
            full.model.preprocessor.tokenizer, sequence_length=config.max_length
        ).save_to_preset(preset_dir)
    shrunk = fine_tune("shrunk", preset_dir)

    models = {"full": full.model, "shrunk": shrunk.model}
    scores = score_models(
        models,
        full.trainer.dataset(full.test, full.model),
        full.test,
        timing_rounds,
        {"full": full.training.train_seconds, "shrunk": shrunk.training.train_seconds},
    )
    summary = {
        "settings": {
            **config.to_dict(),
            "keep_layers": keep_layers,
            "keep_heads": keep_heads,
            "importance_batches": importance_batches,
            "timing_rounds": timing_rounds,
        },
        **scores,
        "speedup": scores["shrunk"]["examples_per_second"]
        / scores["full"]["examples_per_second"],
        "removed_heads": {str(k): v for k, v in removed_heads.items()},
        "train_examples": len(full.train),
        "test_examples": len(full.test),
        "preset_dir": preset_dir,
        "full_model_path": full.training.model_path,
    }
    if chief:
        # Left by a run killed while writing the report.
        remove_temporary_files(model_dir)
        write_report(summary, os.path.join(model_dir, "shrink_report.json"))
    return {**summary, "models": models}


def format_shrink_report(result):
    """The full and shrunk models' scores as a table, then the speedup."""
    return format_scores(result, ("full", "shrunk"), "Shrunk model's")
