"""What a run records: one row per task (:class:`TaskTable`) and one row per update
(:class:`UpdateLog`, columns :data:`UPDATE_COLUMNS`). Plain bookkeeping, no simulation."""

from __future__ import annotations

import math
from array import array
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from ..results import OUTCOMES

if TYPE_CHECKING:
    from ..schemes.base import Result

_OUTCOME_NAMES = np.array(("", *OUTCOMES), dtype=object)
_OUTCOME_CODE = {name: code for code, name in enumerate(_OUTCOME_NAMES)}
_USED = _OUTCOME_CODE["used"]


class TaskTable:
    """Task records kept as typed columns (``array.array``: 8 bytes a number, 1 an outcome code),
    indexed by task id, so a million tasks take about 100 MB.

    Columns grow by blocks of fresh records (NaN times, no outcome, nothing used or lost), so
    starting a task only writes the fields it knows."""

    _FLOATS = ("start", "received", "computed", "end", "units", "staleness", "age")
    _INTS = ("worker", "version", "bytes_down", "bytes_up", "used_by", "lost")
    _BLOCK = 4096

    def __init__(self) -> None:
        self._fresh: dict[str, array[Any]] = {}
        for name in (*self._FLOATS, *self._INTS, "outcome"):
            code = "d" if name in self._FLOATS else "b" if name == "outcome" else "q"
            value = math.nan if code == "d" else -1 if name == "used_by" else 0
            setattr(self, name, array(code))
            self._fresh[name] = array(code, [value]) * self._BLOCK
        self.size = 0  # records in use; the columns may be longer

    # typed attributes, for readers and type checkers
    start: array[float]
    received: array[float]  # parameters arrived, compute begins
    computed: array[float]  # compute done, upload begins
    end: array[float]
    units: array[float]
    staleness: array[float]  # versions: the using step's version - the task's version
    age: array[float]  # seconds: the using step's time - the task's start
    worker: array[int]
    version: array[int]
    bytes_down: array[int]
    bytes_up: array[int]
    used_by: array[int]  # update that used it, -1 if none
    lost: array[int]  # messages of this task lost on the link
    outcome: array[int]  # a code into _OUTCOME_NAMES; 0 while the task is open

    def __len__(self) -> int:
        return self.size

    def add(self, worker: int, version: int, now: float, units: float) -> int:
        """Record a task that starts now (no bytes sent yet); returns its id."""
        task = self.size
        if task == len(self.worker):
            for name, block in self._fresh.items():
                getattr(self, name).extend(block)
        self.size += 1
        self.worker[task] = worker
        self.version[task] = version
        self.start[task] = now
        self.units[task] = units
        return task

    def set_outcome(self, task: int, outcome: str) -> None:
        self.outcome[task] = _OUTCOME_CODE[outcome]

    def use(
        self, results: Sequence[Result], version: int, now: float
    ) -> tuple[list[int], list[float]]:
        """Mark the tasks of ``results`` used by the step from ``version`` to ``version + 1``,
        taken at time ``now``; returns the staleness (versions) and the age (seconds since the
        task's parameters were sent) of each result (a result listed twice counts twice)."""
        outcome, start = self.outcome, self.start
        stale, ages = [], []
        for r in results:
            age = now - start[r.task]
            if outcome[r.task] != _USED:  # lstsq may reuse a codeword already counted
                outcome[r.task] = _USED
                self.staleness[r.task] = version - r.version
                self.age[r.task] = age
                self.used_by[r.task] = version + 1
            stale.append(version - r.version)
            ages.append(age)
        return stale, ages

    def close_open(self, outcome: str) -> None:
        """Give every task that has no outcome yet ``outcome``."""
        codes = np.frombuffer(self.outcome, dtype=np.int8)[: self.size]
        codes[codes == 0] = _OUTCOME_CODE[outcome]
        del codes  # release the buffer, so that the column may grow again

    def frame(self) -> pd.DataFrame:
        """The tasks table (outcomes as a categorical column of names)."""
        n = self.size
        cols: dict[str, Any] = {"task": np.arange(n, dtype=np.int64)}
        for name in ("worker", "version", "start", "received", "computed", "end"):
            cols[name] = np.frombuffer(getattr(self, name), dtype=_dtype(name))[:n]
        codes = np.frombuffer(self.outcome, dtype=np.int8)[:n].copy()
        # pandas-stubs take only an Index as categories; pandas takes any list-like
        cols["outcome"] = pd.Categorical.from_codes(codes, categories=list(_OUTCOME_NAMES))  # type: ignore[call-overload]
        for name in ("units", "bytes_down", "bytes_up", "staleness", "age", "used_by", "lost"):
            cols[name] = np.frombuffer(getattr(self, name), dtype=_dtype(name))[:n]
        return pd.DataFrame(cols)  # copies the buffers, so the table outlives the cluster


def _dtype(name: str) -> type:
    return np.float64 if name in TaskTable._FLOATS else np.int64


#: The columns of the updates table, one row per update (row 0: the initial parameters).
UPDATE_COLUMNS = (
    "update",
    "time",
    "loss",
    "accuracy",
    "test_loss",
    "test_accuracy",
    "messages_used",
    "staleness_mean",
    "staleness_max",
    "age_mean",
    "age_max",
    "bytes_up",
    "bytes_down",
)
#: The column a run that measures its decoding error (a rule entry's ``decode_error``) adds after
#: :data:`UPDATE_COLUMNS`: ``||step - g|| / ||g||`` per update (NaN in row 0, before any step).
DECODE_ERROR_COLUMN = "decode_error"


class UpdateLog:
    """The updates table, one tuple per row in the order of :data:`UPDATE_COLUMNS`, and
    :data:`DECODE_ERROR_COLUMN` last when the run measures it (``decode_error``)."""

    def __init__(self, decode_error: bool = False) -> None:
        self.rows: list[tuple[Any, ...]] = []
        self.columns = [*UPDATE_COLUMNS, *([DECODE_ERROR_COLUMN] if decode_error else [])]
        self._measured = decode_error

    def __len__(self) -> int:
        return len(self.rows)

    def add(
        self,
        version: int,
        time: float,
        metrics: Mapping[str, float] | None,
        stale: list[int],
        ages: list[float],
        bytes_up: int,
        bytes_down: int,
        decode_error: float = math.nan,
    ) -> None:
        """Record update ``version`` at ``time``: its metrics (``None`` when not evaluated, NaN
        then), the staleness (versions) and age (seconds) of each message it used, the bytes
        moved so far, and its decoding error (kept only when the log measures it)."""
        m = metrics or {}
        nan = math.nan
        row = (
            version,
            time,
            m.get("loss", nan),
            m.get("accuracy", nan),
            m.get("test_loss", nan),
            m.get("test_accuracy", nan),
            len(stale),
            sum(stale) / len(stale) if stale else nan,
            float(max(stale)) if stale else nan,
            sum(ages) / len(ages) if ages else nan,
            max(ages) if ages else nan,
            bytes_up,
            bytes_down,
        )
        self.rows.append((*row, decode_error) if self._measured else row)

    def frame(self) -> pd.DataFrame:
        """The updates table."""
        return pd.DataFrame.from_records(self.rows, columns=self.columns)
