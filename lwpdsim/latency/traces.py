"""Reading an empirical latency trace: one column of recorded times from a CSV file."""

from __future__ import annotations

import csv
import io
import math
from pathlib import Path

import numpy as np

from ..config.validate import HINT_AFTER_LIST, suggest
from ..errors import ScenarioError


def read_trace(path: Path, column: int | str, given: str) -> np.ndarray:
    """Read one column of recorded times from a CSV file, reporting problems by line number.

    Parsed with the standard ``csv`` module, which (unlike ``pandas.read_csv``) tells the source
    line of every record. Blank lines and lines starting with ``#`` are ignored; extra columns are
    fine. The first remaining line is a header when its entry in the chosen column is not a number
    (a column given by name needs a header). Errors carry ``given`` (the path as the spec wrote it)
    and name the resolved path.
    """

    def bad_file(allowed: str) -> ScenarioError:
        return ScenarioError("file", given, allowed)

    try:
        text = path.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise bad_file(f"an existing CSV file (there is none at {path})") from None
    except (OSError, UnicodeDecodeError) as err:
        raise bad_file(f"a readable UTF-8 CSV file ({path}: {err})") from None

    rows: list[tuple[int, list[str]]] = []  # (line number, stripped cells)
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        for record in reader:
            cells = [c.strip() for c in record]
            if any(cells) and not cells[0].startswith("#"):
                rows.append((reader.line_num, cells))
    except csv.Error as err:
        raise bad_file(f"a well-formed CSV file ({path}, line {reader.line_num}: {err})") from None
    if not rows:
        raise bad_file(f"a CSV file with at least one recorded time ({path} has none)")

    header = rows[0][1]
    if isinstance(column, str):
        if column not in header:
            names = ", ".join(map(repr, header))
            allowed = f"a column of the header of {path} ({names})" + suggest(
                column, header, hint=HINT_AFTER_LIST, abbreviations=True
            )
            raise ScenarioError("column", column, allowed)
        index = header.index(column)
        rows = rows[1:]
    else:
        if column >= len(header):
            allowed = f"a 0-based index < {len(header)} ({path} has {len(header)} column(s))"
            raise ScenarioError("column", column, allowed)
        index = column
        if not _parses(header[index]):
            rows = rows[1:]
    if not rows:
        raise bad_file(f"a CSV file with at least one recorded time ({path} has none)")

    values = np.empty(len(rows))
    for k, (number, cells) in enumerate(rows):
        if index >= len(cells):
            raise bad_file(f"a value in column {column!r} on every line; line {number} lacks one")
        entry = cells[index]
        if not _parses(entry):
            raise bad_file(f"numbers only; line {number} of {path} has {entry!r}")
        values[k] = x = float(entry)
        if not (math.isfinite(x) and x >= 0):
            raise bad_file(f"finite times >= 0; line {number} of {path} has {entry!r}")
    return values


def _parses(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True
