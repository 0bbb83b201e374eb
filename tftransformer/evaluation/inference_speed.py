"""Inference speed of several models measured in the same run."""

import time

from tftransformer._arguments import check_int

__all__ = ["compare_inference_speed"]


def compare_inference_speed(models, dataset, num_examples, rounds=3):
    """Returns each model's examples per second on `dataset`, best of `rounds`.

    Every model first predicts once untimed (tracing each padded length),
    then the models take turns, `rounds` timed passes each, so that a
    change in the machine's load falls on all of them alike.

    Args:
        models: dict of names to `keras.Model`s.
        dataset: what `predict` takes, e.g. a batched `tf.data.Dataset`.
        num_examples: int > 0, the examples in one pass over `dataset`.
        rounds: int >= 1, timed passes per model.

    Returns:
        A dict of the same names to examples per second (the fastest pass).

    Example:
    ```python
    speeds = compare_inference_speed({"full": full, "shrunk": shrunk}, test_ds, 1279)
    speeds["shrunk"] / speeds["full"]  # the speed-up
    ```
    """
    num_examples = check_int("num_examples", num_examples, 1)
    rounds = check_int("rounds", rounds, 1)
    if not models:
        raise ValueError(f"models must name at least one model. Received: {models!r}")
    for model in models.values():
        model.predict(dataset, verbose=0)
    best = {name: float("inf") for name in models}
    for _ in range(rounds):
        for name, model in models.items():
            start = time.perf_counter()
            model.predict(dataset, verbose=0)
            best[name] = min(best[name], time.perf_counter() - start)
    return {name: num_examples / seconds for name, seconds in best.items()}
