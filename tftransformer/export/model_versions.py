"""TF Serving's model directory layout: `<base_path>/<version>/saved_model.pb`.

TF Serving watches a base path and serves the numeric subdirectory with the
highest number. A version is written under a hidden temporary name and renamed
into place, so a server polling the base path never loads a half-written one.
"""

import contextlib
import os
import shutil
import tempfile

from tftransformer._arguments import check_int

__all__ = [
    "check_base_path",
    "existing_versions",
    "next_version",
    "publish_directory",
    "version_path",
]


def check_base_path(base_path, name="path", what="TF Serving's model base path"):
    """Refuses a TF Serving base path that is a file or lies under one.

    Cheap enough to call before training, so that a bad export path fails
    at once rather than after the run.

    Args:
        base_path: str or path-like, the directory TF Serving watches (need
            not exist).
        name: the argument or flag name the error message uses.
        what: what the directory is, for the message.

    Returns:
        str, `base_path`.

    Raises:
        ValueError: naming `base_path` and the file in the way.

    Example:
    ```python
    check_base_path(FLAGS.export_dir, name="export_dir")
    ```
    """
    base_path = os.fspath(base_path)
    probe = os.path.abspath(base_path)
    # The nearest part of the path that exists must be a directory.
    while not os.path.exists(probe) and os.path.dirname(probe) != probe:
        probe = os.path.dirname(probe)
    if os.path.exists(probe) and not os.path.isdir(probe):
        where = "" if probe == os.path.abspath(base_path) else f" ({probe!r} is one)"
        raise ValueError(
            f"{name} must be a directory ({what}), not a file or a path "
            f"under a file{where}. Received: {name}={base_path!r}"
        )
    return base_path


def existing_versions(base_path):
    """Lists the model versions under a TF Serving base path.

    Args:
        base_path: str or path-like, the directory TF Serving watches.

    Returns:
        Sorted list of ints, the names of the numeric subdirectories; empty
        when `base_path` does not exist.

    Example:
    ```python
    existing_versions("serving/sentiment")  # [1, 2]
    ```
    """
    base_path = os.fspath(base_path)
    if not os.path.isdir(base_path):
        return []
    return sorted(
        int(name)
        for name in os.listdir(base_path)
        if name.isdigit() and os.path.isdir(os.path.join(base_path, name))
    )


def next_version(base_path):
    """Returns the version number after the highest one under `base_path`.

    Args:
        base_path: str or path-like, the directory TF Serving watches.

    Returns:
        int, 1 for an empty or missing directory, else the highest numeric
        subdirectory plus one.

    Example:
    ```python
    next_version("serving/sentiment")  # 3 when 1/ and 2/ exist
    ```
    """
    versions = existing_versions(base_path)
    return versions[-1] + 1 if versions else 1


def version_path(base_path, version=None, overwrite=False):
    """Checks a version number and returns the directory it is served from.

    Args:
        base_path: str or path-like, the directory TF Serving watches.
        version: optional int >= 0. Defaults to `next_version(base_path)`.
        overwrite: bool, whether an existing `<base_path>/<version>` may be
            replaced. Otherwise it is an error.

    Returns:
        str, `<base_path>/<version>`.

    Example:
    ```python
    version_path("serving/sentiment")  # "serving/sentiment/3"
    ```
    """
    base_path = check_base_path(base_path)
    if version is None:
        version = next_version(base_path)
    else:
        version = check_int(
            "version", version, 0, what=" (TF Serving serves numeric subdirectories)"
        )
    final = os.path.join(base_path, str(version))
    if os.path.exists(final) and not overwrite:
        raise FileExistsError(
            f"Version {version} already exists at {final!r}. Pass overwrite=True "
            "to replace it, or leave `version` unset to write the next one."
        )
    return final


@contextlib.contextmanager
def publish_directory(final_path, overwrite=False):
    """Yields a scratch directory that is renamed to `final_path` on success.

    Args:
        final_path: str, the version directory to publish, e.g. from
            `version_path`.
        overwrite: bool, whether a `final_path` that exists when the block
            ends is replaced. Otherwise (another export published the same
            version meanwhile) it is kept and `FileExistsError` is raised.

    Yields:
        str, an empty directory beside `final_path`. If the block raises, it
        is removed and nothing is published.

    Raises:
        FileExistsError: `final_path` exists at the end and `overwrite` is
            False.

    Example:
    ```python
    final = version_path("serving/sentiment")
    with publish_directory(final) as scratch:
        tf.saved_model.save(module, scratch)
    ```
    """
    parent, name = os.path.split(os.path.abspath(final_path))
    os.makedirs(parent, exist_ok=True)
    # A dot-prefixed, non-numeric name: TF Serving ignores it while it fills.
    scratch = tempfile.mkdtemp(prefix=f".{name}-", dir=parent)
    try:
        yield scratch
        if overwrite and os.path.exists(final_path):
            shutil.rmtree(final_path)
        try:
            # Fails on a non-empty target: no check-then-replace race.
            os.rename(scratch, final_path)
        except OSError:
            if not os.path.exists(final_path):
                raise
            raise FileExistsError(
                f"{final_path!r} was published by another export while this "
                "one was written; it is kept. Export again to write the next "
                "version, or pass overwrite=True to replace it."
            ) from None
    finally:
        if os.path.exists(scratch):
            shutil.rmtree(scratch)
