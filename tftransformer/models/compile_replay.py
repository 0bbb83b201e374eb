import keras


def replay_compile(model, config):
    """Compiles a model being loaded with the arguments it was saved with.

    Keras replays a saved `compile_config` only for models that keep
    `keras.Model.compile`; for one that overrides it, Keras warns and
    leaves the optimizer the constructor made, so the saved optimizer's
    state is dropped on load. Models whose `compile` only fills in
    defaults replay the saved arguments through it here.

    Args:
        model: the model being loaded, with an overridden `compile`.
        config: the dict its `get_compile_config()` returned at save time.
    """
    model.compile(**keras.saving.deserialize_keras_object(config))
    if model.built:
        # Built now, so that the saved optimizer variables load into it.
        model.optimizer.build(model.trainable_variables)
