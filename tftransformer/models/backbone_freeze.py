"""A task model's backbone freeze, as its config records and restores it."""

from tftransformer.models.freezing import freeze_layers_by_name, frozen_layer_names


def saved_frozen_layers(backbone):
    """The backbone layer names a task model's config records as frozen.

    The fine-tuning strategy's freeze (`tftransformer.finetune`'s freezing
    functions), not a `HeadWarmup`'s temporary one.
    """
    return frozen_layer_names(backbone, temporary=False)


def restore_frozen_layers(backbone, names):
    """Freezes the named backbone layers again (a task model's `__init__`).

    keras-hub backbones rebuild their layers from constructor arguments, so
    a loaded task model gets its freeze back from its own config.
    """
    if names:
        freeze_layers_by_name(backbone, names)
