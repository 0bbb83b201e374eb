"""Seeded splits of whole groups (movies, speakers), shared by the embedded sets."""

import hashlib

import numpy as np


def assign_group_splits(counts, fractions, seed):
    """Maps each group to a split so that no group crosses splits.

    Groups are ordered by a SHA-256 hash of `"{seed}:{group}"` (stable across
    Python versions and platforms) and laid end to end; a group goes to the
    split in whose share of all examples its first example falls.

    Args:
        counts: dict of group names to their number of examples.
        fractions: dict of split names, in order, to their share (summing
            to 1).
        seed: the split's seed.

    Returns:
        A dict of group names to split names.
    """
    names = tuple(fractions)
    ends = np.cumsum([fractions[name] for name in names]) * sum(counts.values())

    def order(group):
        return hashlib.sha256(f"{seed}:{group}".encode("utf-8")).hexdigest()

    group_split = {}
    seen = 0
    for group in sorted(counts, key=order):
        index = int(np.searchsorted(ends, seen, side="right"))
        group_split[group] = names[min(index, len(names) - 1)]
        seen += counts[group]
    return group_split
