"""Reading a user's files safely: regular files only, within a stated size, as UTF-8 text.

Every file lwpdsim reads on a user's say-so (scenario, sweep and figure-spec TOML, dataset and trace
CSV/NPZ, saved JSON) goes through :func:`open_regular`: it refuses what is not a regular file (a
FIFO would block for ever, ``/dev/zero`` never ends, a directory cannot be read) *before* opening
it, opens without blocking, and refuses files above a stated size. Text is decoded as UTF-8 (an
initial byte-order mark is dropped) and NUL bytes are refused, each with the byte offset and line.
Problems are :class:`~lwpdsim.errors.ScenarioError` naming the field (or ``(file)``) and the path.
"""

from __future__ import annotations

import csv
import io
import json
import os
import stat
import tomllib
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, BinaryIO

from ..errors import ScenarioError

MIB = 1 << 20
#: Largest TOML file (scenario, sweep, figure spec) read.
MAX_TOML_BYTES = 1 * MIB
#: Largest JSON file (a saved record or manifest) read.
MAX_JSON_BYTES = 64 * MIB
#: Largest CSV file (a dataset, a latency trace) read.
MAX_CSV_BYTES = 64 * MIB
#: Largest ``.npz`` dataset file, and the largest its arrays may expand to (also as float64).
MAX_NPZ_BYTES = 512 * MIB
#: Largest table (CSV, or ``tables.npz`` and what it unpacks to) written by lwpdsim that
#: ``lwpdsim plot`` reads back.
MAX_RESULT_TABLE_BYTES = 1024 * MIB
#: Deepest nesting of tables and lists accepted in TOML and JSON (scenarios need about 4).
MAX_NESTING = 32

_KINDS = (
    (stat.S_ISDIR, "a directory"),
    (stat.S_ISFIFO, "a FIFO (named pipe)"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
    (stat.S_ISSOCK, "a socket"),
)


def size_text(nbytes: float) -> str:
    """A byte count for people: ``512 B``, ``4 MiB``, ``1.5 GiB``, ``8.2e+05 TiB``."""
    units = ("B", "KiB", "MiB", "GiB", "TiB")
    value = float(nbytes)
    for unit in units:
        if value < 1024 or unit == units[-1]:
            return f"{value:.3g} {unit}" if unit != "B" else f"{int(value)} B"
        value /= 1024
    raise AssertionError  # pragma: no cover


def _kind(mode: int) -> str:
    for test, name in _KINDS:
        if test(mode):
            return name
    return "not a regular file"


def file_error(field: str, path: Path | str, allowed: str, value: Any = None) -> ScenarioError:
    """The error of a file that cannot be read: ``field = value`` (the path by default)."""
    return ScenarioError(field, str(path) if value is None else value, allowed)


def check_regular(
    path: Path | str, field: str, limit: int, *, value: Any = None, what: str = "file"
) -> None:
    """Refuse ``path`` unless it is an existing regular file of at most ``limit`` bytes, for
    readers that open it themselves (such as pandas); :func:`open_regular` is safer."""
    path = Path(path)
    _stat_regular(path, field, limit, value, what)


def _stat_regular(path: Path, field: str, limit: int, value: Any, what: str) -> os.stat_result:
    """``path``'s status (links followed), refused unless a regular file of at most ``limit``."""
    try:
        info = os.stat(path)
    except FileNotFoundError:
        raise file_error(field, path, f"an existing {what}; {path} does not exist", value) from None
    except OSError as err:
        raise file_error(
            field, path, f"a readable {what} ({path}: {err.strerror})", value
        ) from None
    except ValueError:  # a NUL byte in the path
        raise file_error(field, path, f"the path of a {what}, without NUL bytes", value) from None
    _check_regular(info, path, field, limit, value, what)
    return info


def user_path(text: str, base_dir: Path | str | None, field: str, *, value: Any = None) -> Path:
    """The path a scenario names: ``~`` expanded, relative paths taken from ``base_dir``; a ``~user``
    that names no user is refused (``field = value``, ``text`` by default)."""
    if "\0" in text:  # the OS cannot open it; say so rather than print the byte
        raise file_error(field, text, "a path without NUL bytes", value)
    try:
        path = Path(text).expanduser()
    except RuntimeError:  # "~nosuchuser/..." (or no home directory at all)
        raise file_error(
            field, text, "a path whose '~' names a user of this machine", value
        ) from None
    if not path.is_absolute() and base_dir is not None:
        path = Path(base_dir) / path
    return path


@contextmanager
def open_regular(
    path: Path | str, field: str, limit: int, *, value: Any = None, what: str = "file"
) -> Iterator[BinaryIO]:
    """Open ``path`` for binary reading if it is a regular file of at most ``limit`` bytes.

    Symbolic links are followed (a link to a regular file is fine). Anything else is refused
    before it is opened, and the file is opened non-blocking and checked again, so a FIFO or
    device swapped in between cannot block or flood the reader.
    """
    path = Path(path)
    _stat_regular(path, field, limit, value, what)
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOCTTY", 0)
    try:
        fd = os.open(path, flags)
    except OSError as err:
        raise file_error(
            field, path, f"a readable {what} ({path}: {err.strerror})", value
        ) from None
    try:
        _check_regular(os.fstat(fd), path, field, limit, value, what)
        if hasattr(os, "set_blocking"):
            os.set_blocking(fd, True)
        handle = os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise
    with handle:
        yield handle


def _check_regular(
    info: os.stat_result, path: Path, field: str, limit: int, value: Any, what: str
) -> None:
    if not stat.S_ISREG(info.st_mode):
        allowed = f"a regular {what}; {path} is {_kind(info.st_mode)}"
        raise file_error(field, path, allowed, value)
    if info.st_size > limit:
        allowed = f"a {what} of at most {size_text(limit)}; {path} has {size_text(info.st_size)}"
        raise file_error(field, path, allowed, value)


def read_bytes(
    path: Path | str, field: str, limit: int, *, value: Any = None, what: str = "file"
) -> bytes:
    """The bytes of a regular file of at most ``limit`` bytes (see :func:`open_regular`)."""
    with open_regular(path, field, limit, value=value, what=what) as handle:
        data = handle.read(limit + 1)
    if len(data) > limit:  # it grew while we read it
        allowed = f"a {what} of at most {size_text(limit)}; {path} is larger"
        raise file_error(field, path, allowed, value)
    return data


def decode_text(
    data: bytes, path: Path | str, field: str, *, value: Any = None, what: str = "file"
) -> str:
    """``data`` as UTF-8 text without its byte-order mark; invalid bytes and NUL are refused with
    their byte offset and line."""
    start = 3 if data.startswith(b"\xef\xbb\xbf") else 0
    try:
        text = data[start:].decode("utf-8")
    except UnicodeDecodeError as err:
        at = start + err.start
        byte = data[at : at + 1].hex()
        allowed = f"a UTF-8 text {what}; byte {at} (line {_line(data, at)}) of {path} is 0x{byte}"
        if data.startswith((b"\xff\xfe", b"\xfe\xff")):
            allowed += " (UTF-16? save the file as UTF-8)"
        raise file_error(field, path, allowed, value) from None
    nul = text.find("\x00")
    if nul >= 0:
        at = start + len(text[:nul].encode("utf-8"))
        allowed = (
            f"a text {what} without NUL bytes; byte {at} (line {_line(data, at)}) of {path} is NUL"
        )
        raise file_error(field, path, allowed, value)
    return text


def _line(data: bytes, offset: int) -> int:
    return data.count(b"\n", 0, offset) + 1


def read_text(
    path: Path | str, field: str, limit: int, *, value: Any = None, what: str = "file"
) -> str:
    """A regular file of at most ``limit`` bytes as UTF-8 text (see :func:`decode_text`)."""
    data = read_bytes(path, field, limit, value=value, what=what)
    return decode_text(data, path, field, value=value, what=what)


def read_toml(
    path: Path | str, field: str = "(file)", *, what: str = "TOML file"
) -> dict[str, Any]:
    """A TOML file (at most :data:`MAX_TOML_BYTES`, nested at most :data:`MAX_NESTING` deep) as a
    dict. Errors name the file as their source."""
    path = Path(path)
    try:
        text = read_text(path, field, MAX_TOML_BYTES, what=what)
        return parse_toml(text, field)
    except ScenarioError as err:
        raise err.with_source(str(path)) from None


def parse_toml(text: str, field: str = "(file)") -> dict[str, Any]:
    """TOML text as a dict, refusing syntax errors and nesting deeper than :data:`MAX_NESTING`."""
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as err:
        raise ScenarioError(field, "malformed TOML", f"valid TOML: {err}") from None
    except RecursionError:
        raise ScenarioError(
            field, "deeply nested TOML", f"tables and lists nested at most {MAX_NESTING} deep"
        ) from None
    check_nesting(raw, field, "TOML")
    return raw


def read_json(path: Path | str, field: str = "(file)", limit: int = MAX_JSON_BYTES) -> Any:
    """A JSON file (at most ``limit`` bytes, nested at most :data:`MAX_NESTING` deep)."""
    path = Path(path)
    text = read_text(path, field, limit, what="JSON file")
    try:
        data = json.loads(text)
    except json.JSONDecodeError as err:
        raise file_error(field, path, f"valid JSON ({path}: {err})") from None
    except RecursionError:
        raise file_error(
            field, path, f"tables and lists nested at most {MAX_NESTING} deep ({path} is deeper)"
        ) from None
    check_nesting(data, field, "JSON", value=str(path))
    return data


def check_nesting(data: Any, field: str, what: str, *, value: Any = None) -> None:
    """Refuse lists and tables nested deeper than :data:`MAX_NESTING` (checked without recursion,
    so that later recursive code, such as a deep copy, cannot overflow the stack)."""
    stack: list[tuple[Any, int]] = [(data, 0)]
    while stack:
        node, depth = stack.pop()
        if isinstance(node, dict):
            children = list(node.values())
        elif isinstance(node, list):
            children = node
        else:
            continue
        if depth >= MAX_NESTING:
            raise ScenarioError(
                field,
                f"deeply nested {what}" if value is None else value,
                f"tables and lists nested at most {MAX_NESTING} deep",
            )
        stack.extend((child, depth + 1) for child in children)


def excerpt(value: object, limit: int = 80) -> str:
    """``repr(value)`` for an error message, cut to ``limit`` characters (ending ``...``)."""
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def is_number_text(text: str) -> bool:
    """Whether a CSV cell reads as a number (as ``float`` reads it: ``"nan"``, ``"inf"`` too)."""
    try:
        float(text)
    except ValueError:
        return False
    return True


def csv_lines(path: Path, field: str, value: Any) -> Iterator[tuple[int, list[str]]]:
    """The lines of a CSV file (read as :func:`read_text` reads it, at most
    :data:`MAX_CSV_BYTES`) as ``(line number, cells stripped of blanks)``, passing over blank lines
    and lines starting with ``#``. A malformed file is refused naming ``field``, ``value`` and the
    line."""
    text = read_text(path, field, MAX_CSV_BYTES, value=value, what="CSV file")
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        for record in reader:
            cells = [c.strip() for c in record]
            if any(cells) and not cells[0].startswith("#"):
                yield reader.line_num, cells
    except csv.Error as err:
        allowed = f"a well-formed CSV file ({path}, line {reader.line_num}: {err})"
        raise ScenarioError(field, value, allowed) from None


#: The files of a results folder that ``lwpdsim plot`` reads, and their bounds: at the top of a
#: run's or a sweep's folder, and in each rule's folder.
RESULTS_TOP = {
    "summary.csv": MAX_RESULT_TABLE_BYTES,
    "sweep.json": MAX_JSON_BYTES,
    "runs.csv": MAX_RESULT_TABLE_BYTES,
}
RESULTS_RULE = {
    "manifest.json": MAX_JSON_BYTES,
    "tasks.csv": MAX_RESULT_TABLE_BYTES,
    "updates.csv": MAX_RESULT_TABLE_BYTES,
    "tables.npz": MAX_RESULT_TABLE_BYTES,
    "timing.json": MAX_JSON_BYTES,
}


def check_results_folder(directory: Path | str, field: str) -> None:
    """Refuse a results folder (of ``lwpdsim run`` or ``sweep``) in which a file that
    ``lwpdsim plot`` would read exists but is not a regular file of bounded size (a FIFO there
    would block the reader for ever, a link to a device would never end). Missing files are left
    to the reader's own message."""
    folder = Path(directory)
    if not folder.is_dir():
        return
    subfolders = [p for p in folder.iterdir() if p.is_dir() and not p.is_symlink()]
    places = [(folder, RESULTS_TOP), *((sub, RESULTS_RULE) for sub in subfolders)]
    for place, names in places:
        for name, limit in names.items():
            path = place / name
            if os.path.lexists(path):
                check_regular(path, field, limit, value=str(folder))
