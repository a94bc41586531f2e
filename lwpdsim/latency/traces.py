"""Reading an empirical latency trace: one column of recorded times from a CSV file."""

from __future__ import annotations

import math
from array import array
from collections.abc import Callable
from pathlib import Path

import numpy as np

from ..config.reading import csv_lines, excerpt, is_number_text
from ..config.validate import HINT_AFTER_LIST, suggest
from ..errors import ScenarioError


def read_trace(path: Path, column: int | str, given: str) -> np.ndarray:
    """Read one column of recorded times from a CSV file, reporting problems by line number.

    Parsed with the standard ``csv`` module, which (unlike ``pandas.read_csv``) tells the source
    line of every record. The file must be a regular UTF-8 file of at most
    :data:`~lwpdsim.config.reading.MAX_CSV_BYTES`. Blank lines and lines starting with ``#`` are
    ignored; extra columns are fine. The first remaining line is a header when its entry in the chosen column is not a number
    (a column given by name needs a header). Errors carry ``given`` (the path as the spec wrote it)
    and name the resolved path.
    """

    def bad_file(allowed: str) -> ScenarioError:
        return ScenarioError("file", given, allowed)

    if not path.exists():
        raise bad_file(f"an existing CSV file (there is none at {path})")
    values = array("d")
    index = -1  # the column's index, once the first line has set it
    for number, cells in csv_lines(path, "file", given):
        if index < 0:
            index, is_header = _column_index(cells, column, path)
            if is_header:
                continue
        values.append(_time(cells, index, number, column, path, bad_file))
    if not values:
        raise bad_file(f"a CSV file with at least one recorded time ({path} has none)")
    return np.array(values, dtype=np.float64)


def _column_index(header: list[str], column: int | str, path: Path) -> tuple[int, bool]:
    """The index of ``column`` given the first line, and whether that line is a header."""
    if isinstance(column, str):
        if column not in header:
            shown = header if len(header) <= 20 else [*header[:20], "..."]
            names = ", ".join(map(repr, shown))
            allowed = f"a column of the header of {path} ({names})" + suggest(
                column, header, hint=HINT_AFTER_LIST, abbreviations=True
            )
            raise ScenarioError("column", column, allowed)
        return header.index(column), True
    if column >= len(header):
        allowed = f"a 0-based index < {len(header)} ({path} has {len(header)} column(s))"
        raise ScenarioError("column", column, allowed)
    return column, not is_number_text(header[column])


def _time(
    cells: list[str],
    index: int,
    number: int,
    column: int | str,
    path: Path,
    bad_file: Callable[[str], ScenarioError],
) -> float:
    """The recorded time on one line (line ``number``)."""
    if index >= len(cells):
        raise bad_file(f"a value in column {column!r} on every line; line {number} lacks one")
    entry = cells[index]
    if not is_number_text(entry):
        raise bad_file(f"numbers only; line {number} of {path} has {excerpt(entry)}")
    x = float(entry)
    if not (math.isfinite(x) and x >= 0):
        raise bad_file(f"finite times >= 0; line {number} of {path} has {excerpt(entry)}")
    return x
