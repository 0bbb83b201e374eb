import os

import pytest

from tftransformer.export import (
    check_base_path,
    existing_versions,
    next_version,
)
from tftransformer.export.model_versions import publish_directory, version_path


def make_dirs(base, *names):
    for name in names:
        os.makedirs(os.path.join(base, name))


def test_versions_are_numeric_subdirectories_only(tmp_path):
    assert existing_versions(tmp_path / "missing") == []
    assert next_version(tmp_path / "missing") == 1
    make_dirs(tmp_path, "1", "3", "10", "tmp", ".4-scratch")
    (tmp_path / "12").write_text("a file, not a version")
    assert existing_versions(tmp_path) == [1, 3, 10]
    assert next_version(tmp_path) == 11
    assert version_path(tmp_path) == os.path.join(tmp_path, "11")


def test_version_path_checks_version_and_existing(tmp_path):
    make_dirs(tmp_path, "2")
    assert version_path(tmp_path, 0) == os.path.join(tmp_path, "0")
    with pytest.raises(FileExistsError, match="overwrite=True"):
        version_path(tmp_path, 2)
    assert version_path(tmp_path, 2, overwrite=True) == os.path.join(tmp_path, "2")
    for bad in (-1, "3", 1.0, True):
        with pytest.raises(ValueError, match=f"version={bad!r}"):
            version_path(tmp_path, bad)
    (tmp_path / "file").write_text("")
    for bad in (tmp_path / "file", tmp_path / "file" / "sentiment" / "deeper"):
        with pytest.raises(ValueError, match="must be a directory"):
            version_path(bad)


def test_check_base_path_names_the_file_in_the_way(tmp_path):
    (tmp_path / "file").write_text("")
    assert check_base_path(tmp_path / "new" / "model") == str(
        tmp_path / "new" / "model"
    )
    assert check_base_path(tmp_path) == str(tmp_path)
    with pytest.raises(ValueError, match=r"Received: export_dir='.*file'"):
        check_base_path(str(tmp_path / "file"), name="export_dir")
    with pytest.raises(ValueError, match=r"\('.*file' is one\)"):
        check_base_path(str(tmp_path / "file" / "ner"), name="export_dir")


def test_publish_directory_renames_on_success_only(tmp_path):
    final = str(tmp_path / "models" / "1")
    with publish_directory(final) as scratch:
        assert os.path.basename(scratch).startswith(".1-")
        (open(os.path.join(scratch, "saved_model.pb"), "w")).close()
        assert not os.path.exists(final)
    assert os.listdir(final) == ["saved_model.pb"]

    failed = str(tmp_path / "models" / "2")
    with pytest.raises(RuntimeError):
        with publish_directory(failed):
            raise RuntimeError("export failed")
    assert sorted(os.listdir(tmp_path / "models")) == ["1"]


def test_publish_directory_keeps_a_version_published_meanwhile(tmp_path):
    # Two exports that picked the same version: the later one must not
    # delete the earlier one's model.
    final = str(tmp_path / "1")
    with pytest.raises(FileExistsError, match="another export"):
        with publish_directory(final) as scratch:
            os.makedirs(final)
            open(os.path.join(final, "first.pb"), "w").close()
            open(os.path.join(scratch, "second.pb"), "w").close()
    assert sorted(os.listdir(tmp_path)) == ["1"]
    assert os.listdir(final) == ["first.pb"]
    with publish_directory(final, overwrite=True) as scratch:
        open(os.path.join(scratch, "second.pb"), "w").close()
    assert os.listdir(final) == ["second.pb"]
