"""Running an exported LiteRT model on raw strings."""

import os

import numpy as np

from tftransformer._arguments import check_texts_as_str
from tftransformer.export._litert_interpreter import RUNTIMES, make_interpreter
from tftransformer.export.text_classifier_export import LABELS_FILE
from tftransformer.export.token_classifier_export import TAGS_FILE

__all__ = ["LITERT_RUNTIMES", "LiteRTModel"]

# What `LiteRTModel(runtime=...)` takes: "auto" (LiteRT's interpreter where
# ai_edge_litert is installed, else TensorFlow's), "litert", "tensorflow".
LITERT_RUNTIMES = RUNTIMES


class LiteRTModel:
    """A LiteRT interpreter with TF Text's ops, called on a list of strings.

    A plain LiteRT interpreter takes no custom ops; `InterpreterWithCustomOps`
    registers TF Text's kernels
    (`tensorflow_text.tflite_registrar.SELECT_TFTEXT_OPS`), as an app links
    them. The interpreter is resized to each call's batch size.

    Args:
        tflite_file: str, a `.tflite` file written by `export_litert`.
        num_threads: optional int, the interpreter's CPU threads.
        runtime: `"auto"` (LiteRT's interpreter where the `ai_edge_litert`
            package, the `litert` extra, is installed, else TensorFlow's),
            `"litert"` or `"tensorflow"` (`tf.lite.Interpreter`, which
            TensorFlow deprecates in favour of LiteRT's). Both answer float32
            and dynamic-range int8 files alike; full-int8 files differ (other
            int8 kernels), and a translator's files ran 1.8-2.8x faster
            on TensorFlow's, whose built-in fully-connected, GELU and
            softmax kernels (which run what XNNPACK does not) are faster
            than LiteRT 2.3.0's (`benchmarks/litert_kernels.py`,
            docs/serving.md). `model.runtime` tells the
            one in use.

    Call arguments:
        texts: list of strings (empty and over-long ones included; a NumPy
            array or a string tensor too, of str or UTF-8 bytes); for a
            question answerer, the questions; for a generator, the prompts.
        text_pairs: list of strings (in the same forms), the second text
            of each pair, for a model exported with `text_pair=True`, or the
            context of each question for a question answerer (and only
            then).

    Returns:
        A dict of NumPy arrays, by the names `export_litert` gives them:
        `probabilities` for a classifier; `probabilities` and `predicted`
        (bool, `(batch, num_labels)`) for a multi-label classifier, and with
        the export's `labels.txt` beside the file also `labels`, the
        predicted label names of each text (a list of lists, in label
        order); `score` (`(batch, num_targets)`, in target units) for a
        regressor; `embedding` for an embedder. For a tagger, padded to the
        batch's most words (`max_words`): `tag_ids` (int32, `(batch, max_words)`, -1
        past a sentence's end), `probabilities` (float32, `(batch,
        max_words, num_tags)`, zeros for truncated words and past the end),
        `truncated` (bool) and `num_words` (int32, `(batch,)`); with the
        export's `tags.txt` beside the file, also `tags`: one list of tag
        strings per sentence. For a question answerer, what its SavedModel
        export answers: `answer` (a list of strings, `""` for no answer),
        `start` and `end` (int32 `(batch,)`, character offsets in the
        context, -1 for no answer) and `score` (float32 `(batch,)`), with
        the model's own `byte_start` and `byte_end` (UTF-8 byte offsets).
        For a generator (input `prompt`): `text`, a list of the generated
        strings (a `CausalLM`'s: the prompt and its continuation, and
        `completion`, the continuation alone), one interpreter call per
        prompt.

    Example:
    ```python
    model = LiteRTModel("litert/sentiment/model.tflite")
    model(["a fine film", ""])["probabilities"].shape  # (2, num_classes)
    pairs = LiteRTModel("litert/entailment/model.tflite")
    pairs(["a man sleeps"], ["a person rests"])["probabilities"]
    LiteRTModel("litert/topics/model.tflite")(["rain in Paris"])["labels"]
    # [["geo-loc"]]
    reader = LiteRTModel("litert/squad/model.tflite")
    reader(["Who lives here?"], ["John Smith lives here."])["answer"]
    # ["John Smith"]
    ```
    """

    def __init__(self, tflite_file, num_threads=None, runtime="auto"):
        tflite_file = os.fspath(tflite_file)
        if not os.path.isfile(tflite_file):
            raise ValueError(
                f"`tflite_file` must be an existing .tflite file. "
                f"Received: {tflite_file!r}"
            )
        self.tflite_file = tflite_file
        self._interpreter, self.runtime = make_interpreter(
            runtime, model_path=tflite_file, num_threads=num_threads
        )
        self._runner = self._interpreter.get_signature_runner()
        inputs = self._runner.get_input_details()
        # Whether the model takes sentence pairs (`text` and `text_pair`).
        self.text_pair = "text_pair" in inputs
        # Whether it answers questions (`question` and `context`).
        self.question_answerer = "context" in inputs
        # Whether it generates from one prompt per call.
        self.generator = "prompt" in inputs
        directory = os.path.dirname(tflite_file)
        self.tag_names = _names(os.path.join(directory, TAGS_FILE))
        # A classifier's label names (a regressor's target names).
        self.label_names = _names(os.path.join(directory, LABELS_FILE))

    def __call__(self, texts, text_pairs=None):
        if self.generator:
            if text_pairs is not None:
                raise ValueError(
                    f"{self.tflite_file} generates from single prompts, not "
                    f"pairs. Received: text_pairs={text_pairs!r}"
                )
            # One prompt per call (see `LiteRTSeq2SeqModule`).
            answers = [
                self._runner(prompt=np.array([prompt], dtype=object))
                for prompt in _strings("texts", texts)
            ]
            return {
                name: [
                    answer[name][0].decode("utf-8", errors="replace")
                    for answer in answers
                ]
                for name in self._runner.get_output_details()
            }
        first, second = "text", "text_pair"
        if self.question_answerer:
            first, second = "question", "context"
        inputs = {first: _strings("texts", texts)}
        if self.text_pair or self.question_answerer:
            if text_pairs is None:
                what = (
                    "answers questions about contexts: pass `text_pairs`, one "
                    "context per question"
                    if self.question_answerer
                    else "classifies sentence pairs: pass `text_pairs`, one "
                    "string per text"
                )
                raise ValueError(
                    f"{self.tflite_file} {what}. Received: text_pairs=None"
                )
            inputs[second] = _strings("text_pairs", text_pairs)
            if len(inputs[second]) != len(inputs[first]):
                raise ValueError(
                    "`texts` and `text_pairs` must hold as many strings. Received: "
                    f"{len(inputs[first])} texts and {len(inputs[second])} "
                    "text_pairs"
                )
        elif text_pairs is not None:
            raise ValueError(
                f"{self.tflite_file} takes single texts, not pairs. Received: "
                f"text_pairs={text_pairs!r}"
            )
        outputs = self._runner(**inputs)
        if self.question_answerer:
            outputs.update(_answers(inputs["context"], outputs))
        if self.tag_names is not None and "tag_ids" in outputs:
            outputs["tags"] = [
                [self.tag_names[i] for i in row[:count]]
                for row, count in zip(outputs["tag_ids"], outputs["num_words"])
            ]
        if self.label_names is not None and "predicted" in outputs:
            outputs["labels"] = [
                [self.label_names[j] for j in np.flatnonzero(row)]
                for row in outputs["predicted"]
            ]
        return outputs


def _answers(contexts, outputs):
    """`answer`, `start` and `end` (in characters) from the byte offsets."""
    answers, starts, ends = [], [], []
    for context, begin, end in zip(
        contexts, outputs["byte_start"], outputs["byte_end"]
    ):
        data = context.encode("utf-8")
        if begin < 0:
            answers.append("")
            starts.append(-1)
            ends.append(-1)
            continue
        answers.append(data[begin:end].decode("utf-8"))
        starts.append(len(data[:begin].decode("utf-8")))
        ends.append(starts[-1] + len(answers[-1]))
    return {
        "answer": answers,
        "start": np.array(starts, np.int32),
        "end": np.array(ends, np.int32),
    }


def _names(path):
    """The lines of a names file written beside the model, or None."""
    if not os.path.isfile(path):
        return None
    with open(path, encoding="utf-8") as f:
        return f.read().splitlines()


def _strings(name, texts):
    """`texts` (a list, a NumPy array or a string tensor, of str or UTF-8
    bytes, as a Keras model takes them) as an object array of str; a single
    string is refused (it would be read letter by letter)."""
    if hasattr(texts, "numpy"):
        texts = texts.numpy()
    if isinstance(texts, np.ndarray):
        texts = texts.tolist()
    return np.array(check_texts_as_str(name, texts), dtype=object)
