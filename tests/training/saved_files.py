"""Files the prediction and evaluation tests give a saved model: a run
directory and a CSV file of rows."""

import csv
import json

from tftransformer.evaluation import generate_texts
from tftransformer.models import seq2seq_translator
from tftransformer.presets import load_generator
from tftransformer.testing import (
    CAUSAL_LM_END,
    CAUSAL_LM_START,
    move_weights,
    tiny_causal_lm,
    tiny_seq2seq_transformer,
)

# A generator run's test file: its prompts, and the references they are
# scored against.
GENERATOR_LENGTH = 12
PROMPT_ROWS = [
    {"prompt": "the cat", "target": "the cat sat"},
    {"prompt": "john smith lives in", "target": "a house"},
    {"prompt": "a", "target": "a cat"},
]


def write_csv(path, rows):
    """Writes `rows` (dicts with the same keys) as a CSV file with a header;
    returns its path as a string."""
    with open(path, "w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return str(path)


def saved(model, directory):
    """`model` saved as `directory/model.keras`, as a run directory; returns
    the directory as a string."""
    directory.mkdir()
    model.save(str(directory / "model.keras"))
    return str(directory)


def _run_dir(model, directory, settings=None, **files):
    """`model` saved as a run directory with a `report.json` of `settings`
    and the text `files` (name: lines)."""
    run = saved(model, directory)
    if settings is not None:
        (directory / "report.json").write_text(json.dumps({"settings": settings}))
    for name, lines in files.items():
        (directory / name).write_text("".join(line + "\n" for line in lines))
    return run


def generator_runs(root, gpt2_preset, t5_preset):
    """By kind (`gpt2`, `t5`, `causal_lm`, `seq2seq`), a generator saved as
    a run directory under `root` (a `pathlib.Path`), with the files its run
    writes, and the greedy generations of `PROMPT_ROWS`' prompts."""
    prompts = [row["prompt"] for row in PROMPT_ROWS]
    runs = {}
    gpt2 = load_generator(gpt2_preset, sequence_length=GENERATOR_LENGTH)
    runs["gpt2"] = (
        _run_dir(gpt2, root / "gpt2"),
        generate_texts(gpt2, prompts)["completion"],
    )
    # Weights off their initializers: each source gets its own target.
    t5 = move_weights(load_generator(t5_preset, sequence_length=8), 1.0)
    prefix = "summarize: "
    runs["t5"] = (
        _run_dir(t5, root / "t5", {"source_prefix": prefix, "max_length": 8}),
        generate_texts(t5, prompts, prefix=prefix)["text"],
    )
    # (It sets the random seed, which drops T5's tokenizer resource.)
    lm, vocabulary, tokenizer = tiny_causal_lm(prompts)
    runs["causal_lm"] = (
        _run_dir(
            lm,
            root / "causal_lm",
            {"vocabulary": "learned", "max_length": GENERATOR_LENGTH},
            **{"vocabulary.txt": vocabulary},
        ),
        generate_texts(
            lm,
            prompts,
            max_length=GENERATOR_LENGTH,
            tokenizer=tokenizer,
            start_token_id=CAUSAL_LM_START,
            end_token_id=CAUSAL_LM_END,
        )["completion"],
    )
    vocabulary = ["[PAD]", "[UNK]", "[START]", "[END]", "the", "cat", "a"]
    translator = tiny_seq2seq_transformer(vocabulary)
    vocabularies = {
        f"{side}_vocabulary.txt": vocabulary for side in ("source", "target")
    }
    runs["seq2seq"] = (
        _run_dir(translator, root / "seq2seq", {"max_length": 8}, **vocabularies),
        seq2seq_translator(translator, vocabulary, vocabulary, 8)(prompts),
    )
    return runs
