"""Text classification data sets from TensorFlow Datasets (TFDS), by name.

A data set is named as on the command line, `tfds:NAME[/CONFIG][:SPLIT]`
(e.g. `tfds:imdb_reviews`, `tfds:glue/sst2:validation`,
`tfds:imdb_reviews:train[:90%]`), and loaded into the same
`TextClassificationData` as a file, with the label names of its `ClassLabel`
feature as the label vocabulary. `tensorflow_datasets` is imported only when
a data set is loaded.
"""

import difflib
import re

import numpy as np
from absl import logging

from tftransformer._arguments import check_on_bad_rows
from tftransformer.data._autotune import without_autotuning
from tftransformer.data.data_error import DataError
from tftransformer.data.text_classification_data import TextClassificationData

TFDS_PREFIX = "tfds:"
# NAME[/CONFIG][:VERSION], as `tfds.builder` takes it.
_NAME = re.compile(r"^[a-z0-9_]+(/[A-Za-z0-9_.\-=,]+)?(:\d+\.\d+\.\d+)?$")
# A data set version ("1.0.0"), then the split's colon or the end.
_VERSION = re.compile(r"^(\d+\.\d+\.\d+)(:|$)")
_READ_BATCH_SIZE = 4096


def parse_tfds_spec(spec):
    """Parses a `tfds:NAME[/CONFIG][:VERSION][:SPLIT]` string.

    Args:
        spec: the string, e.g. `"tfds:glue/sst2:validation"`.

    Returns:
        A tuple `(name, split)`: `name` the TFDS name with its config and
        version, as `tfds.load` takes it (e.g. `"glue/sst2"`,
        `"imdb_reviews:1.0.0"`), `split` the split string or `None` when
        absent.

    Example:

    ```python
    parse_tfds_spec("tfds:imdb_reviews")  # ("imdb_reviews", None)
    parse_tfds_spec("tfds:glue/sst2:validation")  # ("glue/sst2", "validation")
    parse_tfds_spec("tfds:imdb_reviews:1.0.0:test")  # ("imdb_reviews:1.0.0", "test")
    ```
    """
    if not isinstance(spec, str) or not spec.startswith(TFDS_PREFIX):
        raise ValueError(
            f'spec must be a string "{TFDS_PREFIX}NAME[/CONFIG][:SPLIT]". '
            f"Received: spec={spec!r}"
        )
    name, colon, split = spec[len(TFDS_PREFIX) :].partition(":")
    version = _VERSION.match(split) if colon else None
    if version:
        # TFDS' own NAME:VERSION spelling; the split, if any, follows it.
        colon, split = version.group(2), split[version.end() :]
    if not _NAME.match(name):
        raise ValueError(
            f'spec must be "{TFDS_PREFIX}NAME[/CONFIG][:SPLIT]" with a lower-case '
            f"TFDS name such as imdb_reviews or glue/sst2. Received: spec={spec!r}"
        )
    if colon and not split.strip():
        raise ValueError(
            f"spec names an empty split after ':'. Received: spec={spec!r}"
        )
    if version:
        name = f"{name}:{version.group(1)}"
    return name, (split.strip() if colon else None)


def _is_text_feature(feature, tfds):
    return isinstance(feature, tfds.features.Text) or (
        isinstance(feature, tfds.features.Tensor)
        and feature.shape == ()
        and feature.dtype == np.object_
    )


def _pick_key(name, role, given, candidates, features):
    """The feature to read for one role, given or inferred."""
    if given is not None:
        if given not in features:
            raise DataError(
                f"tfds:{name}: no feature {given!r} for the {role}; features "
                f"found: {sorted(features)}."
            )
        return given
    preferred = {"text": "text", "label": "label"}.get(role)
    if preferred in candidates:
        return preferred
    if len(candidates) == 1:
        return candidates[0]
    raise DataError(
        f"tfds:{name}: cannot tell which feature holds the {role}: "
        + (f"candidates {candidates}" if candidates else "none fits")
        + f" (features found: {sorted(features)}). Name it with "
        + ("label_key=." if role == "label" else "text_key=.")
    )


def load_tfds_text_classification(
    name,
    split="train",
    data_dir=None,
    text_key=None,
    label_key=None,
    text_pair_key=None,
    on_bad_rows="error",
    download=True,
):
    """Loads a text classification split from TensorFlow Datasets.

    Args:
        name: the TFDS name, with its config and version if any
            (`"imdb_reviews"`, `"glue/sst2"`, `"imdb_reviews:1.0.0"`).
        split: the split, with TFDS slicing if wanted (`"train[:90%]"`).
        data_dir: the TFDS data directory; `None` for TFDS's default.
        text_key: the text feature; `None` to pick the feature named `text`,
            or the only text feature.
        label_key: the `ClassLabel` feature; `None` to pick `label`, or the
            only `ClassLabel` feature.
        text_pair_key: the second text feature for pair tasks, or `None`.
        on_bad_rows: `"error"` to refuse an example with an empty text or a
            missing label (negative label ids, as in GLUE's test splits), or
            `"skip"` to skip them.
        download: whether to download and prepare the data set when it is
            not in `data_dir` yet. TFDS's public GCS mirror is never used as
            the data directory.

    Returns:
        A `TextClassificationData` whose `label_vocabulary` is the
        `ClassLabel`'s names.

    Raises:
        DataError: the data set, split or features do not exist or do not fit.

    Example:

    ```python
    train = load_tfds_text_classification("imdb_reviews", "train")
    train.label_vocabulary  # ("neg", "pos")
    ```
    """
    if not isinstance(name, str) or not _NAME.match(name):
        raise ValueError(
            "name must be a TFDS name such as imdb_reviews, glue/sst2 or "
            "imdb_reviews:1.0.0. "
            f"Received: name={name!r}"
        )
    if not isinstance(split, str) or not split:
        raise ValueError(f"split must be a non-empty string. Received: split={split!r}")
    check_on_bad_rows(on_bad_rows)
    import tensorflow_datasets as tfds

    source = f"tfds:{name}:{split}"
    try:
        builder = tfds.builder(name, data_dir=data_dir, try_gcs=False)
    except tfds.core.DatasetNotFoundError:
        base = name.split("/")[0]
        close = difflib.get_close_matches(base, tfds.list_builders(), n=3)
        raise DataError(
            f"TensorFlow Datasets has no data set named {name!r}"
            + (f" (did you mean {close}?)" if close else "")
            + (f", and none was prepared in data_dir={data_dir!r}" if data_dir else "")
            + ". See https://www.tensorflow.org/datasets/catalog/overview."
        ) from None

    features = builder.info.features
    class_labels = [
        key for key in features if isinstance(features[key], tfds.features.ClassLabel)
    ]
    texts = [key for key in features if _is_text_feature(features[key], tfds)]
    label_key = _pick_key(name, "label", label_key, class_labels, features)
    label_feature = features[label_key]
    if not isinstance(label_feature, tfds.features.ClassLabel):
        raise DataError(
            f"tfds:{name}: feature {label_key!r} is a "
            f"{type(label_feature).__name__}; expected a ClassLabel (features "
            f"found: {sorted(features)})."
        )
    text_key = _pick_key(
        name, "text", text_key, [k for k in texts if k != text_pair_key], features
    )
    if text_pair_key is not None:
        _pick_key(name, "text pair", text_pair_key, texts, features)

    if not builder.is_prepared():
        if not download:
            raise DataError(
                f"tfds:{name} is not prepared in {builder.data_dir}; pass "
                "download=True (or prepare it with `tfds build`)."
            )
        try:
            builder.download_and_prepare()
        except OSError as error:
            # `requests`' connection errors are OSErrors; the raw one named
            # neither the data set nor a way offline.
            raise ConnectionError(
                f"tfds:{name} could not be downloaded and prepared in "
                f"{builder.data_dir} ({type(error).__name__}: {error!s:.200}). "
                "Without network, build it elsewhere (`tfds build`), copy the "
                "data_dir here and pass it, with download=False."
            ) from error

    available = list(builder.info.splits.keys())
    try:
        dataset = builder.as_dataset(split=split, shuffle_files=False)
    except (ValueError, KeyError, AssertionError) as e:
        raise DataError(
            f"tfds:{name}: cannot read split {split!r} ({e}); splits found: "
            f"{available}."
        ) from None
    keys = [text_key, label_key] + ([text_pair_key] if text_pair_key else [])
    dataset = dataset.map(lambda example: tuple(example[k] for k in keys))

    text_values, label_values, pair_values = [], [], []
    for batch in tfds.as_numpy(without_autotuning(dataset.batch(_READ_BATCH_SIZE))):
        text_values.extend(t.decode("utf-8") for t in batch[0])
        label_values.extend(int(label) for label in batch[1])
        if text_pair_key:
            pair_values.extend(t.decode("utf-8") for t in batch[2])
    if not text_values:
        raise DataError(f"{source}: the split has no examples.")

    keep = []
    bad = []
    for index, (text, label) in enumerate(zip(text_values, label_values)):
        problem = None
        if not text.strip():
            problem = f"empty text in feature {text_key!r}"
        elif text_pair_key and not pair_values[index].strip():
            problem = f"empty text in feature {text_pair_key!r}"
        elif label < 0:
            problem = f"missing label ({label}) in feature {label_key!r}"
        if problem is None:
            keep.append(index)
            continue
        if on_bad_rows == "error":
            raise DataError(
                f"{source}, example {index}: {problem}. Pass on_bad_rows='skip' "
                "to skip such examples."
            )
        bad.append(f"example {index}: {problem}")
    if bad:
        logging.warning(
            "%s: skipped %d bad example(s), e.g. %s",
            source,
            len(bad),
            "; ".join(bad[:3]),
        )
    if not keep:
        raise DataError(f"{source}: all {len(text_values)} examples are bad.")

    return TextClassificationData(
        texts=[text_values[i] for i in keep],
        labels=[label_values[i] for i in keep],
        label_vocabulary=tuple(label_feature.names),
        text_pairs=[pair_values[i] for i in keep] if text_pair_key else None,
        source=source,
        skipped_rows=len(bad),
    )
