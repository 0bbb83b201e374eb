r"""Decoding speed of `CausalLM.generate` next to whole-prefix decoding and
keras-hub's GPT-2.

Builds a randomly initialized `tftransformer.models.CausalLM` (speed only: the
weights do not matter) and times greedy generation of `--new_tokens` tokens
after a `--prompt_length`-token prompt, at each batch size, with:

1. `CausalLM.generate` (one call fills a key/value cache with the prompt, then
   each step runs only the newest token, compiled by XLA), and again with
   `jit_compile=False`;
2. whole-prefix decoding of the same model: every step runs the model on the
   whole sequence so far (in a buffer padded to a multiple of 8 positions, one
   compiled function for all steps) and takes the argmax at the last
   position. Its tokens, and those without XLA, must equal those of 1;
3. keras-hub's `GPT2CausalLM` on a random `GPT2Backbone` of the same sizes,
   used as its documentation shows for token ids (`preprocessor=None`,
   `compile(sampler="greedy")`, `generate` on `token_ids` and
   `padding_mask`), which also decodes with a key/value cache.

Then the same for a random `tftransformer.models.Seq2SeqTransformer` of the
same sizes (`--seq2seq`): `greedy_decode` and `beam_search` (width
`--beam_width`) of `--new_tokens` tokens from `--prompt_length`-token
sources, each with and without `jit_compile=True` (XLA for the one-token
step). The end token is never produced, so every call decodes every step.
Each variant has its own copy of the model (same weights), so that no
variant reuses another's traces; the tokens must agree.

Each system's first call (tracing and compiling included) is timed on its
own, then `--repeats` timed calls follow; their median is reported as
generated tokens per second, with each system's ratio to
`CausalLM.generate`.

Usage:
```
python benchmarks/generation_speed.py
python benchmarks/generation_speed.py --batch_sizes=1 --new_tokens=32
```
"""

import functools
import os
import time

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

# tftransformer before TensorFlow: it picks the CPU kernels (oneDNN) a user
# of the library gets.
import tftransformer  # noqa: F401

# isort: split
import numpy as np
from absl import app, flags

FLAGS = flags.FLAGS
SYSTEMS = (
    "tftransformer CausalLM.generate",
    "CausalLM.generate(jit_compile=False)",
    "same model, whole prefix every step",
    "keras-hub GPT2CausalLM.generate",
)


def _check_sizes(batch_sizes, **counts):
    """Returns `batch_sizes` as a tuple; refuses it empty, or any count < 1."""
    batch_sizes = tuple(batch_sizes)
    counts.update({f"batch_sizes[{i}]": size for i, size in enumerate(batch_sizes)})
    for name, value in counts.items():
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(
                f"{name} must be a positive integer. Received: {name}={value!r}"
            )
    if not batch_sizes:
        raise ValueError("batch_sizes must name at least one batch size.")
    return batch_sizes


def make_models(vocabulary_size, num_layers, num_heads, hidden_dim, max_length):
    """The tftransformer model and the keras-hub GPT-2 of the same sizes."""
    import keras
    import keras_hub

    from tftransformer.models import CausalLM

    keras.utils.set_random_seed(0)
    sizes = dict(
        vocabulary_size=vocabulary_size,
        num_layers=num_layers,
        num_heads=num_heads,
        hidden_dim=hidden_dim,
        intermediate_dim=4 * hidden_dim,
    )
    ours = CausalLM(**sizes, max_sequence_length=max_length, dropout=0.0)
    backbone = keras_hub.models.GPT2Backbone(
        **sizes, max_sequence_length=max_length, dropout=0.0
    )
    hub = keras_hub.models.GPT2CausalLM(backbone=backbone, preprocessor=None)
    hub.compile(sampler="greedy")
    return ours, hub


def whole_prefix_decoder(model):
    """Returns greedy decoding `(prompt_ids, max_length) -> tokens` that runs
    `model` on the whole prefix at each step."""
    import tensorflow as tf

    # One function for every call: a few traced buffer lengths in all.
    @tf.function(reduce_retracing=True)
    def next_tokens(token_ids, index):
        inputs = {"token_ids": token_ids, "padding_mask": tf.ones_like(token_ids)}
        logits = model(inputs, training=False)
        return tf.argmax(tf.gather(logits, index, axis=1), axis=-1, output_type="int32")

    def generate(prompt_ids, max_length):
        return _whole_prefix_generate(next_tokens, prompt_ids, max_length)

    return generate


def _whole_prefix_generate(next_tokens, prompt_ids, max_length):
    import tensorflow as tf

    batch_size, prompt_length = prompt_ids.shape
    tokens = np.zeros((batch_size, max_length), "int32")
    tokens[:, :prompt_length] = prompt_ids
    for step in range(prompt_length, max_length):
        buffer_length = min(max_length, -(-step // 8) * 8)
        # Positions from `step` on are later ones: causal attention hides them.
        tokens[:, step] = next_tokens(
            tf.constant(tokens[:, :buffer_length]), tf.constant(step - 1)
        ).numpy()
    return tokens


def run(
    batch_sizes=(1, 8),
    prompt_length=16,
    new_tokens=112,
    repeats=3,
    vocabulary_size=8192,
    num_layers=4,
    num_heads=4,
    hidden_dim=256,
    verbose=True,
):
    """Times every system; returns one row (a dict) per system and batch size."""
    batch_sizes = _check_sizes(
        batch_sizes,
        prompt_length=prompt_length,
        new_tokens=new_tokens,
        repeats=repeats,
        vocabulary_size=vocabulary_size,
        num_layers=num_layers,
        num_heads=num_heads,
        hidden_dim=hidden_dim,
    )
    max_length = prompt_length + new_tokens
    ours, hub = make_models(
        vocabulary_size, num_layers, num_heads, hidden_dim, max_length
    )
    whole_prefix_generate = whole_prefix_decoder(ours)
    rng = np.random.default_rng(0)
    rows = []
    for batch_size in batch_sizes:
        prompts = rng.integers(1, vocabulary_size, (batch_size, prompt_length))
        prompts = prompts.astype("int32")
        hub_ids = np.zeros((batch_size, max_length), "int32")
        hub_ids[:, :prompt_length] = prompts
        # keras-hub generates where the padding mask is False.
        hub_mask = np.arange(max_length)[None, :] < prompt_length
        hub_inputs = {
            "token_ids": hub_ids,
            "padding_mask": np.repeat(hub_mask, batch_size, axis=0),
        }
        calls = {
            SYSTEMS[0]: lambda: ours.generate(prompts, max_length, top_k=1),
            SYSTEMS[1]: lambda: ours.generate(
                prompts, max_length, top_k=1, jit_compile=False
            ),
            SYSTEMS[2]: lambda: whole_prefix_generate(prompts, max_length),
            SYSTEMS[3]: lambda: hub.generate(hub_inputs, stop_token_ids=None),
        }
        rows += _time_systems(
            calls,
            batch_size,
            batch_size * new_tokens,
            repeats,
            same_tokens=[SYSTEMS[:3]],
            baseline={name: SYSTEMS[0] for name in SYSTEMS},
        )
    if verbose:
        print(format_table(rows, prompt_length, new_tokens))
    return rows


SEQ2SEQ_SYSTEMS = (
    "greedy_decode",
    "greedy_decode(jit_compile=True)",
    "beam_search",
    "beam_search(jit_compile=True)",
)


def make_seq2seq(vocabulary_size, num_layers, num_heads, hidden_dim, max_length):
    """A random `Seq2SeqTransformer` whose last token (the end token) is
    never the most likely, so decoding runs to `max_length`."""
    import keras

    from tftransformer.models import Seq2SeqTransformer

    keras.utils.set_random_seed(0)
    model = Seq2SeqTransformer(
        encoder_vocabulary_size=vocabulary_size,
        decoder_vocabulary_size=vocabulary_size,
        num_layers=num_layers,
        num_heads=num_heads,
        hidden_dim=hidden_dim,
        intermediate_dim=4 * hidden_dim,
        max_sequence_length=max_length,
        dropout=0.0,
    )
    kernel, bias = model.get_layer("logits").get_weights()
    bias[-1] = -1e4
    model.get_layer("logits").set_weights([kernel, bias])
    return model


def run_seq2seq(
    batch_sizes=(1, 8),
    source_length=16,
    new_tokens=112,
    beam_width=4,
    repeats=3,
    vocabulary_size=8192,
    num_layers=4,
    num_heads=4,
    hidden_dim=256,
    verbose=True,
):
    """Times greedy and beam decoding with and without XLA; one row each."""
    from tftransformer.models import beam_search

    batch_sizes = _check_sizes(
        batch_sizes,
        source_length=source_length,
        new_tokens=new_tokens,
        beam_width=beam_width,
        repeats=repeats,
        vocabulary_size=vocabulary_size,
        num_layers=num_layers,
        num_heads=num_heads,
        hidden_dim=hidden_dim,
    )
    max_length = new_tokens + 1  # the start token, then the new ones
    sizes = (vocabulary_size, num_layers, num_heads, hidden_dim, max_length)
    models = {name: make_seq2seq(*sizes) for name in SEQ2SEQ_SYSTEMS}
    start, end = 1, vocabulary_size - 1
    # TensorFlow's own first-op costs go to a throwaway model, not to the
    # first system.
    make_seq2seq(*sizes).greedy_decode(np.ones((1, 2), "int32"), start, end, 3)
    rng = np.random.default_rng(0)
    rows = []
    for batch_size in batch_sizes:
        sources = rng.integers(2, end, (batch_size, source_length)).astype("int32")

        def call(name):
            model, jit_compile = models[name], name.endswith("(jit_compile=True)")
            if name.startswith("greedy"):
                return model.greedy_decode(
                    sources, start, end, max_length, jit_compile=jit_compile
                )
            return beam_search(
                model,
                sources,
                start,
                end,
                max_length,
                beam_width=beam_width,
                jit_compile=jit_compile,
            )

        rows += _time_systems(
            {name: functools.partial(call, name) for name in SEQ2SEQ_SYSTEMS},
            batch_size,
            batch_size * new_tokens,
            repeats,
            same_tokens=[SEQ2SEQ_SYSTEMS[:2], SEQ2SEQ_SYSTEMS[2:]],
            baseline={
                SEQ2SEQ_SYSTEMS[1]: SEQ2SEQ_SYSTEMS[0],
                SEQ2SEQ_SYSTEMS[3]: SEQ2SEQ_SYSTEMS[2],
            },
        )
    if verbose:
        print(format_seq2seq_table(rows, source_length, new_tokens, beam_width))
    return rows


def _time_systems(calls, batch_size, generated, repeats, same_tokens, baseline):
    """Times `calls` (name -> function): the first call alone, then
    `repeats` alternating calls. Rows carry each system's rate and its ratio
    to the rate of `baseline[name]` (itself by default)."""
    outputs, first_call = {}, {}
    seconds = {name: [] for name in calls}
    for name, call in calls.items():
        start = time.perf_counter()
        outputs[name] = call()  # traces and compiles
        first_call[name] = time.perf_counter() - start
    # Alternating repeats, so that a slower minute of the machine is shared
    # by every system.
    for _ in range(repeats):
        for name, call in calls.items():
            start = time.perf_counter()
            call()
            seconds[name].append(time.perf_counter() - start)
    for group in same_tokens:
        for name in group[1:]:
            np.testing.assert_array_equal(
                outputs[group[0]],
                outputs[name],
                err_msg=f"{group[0]} and {name} generated different tokens",
            )
    rates = {name: generated / float(np.median(seconds[name])) for name in calls}
    return [
        {
            "system": name,
            "batch_size": batch_size,
            "first_call_seconds": first_call[name],
            "seconds": float(np.median(seconds[name])),
            "tokens_per_s": rates[name],
            "vs_ours": rates[name] / rates[baseline.get(name, name)],
        }
        for name in calls
    ]


def format_table(rows, prompt_length, new_tokens):
    """The `run` rows as a Markdown table."""
    return _table(
        rows,
        f"Greedy generation of {new_tokens} tokens after a {prompt_length}-token "
        "prompt (medians):",
        "vs CausalLM.generate",
    )


def format_seq2seq_table(rows, source_length, new_tokens, beam_width):
    """The `run_seq2seq` rows as a Markdown table."""
    return _table(
        rows,
        f"Seq2SeqTransformer: {new_tokens} tokens from {source_length}-token "
        f"sources, beam width {beam_width} (medians):",
        "vs without XLA",
    )


def _table(rows, title, ratio_header):
    lines = [
        title,
        "",
        "| system | batch | first call, s (compiling) | seconds | generated "
        f"tokens/s | {ratio_header} |",
        "| --- | ---: | ---: | ---: | ---: | ---: |",
    ]
    for row in rows:
        lines.append(
            f"| {row['system']} | {row['batch_size']} | "
            f"{row['first_call_seconds']:.2f} | {row['seconds']:.3f} | "
            f"{row['tokens_per_s']:.1f} | {row['vs_ours']:.2f}x |"
        )
    return "\n".join(lines)


flags.DEFINE_list("batch_sizes", ["1", "8"], "Batch sizes to time.")
flags.DEFINE_integer("prompt_length", 16, "Prompt tokens per row.")
flags.DEFINE_integer("new_tokens", 112, "Tokens generated per row.")
flags.DEFINE_integer("repeats", 3, "Timed calls per system and batch size.")
flags.DEFINE_integer("num_layers", 4, "Decoder blocks.")
flags.DEFINE_integer("hidden_dim", 256, "Model width (feed-forward: 4x).")
flags.DEFINE_bool("seq2seq", True, "Also time Seq2SeqTransformer decoding.")
flags.DEFINE_integer("beam_width", 4, "Beam width of the beam_search rows.")


def main(argv):
    del argv
    try:
        batch_sizes = [int(size) for size in FLAGS.batch_sizes]
    except ValueError:
        raise app.UsageError(
            f"--batch_sizes must be integers. Received: {','.join(FLAGS.batch_sizes)}"
        ) from None
    run(
        batch_sizes=batch_sizes,
        prompt_length=FLAGS.prompt_length,
        new_tokens=FLAGS.new_tokens,
        repeats=FLAGS.repeats,
        num_layers=FLAGS.num_layers,
        hidden_dim=FLAGS.hidden_dim,
    )
    if FLAGS.seq2seq:
        print()
        run_seq2seq(
            batch_sizes=batch_sizes,
            source_length=FLAGS.prompt_length,
            new_tokens=FLAGS.new_tokens,
            beam_width=FLAGS.beam_width,
            repeats=FLAGS.repeats,
            num_layers=FLAGS.num_layers,
            hidden_dim=FLAGS.hidden_dim,
        )


if __name__ == "__main__":
    app.run(main)
