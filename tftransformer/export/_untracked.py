"""Holding a Keras model on a `tf.Module` without saving its object graph."""

import tensorflow as tf


@tf.__internal__.tracking.no_automatic_dependency_tracking
def set_untracked(module, name, value):
    """Sets `module.<name> = value` without making `value` a saved dependency.

    A serving module calls its Keras model in its signature and tracks the
    model's variables itself (a list attribute, as `keras.export.
    ExportArchive` does). Tracking the model too makes `tf.saved_model.save`
    walk every layer's attributes and wrap every list it finds, seconds per
    export, to save nothing more the signature needs. A resource the graph
    captures and nothing tracks (a variable not in that list) still fails
    the save loudly.

    Args:
        module: a `tf.Module`.
        name: str, the attribute name.
        value: what the attribute holds, e.g. a `keras.Model`.
    """
    setattr(module, name, value)
