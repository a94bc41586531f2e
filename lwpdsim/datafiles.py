"""Reading a user's dataset file (``.npz`` with arrays ``X`` and ``y``, or a numeric ``.csv``) within
stated bounds, refusing anything else with one :class:`~lwpdsim.errors.ScenarioError` on
``model.dataset``.

Files are read through :func:`lwpdsim.config.reading.open_regular` (regular files only, bounded
size). A ``.npz`` must be a zip archive; the sizes its directory and its arrays' ``.npy`` headers
declare are checked before anything is decompressed, so an archive that would expand to gigabytes
is refused up front, and an array whose header does not match its stored size is refused. A
``.csv`` is parsed row by row into floats (no list of strings is kept), and the csv module's
errors (a field over its limit, a NUL byte) are reported with their line.
"""

from __future__ import annotations

import csv
import io
import math
import tokenize
import zipfile
import zlib
from array import array
from pathlib import Path
from typing import IO, BinaryIO

import numpy as np

from lwpdsim.config.reading import (
    MAX_CSV_BYTES,
    MAX_NPZ_BYTES,
    decode_text,
    excerpt,
    is_number_text,
    open_regular,
    read_bytes,
    size_text,
)
from lwpdsim.errors import ScenarioError

FIELD = "model.dataset"
#: What reading a damaged or hostile .npz archive may raise (besides ScenarioError): a bad zip,
#: an unreadable file, a bad .npy header, an encrypted member (RuntimeError), an unknown
#: compression method (NotImplementedError) or a damaged compressed member (zlib.error).
ZIP_ERRORS: tuple[type[Exception], ...] = (
    zipfile.BadZipFile,
    zipfile.LargeZipFile,
    OSError,
    EOFError,
    ValueError,
    RuntimeError,
    NotImplementedError,
    zlib.error,
)

#: Most members a ``.npz`` archive may list (only ``X`` and ``y`` are read).
MAX_NPZ_MEMBERS = 64
#: Largest ``.npy`` header read from a member (of a dataset, or of a run's ``tables.npz``).
MAX_NPY_HEADER = 10_000


def file_error(name: str, allowed: str) -> ScenarioError:
    """The error of a dataset file: ``model.dataset = name``."""
    return ScenarioError(FIELD, name, allowed)


def read_npz(name: str, path: Path) -> tuple[np.ndarray, np.ndarray]:
    """Arrays ``X`` and ``y`` of a ``.npz`` file, each checked against its declared size."""
    with open_regular(path, FIELD, MAX_NPZ_BYTES, value=name, what=".npz file") as handle:
        if not zipfile.is_zipfile(handle):
            raise file_error(
                name,
                "a readable .npz file (a zip archive of .npy arrays, as numpy.savez writes); "
                f"{path} is not a zip archive (a .npy file renamed? save X and y with "
                "numpy.savez)",
            )
        _check_directory(name, path, handle)
        try:
            with zipfile.ZipFile(handle) as archive:
                members = _members(name, path, archive)
                return tuple(_read_member(name, path, archive, members, key) for key in ("X", "y"))  # type: ignore[return-value]
        except ZIP_ERRORS as exc:
            if isinstance(exc, ScenarioError):  # already says what is wrong
                raise
            raise file_error(name, f"a readable .npz file ({path}: {exc})") from None


def _check_directory(name: str, path: Path, handle: BinaryIO) -> None:
    """Refuse an archive whose directory lists more than :data:`MAX_NPZ_MEMBERS` entries before
    the directory is read (its end record says how many)."""
    listed = listed_members(handle)
    if listed is not None and listed > MAX_NPZ_MEMBERS:
        raise file_error(
            name, f"a .npz file of at most {MAX_NPZ_MEMBERS} arrays; {path} lists {listed}"
        )


def listed_members(handle: BinaryIO) -> int | None:
    """How many entries a zip archive's end record says its directory lists (``None`` when it
    cannot tell), read before the directory is; ``handle`` is left at its start."""
    # zipfile's own reader of the end record (private: where it is missing, the count of the
    # directory read afterwards still bounds the archive)
    end_record = getattr(zipfile, "_EndRecData", None)
    entries = getattr(zipfile, "_ECD_ENTRIES_TOTAL", None)
    record = end_record(handle) if end_record is not None else None
    handle.seek(0)
    return None if record is None or entries is None else int(record[entries])


def _members(name: str, path: Path, archive: zipfile.ZipFile) -> dict[str, zipfile.ZipInfo]:
    infos = archive.infolist()
    if len(infos) > MAX_NPZ_MEMBERS:
        raise file_error(
            name, f"a .npz file of at most {MAX_NPZ_MEMBERS} arrays; {path} has {len(infos)}"
        )
    members: dict[str, zipfile.ZipInfo] = {}
    for info in infos:
        key = info.filename[:-4] if info.filename.endswith(".npy") else info.filename
        members.setdefault(key, info)
    stored = sorted(members)
    if "X" not in members or "y" not in members:
        raise file_error(name, f"a .npz file with arrays 'X' and 'y'; it has {stored}")
    declared = members["X"].file_size + members["y"].file_size
    if declared > MAX_NPZ_BYTES:
        raise file_error(
            name,
            f"arrays X and y of at most {size_text(MAX_NPZ_BYTES)} together; {path} declares "
            f"{size_text(declared)} once decompressed",
        )
    return members


def _read_member(
    name: str, path: Path, archive: zipfile.ZipFile, members: dict[str, zipfile.ZipInfo], key: str
) -> np.ndarray:
    info = members[key]
    with archive.open(info) as member:
        shape, dtype, header = _npy_header(name, path, member, key)
    count = math.prod(shape)
    if dtype.kind not in "biuf" or dtype.hasobject:
        raise file_error(
            name, f"a numeric (integer or float) array {key}; got dtype {dtype} in {path}"
        )
    if header + count * dtype.itemsize != info.file_size:
        raise file_error(
            name,
            f"array {key} whose .npy header matches its data; {path} declares shape {shape} of "
            f"{dtype} ({size_text(count * dtype.itemsize)}) in {size_text(info.file_size)}",
        )
    if count * 8 > MAX_NPZ_BYTES:
        raise file_error(
            name,
            f"arrays of at most {size_text(MAX_NPZ_BYTES)} as float64; {key} in {path} has "
            f"shape {shape} ({size_text(count * 8.0)})",
        )
    with archive.open(info) as member:
        return np.lib.format.read_array(member, allow_pickle=False, max_header_size=MAX_NPY_HEADER)


def npy_header(member: IO[bytes]) -> tuple[tuple[int, ...], np.dtype, int]:
    """Shape, dtype and header length of an ``.npy`` member, nothing else read; a ValueError for
    an unknown version or a header that is not one."""
    fmt = np.lib.format
    version = fmt.read_magic(member)
    try:
        if version == (1, 0):
            shape, _, dtype = fmt.read_array_header_1_0(member, max_header_size=MAX_NPY_HEADER)
        elif version in ((2, 0), (3, 0)):
            shape, _, dtype = fmt.read_array_header_2_0(member, max_header_size=MAX_NPY_HEADER)
        else:
            raise ValueError(f"unknown .npy version {version}")
    except (SyntaxError, tokenize.TokenError, TypeError, RecursionError, MemoryError) as exc:
        # numpy's header parser lets these through on some malformed headers
        raise ValueError(f"an unreadable .npy header ({type(exc).__name__})") from None
    return tuple(int(d) for d in shape), np.dtype(dtype), member.tell()


def _npy_header(
    name: str, path: Path, member: IO[bytes], key: str
) -> tuple[tuple[int, ...], np.dtype, int]:
    """:func:`npy_header` of a dataset's member, its errors as the dataset's."""
    try:
        return npy_header(member)
    except ValueError as exc:
        raise file_error(name, f"array {key} in .npy format ({path}: {exc})") from None


def read_csv(name: str, path: Path) -> tuple[np.ndarray, np.ndarray]:
    """Features (all columns but the last) and labels (the last) of a numeric ``.csv`` file with
    an optional header row; blank rows are skipped."""
    data = read_bytes(path, FIELD, MAX_CSV_BYTES, value=name, what=".csv file")
    text = decode_text(data, path, FIELD, value=name, what=".csv file")
    del data
    reader = csv.reader(io.StringIO(text, newline=""))
    values = array("d")
    width = rows = 0
    first = True
    try:
        for row in reader:
            if not "".join(row).strip():  # a blank row
                continue
            if first:
                first = False
                if not all(is_number_text(cell) for cell in row):
                    continue  # a header row
            if rows == 0:
                width = len(row)
                if width < 2:
                    raise file_error(
                        name, "a .csv file with at least one feature column and a label column"
                    )
            elif len(row) != width:
                raise file_error(
                    name, f"rows of {width} cells each; a data row has {len(row)}: {excerpt(row)}"
                )
            try:
                values.extend(map(float, row))
            except ValueError:
                del values[rows * width :]
                raise _cell_error(name, row, rows) from None
            rows += 1
    except csv.Error as exc:
        raise file_error(
            name, f"a well-formed .csv file ({path}, line {reader.line_num}: {exc})"
        ) from None
    if rows == 0:
        raise file_error(name, "a .csv file with at least 2 numeric rows")
    table = np.frombuffer(values, dtype=np.float64).reshape(rows, width)
    return table[:, :-1], table[:, -1]


def _cell_error(name: str, row: list[str], rows: int) -> ScenarioError:
    """The error of the first non-numeric cell of data row ``rows + 1``."""
    for j, cell in enumerate(row):
        if not is_number_text(cell):
            return file_error(
                name, f"numeric cells only; data row {rows + 1}, column {j + 1} is {excerpt(cell)}"
            )
    raise AssertionError("a row that did not parse has only numbers")  # pragma: no cover
