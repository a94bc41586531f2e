"""Reading a replayed latency trace (:mod:`.replay`): a matrix of recorded compute times from a
CSV or ``.npz`` file, refused with a one-line error naming ``file`` (and the line of a CSV file).

Both are read safely: a regular file only, its size checked before it is read (a CSV file at most
:data:`~lwpdsim.config.reading.MAX_CSV_BYTES`, an ``.npz`` file at most
:data:`~lwpdsim.config.reading.MAX_NPZ_BYTES`, and its array's declared size checked from its
``.npy`` header before the array is allocated).
"""

from __future__ import annotations

import math
import zipfile
from array import array
from pathlib import Path

import numpy as np

from ..config.reading import (
    MAX_NPZ_BYTES,
    csv_lines,
    excerpt,
    is_number_text,
    open_regular,
    size_text,
)
from ..datafiles import MAX_NPY_HEADER, MAX_NPZ_MEMBERS, ZIP_ERRORS, listed_members, npy_header
from ..errors import ScenarioError

#: The array of an ``.npz`` trace: the one it holds, or the one of this name.
NPZ_KEY = "times"


def read_matrix(path: Path, given: str) -> np.ndarray:
    """The trace in ``path`` as a float64 matrix (rows as the file has them), every time finite
    and >= 0; ``given`` is the path as the scenario wrote it (the error's value)."""
    if path.suffix.lower() == ".npz":
        matrix = _read_npz(path, given)
    elif path.suffix.lower() == ".csv":
        matrix = _read_csv(path, given)
    else:
        raise ScenarioError("file", given, "a .csv or .npz file of recorded times")
    bad = ~(np.isfinite(matrix) & (matrix >= 0))
    if bad.any():
        i, j = (int(k) for k in np.argwhere(bad)[0])
        raise ScenarioError(
            "file", given, f"finite times >= 0; {path} has {matrix[i, j]!r} at [{i}, {j}]"
        )
    return matrix


def _read_csv(path: Path, given: str) -> np.ndarray:
    """Rows of numbers, all the same width; blank lines and lines starting with ``#`` are skipped,
    and a first line that is not all numbers is a header (its names are not used)."""

    def bad(allowed: str) -> ScenarioError:
        return ScenarioError("file", given, allowed)

    values = array("d")
    width = rows = 0
    for number, cells in csv_lines(path, "file", given):
        if not all(map(is_number_text, cells)):
            if rows == 0 and width == 0:  # the header
                width = -1
                continue
            cell = next(c for c in cells if not is_number_text(c))
            raise bad(f"numbers only; line {number} of {path} has {excerpt(cell)}")
        if width <= 0:
            width = len(cells)
        elif len(cells) != width:
            raise bad(f"rows of {width} times; line {number} of {path} has {len(cells)}")
        values.extend(float(c) for c in cells)
        rows += 1
    if rows == 0:
        raise bad(f"a CSV file with at least one row of times ({path} has none)")
    return np.frombuffer(values, dtype=np.float64).reshape(rows, width).copy()


def _read_npz(path: Path, given: str) -> np.ndarray:
    """The 2-D numeric array of an ``.npz`` file (its only array, or the one named
    :data:`NPZ_KEY`)."""

    def bad(allowed: str) -> ScenarioError:
        return ScenarioError("file", given, allowed)

    with open_regular(path, "file", MAX_NPZ_BYTES, value=given, what=".npz file") as handle:
        if not zipfile.is_zipfile(handle):
            raise bad(f"a .npz file (a zip archive of .npy arrays); {path} is not one")
        handle.seek(0)
        try:
            listed = listed_members(handle)  # refused before the directory is read
            if listed is not None and listed > MAX_NPZ_MEMBERS:
                raise bad(f"a .npz file of at most {MAX_NPZ_MEMBERS} arrays; {path} lists {listed}")
            with zipfile.ZipFile(handle) as archive:
                infos = archive.infolist()
                if len(infos) > MAX_NPZ_MEMBERS:
                    raise bad(f"a .npz file of at most {MAX_NPZ_MEMBERS} arrays")
                named = {i.filename.removesuffix(".npy"): i for i in infos}
                if NPZ_KEY in named:
                    key = NPZ_KEY
                elif len(named) == 1:
                    key = next(iter(named))
                else:
                    raise bad(f"one array, or one named {NPZ_KEY!r}; {path} has {sorted(named)}")
                info = named[key]
                with archive.open(info) as member:
                    shape, dtype, header = npy_header(member)
                count = math.prod(shape)
                if len(shape) != 2 or dtype.kind not in "iuf" or dtype.hasobject:
                    raise bad(
                        f"a 2-D numeric array of times; {key} in {path} has shape {shape}, "
                        f"dtype {dtype}"
                    )
                if header + count * dtype.itemsize != info.file_size or count * 8 > MAX_NPZ_BYTES:
                    raise bad(
                        f"an array whose header matches its data, of at most "
                        f"{size_text(MAX_NPZ_BYTES)} as float64 ({key} in {path}: shape {shape})"
                    )
                if count == 0:
                    raise bad(f"at least one time ({key} in {path} is empty)")
                with archive.open(info) as member:
                    data = np.lib.format.read_array(
                        member, allow_pickle=False, max_header_size=MAX_NPY_HEADER
                    )
        except ZIP_ERRORS as exc:
            if isinstance(exc, ScenarioError):
                raise
            raise bad(f"a readable .npz file ({path}: {exc})") from None
    return np.asarray(data, dtype=np.float64)
