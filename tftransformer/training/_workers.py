"""Decisions every worker of a multi-worker run must take together.

Under `tf.distribute.MultiWorkerMirroredStrategy` each worker runs its own
callbacks. A decision taken from a worker's own state (its clock, the files
it sees) can differ between workers, and a worker that acts alone fails the
others' next collective. These helpers settle such decisions with one
all-reduce; every worker must call them at the same point, and outside a
multi-worker strategy they return the local answer without communicating.
"""

import numpy as np
import tensorflow as tf

__all__ = ["any_worker", "is_multi_worker", "workers_agree"]


def is_multi_worker(strategy):
    """Whether `strategy` runs its replicas in several processes."""
    return isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy)


def _sum_over_replicas(strategy, values):
    # Each replica contributes its worker's values; the collective sum
    # reaches every worker. (MAX and MIN are not collective reductions.)
    values = tf.constant(np.asarray(values, "float64"))
    per_replica = strategy.run(lambda: tf.identity(values))
    return strategy.reduce(tf.distribute.ReduceOp.SUM, per_replica, axis=None).numpy()


def any_worker(strategy, flag):
    """Returns whether `flag` is true on any worker.

    Args:
        strategy: the model's `tf.distribute.Strategy`.
        flag: this worker's bool.

    Returns:
        A bool, the same on every worker.
    """
    if not is_multi_worker(strategy):
        return bool(flag)
    return bool(_sum_over_replicas(strategy, [1.0 if flag else 0.0])[0] > 0)


def workers_agree(strategy, values):
    """Returns whether every worker holds the same numbers.

    Args:
        strategy: the model's `tf.distribute.Strategy`.
        values: this worker's list of small integers (exact in float64).

    Returns:
        A bool, the same on every worker.
    """
    if not is_multi_worker(strategy):
        return True
    values = np.asarray(values, "float64")
    # All equal exactly when the variance is 0: n * sum(v^2) == sum(v)^2.
    total = _sum_over_replicas(strategy, np.concatenate([[1.0], values, values**2]))
    count, sums, squares = np.split(total, [1, 1 + len(values)])
    return bool(np.all(count * squares == sums**2))
