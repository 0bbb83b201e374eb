"""The in-memory data classes check what a user builds by hand, naming the
first bad entry: loaders give them well-formed columns, a script may not."""

import numpy as np
import pytest

from tftransformer.data import MultiLabelData, RegressionData, TextClassificationData

# Each class with the targets of two examples and its names' argument.
CLASSES = {
    "classification": (TextClassificationData, [0, 1], "label_vocabulary"),
    "multi_label": (MultiLabelData, [[0, 1], [1, 0]], "label_vocabulary"),
    "regression": (RegressionData, [[0.5, 1.0], [2.0, 3.0]], "target_names"),
}


def build(kind, texts=("a", "b"), names=("x", "y"), **kwargs):
    data_class, targets, _ = CLASSES[kind]
    return data_class(texts, targets, names, **kwargs)


@pytest.mark.parametrize("kind", list(CLASSES))
@pytest.mark.parametrize(
    "arguments, message",
    [
        (
            dict(texts=("a", None)),
            r"`texts` must be a list of strings. Received: texts\[1\]=None",
        ),
        (dict(texts=("a", float("nan"))), r"texts\[1\]=nan"),
        (
            dict(texts="ab"),
            "`texts` must be a list of strings, not a single string .*texts='ab'",
        ),
        (
            dict(text_pairs=("p", 3)),
            r"`text_pairs` must be a list of strings. Received: text_pairs\[1\]=3",
        ),
        (dict(names=("x", "x")), r"distinct, non-empty names.*=\['x', 'x'\]"),
        (dict(names=("", "y")), r"distinct, non-empty names.*=\['', 'y'\]"),
    ],
)
def test_bad_texts_and_names_are_named(kind, arguments, message):
    names_argument = CLASSES[kind][2]
    message = message.replace("names.*=", f"names.*{names_argument}=")
    with pytest.raises(ValueError, match=message):
        build(kind, **arguments)


@pytest.mark.parametrize("kind", list(CLASSES))
def test_numbers_as_names_become_strings(kind):
    data = build(kind, names=(0, 1))
    assert getattr(data, CLASSES[kind][2]) == ("0", "1")


@pytest.mark.parametrize(
    "labels, received",
    [
        (["pos", "neg"], "labels[0]='pos'"),
        ([0.5, 1.0], "labels[0]=0.5"),
        ([0, None], "labels[1]=None"),
        ([0.0, float("nan")], "labels[1]=nan"),
    ],
)
def test_class_labels_must_be_ids(labels, received):
    with pytest.raises(ValueError) as info:
        TextClassificationData(["a", "b"], labels, ("neg", "pos"))
    assert str(info.value) == (
        "labels must be class ids, integers indexing label_vocabulary "
        "('neg', 'pos') (map each label name to its position there). "
        f"Received: {received}"
    )


def test_whole_float_labels_are_ids():
    # A pandas label column that had a missing value reads as floats.
    data = TextClassificationData(["a", "b"], np.array([1.0, 0.0]), ("neg", "pos"))
    assert data.labels.dtype == np.int32
    np.testing.assert_array_equal(data.labels, [1, 0])
