"""Parallel text: TSV files of sentence pairs, and a Bible verse-aligned corpus.

`load_sentence_pairs` reads any tab-separated file with a source and a target
sentence per line. The rest builds such a file from two Bibles installed as
SWORD modules: Debian's `sword-text-web` (the World English Bible, English)
and `sword-text-sparv` (the Reina-Valera 1909, Spanish), both public domain.
`mod2imp` (package `libsword-utils`) dumps a module as "IMP" text, one
`$$$Book chapter:verse` line followed by the verse's OSIS markup;
`clean_osis` turns that markup into plain text (dropping footnotes,
cross-references, editorial headings and Strong's numbers) and
`align_verses` pairs the verses that both Bibles have under the same
reference. `export_bible_pairs` does all of it and writes a TSV:

```
apt-get install sword-text-web sword-text-sparv libsword-utils
python -c "import tftransformer as t; t.datasets.export_bible_pairs('bible.tsv')"
```
"""

import csv
import html
import math
import os
import re
import shutil
import subprocess

from absl import logging

from tftransformer._arguments import check_int, check_on_bad_rows, check_path
from tftransformer.data.data_error import DataError
from tftransformer.data.loaders import _field_size_limit, _read_text

BIBLE_MODULES = {"en": "engWEB2015eb", "es": "spaRV1909eb"}
BIBLE_PACKAGES = ("sword-text-web", "sword-text-sparv", "libsword-utils")
_INSTALL_HINT = (
    "Install the Debian packages with `apt-get install "
    + " ".join(BIBLE_PACKAGES)
    + "` (or run `make translation-data`)."
)

# Elements whose content is not verse text: footnotes and cross-references,
# speaker labels, and variant readings (they only occur inside notes).
_DROPPED_ELEMENTS = ("note", "speaker", "rdg", "catchWord")
_TAG = re.compile(r"<(/?)([A-Za-z][\w:-]*)([^>]*?)(/?)>")
_SPACE_BEFORE_CLOSING = re.compile(r"\s+([,.;:!?)\]’”»])")
_SPACE_AFTER_OPENING = re.compile(r"([(\[“‘«¿¡])\s+")
_REFERENCE = re.compile(r"^(.+) (\d+):(\d+)$")


def load_sentence_pairs(
    path, source_column=0, target_column=1, on_bad_rows="error", max_pairs=None
):
    """Reads sentence pairs from a tab-separated file.

    Each line holds the two sentences in two of its tab-separated fields.
    Columns given by name (strings) are looked up in the first line, the
    header; columns given by index (ints, from 0) mean the file has no
    header and every line is a pair. Blank lines are skipped. Quotes are
    ordinary characters (there is no quoting in TSV).

    Args:
        path: the path of a UTF-8 TSV file.
        source_column: int index or str header name of the source sentence.
        target_column: int index or str header name of the target sentence.
        on_bad_rows: `"error"` to raise on a line with too few fields or an
            empty sentence, `"skip"` to leave such lines out (their count
            and the first few are logged as a warning).
        max_pairs: optional positive int, stop after this many pairs.

    Returns:
        A tuple `(sources, targets)` of two equally long, non-empty lists of
        str, in file order, with surrounding whitespace stripped.

    Raises:
        ValueError: a bad column, or the same column for both sentences.
        FileNotFoundError: the file does not exist.
        DataError: the file is not UTF-8 TSV, has a bad line (with
            `on_bad_rows="error"`), or holds no sentence pair; the message
            names the file and, where there is one, the line.

    Example:
    ```python
    # pairs.tsv: "Hello.\tHola.\n..."
    sources, targets = load_sentence_pairs("pairs.tsv")
    # bible.tsv has the header "reference\ten\tes".
    english, spanish = load_sentence_pairs("bible.tsv", "en", "es")
    ```
    """
    check_on_bad_rows(on_bad_rows)
    if max_pairs is not None:
        max_pairs = check_int("max_pairs", max_pairs, 1, what=" or None")
    check_tsv_column("source_column", source_column)
    check_tsv_column("target_column", target_column)
    if isinstance(source_column, str) != isinstance(target_column, str):
        raise ValueError(
            "source_column and target_column must both be names (the file has "
            "a header) or both be indices (it has none). Received: "
            f"source_column={source_column!r}, target_column={target_column!r}"
        )
    if source_column == target_column:
        # The model would learn to copy its input.
        raise ValueError(
            "source_column and target_column must be different columns. "
            f"Received: source_column={source_column!r}, "
            f"target_column={target_column!r}"
        )
    sources, targets = read_tsv_columns(
        path,
        {"source sentence": source_column, "target sentence": target_column},
        on_bad_rows,
        max_pairs,
        "sentence pairs",
    )
    return sources, targets


def check_tsv_column(name, column):
    """Refuses a TSV column other than an int index >= 0 or a header name."""
    valid_int = isinstance(column, int) and not isinstance(column, bool)
    if not (valid_int and column >= 0) and not (isinstance(column, str) and column):
        raise ValueError(
            f"{name} must be a column index >= 0 or a header name. "
            f"Received: {name}={column!r}"
        )
    return column


def read_tsv_columns(path, columns, on_bad_rows="error", max_rows=None, what=None):
    """Reads some columns of a tab-separated file, one row per non-blank line.

    The reader behind `load_sentence_pairs` (two columns) and
    `tftransformer.data.load_texts` (one): every problem is a `DataError`
    naming the file and, where there is one, the line.

    Args:
        path: the path of a UTF-8 TSV file.
        columns: dict from what each column holds (`"source sentence"`, for
            the messages) to its int index or str header name; all names
            (the file has a header) or all indices (it has none), checked
            by the caller.
        on_bad_rows: `"error"` or `"skip"`, as in `load_sentence_pairs`.
        max_rows: optional int, stop after this many rows.
        what: what the rows are, for the messages (`"texts"`); defaults to
            the columns' contents.

    Returns:
        A tuple with one list of stripped, non-empty str per column, in
        file order.
    """
    path = check_path("path", path)
    what = what or " and ".join(columns)
    if not os.path.exists(path):
        raise FileNotFoundError(
            f"TSV file not found: {path!r} (absolute path: {os.path.abspath(path)!r})."
        )
    if os.path.isdir(path):
        raise DataError(f"{path}: is a directory; expected a TSV file.")
    kinds = list(columns)
    by_name = isinstance(next(iter(columns.values())), str)
    header_pending = by_name
    indices = tuple(columns.values())
    rows, bad_rows = [], []
    # Fields may be long (whole documents): lift csv's limit for this read.
    with (
        open(path, encoding="utf-8-sig", newline="") as f,
        _field_size_limit(os.path.getsize(path)),
    ):
        for line, fields in _tsv_rows(path, f):
            if not fields or (len(fields) == 1 and not fields[0].strip()):
                continue
            if header_pending:
                header = [name.strip() for name in fields]
                missing = [c for c in indices if c not in header]
                if missing:
                    raise DataError(
                        f"{path}, line {line}: the header has no column(s) "
                        f"{missing}. Columns found: {header}"
                    )
                repeated = sorted({c for c in indices if header.count(c) > 1})
                if repeated:
                    raise DataError(
                        f"{path}, line {line}: the header repeats the column(s) "
                        f"{repeated}; expected unique column names. "
                        f"Columns found: {header}"
                    )
                indices = tuple(header.index(c) for c in indices)
                header_pending = False
                continue
            needed = max(indices) + 1
            problem = None
            if len(fields) < needed:
                problem = (
                    f"expected at least {needed} tab-separated fields, "
                    f"received {len(fields)}"
                )
            else:
                row = tuple(fields[index].strip() for index in indices)
                empty = next((i for i, value in enumerate(row) if not value), None)
                if empty is not None:
                    problem = f"empty {kinds[empty]} (field {indices[empty]})"
            if problem:
                if on_bad_rows == "skip":
                    bad_rows.append(f"line {line}: {problem}")
                    continue
                raise DataError(
                    f"{path}, line {line}: {problem}. Pass on_bad_rows='skip' "
                    "to leave such lines out."
                )
            rows.append(row)
            if max_rows is not None and len(rows) >= max_rows:
                break
    if header_pending:
        raise DataError(
            f"{path}: the file is empty; expected a header line naming the "
            f"columns, then one row per line (it has no {what})."
        )
    if bad_rows:
        logging.warning(
            "%s: skipped %d bad line(s), e.g. %s",
            path,
            len(bad_rows),
            "; ".join(bad_rows[:3]),
        )
    if not rows:
        if bad_rows:
            raise DataError(
                f"{path}: all {len(bad_rows)} lines are bad (e.g. {bad_rows[0]}); "
                f"it has no {what} left."
            )
        raise DataError(
            f"{path}: the file has no {what}"
            + (f", only the header line {header}" if by_name else " (it is empty)")
            + f"; expected one row per line with the tab-separated "
            f"{' and '.join(kinds)}."
        )
    return tuple(list(column) for column in zip(*rows))


def _tsv_rows(path, f):
    """Yields (line, fields) of the open TSV file `f`; errors are `DataError`s."""
    reader = csv.reader(f, delimiter="\t", quoting=csv.QUOTE_NONE)
    try:
        for fields in reader:
            yield reader.line_num, fields
    except UnicodeDecodeError:
        _read_text(path)  # raises the DataError naming the bad byte's line
        raise
    except csv.Error as e:
        raise DataError(
            f"{path}, line {reader.line_num}: cannot parse TSV: {e}."
        ) from None


def parse_imp(text):
    """Splits `mod2imp` output into `{reference: markup}`.

    Args:
        text: str, the IMP text: lines `$$$Genesis 1:1` each followed by the
            entry's markup (which may span several lines).

    Returns:
        A dict from reference (`"Genesis 1:1"`) to markup, in text order.
        Module and testament headings (`$$$[ Module Heading ]`) are left out.

    Example:
    ```python
    parse_imp("$$$Genesis 1:1\\nIn the beginning...\\n")
    # {"Genesis 1:1": "In the beginning..."}
    ```
    """
    entries = {}
    reference, lines = None, []
    for line in text.splitlines():
        if line.startswith("$$$"):
            if reference is not None:
                entries[reference] = "\n".join(lines).strip()
            key = line[3:].strip()
            reference = None if key.startswith("[") else key
            lines = []
        elif reference is not None:
            lines.append(line)
    if reference is not None:
        entries[reference] = "\n".join(lines).strip()
    return entries


def clean_osis(markup):
    """Returns the plain verse text of OSIS (or ThML) markup.

    Tags are removed and their text kept, except for the content of
    footnotes and cross-references (`<note>`), speaker labels, variant
    readings and non-canonical titles (editorial headings; canonical ones,
    such as psalm superscriptions, are verse text). Strong's numbers and
    other attributes disappear with the tags. Entities are decoded,
    whitespace is collapsed, and the spaces that removed elements leave
    before closing punctuation are dropped.

    Args:
        markup: str, the markup of one verse.

    Returns:
        The verse as a single line of plain text (possibly empty).

    Example:
    ```python
    clean_osis('<w lemma="strong:H0430">God</w><note>Elohim</note> <w>said</w>.')
    # "God said."
    ```
    """
    pieces = []
    dropped = []  # the names of the open elements whose text is left out
    position = 0
    for match in _TAG.finditer(markup):
        if not dropped:
            pieces.append(markup[position : match.start()])
        position = match.end()
        closing, name, attributes, self_closing = match.groups()
        if self_closing:  # milestones, line breaks, <div sID=".."/> markers
            continue
        if closing:
            if dropped and dropped[-1] == name:
                dropped.pop()
                if not dropped:
                    # The element may sit between two words with no space.
                    pieces.append(" ")
        elif (
            dropped
            or name in _DROPPED_ELEMENTS
            or (name == "title" and 'canonical="true"' not in attributes)
        ):
            dropped.append(name)
    if not dropped:
        pieces.append(markup[position:])
    text = html.unescape("".join(pieces))
    text = " ".join(text.split())
    text = _SPACE_BEFORE_CLOSING.sub(r"\1", text)
    return _SPACE_AFTER_OPENING.sub(r"\1", text)


def read_sword_module(module, mod2imp="mod2imp"):
    """Reads every verse of an installed SWORD module as plain text.

    Args:
        module: str, the module name, e.g. `"engWEB2015eb"` (see
            `BIBLE_MODULES`; `/usr/share/sword/mods.d/` lists the installed
            ones).
        mod2imp: str, the `mod2imp` program (from `libsword-utils`).

    Returns:
        A dict from reference (`"Genesis 1:1"`) to cleaned text, in the
        module's order, with the chapter and book introductions (verse 0)
        and empty verses left out.

    Example:
    ```python
    english = read_sword_module("engWEB2015eb")
    english["John 11:35"]  # "Jesus wept."
    ```
    """
    program = shutil.which(mod2imp)
    if program is None:
        raise FileNotFoundError(
            f"The SWORD export program {mod2imp!r} was not found. {_INSTALL_HINT}"
        )
    result = subprocess.run(
        [program, module], capture_output=True, text=True, encoding="utf-8"
    )
    entries = parse_imp(result.stdout)
    if result.returncode != 0 or not entries:
        raise DataError(
            f"{mod2imp} {module} returned no verses (exit status "
            f"{result.returncode}; {result.stderr.strip() or 'no error output'}). "
            f"Expected an installed SWORD module such as {BIBLE_MODULES}. "
            + _INSTALL_HINT
        )
    verses = {}
    for reference, markup in entries.items():
        match = _REFERENCE.match(reference)
        if match is None or match.group(3) == "0":
            continue
        text = clean_osis(markup)
        if text:
            verses[reference] = text
    return verses


def align_verses(
    source_verses, target_verses, max_length_ratio=None, max_chapter_mismatch=None
):
    """Pairs the verses that two Bibles both have under the same reference.

    Editions number verses a little differently: a verse split or merged, a
    chapter shifted by a verse or a few (the Reina-Valera's Numbers 13:1 is
    the World English Bible's Numbers 12:16), books present in only one.
    Same-numbered verses are then different verses. Their lengths tell:
    `max_length_ratio` leaves out single pairs whose lengths differ too
    much, and `max_chapter_mismatch` whole chapters whose verse lengths
    disagree on average, the mark of a shifted chapter.

    Args:
        source_verses: dict from reference (`"Book chapter:verse"`) to text,
            e.g. from `read_sword_module`.
        target_verses: dict from reference to text.
        max_length_ratio: optional float >= 1: leave out pairs where the
            longer text has more than this many times the characters of the
            shorter one.
        max_chapter_mismatch: optional float > 0: leave out the chapters where
            the mean over their pairs of `|log(len(source) / len(target))|`
            (lengths in characters) exceeds this. Aligned chapters of the
            English and Spanish Bibles score about 0.11 (0.21 at the 99th
            percentile); shifted ones 0.25 to 0.55.

    Returns:
        A list of `(reference, source_text, target_text)` in the order of
        `source_verses`.

    Example:
    ```python
    align_verses({"John 11:35": "Jesus wept."}, {"John 11:35": "Y lloró Jesús."})
    # [("John 11:35", "Jesus wept.", "Y lloró Jesús.")]
    ```
    """
    if max_length_ratio is not None and not max_length_ratio >= 1:
        raise ValueError(
            "max_length_ratio must be a number >= 1 or None. "
            f"Received: max_length_ratio={max_length_ratio!r}"
        )
    if max_chapter_mismatch is not None and not max_chapter_mismatch > 0:
        raise ValueError(
            "max_chapter_mismatch must be a number > 0 or None. "
            f"Received: max_chapter_mismatch={max_chapter_mismatch!r}"
        )
    pairs = [
        (reference, source, target_verses.get(reference))
        for reference, source in source_verses.items()
        if source and target_verses.get(reference)
    ]
    if max_chapter_mismatch is not None:
        mismatches = {}
        for reference, source, target in pairs:
            chapter = reference.rsplit(":", 1)[0]
            mismatch = abs(math.log(len(source) / len(target)))
            mismatches.setdefault(chapter, []).append(mismatch)
        shifted = {
            chapter
            for chapter, values in mismatches.items()
            if sum(values) / len(values) > max_chapter_mismatch
        }
        pairs = [pair for pair in pairs if pair[0].rsplit(":", 1)[0] not in shifted]
    if max_length_ratio is not None:
        pairs = [
            pair
            for pair in pairs
            if max(len(pair[1]), len(pair[2]))
            <= max_length_ratio * min(len(pair[1]), len(pair[2]))
        ]
    return pairs


def export_bible_pairs(
    path,
    source_language="en",
    target_language="es",
    max_length_ratio=2.0,
    max_chapter_mismatch=0.25,
    mod2imp="mod2imp",
):
    """Writes the verse-aligned Bible corpus as a TSV of sentence pairs.

    The file has a header `reference<TAB>{source_language}<TAB>
    {target_language}` and one verse per line; read it back with
    `load_sentence_pairs(path, source_language, target_language)`. Tabs and
    line breaks inside verses become spaces.

    Args:
        path: str, the TSV file to write (its directory is created).
        source_language: a key of `BIBLE_MODULES` (`"en"`, `"es"`) or a
            SWORD module name.
        target_language: a key of `BIBLE_MODULES` or a SWORD module name.
        max_length_ratio: optional float >= 1, see `align_verses`.
        max_chapter_mismatch: optional float > 0, see `align_verses`.
        mod2imp: str, the `mod2imp` program.

    Returns:
        The number of pairs written.

    Example:
    ```python
    export_bible_pairs("runs/data/bible_en_es.tsv")  # about 30,000 pairs
    english, spanish = load_sentence_pairs("runs/data/bible_en_es.tsv", "en", "es")
    ```
    """
    if source_language == target_language:
        raise ValueError(
            "source_language and target_language must differ. Received: "
            f"source_language={source_language!r}, "
            f"target_language={target_language!r}"
        )
    modules = [
        BIBLE_MODULES.get(language, language)
        for language in (source_language, target_language)
    ]
    source, target = (read_sword_module(m, mod2imp=mod2imp) for m in modules)
    pairs = align_verses(
        source,
        target,
        max_length_ratio=max_length_ratio,
        max_chapter_mismatch=max_chapter_mismatch,
    )
    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, exist_ok=True)
    with open(path, "w", encoding="utf-8", newline="") as f:
        f.write(f"reference\t{source_language}\t{target_language}\n")
        for fields in pairs:
            f.write("\t".join(" ".join(field.split()) for field in fields) + "\n")
    return len(pairs)
