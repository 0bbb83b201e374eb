r"""Continues the masked-language-model pretraining of an encoder on your text.

When no pretrained model matches the domain of the task (clinical notes,
contracts, reviews), continuing the encoder's own pretraining objective on
unlabelled in-domain text before fine-tuning usually helps (domain-adaptive
pretraining, Gururangan et al. 2020). The backbone of `--preset` gets its
family's keras-hub masked-LM head; the texts are tokenized, packed into full
`--max_length` rows (`--pack_sequences`) and masked anew each epoch as BERT
did: `--mask_rate` of the word pieces, 80% replaced by `[MASK]`, 10% by a
random piece, 10% kept, or whole words with `--whole_word_masking`.

Everything lands in `--model_dir`: the masked-LM model (`model.keras`), the
training history and summary, and `preset/`, the pretrained backbone and its
preprocessor as a keras-hub preset. Fine-tune it like any other:
`python examples/classify.py --preset=runs/pretrain_mlm/preset`. Rerunning a
killed command resumes it.

Data: by default the embedded Rotten Tomatoes texts, unlabelled (the training
movies' snippets and plot summaries train; the validation movies' measure),
so it runs offline. `--text_path` takes a UTF-8 file, or a directory of
them, one text per line; a seeded `--validation_fraction` is held out.

Usage:
```
python examples/pretrain_mlm.py --max_train_minutes=10
python examples/pretrain_mlm.py --text_path=notes/ --whole_word_masking \
    --epochs=3 --model_dir=runs/notes_mlm
python examples/classify.py --preset=runs/notes_mlm/preset --train_file=labels.csv
```
"""

import dataclasses
import os

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import tftransformer as tft


@dataclasses.dataclass
class Config(tft.training.PretrainingConfig):
    # Whole words are harder to guess from their own pieces.
    whole_word_masking: bool = tft.training.setting(
        True, "Mask all pieces of a chosen word, or none (WordPiece)."
    )


def main(config):
    run = tft.training.continue_pretraining(config)
    if not run.trainer.chief:
        return
    print("\n" + run.format())


if __name__ == "__main__":
    tft.training.run(Config, main)
