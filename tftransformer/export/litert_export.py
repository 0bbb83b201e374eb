"""Exporting a text classifier, regressor, embedder, tagger, question
answerer or generator (T5, CausalLM, Seq2SeqTransformer) as a LiteRT
(TFLite) model on strings."""

import os
import re
import tempfile

import keras
import keras_hub
import numpy as np
import tensorflow as tf
import tensorflow_text as tf_text
from tensorflow.lite.python import convert as tflite_convert
from tensorflow.lite.python import schema_py_generated as schema_fb
from tensorflow.python.framework.convert_to_constants import (
    convert_variables_to_constants_v2,
)

from tftransformer._arguments import (
    check_bool,
    check_choice,
    check_int,
    is_finite_number,
    output_shape,
)
from tftransformer.export._litert_interpreter import make_interpreter
from tftransformer.export._model_checks import refuse_multi_task_model
from tftransformer.export.few_shot_classifier_export import check_few_shot_head
from tftransformer.export.generator_serving_module import check_generator
from tftransformer.export.inference_copy import float32_inference_copy
from tftransformer.export.litert_causal_lm_module import LiteRTCausalLMModule
from tftransformer.export.litert_question_answerer_module import (
    SPAN_SEARCH,
    LiteRTQuestionAnswererModule,
)
from tftransformer.export.litert_seq2seq_module import (
    LiteRTSeq2SeqModule,
    check_litert_seq2seq,
)
from tftransformer.export.litert_seq2seq_transformer_module import (
    LiteRTSeq2SeqTransformerModule,
)
from tftransformer.export.litert_tokenizer import LiteRTTokenizer, as_litert_tokenizer
from tftransformer.export.model_versions import check_base_path
from tftransformer.export.text_classifier_export import LABELS_FILE
from tftransformer.export.text_classifier_serving_module import (
    TEXT_INPUT,
    TEXT_PAIR_INPUT,
    check_text_classifier,
)
from tftransformer.export.text_regressor_serving_module import (
    TextRegressorServingModule,
)
from tftransformer.export.token_classifier_export import TAGS_FILE
from tftransformer.export.token_classifier_serving_module import (
    check_token_classifier,
)
from tftransformer.models.backbone_adapter import adapter_for
from tftransformer.models.backbone_adapter import pair_separators as family_separators
from tftransformer.models.causal_lm import CausalLM
from tftransformer.models.multi_label_classifier import MultiLabelClassifier
from tftransformer.models.question_answerer import QuestionAnswerer
from tftransformer.models.seq2seq_transformer import Seq2SeqTransformer
from tftransformer.models.text_classifier_preprocessor import TRUNCATIONS
from tftransformer.models.text_regressor import TextRegressor
from tftransformer.models.token_classifier import TokenClassifier

__all__ = [
    "FLOAT_OPS",
    "LITERT_FILE",
    "LITERT_MODEL_KINDS",
    "LITERT_QUANTIZATIONS",
    "export_litert",
    "model_kind",
]

# Written into the export directory, with `labels.txt` for a classifier.
LITERT_FILE = "model.tflite"
# None: float32; "dynamic_int8": int8 weights, float activations;
# "int8": int8 weights and activations, calibrated on representative texts.
LITERT_QUANTIZATIONS = (None, "dynamic_int8", "int8")
# The LiteRT ops a full-int8 file keeps in float32, with int8 on either
# side: those of mean pooling, the masked sum of the vectors, the token
# count (a sum, then a maximum with 1) and the division by it. LiteRT's int8
# DIV refuses a divisor whose int8 code is 0 (`div.cc:242 data[i] != 0`),
# which a short text's count had in a tiny mean-pooled model (3 tokens,
# scale 6/255, zero point -128), and the int8 sum and count were calibrated
# to ranges that long texts overflow (a count range of 0 to 5 or 7 when
# texts had up to 13 tokens).
FLOAT_OPS = ("SUM", "MAXIMUM", "DIV")


def export_litert(
    model,
    path,
    quantization=None,
    representative_texts=None,
    merge_lora=True,
    overwrite=False,
    text_pair=False,
    max_answer_length=30,
    null_threshold=0.0,
    allow_no_answer=True,
    max_length=None,
    head=None,
    label_names=None,
    tokenizer=None,
    start_token_id=None,
    end_token_id=None,
    pad_token_id=0,
    target_tokenizer=None,
):
    """Exports a classifier, regressor, embedder, tagger, question answerer or
    generator (T5, CausalLM, Seq2SeqTransformer) as a LiteRT model on raw
    strings.

    Writes `<path>/model.tflite` (and `<path>/labels.txt` for a classifier,
    the target names for a regressor, `<path>/tags.txt` for a tagger). The
    model's one input is `text` (1-D string, any batch size). What it
    answers depends on the model, as its SavedModel export does:

    - a single-label classifier: `probabilities` (float32, `(batch,
      num_classes)`, `softmax(logits / model.temperature)`);
    - a `tftransformer.models.MultiLabelClassifier`: `probabilities`
      (float32, `(batch, num_labels)`, `sigmoid(logits /
      model.temperature)`) and `predicted` (bool, `(batch, num_labels)`,
      each probability at or above its label's threshold,
      `model.decision_thresholds()`); the SavedModel's string `labels` are
      left to the client (`LiteRTModel` adds them from `labels.txt`);
    - a `tftransformer.models.TextRegressor`: `score` (float32, `(batch,
      num_targets)`, in the targets' own units: the model's standardized
      outputs times `target_std` plus `target_mean`);
    - an embedder: `embedding` (float32, `(batch, dim)`).

    A classifier or regressor trained on sentence pairs exports with
    `text_pair=True`:
    its inputs are `text` and `text_pair` (1-D strings of one size), packed
    in the graph as its preprocessor packs them, `[CLS] a [SEP] b [SEP]`
    (with the preprocessor's `pair_separators` `[SEP]`s between the texts)
    and segment ids 0 up to the separators, 1 after. The two texts are
    truncated to `sequence_length` by the preprocessor's `truncate` rule,
    `"round_robin"` (one piece to each text in turn, the first text first)
    or `"waterfall"` (the first text keeps what fits), computed from the
    two lengths with dense arithmetic: TF Text's trimmers have no LiteRT
    kernels. The interpreter answers an error for inputs of different
    sizes (`LiteRTModel` refuses them first).

    A tagger (`tftransformer.models.TokenClassifier`) answers per word,
    padded to the batch's most words: `tag_ids` (int32, `(batch,
    max_words)`, -1 past a sentence's end), `probabilities` (float32,
    `(batch, max_words, num_tags)`, `softmax(logits / model.temperature)`
    at the word's first piece), `truncated` (bool: words cut off by the
    sequence length, tagged `"O"`, probabilities zero) and `num_words`
    (int32, `(batch,)`), as the SavedModel export of
    `export_token_classifier`. Words are split on whitespace by TF Text's
    `WhitespaceTokenizer` (Unicode whitespace; `tf.strings.split`, used by
    the SavedModel export, splits on ASCII whitespace only) and each word
    into pieces by `FastBertTokenizer`; the word-to-piece alignment is
    dense arithmetic on the two tokenizers' row splits, since ragged
    concatenation and segment sums have no LiteRT kernels.

    A keras-hub `Seq2SeqLM` whose family steps its decoder a token at a
    time with a cache per layer (T5, `T5Seq2SeqLM`) exports its greedy
    generation: the input is `prompt` (1-D string of one prompt: the
    interpreter runs one per call, `LiteRTModel` loops) and the output
    `text`, the generated target, as `export_generator`'s SavedModel with
    the greedy sampler (see `LiteRTSeq2SeqModule`); float32 or
    `"dynamic_int8"`. A task prefix is part of the prompt the app sends.
    A `tftransformer.models.CausalLM` (with `tokenizer` and its special
    token ids, as for `export_generator`) exports the same way: `prompt`
    in, `text` (the prompt and its continuation) and `completion` out (see
    `LiteRTCausalLMModule`). A `tftransformer.models.Seq2SeqTransformer`
    (`train_translator`'s, with `tokenizer`, `target_tokenizer` and the
    target's special token ids, as for `export_generator`) answers `text`,
    the generated target (see `LiteRTSeq2SeqTransformerModule`). GPT-2 and
    BART (byte-pair tokenizers) are refused.

    A `tftransformer.models.QuestionAnswerer` takes `question` and
    `context` (1-D strings of one size) and answers, per example,
    `byte_start` and `byte_end` (int32, the answer's UTF-8 byte offsets in
    its context, -1 for no answer) and `score` (float32), chosen as
    `export_question_answerer` chooses them: the preprocessor's windows
    (`sequence_length`, `doc_stride`, `max_question_length`), every span
    of at most `max_answer_length` context tokens, and "no answer" by
    `null_threshold` and `allow_no_answer` (see
    `LiteRTQuestionAnswererModule`). A LiteRT graph slices no strings:
    `LiteRTModel` adds `answer` and the character offsets `start` and `end`,
    as the SavedModel answers them. Each context token spans its whole word
    (whitespace and punctuation split words, as BERT's tokenizer does), where
    the SavedModel splits words as `tftransformer.data.context_pieces`: the
    two differ on `_`, non-ASCII symbols such as `€` and runs of CJK
    characters. With `quantization="int8"` the layers are int8 and the span
    search after them float32 (see `quantization`).

    Tokenization runs inside the model with TF Text ops that have LiteRT
    kernels (see `LiteRTTokenizer`): `FastBertTokenizer` for a WordPiece
    vocabulary (`FastBertNormalize`, `FastWordpieceTokenizeWithOffsets`,
    `RaggedTensorToTensor`), `FastSentencepieceTokenizer` for a
    SentencePiece model (ALBERT, DeBERTa-v3, XLM-RoBERTa; not for a tagger
    or question answerer, which align WordPiece pieces with words). Rows are
    packed with the tokenizer's start, end and pad tokens, pairs with the
    family's separators. Byte-pair tokenizers have no LiteRT kernel and
    are refused, as is a conversion that keeps a TensorFlow op without
    one. An app sends text, and its
    interpreter registers TF Text's ops
    (`tensorflow_text.tflite_registrar.SELECT_TFTEXT_OPS`, see
    `LiteRTModel`; a tagger also uses `WhitespaceTokenizeWithOffsetsV2`).
    Rows are truncated to the preprocessor's `sequence_length` and padded
    to the batch's longest row, like the SavedModel export.
    `FastBertTokenizer` lowercases and strips accents together: a tokenizer
    that lowercases without stripping accents (or the reverse) splits
    accented words differently.

    The model is rebuilt in float32 with LoRA adapters merged before any
    quantization (see `float32_inference_copy`), so a mixed-precision model
    never exports as float16. Its variables are frozen into constants first:
    the converter otherwise keeps Keras 3 variables as LiteRT resource
    variables, which the interpreter reads as uninitialized (NaN outputs).

    Args:
        model: a built `tftransformer.models.TextClassifier`,
            `MultiLabelClassifier` or `TextRegressor` (on single texts, or
            on pairs with `text_pair`), another keras-hub text classifier
            `Task`, a `tftransformer.models.TextEmbedder`, a
            `tftransformer.models.TokenClassifier` (with `tag_names`, `"O"`
            among them) or a `tftransformer.models.QuestionAnswerer`, with a
            WordPiece or (not a tagger or question answerer) SentencePiece
            tokenizer.
        path: str, the directory written.
        quantization: one of `LITERT_QUANTIZATIONS`: None (float32),
            `"dynamic_int8"` (int8 weights, activations quantized at run
            time) or `"int8"` (int8 weights and activations, with ranges
            measured on `representative_texts`; tokenization stays in
            strings and integers, and the ops of `FLOAT_OPS`, mean
            pooling's sums and division, in float32, so that a mean-pooled
            model runs on every LiteRT kernel set; a question answerer's
            span search after its model, by the node names of its
            `span_search` scope, in float32 too).
        representative_texts: list of strings, e.g. a few hundred training
            texts; required with `quantization="int8"`. With `text_pair`:
            `(text, text_pair)` tuples; for a question answerer,
            `(question, context)` tuples.
        merge_lora: bool. With False, a model with LoRA adapters is refused.
        overwrite: bool, whether an existing `path` may be written into.
        text_pair: bool, whether the model reads sentence pairs (a
            classifier or regressor only; a question answerer always does).
        max_answer_length: int >= 1, a question answerer's longest answer
            in tokens.
        null_threshold: float, how much a question answerer's null score
            must beat its best span's by for "no answer" (see
            `tftransformer.models.best_answers`).
        allow_no_answer: bool, whether a question answerer's answers may
            be empty.
        max_length: for a generator, the generated target's length in
            tokens (the start token included); defaults to the
            preprocessor's `decoder_sequence_length`.
        head: optional `keras.Model` from an embedder's embeddings to
            logits, a few-shot classifier's head
            (`tftransformer.training.train_few_shot_classifier`'s
            `run.head`): `model` is then its `TextEmbedder`, and the export
            the classifier of the two, answering `probabilities` (the
            softmax of the head's logits, calibrated when the head ends in
            its temperature), as `export_few_shot_classifier`'s SavedModel.
        label_names: with `head`, the class names written to `labels.txt`;
            defaults to `"0"`, `"1"`, ...
        tokenizer, start_token_id, end_token_id, pad_token_id: for a
            `tftransformer.models.CausalLM` or `Seq2SeqTransformer`, which
            have no preprocessor, as in `export_generator`: its (source)
            WordPiece tokenizer and (target) special token ids;
            `max_length` is then required.
        target_tokenizer: a `Seq2SeqTransformer`'s target WordPiece
            tokenizer, as in `export_generator`; defaults to `tokenizer`.

    Returns:
        str, the `.tflite` file written.

    Example:
    ```python
    tflite_file = export_litert(classifier, "litert/sentiment", "dynamic_int8")
    LiteRTModel(tflite_file)(["a fine film"])["probabilities"]
    ```
    """
    refuse_multi_task_model(model)
    if not isinstance(model, keras.Model):
        raise ValueError(
            f"`model` must be a keras.Model. Received: {type(model).__name__}"
        )
    # Before the conversion, which takes a minute on a real model.
    path = check_base_path(path, what=f"where {LITERT_FILE} is written")
    # tftransformer generators: no preprocessor, their tokenizers given.
    own_generator = isinstance(model, (CausalLM, Seq2SeqTransformer))
    if not own_generator and tokenizer is not None:
        raise ValueError(
            "`tokenizer` is a tftransformer CausalLM's or Seq2SeqTransformer's "
            "(other models export their preprocessor's). Received: "
            f"tokenizer={tokenizer!r} for a {type(model).__name__}"
        )
    if not isinstance(model, Seq2SeqTransformer) and target_tokenizer is not None:
        raise ValueError(
            "`target_tokenizer` is a Seq2SeqTransformer's. Received: "
            f"target_tokenizer={target_tokenizer!r} for a {type(model).__name__}"
        )
    if isinstance(model, keras_hub.models.Seq2SeqLM) or own_generator:
        kind = "generator"
        if not own_generator:
            check_litert_seq2seq(model)
        if quantization == "int8":
            raise ValueError(
                "A generator's LiteRT export is float32 or dynamic-range int8 "
                "(quantization=None or 'dynamic_int8'): TensorFlow 2.21's "
                "LiteRT quantizer crashes on the decoding loop's activations. "
                "Received: quantization='int8'"
            )
        max_length = check_generator(model, max_length, tokenizer, start_token_id)
    else:
        kind = model_kind(model)
    if head is not None:
        if kind != "embedder":
            raise ValueError(
                "`head` goes with a few-shot classifier's embedder (a "
                "TextEmbedder). Received a model "
                f"{model.name!r} that is a {kind}"
            )
        check_few_shot_head(model, head)
        if text_pair:
            raise ValueError(
                "A few-shot classifier reads single texts. Received: "
                "text_pair=True with `head`"
            )
        kind = "classifier"
    elif label_names is not None:
        raise ValueError(
            "`label_names` names a few-shot head's classes (other classifiers "
            f"carry their own). Received: label_names={label_names!r} without "
            "`head`"
        )
    check_choice("quantization", quantization, LITERT_QUANTIZATIONS)
    if not isinstance(text_pair, bool):
        raise ValueError(
            f"`text_pair` must be a bool. Received: text_pair={text_pair!r}"
        )
    answerer = kind == "question_answerer"
    max_answer_length = check_int("max_answer_length", max_answer_length, 1)
    allow_no_answer = check_bool("allow_no_answer", allow_no_answer)
    if not is_finite_number(null_threshold):
        raise ValueError(
            "null_threshold must be a finite number. "
            f"Received: null_threshold={null_threshold!r}"
        )
    # Examples of two strings each: pairs, or questions and contexts.
    pairs = text_pair or answerer
    if quantization == "int8":
        examples = "strings"
        if text_pair:
            examples = "(text, text_pair) tuples"
        elif answerer:
            examples = "(question, context) tuples"
        if (
            isinstance(representative_texts, str)
            or not representative_texts
            or not all(_is_example(text, pairs) for text in representative_texts)
        ):
            raise ValueError(
                'quantization="int8" calibrates on `representative_texts`, a '
                f"non-empty list of {examples}. Received: "
                f"representative_texts={representative_texts!r}"
            )
    preprocessor = getattr(model, "preprocessor", None)
    if not own_generator:
        tokenizer = getattr(preprocessor, "tokenizer", None)
    if kind in ("tagger", "question_answerer") and not isinstance(
        tokenizer, keras_hub.tokenizers.WordPieceTokenizer
    ):
        raise ValueError(
            f"A LiteRT {kind.replace('_', ' ')} aligns words with WordPiece "
            "pieces: it needs a model whose preprocessor has a keras-hub "
            "WordPieceTokenizer (BERT, DistilBERT, ELECTRA). Received: "
            f"tokenizer of class {type(tokenizer).__name__}"
        )
    # Refuses a tokenizer without LiteRT kernels, or a SentencePiece one
    # TF Text's op tokenizes differently; warns of a WordPiece one (checked
    # on the calibration texts too).
    litert_tokenizer = LiteRTTokenizer(
        tokenizer,
        texts=[
            part
            for text in (representative_texts if quantization == "int8" else ())
            for part in _parts(text, pairs)
        ][:256],
    )
    path = os.fspath(path)
    if os.path.exists(os.path.join(path, LITERT_FILE)) and not overwrite:
        raise ValueError(
            f"{os.path.join(path, LITERT_FILE)} exists; pass overwrite=True to "
            "replace it."
        )
    if head is not None:
        names_file, names = LABELS_FILE, check_text_classifier(head, label_names)
    else:
        names_file, names = _output_names(model, kind, preprocessor)
    if text_pair and names_file != LABELS_FILE:
        raise ValueError(
            "`text_pair=True` exports a classifier or regressor of sentence "
            f"pairs. Received a model {model.name!r} that is not a classifier "
            f"or regressor but a {kind} (output shape "
            f"{output_shape(model)})"
        )
    copy = float32_inference_copy(model, preprocessor, merge_lora=merge_lora)
    if head is not None:
        # The head's logits (divided by its temperature when calibrated).
        copy = keras.Model(copy.input, head(copy.output), name="few_shot_classifier")
    if isinstance(model, Seq2SeqTransformer):
        module = LiteRTSeq2SeqTransformerModule(
            copy,
            litert_tokenizer,
            target_tokenizer,
            max_length,
            start_token_id,
            end_token_id,
            pad_token_id,
        )
    elif isinstance(model, CausalLM):
        module = LiteRTCausalLMModule(
            copy,
            litert_tokenizer,
            max_length,
            start_token_id,
            end_token_id,
            pad_token_id,
        )
    elif kind == "generator":
        module = LiteRTSeq2SeqModule(copy, max_length, litert_tokenizer)
    elif answerer:
        module = LiteRTQuestionAnswererModule(
            copy,
            tokenizer,
            sequence_length=preprocessor.sequence_length,
            doc_stride=preprocessor.doc_stride,
            max_question_length=preprocessor.max_question_length,
            pair_separators=preprocessor.pair_separators,
            max_answer_length=max_answer_length,
            null_threshold=float(null_threshold),
            allow_no_answer=allow_no_answer,
        )
    elif kind == "tagger":
        module = _LiteRTTaggerModule(
            copy, tokenizer, preprocessor.sequence_length, names.index("O")
        )
    elif text_pair:
        module = _LiteRTPairModule(
            copy,
            litert_tokenizer,
            preprocessor.sequence_length,
            truncate=preprocessor.truncate,
            pair_separators=getattr(
                preprocessor, "pair_separators", family_separators(tokenizer)
            ),
        )
    else:
        module = _LiteRTTextModule(
            copy, litert_tokenizer, preprocessor.sequence_length, kind
        )
    serve = module.serve.get_concrete_function()
    output_names = sorted(serve.structured_outputs)
    # Weights become constants: see the docstring.
    frozen = convert_variables_to_constants_v2(serve)
    input_names = list(module.inputs)

    def outputs(*texts):
        # The frozen function returns its outputs flat, in sorted key order.
        flat = tf.nest.flatten(frozen(**dict(zip(input_names, texts))))
        return dict(zip(output_names, flat))

    # Wrapped again so the converter keeps the inputs -> outputs signature.
    holder = tf.Module()
    holder.serve = tf.function(
        outputs,
        input_signature=[
            tf.TensorSpec(spec.shape, tf.string, name=name)
            for spec, name in zip(module.serve.input_signature, input_names)
        ],
    )
    converter = tf.lite.TFLiteConverter.from_concrete_functions(
        [holder.serve.get_concrete_function()], holder
    )
    # TF Text's tokenizer ops are custom ops with LiteRT kernels.
    converter.allow_custom_ops = True
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS]
    if quantization is not None:
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
    if quantization == "int8":
        texts = list(representative_texts)

        def representative_dataset():
            # UTF-8 bytes in a fixed-width numpy array: TF 2.21's calibrator
            # reads string tensors and object arrays unreliably (each run saw
            # other token ids, so the ranges, and the int8 model, changed
            # from run to run; BUILD_NOTES.md).
            for text in texts:
                yield [np.array([part.encode("utf-8")]) for part in _parts(text, pairs)]

        converter.representative_dataset = representative_dataset
        # Calibration runs the model, tokenizer ops included.
        converter.target_spec._experimental_custom_op_registerers = list(
            tf_text.tflite_registrar.SELECT_TFTEXT_OPS
        )
        # Calibrated here; quantized below, `FLOAT_OPS` left in float32.
        converter._experimental_calibrate_only = True
    flatbuffer = converter.convert()
    if quantization == "int8":
        flatbuffer = tflite_convert.mlir_quantize(
            flatbuffer,
            denylisted_ops=list(FLOAT_OPS),
            denylisted_nodes=_span_search_nodes(flatbuffer) if answerer else None,
        )
    _check_runs(flatbuffer, model, input_names)
    os.makedirs(path, exist_ok=True)
    if names_file is not None:
        with open(os.path.join(path, names_file), "w", encoding="utf-8") as f:
            f.write("".join(f"{name}\n" for name in names))
    tflite_file = os.path.join(path, LITERT_FILE)
    with tempfile.NamedTemporaryFile(dir=path, delete=False) as f:
        f.write(flatbuffer)
    os.replace(f.name, tflite_file)
    return tflite_file


def _check_runs(flatbuffer, model, input_names):
    """Refuses a converted model that LiteRT cannot run with TF Text's ops
    registered: the converter keeps an op it cannot lower to a LiteRT
    builtin as a custom op of its TensorFlow name, which the interpreter
    finds unresolved when it first runs (on one probe string here)."""
    interpreter, _ = make_interpreter(model_content=flatbuffer)
    probe = {name: np.array(["a"], dtype=object) for name in input_names}
    try:
        interpreter.get_signature_runner()(**probe)
    except RuntimeError as error:
        unresolved = re.findall(r"unresolved custom op: (\w+)", str(error))
        if not unresolved:
            raise
        flat = schema_fb.Model.GetRootAsModel(flatbuffer, 0)
        codes = (flat.OperatorCodes(i) for i in range(flat.OperatorCodesLength()))
        custom = sorted(
            {code.CustomCode().decode() for code in codes if code.CustomCode()}
        )
        raise ValueError(
            f"The LiteRT conversion of model {model.name!r} "
            f"({type(model).__name__}) keeps the TensorFlow op "
            f"{unresolved[0]!r}, which has no LiteRT kernel, so no interpreter "
            f"could run it (the file's custom ops: {custom}). Serve it as a "
            "SavedModel (export_for_serving)."
        ) from None


def _span_search_nodes(flatbuffer):
    """The calibrated file's ops after a question answerer's model, by the
    names of their outputs (`SPAN_SEARCH`): full int8 keeps them in float32."""
    interpreter, _ = make_interpreter(model_content=flatbuffer)
    names = {
        tensor["index"]: tensor["name"] for tensor in interpreter.get_tensor_details()
    }
    # The span search, and the selections of the answers it chose.
    outputs = {output["index"] for output in interpreter.get_output_details()}
    return sorted(
        names[index]
        for op in interpreter._get_ops_details()
        for index in op["outputs"]
        if names.get(index, "").startswith(f"{SPAN_SEARCH}/") or index in outputs
    )


def _is_example(example, text_pair):
    """Whether `example` is a string, or a tuple of two with `text_pair`."""
    if not text_pair:
        return isinstance(example, str)
    return (
        isinstance(example, (tuple, list))
        and len(example) == 2
        and all(isinstance(text, str) for text in example)
    )


def _parts(example, text_pair):
    return tuple(example) if text_pair else (example,)


# What a LiteRT export serves, by `model_kind`.
LITERT_MODEL_KINDS = (
    "classifier",
    "multi_label",
    "regressor",
    "embedder",
    "tagger",
    "question_answerer",
)


def model_kind(model):
    """What `model` is to a LiteRT export: one of `LITERT_MODEL_KINDS`.

    A `MultiLabelClassifier` is `"multi_label"`, a `TextRegressor`
    `"regressor"`, a `TokenClassifier` `"tagger"`, a `QuestionAnswerer`
    `"question_answerer"`; another model with
    outputs `(batch, n)` is a `"classifier"` when it has `num_classes`
    (keras-hub's text classifiers), else an `"embedder"`.

    Raises:
        ValueError: for any other model (e.g. a generator, whose outputs
            are `(batch, seq, vocabulary)`), naming its class and outputs.
    """
    if isinstance(model, MultiLabelClassifier):
        return "multi_label"
    if isinstance(model, TextRegressor):
        return "regressor"
    if isinstance(model, TokenClassifier):
        return "tagger"
    if isinstance(model, QuestionAnswerer):
        return "question_answerer"
    shape = output_shape(model)
    if shape is None or len(shape) != 2:
        raise ValueError(
            "A LiteRT export serves text classifiers (single- or multi-label), "
            "regressors, embedders, TokenClassifier taggers and "
            "QuestionAnswerers, with outputs (batch, classes), (batch, "
            "targets), (batch, dim), (batch, seq, tags) or (batch, seq, 2). "
            f"Received a model {model.name!r} of class "
            f"{type(model).__name__} with output shape {shape}"
        )
    if getattr(model, "num_classes", None) is None:
        return "embedder"
    return "classifier"


def _output_names(model, kind, preprocessor):
    """`("labels.txt", names)` for a classifier (a regressor's target
    names), `("tags.txt", tag_names)` for a tagger, `(None, None)` for an
    embedder or a question answerer."""
    if kind == "tagger":
        tag_names = check_token_classifier(
            model, preprocessor.sequence_length, getattr(model, "tag_names", None)
        )
        return TAGS_FILE, tag_names
    if kind in ("embedder", "question_answerer", "generator"):
        return None, None
    label_names = getattr(model, "label_names", None)
    if kind == "regressor":
        return LABELS_FILE, TextRegressorServingModule.check_model(model, label_names)
    return LABELS_FILE, check_text_classifier(model, label_names)


def _answers(model, kind=None):
    """The function turning the model's float32 outputs `(batch, n)` into
    the export's outputs, as its SavedModel serving module does (None for a
    tagger, which answers per word)."""
    kind = kind or model_kind(model)
    if kind == "tagger":
        return None
    if kind == "embedder":
        return lambda outputs: {"embedding": outputs}
    if kind == "regressor":
        mean, std = (tf.constant(v, tf.float32) for v in model.standardization())
        return lambda outputs: {"score": outputs * std + mean}
    # A fitted temperature (`TextClassifier.temperature`) divides the
    # logits, as in the SavedModel export.
    temperature = float(getattr(model, "temperature", None) or 1.0)
    if kind == "multi_label":
        thresholds = tf.constant(model.decision_thresholds(), tf.float32)

        def multi_label(outputs):
            probabilities = tf.sigmoid(outputs / temperature)
            return {
                "probabilities": probabilities,
                "predicted": probabilities >= thresholds,
            }

        return multi_label
    activation = getattr(model, "activation", None)
    if activation not in (None, keras.activations.linear):
        # Probabilities already (a keras-hub classifier with a softmax).
        return lambda outputs: {"probabilities": outputs}
    return lambda logits: {
        "probabilities": tf.nn.softmax(logits / temperature, axis=-1)
    }


class _LiteRTTextModule(tf.Module):
    """Tokenizes with LiteRT-compatible TF Text ops, then runs the model."""

    inputs = (TEXT_INPUT,)

    def __init__(self, model, tokenizer, sequence_length, kind=None):
        super().__init__()
        self._model = model
        self._sequence_length = int(sequence_length)
        self._tokenizer = as_litert_tokenizer(tokenizer)
        # The preprocessor's start, end and pad tokens ([CLS] and [SEP] for
        # BERT, <s> and </s> for XLM-RoBERTa).
        self._fixed_length = adapter_for(model).litert_fixed_length
        self._cls_id = self._tokenizer.start_token_id
        self._sep_id = self._tokenizer.end_token_id
        self._pad_id = self._tokenizer.pad_token_id
        self._answer = _answers(model, kind)
        self._temperature = float(getattr(model, "temperature", None) or 1.0)
        self.model_variables = list(model.variables)
        specs = [tf.TensorSpec([None], tf.string, name=name) for name in self.inputs]
        self.serve = tf.function(self._serve, input_signature=specs)

    def _serve(self, text):
        pieces = self._tokenizer.tokenize(text)  # ragged (batch, (pieces))
        return self._answer(self._run(pieces))

    def _run(self, pieces):
        """The model's float32 outputs on `[CLS] pieces [SEP]` rows."""
        return self._predict(self._pack(pieces))

    def _predict(self, features):
        return tf.cast(self._model(features, training=False), tf.float32)

    def _pack(self, pieces):
        """`[CLS] pieces [SEP]` rows, truncated and padded, as features."""
        # Dense ops only past the tokenizer: every op has a LiteRT builtin.
        limit = self._sequence_length - 2
        # (batch, limit) when the family needs a fixed length (see
        # `BackboneAdapter.litert_fixed_length`), else the longest row.
        shape = [None, limit] if self._fixed_length else None
        body = pieces.to_tensor(default_value=self._pad_id, shape=shape)[:, :limit]
        lengths = tf.minimum(tf.cast(pieces.row_lengths(), tf.int32), limit)
        batch = tf.shape(body)[0]
        edge = tf.fill([batch, 1], self._cls_id)
        token_ids = tf.concat([edge, body, tf.fill([batch, 1], self._pad_id)], 1)
        # (1, width): [CLS] pieces [SEP] then padding.
        positions = tf.range(tf.shape(token_ids)[1])[tf.newaxis, :]
        token_ids = tf.where(
            positions == lengths[:, tf.newaxis] + 1, self._sep_id, token_ids
        )
        return {
            "token_ids": token_ids,
            "padding_mask": positions < lengths[:, tf.newaxis] + 2,
            "segment_ids": tf.zeros_like(token_ids),
        }


class _LiteRTPairModule(_LiteRTTextModule):
    """Classifies (or scores) sentence pairs, packed with LiteRT-compatible ops.

    As keras-hub's `MultiSegmentPacker` (what the preprocessor packs with):
    `[CLS] a [SEP]*pair_separators b [SEP]`, segment ids 0 through the
    separators and 1 after, the texts trimmed as `tf_text.RoundRobinTrimmer`
    or `tf_text.WaterfallTrimmer` trim them. Each output position gathers
    its piece from the first or second text's dense pieces, so no ragged op
    runs past the tokenizer.
    """

    inputs = (TEXT_INPUT, TEXT_PAIR_INPUT)

    def __init__(
        self,
        model,
        tokenizer,
        sequence_length,
        truncate="round_robin",
        pair_separators=1,
    ):
        super().__init__(model, tokenizer, sequence_length)
        self._truncate = check_choice("truncate", truncate, TRUNCATIONS)
        self._separators = int(pair_separators)

    def _serve(self, text, text_pair):
        return self._answer(self._predict(self.pack_pair(text, text_pair)))

    def pack_pair(self, text, text_pair):
        """The features of `(text, text_pair)`, as the preprocessor packs them."""
        first = self._tokenizer.tokenize(text)
        second = self._tokenizer.tokenize(text_pair)
        # The pieces either text may keep, besides the special tokens.
        budget = self._sequence_length - 2 - self._separators
        length_a = tf.cast(first.row_lengths(), tf.int32)
        length_b = tf.cast(second.row_lengths(), tf.int32)
        if self._truncate == "waterfall":
            kept_a = tf.minimum(length_a, budget)
        else:
            # Round robin: one piece each in turn, the first text first, so
            # the first keeps ceil(budget / 2) unless the second is shorter.
            kept_a = tf.minimum(
                length_a, tf.maximum((budget + 1) // 2, budget - length_b)
            )
        kept_b = tf.minimum(length_b, budget - kept_a)
        # An extra column each, so an empty batch still gathers from one.
        dense_a = tf.concat(
            [first.to_tensor(default_value=self._pad_id), self._pad_column(text)], 1
        )
        dense_b = tf.concat(
            [second.to_tensor(default_value=self._pad_id), self._pad_column(text)], 1
        )
        # Columns: [CLS], first text, separators, second text, [SEP].
        ends_a = (kept_a + 1)[:, tf.newaxis]
        starts_b = ends_a + self._separators
        ends_b = starts_b + kept_b[:, tf.newaxis]
        width = self._sequence_length
        if not self._fixed_length:
            width = tf.reduce_max(
                tf.concat([ends_b[:, 0] + 1, [2 + self._separators]], 0)
            )
        positions = tf.range(width)[tf.newaxis, :]
        in_a = (positions >= 1) & (positions < ends_a)
        in_b = (positions >= starts_b) & (positions < ends_b)
        # (batch, width) each: + zeros broadcasts the first to the batch.
        index_a = positions - 1 + tf.zeros_like(ends_a)
        index_a = tf.clip_by_value(index_a, 0, tf.shape(dense_a)[1] - 1)
        index_b = tf.clip_by_value(positions - starts_b, 0, tf.shape(dense_b)[1] - 1)
        pieces_a = tf.gather(dense_a, index_a, batch_dims=1)
        pieces_b = tf.gather(dense_b, index_b, batch_dims=1)
        separator = (positions >= ends_a) & (positions <= ends_b)
        token_ids = tf.where(
            in_a,
            pieces_a,
            tf.where(in_b, pieces_b, tf.where(separator, self._sep_id, self._pad_id)),
        )
        token_ids = tf.where(positions == 0, self._cls_id, token_ids)
        return {
            "token_ids": token_ids,
            "padding_mask": positions <= ends_b,
            # 1 from the second text through its [SEP], in integer
            # arithmetic: the converter rewrites the embedding's range check
            # of a boolean cast into a `zeros_like` of booleans, which
            # LiteRT lacks.
            "segment_ids": tf.clip_by_value(positions - starts_b + 1, 0, 1)
            * tf.clip_by_value(ends_b + 1 - positions, 0, 1),
        }

    def _pad_column(self, text):
        return tf.fill([tf.shape(text)[0], 1], self._pad_id)


class _LiteRTTaggerModule(_LiteRTTextModule):
    """Tags whitespace-split words with LiteRT-compatible ops.

    As `tftransformer.data.tokenize_and_align`, but without ragged ops past
    the tokenizers (`tf.strings.split`, ragged concatenation and
    `unsorted_segment_sum` have no LiteRT kernels): TF Text's
    `WhitespaceTokenizer` splits the words, `FastBertTokenizer` splits each
    word into pieces, and each word's first piece is found from the row
    splits of both with dense arithmetic.
    """

    def __init__(self, model, tokenizer, sequence_length, outside_id):
        super().__init__(model, tokenizer, sequence_length)
        self._words = tf_text.WhitespaceTokenizer()
        self._unk_id = tokenizer.token_to_id(tokenizer.oov_token)
        self._outside_id = int(outside_id)

    def _serve(self, text):
        words = self._words.tokenize(text)  # ragged (batch, (words))
        word_splits = tf.cast(words.row_splits, tf.int32)  # (batch + 1,)
        pieces = self._tokenizer.tokenize(words.flat_values)  # (words, (pieces))
        counts = tf.cast(pieces.row_lengths(), tf.int32)
        # A word without pieces (e.g. only control characters) gets [UNK],
        # as in `tokenize_and_align`: (num_words, width + 1).
        dense = tf.concat(
            [
                pieces.to_tensor(default_value=self._pad_id),
                tf.fill([tf.shape(counts)[0], 1], self._pad_id),
            ],
            axis=1,
        )
        columns = tf.range(tf.shape(dense)[1])[tf.newaxis, :]
        # expand_dims: a strided slice of booleans has no LiteRT builtin.
        empty = tf.expand_dims(tf.equal(counts, 0), 1)
        dense = tf.where(empty & tf.equal(columns, 0), self._unk_id, dense)
        counts = tf.maximum(counts, 1)
        flat_pieces = tf.boolean_mask(dense, columns < counts[:, tf.newaxis])
        # (num_words + 1,): where each word's pieces start in the batch.
        piece_splits = tf.concat([[0], tf.cumsum(counts)], axis=0)
        sentence_splits = tf.gather(piece_splits, word_splits)  # (batch + 1,)
        sentences = tf.RaggedTensor.from_row_splits(
            flat_pieces, sentence_splits, validate=False
        )
        logits = self._run(sentences)  # (batch, width, num_tags)

        # (batch, max_words): the batch's index of each word, clipped past a
        # sentence's end to the number of words, whose piece_splits entry
        # exists even when the batch has no word. The 0 appended keeps the
        # maximum of an empty batch defined.
        num_words = word_splits[1:] - word_splits[:-1]
        word_columns = tf.range(tf.reduce_max(tf.concat([num_words, [0]], 0)))
        real = word_columns[tf.newaxis, :] < num_words[:, tf.newaxis]
        index = tf.minimum(
            word_splits[:-1, tf.newaxis] + word_columns[tf.newaxis, :],
            word_splits[-1],
        )
        starts = tf.gather(piece_splits, index) - sentence_splits[:-1, tf.newaxis]
        # +1 for [CLS]; words whose first piece was cut off are "O".
        truncated = real & (starts >= self._sequence_length - 2)
        positions = tf.where(real & ~truncated, starts + 1, 0)
        word_logits = tf.gather(logits, positions, batch_dims=1)
        probabilities = tf.nn.softmax(word_logits / self._temperature, axis=-1)
        kept = tf.expand_dims(real & ~truncated, 2)
        probabilities = tf.where(kept, probabilities, 0.0)
        tag_ids = tf.argmax(word_logits, axis=-1, output_type=tf.int32)
        tag_ids = tf.where(truncated, self._outside_id, tag_ids)
        return {
            "tag_ids": tf.where(real, tag_ids, -1),
            "probabilities": probabilities,
            "truncated": truncated,
            "num_words": num_words,
        }
