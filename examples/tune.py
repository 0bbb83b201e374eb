r"""Searches fine-tuning hyperparameters with KerasTuner, then saves the best.

Each trial fine-tunes the pretrained backbone again from its pretrained
weights with one configuration and is scored by `--monitor` on the validation
split: `val_accuracy`, `val_macro_f1` or `val_loss`
(`tft.tuning.search_text_classifier`). The search state lives in
`--directory/--project_name`: run the same command again after a crash and
it resumes, running only the missing trials (a larger `--max_trials` extends
the search; other data, space, epochs, preset or seed are refused:
`--overwrite` starts afresh). A trial that fails (non-finite loss, out of
memory) is recorded in `failed_trials.json` and the search goes on. The best
configuration is printed and written to `best.json`, whose keys are
`examples/classify.py` flags: the best values and the search's other
settings (data, preset, `--epochs`, ...), so that it trains the best trial
again. Hyperparameters outside the space keep the value of their flag
(`--learning_rate`, `--batch_size`, ...).

```
python examples/tune.py --max_trials=8 --max_train_examples=800 --epochs=1
python examples/tune.py --algorithm=bayesian --space_file=space.json
python examples/tune.py --hp=learning_rate=1e-5..1e-3:log --hp=batch_size=16,32 \
    --hp=freeze_layers=0..3 --hp=pooling=cls
python examples/classify.py --config=runs/tune/search/best.json
```

A space file is a JSON (or YAML) object, e.g.
`{"learning_rate": {"min": 1e-5, "max": 1e-3, "sampling": "log"},
"batch_size": [16, 32], "dropout": 0.1}`; see `tft.tuning.SearchSpace`. With
neither `--space_file` nor `--hp`, `tft.tuning.DEFAULT_SEARCH_SPACE` is
searched.
"""

import json
import os

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import tftransformer as tft


def main(config):
    result = tft.tuning.search_text_classifier(config)
    if not tft.distribute.is_chief(result["tuner"].distribution_strategy):
        return
    records, objective = result["trials"], result["objective"]
    failed = [r for r in records if r["status"] == "FAILED"]
    print("\n" + tft.tuning.format_trial_table(records, objective))
    print(
        f"\n{len(records)} trials ({len(failed)} failed) in "
        f"{result['search_seconds']:.0f} s.\nBest {objective} "
        f"{result['best_' + objective]:.4f} with "
        f"{json.dumps(result['best_config'], sort_keys=True)}"
    )

    def test_scores(prefix):
        return (
            f"test accuracy {result[prefix + '_test_accuracy']:.4f}, test macro F1 "
            f"{result[prefix + '_test_macro_f1']:.4f}"
        )

    if config.evaluate_test:
        print(f"Best trial: {test_scores('best')}")
    if config.compare_default:
        print(
            f"Default configuration: {objective} "
            f"{result['default_' + objective]:.4f}, {test_scores('default')}"
        )
    path = result["best_config_path"]
    print(
        f"Best configuration written to {path}; use it with\n"
        f"  python examples/classify.py --config={path}"
    )


if __name__ == "__main__":
    tft.training.run(tft.tuning.SearchConfig, main)
