import dataclasses


@dataclasses.dataclass(frozen=True)
class TextRows:
    """The rows of a data file to predict on, as `load_text_rows` reads them.

    Attributes:
        columns: list of str, the file's columns (JSON Lines: every key
            found), in file order.
        records: tuple of dicts, each row's values by column as read (text
            as written, JSON values as parsed), in file order.
        texts: tuple of str, each row's text.
        text_pairs: tuple of str, each row's second text, or None.
        source: str, the file's path.
        skipped_rows: int, rows left out for an empty text
            (`on_bad_rows="skip"`).

    Example:
    ```python
    rows = TextRows(["id", "text"], ({"id": "7", "text": "a fine film"},),
                    ("a fine film",), None, "memory", 0)
    len(rows)  # 1
    ```
    """

    columns: list
    records: tuple
    texts: tuple
    text_pairs: tuple | None
    source: str
    skipped_rows: int = 0

    def __len__(self):
        return len(self.texts)
