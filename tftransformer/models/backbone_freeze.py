"""A task model's backbone freeze, as its config records and restores it."""


# Imported on use: tftransformer.finetune imports tftransformer.models.
def saved_frozen_layers(backbone):
    """The backbone layer names a task model's config records as frozen.

    The fine-tuning strategy's freeze (`tftransformer.finetune`'s freezing
    functions), not a `HeadWarmup`'s temporary one.
    """
    from tftransformer.finetune.freezing import frozen_layer_names

    return frozen_layer_names(backbone, temporary=False)


def restore_frozen_layers(backbone, names):
    """Freezes the named backbone layers again (a task model's `__init__`).

    keras-hub backbones rebuild their layers from constructor arguments, so
    a loaded task model gets its freeze back from its own config.
    """
    if names:
        from tftransformer.finetune.freezing import freeze_layers_by_name

        freeze_layers_by_name(backbone, names)
