import csv
import logging
import math
import os
import shutil
import stat

import pytest

from tftransformer.data import load_language_model_texts, load_text_files, load_texts
from tftransformer.data.data_error import DataError
from tftransformer.data.parallel_text import (
    align_verses,
    clean_osis,
    export_bible_pairs,
    load_sentence_pairs,
    parse_imp,
    read_sword_module,
)

# Excerpts of `mod2imp engWEB2015eb` and `mod2imp spaRV1909eb` output
# (Debian's sword-text-web and sword-text-sparv), shortened.
ENGLISH_IMP = "\n".join(
    [
        "$$$[ Module Heading ]",
        "",
        "$$$[ Testament 1 Heading ]",
        '<milestone type="x-importer" subType="x-osis2mod" n="$Rev: 3769 $"/>',
        "$$$Genesis 1:0",
        '<chapter n="1" osisID="Gen.1" sID="Gen.1"/>',
        "$$$Genesis 1:1",
        (
            '<w lemma="strong:H0430">In</w> <w lemma="strong:H0853">the</w>'
            ' <w lemma="strong:H7225">beginning</w>'
            ', <w lemma="strong:H0430">God</w><note placement="foot">'
            '<reference type="annotateRef">1:1 </reference>'
            "The Hebrew word rendered “God” is “אֱלֹהִים” (Elohim).</note>"
            '<w lemma="strong:H1254">created</w> <w lemma="strong:H0853">'
            'the</w> <w lemma="strong:H8064">heavens</w>'
            ' <w lemma="strong:H0430">and</w> <w lemma="strong:H0853">'
            'the</w> <w lemma="strong:H0776">earth</w>.'
        ),
        "$$$Genesis 1:3",
        (
            '<div type="x-milestone" subType="x-preverse" sID="pv1"/>'
            '<div sID="gen26" type="x-p"/>'
            '<div type="x-milestone" subType="x-preverse" eID="pv1"/>'
            '<w lemma="strong:H0430">God</w> <w lemma="strong:H0559">'
            'said</w>, “<w lemma="strong:H1961">Let</w>'
            ' <w lemma="strong:H1961">there</w> <w lemma="strong:H1961">'
            'be</w> <w lemma="strong:H0216">light</w>'
            ',” <w lemma="strong:H0430">and</w> <w lemma="strong:H1961">'
            'there</w> <w lemma="strong:H1961">was</w>'
            ' <w lemma="strong:H0216">light</w>.'
        ),
        "$$$Psalms 3:1",
        (
            '<div type="x-milestone" subType="x-preverse" sID="pv4877"/>'
            '<title canonical="true" type="psalm">'
            "A Psalm by David, when he fled from Absalom his son.</title>"
            ' <lg sID="gen7860"/> <l level="1" sID="gen7861"/>'
            '<div type="x-milestone" subType="x-preverse" eID="pv4877"/>'
            'Yahweh, how <w lemma="strong:H1732">my</w>'
            ' adversaries <w lemma="strong:H1121">have</w>'
            ' increased!<l eID="gen7861" level="1"/>'
        ),
        "$$$Extra Book 1:1",
        "Only in English.",
        "",
    ]
)
SPANISH_IMP = "\n".join(
    [
        "$$$[ Module Heading ]",
        "",
        "$$$Genesis 0:0",
        (
            '<div canonical="true" osisID="Gen" sID="gen2" type="book"/>'
            ' <title level="1" type="main">Génesis</title>'
            ' <div sID="gen3" type="x-p"/>'
        ),
        "$$$Genesis 1:1",
        (
            '<w lemma="strong:H7225">EN el principio</w>'
            ' <w lemma="strong:H1254">crió</w> <w lemma="strong:H0430">'
            'Dios</w> <w lemma="strong:H8064">los cielos</w>'
            ' <w lemma="strong:H0776">y la tierra</w>.'
        ),
        "$$$Genesis 1:3",
        (
            '<w lemma="strong:H0559">Y dijo</w> <w lemma="strong:H0430">'
            'Dios</w>: <w lemma="strong:H1961">Sea</w>'
            ' <w lemma="strong:H0216">la luz</w>: <w lemma="strong:H1961">'
            'y fué</w> <w lemma="strong:H0216">la luz</w>.'
        ),
        "$$$Psalms 3:1",
        (
            '<w lemma="strong:H4210">Salmo</w> <w lemma="strong:H1732">'
            'de David</w>, <w lemma="strong:H1272">cuando huía</w>'
            ' <w lemma="strong:H6440">de delante</w>'
            ' <w lemma="strong:H0053">de Absalom</w>'
            ' <w lemma="strong:H1121">su hijo</w>'
            '. ¡<w lemma="strong:H1121">OH</w> <w lemma="strong:H3068">'
            "Jehová</w>, <w>cuánto se</w> <w>han multiplicado</w> <w>"
            "mis enemigos</w>!"
        ),
        "",
    ]
)


def write(tmp_path, name, content):
    path = tmp_path / name
    path.write_text(content, encoding="utf-8")
    return str(path)


@pytest.fixture
def fake_mod2imp(tmp_path):
    """A stand-in for `mod2imp` printing the excerpts above."""
    write(tmp_path, "engWEB2015eb.imp", ENGLISH_IMP)
    write(tmp_path, "spaRV1909eb.imp", SPANISH_IMP)
    script = tmp_path / "mod2imp"
    script.write_text(
        "#!/bin/sh\n"
        f'f="{tmp_path}/$1.imp"\n'
        'if [ -f "$f" ]; then cat "$f"; else echo "Could not find module" >&2; '
        "exit 1; fi\n"
    )
    script.chmod(script.stat().st_mode | stat.S_IEXEC)
    return str(script)


# --- load_sentence_pairs ---


def test_loads_pairs_by_index_without_header(tmp_path):
    path = write(
        tmp_path,
        "pairs.tsv",
        'Hello.\tHola.\tCC-BY\n\n"Quoted" text\t"Citado"\tCC-BY\n  Bye. \t Adiós. \n',
    )
    sources, targets = load_sentence_pairs(path)
    assert sources == ["Hello.", '"Quoted" text', "Bye."]
    assert targets == ["Hola.", '"Citado"', "Adiós."]
    # Columns in any order.
    assert load_sentence_pairs(path, 1, 0) == (targets, sources)


def test_loads_pairs_by_header_name(tmp_path):
    path = write(
        tmp_path,
        "bible.tsv",
        "\ufeffreference\ten\tes\nJohn 11:35\tJesus wept.\tY lloró Jesús.\n",
    )
    assert load_sentence_pairs(path, "en", "es") == (
        ["Jesus wept."],
        ["Y lloró Jesús."],
    )
    assert load_sentence_pairs(path, "es", "reference") == (
        ["Y lloró Jesús."],
        ["John 11:35"],
    )


def test_max_pairs(tmp_path):
    path = write(tmp_path, "pairs.tsv", "".join(f"s{i}\tt{i}\n" for i in range(10)))
    assert load_sentence_pairs(path, max_pairs=3) == (
        ["s0", "s1", "s2"],
        ["t0", "t1", "t2"],
    )


@pytest.mark.parametrize(
    "content, message",
    [
        (
            "a\tb\nonly one field\n",
            "line 2: expected at least 2 tab-separated fields, received 1",
        ),
        ("a\tb\n\tb\n", "line 2: empty source sentence"),
        ("a\tb\nc\t \n", "line 2: empty target sentence"),
    ],
)
def test_bad_rows_raise_or_are_skipped(tmp_path, caplog, content, message):
    path = write(tmp_path, "pairs.tsv", content)
    with pytest.raises(DataError, match=message):
        load_sentence_pairs(path)
    with caplog.at_level(logging.WARNING):
        assert load_sentence_pairs(path, on_bad_rows="skip") == (["a"], ["b"])
    assert "skipped 1 bad line(s)" in caplog.text and message in caplog.text


def test_header_errors(tmp_path):
    path = write(tmp_path, "pairs.tsv", "en\tfr\nHello\tBonjour\n")
    with pytest.raises(
        DataError, match=r"no column\(s\) \['es'\]. Columns found: \['en', 'fr'\]"
    ):
        load_sentence_pairs(path, "en", "es")
    repeated = write(tmp_path, "repeated.tsv", "en\ten\tes\nHi\tHello\tHola\n")
    with pytest.raises(DataError, match=r"repeats the column\(s\) \['en'\]"):
        load_sentence_pairs(repeated, "en", "es")
    empty = write(tmp_path, "empty.tsv", "\n")
    with pytest.raises(DataError, match="empty; expected a header"):
        load_sentence_pairs(empty, "en", "es")


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"source_column": "en", "target_column": 1}, "both be names"),
        ({"source_column": -1}, "source_column=-1"),
        ({"target_column": ""}, "target_column=''"),
        ({"on_bad_rows": "ignore"}, "on_bad_rows='ignore'"),
        ({"max_pairs": 0}, "max_pairs=0"),
        # The model would learn to copy its input.
        (
            {"source_column": 0, "target_column": 0},
            "must be different columns. Received: source_column=0, target_column=0",
        ),
        ({"source_column": "en", "target_column": "en"}, "source_column='en'"),
    ],
)
def test_rejects_bad_arguments(tmp_path, kwargs, message):
    path = write(tmp_path, "pairs.tsv", "a\tb\n")
    with pytest.raises(ValueError, match=message):
        load_sentence_pairs(path, **kwargs)


@pytest.mark.parametrize(
    "content, kwargs, expected",
    [
        (
            b"hello\thola\nbad\xff\tmalo\n",
            {},
            ["line 2", "not valid UTF-8", "0xff", "byte 4"],
        ),
        (b"", {}, ["no sentence pairs", "empty"]),
        (b"\n \n", {}, ["no sentence pairs", "empty"]),
        (
            b"en\tes\n\n",
            {"source_column": "en", "target_column": "es"},
            ["no sentence pairs", "only the header line ['en', 'es']"],
        ),
        (
            b"",
            {"source_column": "en", "target_column": "es"},
            ["empty; expected a header line", "no sentence pairs"],
        ),
        (
            b"a\t\n\tb\n",
            {"on_bad_rows": "skip"},
            ["all 2 lines are bad", "line 1: empty target", "no sentence pairs"],
        ),
    ],
    ids=["not_utf8", "empty", "blank", "header_only", "no_header", "all_bad"],
)
def test_unreadable_or_empty_files_raise(tmp_path, content, kwargs, expected):
    path = tmp_path / "pairs.tsv"
    path.write_bytes(content)
    with pytest.raises(DataError) as info:
        load_sentence_pairs(str(path), **kwargs)
    for part in [str(path)] + expected:
        assert part in str(info.value)


def test_long_sentences_load_whole(tmp_path):
    # Longer than csv's default field size limit (131072), which is restored.
    limit = csv.field_size_limit()
    long_text = "a" * 200_000
    path = write(tmp_path, "pairs.tsv", f"{long_text}\tb\nc\td\n")
    assert load_sentence_pairs(path) == ([long_text, "c"], ["b", "d"])
    assert csv.field_size_limit() == limit


def test_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="missing.tsv"):
        load_sentence_pairs(str(tmp_path / "missing.tsv"))
    with pytest.raises(DataError, match="is a directory; expected a TSV file"):
        load_sentence_pairs(str(tmp_path))


# --- load_texts, load_text_files and load_language_model_texts, which read
# TSV columns through this module's reader ---


def test_load_texts_reads_one_column(tmp_path):
    path = write(tmp_path, "texts.tsv", "en\tfr\nHi\tSalut\n")
    assert load_texts(path, "fr") == ["Salut"]
    # The column once in the message, not once per side of a pair.
    with pytest.raises(DataError, match=r"no column\(s\) \['de'\]. Columns found"):
        load_texts(path, "de")
    empty = write(tmp_path, "empty.tsv", "en\tfr\nHi\t \n")
    with pytest.raises(DataError, match=r"line 2: empty text \(field 1\)"):
        load_texts(empty, "fr")
    with pytest.raises(ValueError, match="column=-1"):
        load_texts(path, -1)


@pytest.mark.parametrize(
    "load",
    [
        lambda path: load_texts(path),
        lambda path: load_texts(path, "0"),
        lambda path: load_text_files(path),
        lambda path: load_text_files(os.path.dirname(path)),
        lambda path: load_language_model_texts(path),
    ],
    ids=["lines", "column", "file", "directory", "language_model"],
)
def test_text_loaders_name_the_file_and_line_of_invalid_utf8(tmp_path, load):
    path = tmp_path / "texts" / "latin1.txt"
    path.parent.mkdir()
    path.write_bytes("fine\ncafé\n".encode("latin-1"))
    with pytest.raises(DataError) as info:
        load(str(path))
    message = str(info.value)
    assert f"{path}, line 2: the file is not valid UTF-8 (byte 0xe9" in message


@pytest.mark.parametrize(
    "load, error, match",
    [
        (lambda path: load_texts(path), DataError, "is a directory"),
        (lambda path: load_texts(None), ValueError, "path=None"),
        (lambda path: load_text_files(None), ValueError, "path=None"),
    ],
)
def test_text_loaders_refuse_a_directory_or_no_path(tmp_path, load, error, match):
    with pytest.raises(error, match=match):
        load(str(tmp_path))


@pytest.mark.parametrize("fraction", [-0.5, 0, 1, math.nan, "0.1", True])
def test_language_model_validation_fraction_must_be_in_0_1(tmp_path, fraction):
    path = write(tmp_path, "texts.txt", "".join(f"text {i}\n" for i in range(10)))
    with pytest.raises(ValueError, match=rf"in \(0, 1\).*={fraction!r}"):
        load_language_model_texts(path, validation_fraction=fraction)
    train, validation, _ = load_language_model_texts(path, validation_fraction=0.2)
    assert len(train) == 8 and len(validation) == 2


# --- IMP parsing and OSIS cleaning ---


def test_parse_imp_skips_headings_and_keeps_order():
    entries = parse_imp(ENGLISH_IMP)
    assert list(entries) == [
        "Genesis 1:0",
        "Genesis 1:1",
        "Genesis 1:3",
        "Psalms 3:1",
        "Extra Book 1:1",
    ]
    assert entries["Extra Book 1:1"] == "Only in English."


def test_clean_osis_on_module_markup():
    entries = parse_imp(ENGLISH_IMP)
    # The footnote goes, and the words on either side stay apart.
    assert clean_osis(entries["Genesis 1:1"]) == (
        "In the beginning, God created the heavens and the earth."
    )
    assert clean_osis(entries["Genesis 1:3"]) == (
        "God said, \u201cLet there be light,\u201d and there was light."
    )
    # A canonical psalm title is verse text.
    assert clean_osis(entries["Psalms 3:1"]) == (
        "A Psalm by David, when he fled from Absalom his son. Yahweh, how my "
        "adversaries have increased!"
    )
    assert clean_osis(entries["Genesis 1:0"]) == ""
    spanish = parse_imp(SPANISH_IMP)
    assert clean_osis(spanish["Genesis 0:0"]) == ""  # a heading only


@pytest.mark.parametrize(
    "markup, expected",
    [
        # Nested notes, cross-references and variant readings disappear.
        (
            'word<note type="crossReference"><reference>Amos 8:10</reference>'
            "<note>inner</note> tail</note>, next",
            "word, next",
        ),
        ('<note><rdg type="alternate">other</rdg></note>Text.', "Text."),
        ("<speaker>Beloved</speaker> Let him kiss me", "Let him kiss me"),
        ('<title type="x-chapterLabel">Heading</title>Verse.', "Verse."),
        # Added words (italics in print) are kept; entities decoded.
        (
            'que <transChange type="added">están</transChange> debajo',
            "que están debajo",
        ),
        ("salt &amp; light", "salt & light"),
        # ThML: Strong's numbers in <sync/> tags and scripture references.
        (
            'In the beginning<sync type="Strongs" value="H7225"/> God'
            '<sync type="Strongs" value="H430"/> created',
            "In the beginning God created",
        ),
        ("line one<lb/>\n  line   two", "line one line two"),
        ("“ <w>Come</w> ” he said .", "“Come” he said."),
    ],
)
def test_clean_osis_cases(markup, expected):
    assert clean_osis(markup) == expected


# --- alignment ---


def test_align_verses_pairs_shared_references_in_source_order():
    source = {"A 1:2": "two", "A 1:1": "one", "B 1:1": "only here"}
    target = {"A 1:1": "uno", "A 1:2": "dos", "C 1:1": "solo aquí"}
    assert align_verses(source, target) == [
        ("A 1:2", "two", "dos"),
        ("A 1:1", "one", "uno"),
    ]


def test_align_verses_length_ratio():
    source = {"A 1:1": "x" * 10, "A 1:2": "x" * 10}
    target = {"A 1:1": "y" * 20, "A 1:2": "y" * 21}
    assert [p[0] for p in align_verses(source, target, max_length_ratio=2.0)] == [
        "A 1:1"
    ]
    with pytest.raises(ValueError, match="max_length_ratio=0.5"):
        align_verses(source, target, max_length_ratio=0.5)


def test_align_verses_drops_shifted_chapters():
    # Chapter 2 of the target is shifted by one verse: lengths disagree.
    lengths = [20, 80, 30, 60, 25]
    source = {f"A {c}:{v + 1}": "s" * n for c in (1, 2) for v, n in enumerate(lengths)}
    target = {f"A 1:{v + 1}": "t" * n for v, n in enumerate(lengths)}
    target.update({f"A 2:{v + 1}": "t" * n for v, n in enumerate(lengths[1:] + [40])})
    kept = align_verses(source, target, max_chapter_mismatch=0.25)
    assert [p[0] for p in kept] == [f"A 1:{v}" for v in range(1, 6)]
    assert len(align_verses(source, target)) == 10
    with pytest.raises(ValueError, match="max_chapter_mismatch=0"):
        align_verses(source, target, max_chapter_mismatch=0)


# --- SWORD modules through mod2imp ---


def test_read_sword_module(fake_mod2imp):
    verses = read_sword_module("spaRV1909eb", mod2imp=fake_mod2imp)
    assert list(verses) == ["Genesis 1:1", "Genesis 1:3", "Psalms 3:1"]
    assert verses["Genesis 1:1"] == "EN el principio crió Dios los cielos y la tierra."
    assert verses["Psalms 3:1"].endswith(
        "¡OH Jehová, cuánto se han multiplicado mis enemigos!"
    )


def test_read_sword_module_errors(fake_mod2imp, tmp_path):
    with pytest.raises(DataError, match="Could not find module.*apt-get install"):
        read_sword_module("nosuchmodule", mod2imp=fake_mod2imp)
    with pytest.raises(FileNotFoundError, match="libsword-utils|sword-text-web"):
        read_sword_module("engWEB2015eb", mod2imp=str(tmp_path / "no-mod2imp"))


def test_export_bible_pairs_round_trip(fake_mod2imp, tmp_path):
    path = str(tmp_path / "out" / "bible.tsv")
    count = export_bible_pairs(path, mod2imp=fake_mod2imp)
    assert count == 3
    with open(path, encoding="utf-8") as f:
        assert f.readline() == "reference\ten\tes\n"
    english, spanish = load_sentence_pairs(path, "en", "es")
    assert english[1] == "God said, “Let there be light,” and there was light."
    assert spanish[1] == "Y dijo Dios: Sea la luz: y fué la luz."
    references, _ = load_sentence_pairs(path, "reference", "en")
    assert references == ["Genesis 1:1", "Genesis 1:3", "Psalms 3:1"]
    reverse = str(tmp_path / "es_en.tsv")
    export_bible_pairs(reverse, "es", "en", mod2imp=fake_mod2imp)
    assert load_sentence_pairs(reverse, "en", "es") == (english, spanish)
    with pytest.raises(ValueError, match="target_language='en'"):
        export_bible_pairs(path, "en", "en")


@pytest.mark.skipif(
    shutil.which("mod2imp") is None
    or not os.path.exists("/usr/share/sword/mods.d/spaRV1909eb.conf")
    or not os.path.exists("/usr/share/sword/mods.d/engWEB2015eb.conf"),
    reason="needs the Debian packages sword-text-web, sword-text-sparv, libsword-utils",
)
def test_installed_debian_modules(tmp_path):
    path = str(tmp_path / "bible.tsv")
    assert export_bible_pairs(path) > 30000
    references, english = load_sentence_pairs(path, "reference", "en")
    _, spanish = load_sentence_pairs(path, "reference", "es")
    verse = dict(zip(references, zip(english, spanish)))
    assert verse["John 11:35"] == ("Jesus wept.", "Y lloró Jesús.")
    assert (
        verse["Genesis 1:1"][0]
        == "In the beginning, God created the heavens and the earth."
    )
    assert "Numbers 13:1" not in verse  # a chapter numbered differently
