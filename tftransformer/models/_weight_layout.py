"""Compares the variables of two `.weights.h5` files, path by path."""

import re

import h5py

__all__ = ["weight_mismatches"]


def _natural_key(path):
    return [int(part) if part.isdigit() else part for part in re.split(r"(\d+)", path)]


def _stored_shapes(weights):
    """Maps each dataset path of a `.weights.h5` file to (shape, layer name)."""
    shapes = {}

    def visit(name, obj):
        if isinstance(obj, h5py.Dataset):
            layer = obj.parent.attrs.get("name")
            shapes[name] = (tuple(obj.shape), layer)

    weights.visititems(visit)
    return shapes


def weight_mismatches(expected, found):
    """The variables where two open `.weights.h5` files differ.

    `expected` is what a model built from a config saves, `found` the file
    to load into it; optimizer state is left out (a freshly built model's
    says nothing of a trained one's).

    Returns:
        `(description, mismatches, compared)`: the first mismatching
        variable described (its path, layer, and both shapes or which file
        lacks it), or None; the number of mismatching variables; the number
        compared.
    """
    want_shapes, have_shapes = _stored_shapes(expected), _stored_shapes(found)
    paths = {
        p for p in set(want_shapes) | set(have_shapes) if not p.startswith("optimizer/")
    }
    mismatches = []
    for path in sorted(paths, key=_natural_key):
        want, have = want_shapes.get(path), have_shapes.get(path)
        if want is None or have is None or want[0] != have[0]:
            mismatches.append((path, want, have))
    if not mismatches:
        return None, 0, len(paths)
    path, want, have = mismatches[0]
    layer = (want or have)[1]
    where = f"{path!r}" + (f" (layer {layer!r})" if layer else "")
    if want is None:
        detail = (
            f"{where}: the config has no such variable, the weights file has "
            f"shape {have[0]}"
        )
    elif have is None:
        detail = (
            f"{where}: the config expects shape {want[0]}, the weights file has "
            "no such variable"
        )
    else:
        detail = (
            f"{where}: the config expects shape {want[0]}, the weights file has "
            f"shape {have[0]}"
        )
    return detail, len(mismatches), len(paths)
