"""How much of a run's tables a results folder keeps (:data:`KEEP`), in which format
(:data:`FORMATS`), and reading them back: the record store of :mod:`lwpdsim.io.codec`.

- ``full``: every row of both tables.
- ``thin``: every update row up to :data:`HEAD_ROWS`, then evaluated rows evenly spread over the
  rest, :data:`THIN_ROWS` rows in all, always with the first and last rows and the
  first row at the target loss; tasks are kept when they started from a kept update's
  parameters (all of them in the head). Deterministic: the same tables give the same rows.
- ``summary``: no tables; the manifest's summary only.

Summaries are computed from the full tables when the run ends (:func:`lwpdsim.results.summarize`),
before anything is thinned, so no number of a summary depends on what is kept.

Formats: ``csv`` (``updates.csv`` and ``tasks.csv``, what users open) and ``npz`` (one compressed
numpy archive ``tables.npz`` of both tables' columns, no pickles; numpy is a core dependency).
Both read back every number bit for bit with its dtype.
"""

from __future__ import annotations

import math
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ..config.reading import MAX_RESULT_TABLE_BYTES
from ..datafiles import MAX_NPY_HEADER, npy_header

#: What a results folder keeps of each run's tables.
KEEP = ("full", "thin", "summary")
#: Formats of the tables.
FORMATS = ("csv", "npz")
#: The archive of the ``npz`` format.
NPZ = "tables.npz"
#: Rows of the updates table kept by ``thin`` (about; plus the first, last and target rows).
THIN_ROWS = 1000
#: Of these, the first rows kept every one (where the loss falls fastest).
HEAD_ROWS = THIN_ROWS // 2
#: The largest table file read back, and the most an archive may unpack to: 1 GiB (a run of 10^6
#: tasks takes about 100 MiB), as for every table ``lwpdsim plot`` reads (docs/safety.md).
MAX_TABLE_BYTES = MAX_RESULT_TABLE_BYTES
#: The most members an archive of tables may have (two tables of 15 and 13 columns have 29).
MAX_MEMBERS = 256
_TABLES = ("updates", "tasks")
_CATEGORIES = "#categories"


@dataclass(frozen=True)
class RecordFormat:
    """What to keep of a run's tables and how to write them: ``keep`` one of :data:`KEEP`,
    ``format`` one of :data:`FORMATS`, ``rows`` the rows of a thinned updates table."""

    keep: str = "full"
    format: str = "csv"
    rows: int = THIN_ROWS

    def __post_init__(self) -> None:
        if self.keep not in KEEP:
            raise ValueError(f"records keep {self.keep!r}, not one of {', '.join(KEEP)}")
        if self.format not in FORMATS:
            raise ValueError(f"records format {self.format!r}, not one of {', '.join(FORMATS)}")
        if isinstance(self.rows, bool) or not isinstance(self.rows, int) or self.rows < 4:
            raise ValueError(f"records rows {self.rows!r}, not an integer >= 4")


#: What ``lwpdsim run`` and the Python API write: every row, as CSV (the files of old).
FULL_CSV = RecordFormat()
#: What a sweep keeps by default (see docs/benchmarks.md, "Run records").
SWEEP_DEFAULT = RecordFormat("thin", "npz")


def records_for(keep: str) -> RecordFormat:
    """The format a sweep's ``records = KEEP`` stands for: ``full``, ``thin`` or ``summary``,
    tables (if any) in the compact ``npz`` format."""
    return RecordFormat(keep, "npz")


def kept_updates(updates: pd.DataFrame, rows: int, target: float | None) -> np.ndarray:
    """Positions of the update rows ``thin`` keeps (sorted): every row of the first ``rows // 2``,
    then ``rows - rows // 2`` evaluated rows (a loss that is not NaN) evenly spread over the rest,
    and always the first row, the last and the first whose loss is at most ``target``."""
    n = len(updates)
    if n <= rows:
        return np.arange(n)
    head = rows // 2
    loss = updates["loss"].to_numpy(dtype=float) if "loss" in updates else np.zeros(n)
    later = np.arange(head, n)
    evaluated = later[~np.isnan(loss[head:])]
    pool = evaluated if evaluated.size else later
    spread = pool[np.linspace(0, pool.size - 1, min(pool.size, rows - head)).round().astype(int)]
    keep = [np.arange(head), spread, np.array([0, n - 1])]
    if target is not None:
        hit = np.flatnonzero(loss <= target)
        if hit.size:
            keep.append(hit[:1])
    return np.unique(np.concatenate(keep))


def thin_tables(
    updates: pd.DataFrame, tasks: pd.DataFrame, rows: int, target: float | None
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The tables ``thin`` keeps (:func:`kept_updates`; tasks started from a kept update's
    parameters), indexes renumbered."""
    at = kept_updates(updates, rows, target)
    if at.size == len(updates):
        return updates, tasks
    kept = updates.iloc[at].reset_index(drop=True)
    if "version" in tasks and "update" in updates:
        versions = updates["update"].to_numpy()[at]
        tasks = tasks[np.isin(tasks["version"].to_numpy(), versions)].reset_index(drop=True)
    return kept, tasks


def target_of(config: dict[str, Any]) -> float | None:
    """The target loss of a run's resolved scenario (None when it has none)."""
    scenario = config.get("scenario")
    train = scenario.get("train") if isinstance(scenario, dict) else None
    value = train.get("target_loss") if isinstance(train, dict) else None
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    return None


# ----------------------------------------------------------------------------------- npz format


def npz_bytes(updates: pd.DataFrame, tasks: pd.DataFrame) -> bytes:
    """Both tables as one compressed numpy archive: an array per column (``updates/NAME``,
    ``tasks/NAME``, in column order), a categorical column as its codes plus
    ``NAME#categories``; text columns as unicode arrays (never pickled objects)."""
    import io

    arrays: dict[str, np.ndarray] = {}
    for name, table in zip(_TABLES, (updates, tasks), strict=True):
        for column in table.columns:
            key = f"{name}/{column}"
            values = table[column]
            if isinstance(values.dtype, pd.CategoricalDtype):
                arrays[key] = values.cat.codes.to_numpy()
                arrays[key + _CATEGORIES] = np.array([str(c) for c in values.cat.categories])
            elif pd.api.types.is_numeric_dtype(values.dtype) or values.dtype == bool:
                arrays[key] = values.to_numpy()
            else:
                arrays[key] = values.astype(str).to_numpy(dtype=str)
        if table.columns.empty:
            arrays[f"{name}/"] = np.empty(0)
    buffer = io.BytesIO()
    np.savez_compressed(buffer, allow_pickle=False, **arrays)
    return buffer.getvalue()


def read_npz(path: Path) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The tables of an archive written by :func:`npz_bytes`; a ValueError naming ``path`` if it
    is no such archive, or would unpack to more than :data:`MAX_TABLE_BYTES`."""
    arrays = _arrays(regular_file(path))
    columns: dict[str, dict[str, Any]] = {name: {} for name in _TABLES}
    categories: dict[tuple[str, str], np.ndarray] = {}
    for key, values in arrays.items():
        table, _, column = key.partition("/")
        if table not in columns or values.ndim != 1:
            raise ValueError(f"{path} holds {key!r}, not a column of {' or '.join(_TABLES)}")
        if not column:
            continue
        if column.endswith(_CATEGORIES):
            categories[(table, column.removesuffix(_CATEGORIES))] = values
        else:
            columns[table][column] = values
    for (table, column), cats in categories.items():
        codes = columns[table].get(column)
        if codes is None or codes.dtype.kind != "i" or (codes.size and codes.max() >= len(cats)):
            raise ValueError(f"{path}: column {table}/{column} has no valid category codes")
        columns[table][column] = pd.Categorical.from_codes(codes, categories=list(cats))  # type: ignore[call-overload]
    for table, cols in columns.items():
        if len({len(v) for v in cols.values()}) > 1:
            raise ValueError(f"{path}: the columns of {table} differ in length")
    return pd.DataFrame(columns["updates"]), pd.DataFrame(columns["tasks"])


def _arrays(path: Path) -> dict[str, np.ndarray]:
    """Every array of the archive at ``path`` (never a pickle); a ValueError naming ``path`` if
    it has more than :data:`MAX_MEMBERS` members, would unpack to more than
    :data:`MAX_TABLE_BYTES`, or an array's header disagrees with its size (all checked before
    anything is unpacked)."""
    try:
        with zipfile.ZipFile(path) as archive:
            infos = archive.infolist()
            if len(infos) > MAX_MEMBERS:
                raise ValueError(f"{len(infos)} members, at most {MAX_MEMBERS}")
            unpacked = sum(info.file_size for info in infos)
            if unpacked > MAX_TABLE_BYTES:
                raise ValueError(f"would unpack to {unpacked} bytes (at most {MAX_TABLE_BYTES})")
            return {info.filename.removesuffix(".npy"): _member(archive, info) for info in infos}
    except (
        OSError,
        EOFError,
        ValueError,
        zipfile.BadZipFile,
        zipfile.LargeZipFile,
        RuntimeError,  # an encrypted member
        NotImplementedError,  # an unknown compression method
    ) as err:
        raise ValueError(f"{path} is not a readable archive of tables ({err})") from None


def _member(archive: zipfile.ZipFile, info: zipfile.ZipInfo) -> np.ndarray:
    """One ``.npy`` member, once its header is checked: no objects, and exactly as many bytes as
    its shape and dtype take (so no header can make the reader allocate more than is stored)."""
    with archive.open(info) as member:
        try:
            shape, dtype, header = npy_header(member)
        except ValueError as err:
            raise ValueError(f"{info.filename}: {err}") from None
        if dtype.hasobject:
            raise ValueError(f"{info.filename} holds Python objects")
        if header + math.prod(shape) * dtype.itemsize != info.file_size:
            raise ValueError(f"{info.filename}: its header does not match its size")
    with archive.open(info) as member:
        return np.lib.format.read_array(member, allow_pickle=False, max_header_size=MAX_NPY_HEADER)


def regular_file(path: Path, limit: int = -1) -> Path:
    """``path``, if it is a regular file (never read a pipe or a device) of at most ``limit``
    bytes (:data:`MAX_TABLE_BYTES` by default); else a ValueError naming it."""
    if not path.is_file():
        raise ValueError(f"{path} is not a file")
    size = path.stat().st_size
    limit = MAX_TABLE_BYTES if limit < 0 else limit
    if size > limit:
        raise ValueError(f"{path} has {size} bytes (at most {limit})")
    return path
