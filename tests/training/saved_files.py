"""Files the prediction and evaluation tests give a saved model: a run
directory and a CSV file of rows."""

import csv


def write_csv(path, rows):
    """Writes `rows` (dicts with the same keys) as a CSV file with a header;
    returns its path as a string."""
    with open(path, "w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return str(path)


def saved(model, directory):
    """`model` saved as `directory/model.keras`, as a run directory; returns
    the directory as a string."""
    directory.mkdir()
    model.save(str(directory / "model.keras"))
    return str(directory)
