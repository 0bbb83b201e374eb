"""Checks the export functions share on the model they are given."""

from tftransformer.models import MultiTaskModel


def refuse_multi_task_model(model):
    """Refuses a `MultiTaskModel`, naming the way to export its heads.

    Its outputs are a dict of every head's logits, which no export serves:
    each head exports alone (`model.head_model(task)`), with the export of
    its kind.
    """
    if isinstance(model, MultiTaskModel):
        kinds = {
            "classification": "export_for_serving or export_litert",
            "token_classification": "export_token_classifier or export_litert",
        }
        heads = "; ".join(
            f"{name!r}: {kinds[spec['kind']]}" for name, spec in model.tasks.items()
        )
        raise ValueError(
            "A MultiTaskModel exports one head at a time: export "
            f"model.head_model(task) ({heads}). Received: MultiTaskModel "
            f"{model.name!r}"
        )
