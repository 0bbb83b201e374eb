import json
import time

import numpy as np
import pytest
import tensorflow_datasets as tfds

from tftransformer.data import (
    DataError,
    load_text_classification,
    load_tfds_text_classification,
)
from tftransformer.data.tfds_loaders import parse_tfds_spec

NAME = "tiny_local_sentiment"
ROWS = {
    "train": [
        {"text": "A warm, funny film.", "label": 1},
        {"text": "Dull and far too long.", "label": 0},
        {"text": "Great cast.", "label": 1},
    ],
    "test": [{"text": "Not good.", "label": 0}, {"text": "Lovely.", "label": 1}],
    # Unlabelled examples, as in GLUE's test splits.
    "unlabeled": [{"text": "Who knows.", "label": -1}, {"text": "Fine.", "label": 1}],
}


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    """A TFDS data set prepared locally with TFDS's builder API, no download."""
    root = tmp_path_factory.mktemp("tfds")
    for split, rows in ROWS.items():
        (root / f"{split}.jsonl").write_text(
            "".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8"
        )

    # Not registered: loading by name must find the prepared files in data_dir.
    class TinyLocalSentiment(tfds.core.GeneratorBasedBuilder, skip_registration=True):
        VERSION = tfds.core.Version("1.0.0")

        def _info(self):
            return tfds.core.DatasetInfo(
                builder=self,
                features=tfds.features.FeaturesDict(
                    {
                        "text": tfds.features.Text(),
                        "label": tfds.features.ClassLabel(names=["neg", "pos"]),
                    }
                ),
            )

        def _split_generators(self, dl_manager):
            return {
                split: self._generate_examples(root / f"{split}.jsonl")
                for split in ROWS
            }

        def _generate_examples(self, path):
            for i, line in enumerate(path.read_text(encoding="utf-8").splitlines()):
                yield i, json.loads(line)

    data_dir = str(root / "data")
    builder = TinyLocalSentiment(data_dir=data_dir)
    assert builder.name == NAME
    builder.download_and_prepare(
        download_config=tfds.download.DownloadConfig(try_download_gcs=False)
    )
    return data_dir


@pytest.mark.parametrize(
    "spec, expected",
    [
        ("tfds:imdb_reviews", ("imdb_reviews", None)),
        ("tfds:imdb_reviews:test", ("imdb_reviews", "test")),
        ("tfds:glue/sst2:validation", ("glue/sst2", "validation")),
        ("tfds:imdb_reviews:train[:90%]", ("imdb_reviews", "train[:90%]")),
        # TFDS' NAME:VERSION, with or without a split.
        ("tfds:imdb_reviews:1.0.0", ("imdb_reviews:1.0.0", None)),
        ("tfds:glue/sst2:2.0.0:validation", ("glue/sst2:2.0.0", "validation")),
        ("tfds:imdb_reviews:1.0.0:train[:9%]", ("imdb_reviews:1.0.0", "train[:9%]")),
    ],
)
def test_parse_tfds_spec(spec, expected):
    assert parse_tfds_spec(spec) == expected


@pytest.mark.parametrize(
    "spec",
    [
        "imdb_reviews",
        "tfds:",
        "tfds:IMDB",
        "tfds:imdb reviews",
        "tfds:x:",
        "tfds:x:1.0.0:",
    ],
)
def test_parse_tfds_spec_refuses_malformed_specs(spec):
    with pytest.raises(ValueError, match=f"spec={spec!r}"):
        parse_tfds_spec(spec)


def test_loads_a_locally_prepared_data_set_by_name(data_dir):
    data = load_tfds_text_classification(NAME, "train", data_dir=data_dir)
    assert data.label_vocabulary == ("neg", "pos")
    # TFDS does not keep the generation order; compare as pairs.
    expected = {(row["text"], row["label"]) for row in ROWS["train"]}
    assert set(zip(data.texts, data.labels.tolist())) == expected
    assert data.labels.dtype == np.int32
    assert data.source == f"tfds:{NAME}:train"


def test_spec_strings_load_through_the_common_loader(data_dir):
    data = load_text_classification(f"tfds:{NAME}:test", data_dir=data_dir)
    assert sorted(data.texts) == ["Lovely.", "Not good."]
    sliced = load_text_classification(
        f"tfds:{NAME}", split="train[:2]", data_dir=data_dir
    )
    assert len(sliced) == 2
    versioned = load_text_classification(f"tfds:{NAME}:1.0.0:test", data_dir=data_dir)
    assert sorted(versioned.texts) == sorted(data.texts)
    with pytest.raises(DataError, match="differ from the expected labels"):
        load_text_classification(
            f"tfds:{NAME}:test", data_dir=data_dir, label_vocabulary=("a", "b")
        )


def test_unlabelled_examples_are_refused_or_skipped(data_dir):
    with pytest.raises(DataError, match="missing label \\(-1\\) in feature 'label'"):
        load_tfds_text_classification(NAME, "unlabeled", data_dir=data_dir)
    data = load_tfds_text_classification(
        NAME, "unlabeled", data_dir=data_dir, on_bad_rows="skip"
    )
    assert data.texts == ("Fine.",) and data.skipped_rows == 1


def test_unknown_split_and_feature_name_what_exists(data_dir):
    with pytest.raises(DataError) as info:
        load_tfds_text_classification(NAME, "validation", data_dir=data_dir)
    assert "'validation'" in str(info.value)
    assert "train" in str(info.value) and "unlabeled" in str(info.value)
    with pytest.raises(DataError, match="no feature 'sentence'.*'label', 'text'"):
        load_tfds_text_classification(
            NAME, "train", data_dir=data_dir, text_key="sentence"
        )


def test_unknown_name_is_refused_fast_and_offline(tmp_path):
    start = time.monotonic()
    with pytest.raises(DataError) as info:
        load_tfds_text_classification(
            "no_such_text_data_set", "train", data_dir=str(tmp_path), download=False
        )
    assert "'no_such_text_data_set'" in str(info.value)
    assert time.monotonic() - start < 10


def test_unprepared_data_set_without_download_says_so(tmp_path):
    with pytest.raises(DataError, match="imdb_reviews is not prepared.*download=True"):
        load_tfds_text_classification(
            "imdb_reviews", "train", data_dir=str(tmp_path), download=False
        )


def test_a_download_that_fails_names_the_data_set(tmp_path, monkeypatch):
    # TFDS's own error, after its retries, named a host and no data set.
    import requests

    def offline(self, *args, **kwargs):
        raise requests.exceptions.ConnectionError("Max retries exceeded")

    monkeypatch.setattr(tfds.core.DatasetBuilder, "download_and_prepare", offline)
    with pytest.raises(ConnectionError, match=r"tfds:imdb_reviews could not be "):
        load_tfds_text_classification("imdb_reviews", "train", data_dir=str(tmp_path))
