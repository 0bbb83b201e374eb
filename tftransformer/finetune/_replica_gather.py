"""Gathering a batch's rows from every replica, for in-batch negatives (private).

Contrastive losses compare each anchor with every other example of the
batch. Under `tf.distribute` each replica sees only its share of the global
batch, so its candidates are gathered from all replicas; the gradient flows
back to the replica that computed each row (`all_gather`'s gradient sums
the replicas' gradients, then takes each replica's slice).
"""

import tensorflow as tf


def gather_from_replicas(values):
    """All replicas' rows of `values`, and where this replica's rows start.

    Args:
        values: a tensor `(local_batch, ...)`; replicas may hold different
            numbers of rows (the last batch of an epoch).

    Returns:
        A tuple `(gathered, offset)`: `(global_batch, ...)` rows in replica
        order, and the int32 index of this replica's first row in them.
        Outside a distributing strategy: `(values, 0)`.
    """
    context = tf.distribute.get_replica_context()
    if context is None or context.num_replicas_in_sync == 1:
        return values, 0
    sizes = context.all_gather(tf.shape(values)[:1], axis=0)
    before = tf.range(context.num_replicas_in_sync) < context.replica_id_in_sync_group
    offset = tf.reduce_sum(tf.where(before, sizes, 0))
    return context.all_gather(values, axis=0), offset
