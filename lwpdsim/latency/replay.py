"""Ordered trace replay (``dist = "replay"``): task i of worker w computes for exactly
``trace[i, w] * scale`` (then times the task's share and the worker's slowdown, as every draw).

The trace is a matrix of recorded compute times read from a CSV or ``.npz`` file
(:mod:`.trace_files`): with ``layout = "columns"`` (the default) column w holds worker w's times
and row i its i-th task; with ``layout = "rows"`` row w holds worker w's times. It has one series
per worker the model times (``cluster.workers``, or a group's size). When a worker has used all
its times, ``on_end`` says what follows:

- ``"wrap"`` (the default): start again from its first time;
- ``"stop"``: the run ends, with status ``trace_end``, when that worker's next task would start
  computing;
- ``"resample"``: i.i.d. draws, uniformly with replacement, of that worker's own times (from the
  worker's ``latency`` generator).

As a :class:`~lwpdsim.latency.models.LatencyModel` (limits, descriptions) the model is the
empirical distribution of all the trace's times, every worker's pooled.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..config.reading import user_path
from ..config.validate import POSITIVE, as_choice, as_number
from ..errors import ScenarioError
from .families import fmt
from .models import EmpiricalLatency, LatencyModel, _check_factor, _product
from .sources import DRAW_BLOCK, StateRng, TraceEnded
from .trace_files import read_matrix

LAYOUTS = ("columns", "rows")
ON_END = ("wrap", "stop", "resample")
KEYS = ("file", "layout", "on_end", "scale")


@dataclass(frozen=True, eq=False, repr=False)
class ReplayLatency(LatencyModel):
    """A trace replayed in order: ``times[:, w]`` are worker w's (``layout`` as the spec gave it;
    ``times`` is always tasks x workers)."""

    file: str
    layout: str
    on_end: str
    scale: float
    times: np.ndarray
    name: str = field(default="replay", init=False)
    not_iid: str = field(default="compute times replayed from a trace", init=False)
    pooled: EmpiricalLatency = field(init=False)

    def __post_init__(self) -> None:
        times = np.array(self.times, dtype=float)
        times.setflags(write=False)
        object.__setattr__(self, "times", times)
        pooled = EmpiricalLatency(self.file, 0, self.scale, times.reshape(-1))
        object.__setattr__(self, "pooled", pooled)

    @property
    def spec(self) -> dict[str, Any]:
        return {
            "dist": "replay",
            "file": self.file,
            "layout": self.layout,
            "on_end": self.on_end,
            "scale": self.scale,
        }

    @property
    def mean(self) -> float:  # type: ignore[override]
        return self.pooled.mean

    @property
    def var(self) -> float:  # type: ignore[override]
        return self.pooled.var

    @property
    def upper(self) -> float:
        return self.pooled.upper

    @property
    def dist(self) -> None:
        return None

    @property
    def workers(self) -> int:
        return int(self.times.shape[1])

    def sample(self, rng: np.random.Generator, size: int | None = None) -> float | np.ndarray:
        """I.i.d. draws of the pooled times (not what a worker's tasks take: see :meth:`source`)."""
        return self.pooled.sample(rng, size)

    def cdf(self, x: Any) -> float | np.ndarray:
        return self.pooled.cdf(x)

    def scaled(self, factor: float) -> LatencyModel:
        f = _check_factor(factor)
        if f == 1.0:
            return self
        return ReplayLatency(self.file, self.layout, self.on_end, self.scale * f, self.times)

    def check_workers(self, n: int) -> None:
        if self.workers != n:
            axis = "column" if self.layout == "columns" else "row"
            raise ScenarioError(
                "file",
                self.file,
                f"a trace with one {axis} per worker ({n}); it has {self.workers}",
            )

    def source(self, index: int, rng: np.random.Generator, state_rng: StateRng) -> ReplaySource:
        return ReplaySource(self, index, rng)

    def _formula(self) -> str:
        tasks, workers = self.times.shape
        text = f"{tasks} tasks x {workers} workers from {self.file} in order, then {self.on_end}"
        return text + (f", x{fmt(self.scale)}" if self.scale != 1.0 else "")

    def _knots(self) -> np.ndarray:
        return self.pooled._knots()

    @property
    def _discrete(self) -> bool:
        return True


class ReplaySource:
    """Worker ``index``'s times in order, then what ``on_end`` says."""

    __slots__ = ("block", "column", "index", "pos", "rng", "scale", "stop", "wrap")

    def __init__(self, model: ReplayLatency, index: int, rng: np.random.Generator) -> None:
        self.column = model.times[:, index].tolist()
        self.scale, self.index, self.rng = model.scale, index, rng
        self.wrap, self.stop = model.on_end == "wrap", model.on_end == "stop"
        self.pos = 0
        self.block: list[float] = []

    def next(self, now: float = 0.0) -> float:
        pos = self.pos
        self.pos += 1
        column = self.column
        if pos < len(column):
            return _product(column[pos], self.scale)
        if self.wrap:
            return _product(column[pos % len(column)], self.scale)
        if self.stop:
            self.pos = pos  # still out of times
            raise TraceEnded(
                f"worker {self.index}'s latency trace ran out after its {len(column)} recorded "
                "times (on_end = 'stop')"
            )
        if not self.block:  # resample: the worker's own times, i.i.d.
            draws = self.rng.choice(len(column), size=DRAW_BLOCK)
            self.block = [column[i] for i in draws[::-1]]
        return _product(self.block.pop(), self.scale)


def parse_replay(spec: Mapping[str, Any], base_dir: Path | None) -> ReplayLatency:
    """The model of a ``replay`` table; errors name fields relative to the table."""
    file = spec.get("file")
    if isinstance(file, os.PathLike):
        file = os.fspath(file)
    if not isinstance(file, str) or not file.strip():
        raise ScenarioError("file", file, "the path of a .csv or .npz trace (a string)")
    layout = as_choice(spec.get("layout", "columns"), "layout", LAYOUTS)
    on_end = as_choice(spec.get("on_end", "wrap"), "on_end", ON_END)
    scale = as_number(spec.get("scale", 1.0), "scale", POSITIVE)
    path = user_path(file, base_dir, "file")
    matrix = read_matrix(path, file)
    times = matrix if layout == "columns" else matrix.T
    if not np.all(times.max(axis=0) > 0):  # before the model copies and sorts the times
        w = int(np.argmin(times.max(axis=0)))
        raise ScenarioError("file", file, f"at least one time > 0 for every worker ({w} has none)")
    return ReplayLatency(file, layout, on_end, float(scale), times)
