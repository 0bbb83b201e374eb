"""Every Python snippet of README.md and docs/ runs as written, and every
relative link resolves.

A page's snippets run in order in one namespace (a later snippet may use an
earlier one's names), in a scratch directory, with a tiny preset standing in
for the embedded checkpoint (`TFTRANSFORMER_EMBEDDED_PRESET`). A snippet preceded by
`<!-- no-run: reason -->` is skipped, with its reason.
"""

import pathlib
import re
import tempfile

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
SNIPPET = re.compile(
    r"(?:<!--\s*no-run:\s*(?P<reason>.*?)\s*-->\s*\n)?```python\n(?P<code>.*?)```",
    re.S,
)
LINK = re.compile(r"\]\((?!https?://|#|mailto:)(?P<target>[^)#\s]+)")


def snippets(page):
    return [
        (match["code"], match["reason"]) for match in SNIPPET.finditer(page.read_text())
    ]


PAGES_WITH_SNIPPETS = [page for page in PAGES if snippets(page)]


@pytest.mark.parametrize(
    "page", PAGES_WITH_SNIPPETS, ids=[p.name for p in PAGES_WITH_SNIPPETS]
)
def test_the_snippets_of_a_page_run(
    page, tmp_path, monkeypatch, embedded_stand_in_preset
):
    monkeypatch.chdir(tmp_path)
    # Temporary directories a snippet makes (`tempfile.mkdtemp()`) land in
    # the test's own directory, which pytest removes, not in /tmp.
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    # Snippets fine-tune and export `"embedded"` as written; a tiny preset
    # stands in for its 22.7M weights, which other tests fine-tune (e.g.
    # tests/finetune/test_pretrained_fine_tune.py).
    monkeypatch.setenv("TFTRANSFORMER_EMBEDDED_PRESET", embedded_stand_in_preset)
    namespace = {"__name__": "__snippet__"}
    skipped = []
    for index, (code, reason) in enumerate(snippets(page)):
        if reason:
            skipped.append(f"snippet {index + 1}: {reason}")
            continue
        exec(compile(code, f"{page.name}, snippet {index + 1}", "exec"), namespace)
    if skipped:
        pytest.skip("; ".join(skipped))


def test_a_broken_snippet_fails(tmp_path):
    page = tmp_path / "page.md"
    page.write_text("text\n\n```python\nraise RuntimeError('broken')\n```\n")
    ((code, reason),) = snippets(page)
    assert reason is None
    with pytest.raises(RuntimeError, match="broken"):
        exec(compile(code, "page.md", "exec"), {})


def test_no_run_snippets_name_a_reason(tmp_path):
    page = tmp_path / "page.md"
    page.write_text("<!-- no-run: needs a TPU -->\n```python\nimport nothing\n```\n")
    assert snippets(page) == [("import nothing\n", "needs a TPU")]


@pytest.mark.parametrize("page", PAGES, ids=[p.name for p in PAGES])
def test_relative_links_resolve(page):
    missing = [
        match["target"]
        for match in LINK.finditer(page.read_text())
        if not (page.parent / match["target"]).exists()
    ]
    assert not missing, f"{page.name} links to missing files: {missing}"


# `tft.package.name` in prose and tables: a renamed or moved name shows here.
API_NAME = re.compile(r"\btft((?:\.[A-Za-z_][A-Za-z0-9_]*)+)")


def _resolves(dotted):
    import tftransformer

    value = tftransformer
    for part in dotted.strip(".").split("."):
        if not hasattr(value, part):
            return False
        value = getattr(value, part)
    return True


def test_every_named_api_of_the_pages_exists():
    missing = []
    for page in PAGES:
        text = SNIPPET.sub("", page.read_text())  # snippets run on their own
        for match in API_NAME.finditer(text):
            # `tft.models.TextClassifier.from_preset`: check the longest
            # prefix that names a package member (methods of instances, such
            # as `run.report`, are not names of the API).
            parts = match[1].strip(".").split(".")
            if not _resolves(".".join(parts[:2])):
                missing.append(f"{page.name}: tft{match[1]}")
    assert not missing, missing
