"""The error raised for input data that cannot be used as given."""


class DataError(ValueError):
    """Raised when a data file or data set cannot be read as asked.

    The message names the source (file or data set), the line and column
    where that applies, and what was expected instead, so that the input
    can be fixed without reading the loader's code.

    Example:

    ```python
    try:
        data = load_text_classification_file("reviews.csv")
    except DataError as e:
        print(e)  # e.g. "reviews.csv, line 7: empty text in column 'text'..."
    ```
    """
