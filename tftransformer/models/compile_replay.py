import keras

# The compile-config entry listing the variables the optimizer was built over.
OPTIMIZER_VARIABLES_KEY = "optimizer_variable_paths"


def with_optimizer_variables(model, config):
    """Adds the paths of the variables the optimizer was built over.

    Keras saves the optimizer's slots by position, for the variables it was
    built over. That list can hold more than the trainable variables at save
    time (`prepare_optimizer` builds over every variable a strategy such as
    gradual unfreezing will train), so a load must build over the same list.

    Args:
        model: a compiled model.
        config: the dict `get_compile_config()` returns.

    Returns:
        `config` with the paths added when the optimizer is built.
    """
    optimizer = getattr(model, "optimizer", None)
    if not config or optimizer is None or not optimizer.built:
        return config
    # A LossScaleOptimizer builds the optimizer it wraps over the same list.
    while hasattr(optimizer, "inner_optimizer"):
        optimizer = optimizer.inner_optimizer
    paths = [variable.path for variable in optimizer._trainable_variables]
    return {**config, OPTIMIZER_VARIABLES_KEY: paths}


def build_optimizer(model, paths=None):
    """Builds a loaded model's optimizer over the variables it was saved with.

    Args:
        model: the loaded, compiled model.
        paths: the paths `with_optimizer_variables` recorded, or `None` for
            the trainable variables (what Keras builds at the first step).
    """
    variables = model.trainable_variables
    if paths is not None:
        by_path = {variable.path: variable for variable in model.variables}
        found = [by_path.get(path) for path in paths]
        # Paths that do not resolve (a renamed layer) leave Keras to report
        # the optimizer's variables as not loaded.
        if len(by_path) == len(model.variables) and all(
            variable is not None for variable in found
        ):
            variables = found
    model.optimizer.build(variables)


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
    config = dict(config)
    paths = config.pop(OPTIMIZER_VARIABLES_KEY, None)
    model.compile(**keras.saving.deserialize_keras_object(config))
    if model.built and paths is not None:
        # Built now, so that the saved optimizer variables load into it. An
        # optimizer saved unbuilt (no paths) is loaded unbuilt.
        build_optimizer(model, paths)
