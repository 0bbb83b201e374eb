import keras


def clone_initializer(initializer):
    """Returns a copy of an initializer made from its config.

    An initializer instance draws the same values on every call, so a layer
    that hands one instance to several sublayers would give them equal
    kernels. A copy of an unseeded initializer gets a new seed. A seeded
    one keeps its seed, so its copies draw equal values, as in Keras' own
    `MultiHeadAttention`: for reproducible runs set
    `keras.utils.set_random_seed` rather than seeding the initializer.

    Args:
        initializer: a `keras.initializers.Initializer`, or anything else
            (returned as it is).

    Returns:
        The copy, or `initializer` itself when it is not an `Initializer`.
    """
    if isinstance(initializer, keras.initializers.Initializer):
        return initializer.__class__.from_config(initializer.get_config())
    return initializer
