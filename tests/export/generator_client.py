"""Serves exported generators in a fresh process with TensorFlow and TF Text.

`serve_generators(calls, prompts)` runs this file as a script: for each
`(version_dir, num_calls)` of `calls` it loads the SavedModel afresh and
calls its `serving_default` signature `num_calls` times on `prompts` (or on
the entry's own, a third item `(version_dir, num_calls, prompts)`), with
keras-hub and tftransformer unimportable. It returns, per entry of `calls`,
the list of each call's outputs (`{name: [str, ...]}`).
"""

import json
import os
import sys


def serve_generators(calls, prompts):
    """Each call's outputs, per `(version_dir, num_calls)` of `calls`."""
    # Here, not at the top: this file also runs as the client's script.
    from tests import fork_server
    from tests.fast_exit import python_command

    result = fork_server.run(
        [*python_command(), __file__, json.dumps(calls), json.dumps(prompts)],
        capture_output=True,
        text=True,
        env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"},
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads(result.stdout.strip().splitlines()[-1])


def _main():
    # A `None` entry makes `import` fail: the SavedModel must need neither.
    blocked = ("keras_hub", "tftransformer")
    for name in blocked:
        sys.modules[name] = None
    import tensorflow as tf
    import tensorflow_text  # noqa: F401  (registers the tokenizer's ops)

    default_prompts = json.loads(sys.argv[2])
    results = []
    for version_dir, num_calls, *own in json.loads(sys.argv[1]):
        prompts = tf.constant(own[0] if own else default_prompts, tf.string)
        serve = tf.saved_model.load(version_dir).signatures["serving_default"]
        results.append(
            [
                {
                    name: [s.decode("utf-8") for s in value.numpy().tolist()]
                    for name, value in serve(prompt=prompts).items()
                }
                for _ in range(num_calls)
            ]
        )
    loaded = {
        name.split(".")[0] for name, module in sys.modules.items() if module is not None
    } & set(blocked)
    assert not loaded, loaded
    print(json.dumps(results), flush=True)


if __name__ == "__main__":
    _main()
    # The answers are out: TensorFlow's teardown at exit (about a second) checks
    # nothing a test reads, so it is skipped.
    os._exit(0)
