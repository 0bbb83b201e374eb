"""The records of a JSON Lines file or of a JSON array, with their lines."""

import json

from tftransformer.data.data_error import DataError

_EXPECTED = "expected one JSON object per line, or a JSON array of objects."
_WHITESPACE = " \t\n\r"


def _number_error(path, line, error):
    # An integer over Python's int-string limit is a bare ValueError.
    return DataError(
        f"{path}, line {line}: cannot read a JSON number ({error}); {_EXPECTED}"
    )


def _json_lines(path, content):
    for line, text in enumerate(content.split("\n"), start=1):
        if not text.strip():
            continue
        try:
            value = json.loads(text)
        except json.JSONDecodeError as e:
            raise DataError(
                f"{path}, line {line}, column {e.colno}: invalid JSON ({e.msg}); "
                f"{_EXPECTED}"
            ) from None
        except ValueError as e:
            raise _number_error(path, line, e) from None
        yield line, value, text.strip()


def _json_array(path, content):
    """The elements of the array `content` holds, each with its first line.

    `pandas.DataFrame.to_json(orient="records")` and `json.dump` of a list
    write this layout (one line, or indented over many).
    """
    decoder = json.JSONDecoder()
    line, counted = 1, 0

    def line_at(position):
        # Positions only grow: each newline is counted once.
        nonlocal line, counted
        line += content.count("\n", counted, position)
        counted = position
        return line

    def invalid(position, message):
        column = position - content.rfind("\n", 0, position)
        return DataError(
            f"{path}, line {line_at(position)}, column {column}: invalid JSON "
            f"({message}); {_EXPECTED}"
        )

    def skip_whitespace(position):
        while position < len(content) and content[position] in _WHITESPACE:
            position += 1
        return position

    position = skip_whitespace(content.index("[") + 1)
    more = not content.startswith("]", position)
    while more:
        try:
            value, end = decoder.raw_decode(content, position)
        except json.JSONDecodeError as e:
            raise invalid(e.pos, e.msg) from None
        except ValueError as e:
            raise _number_error(path, line_at(position), e) from None
        yield line_at(position), value, content[position:end]
        position = skip_whitespace(end)
        more = content.startswith(",", position)
        if more:
            position = skip_whitespace(position + 1)
        elif not content.startswith("]", position):
            raise invalid(position, "expected ',' or ']' after an element")
    end = skip_whitespace(position + 1)
    if end < len(content):
        raise invalid(end, "extra data after the array")


def json_records(path, content):
    """Yields `(line, value, text)` for each record of a JSON data file.

    The file holds one JSON value per line (JSON Lines; blank lines are
    skipped) or, when its first character other than whitespace is `[`, a
    JSON array of them. `line` is the record's first line in the file and
    `text` the record as written; the caller checks each value's type.

    Raises:
        DataError: the file is not valid JSON in either layout; the message
            names the file, line and column.
    """
    records = (
        _json_array(path, content)
        if content.lstrip(_WHITESPACE).startswith("[")
        else _json_lines(path, content)
    )
    for line, value, text in records:
        if "\\u" in text:  # Only an escape can hold half a character.
            _check_unicode(path, line, value)
        yield line, value, text


def _check_unicode(path, line, value):
    """Refuses a string of `value` holding a lone UTF-16 surrogate (an
    escape such as `\\ud83d`, half of a character): TensorFlow fails on it
    later, naming no file or line."""
    if isinstance(value, dict):
        values = [*value.keys(), *value.values()]
    elif isinstance(value, list):
        values = value
    else:
        values = [value]
    for item in values:
        if isinstance(item, (dict, list)):
            _check_unicode(path, line, item)
        elif isinstance(item, str):
            try:
                item.encode("utf-8")
            except UnicodeEncodeError as error:
                half = item[error.start]
                raise DataError(
                    f"{path}, line {line}: a string holds \\u{ord(half):04x}, "
                    "half of a character (a text cut inside an emoji?); "
                    f"expected valid Unicode. Received: {item!r:.100}"
                ) from None
