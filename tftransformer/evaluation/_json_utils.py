"""JSON helpers shared by the evaluation result classes."""

import json
import math
import os


def nan_to_none(value):
    """Maps NaN and infinities to `None`: strict JSON has no literal for them.

    A diverged run's loss is infinite; read back, it is NaN (not a number).
    """
    if value is not None and not math.isfinite(value):
        return None
    return value


def none_to_nan(value):
    """Inverse of `nan_to_none` for values read back from JSON."""
    return math.nan if value is None else float(value)


def write_json(data, path):
    """Writes `data` as indented strict JSON, creating parent directories."""
    path = os.fspath(path)
    parent = os.path.dirname(path)
    if parent:
        os.makedirs(parent, exist_ok=True)
    with open(path, "w") as f:
        # allow_nan=False: a stray NaN must fail here, not in a strict reader.
        json.dump(data, f, indent=2, allow_nan=False)
        f.write("\n")


class JsonReport:
    """`to_json` and `from_json` for a result class with `to_dict` and
    `from_dict`."""

    def to_json(self, path):
        """Writes `to_dict()` to `path` as strict JSON (no NaN literals).

        Args:
            path: file path; missing parent directories are created.
        """
        write_json(self.to_dict(), path)

    @classmethod
    def from_json(cls, path):
        """Reads a result written by `to_json`.

        Args:
            path: the JSON file's path.

        Returns:
            An instance of the class `from_json` is called on.
        """
        with open(os.fspath(path)) as f:
            return cls.from_dict(json.load(f))
