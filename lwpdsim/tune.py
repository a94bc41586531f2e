"""Choosing each rule's step size from a common grid: the one selection rule of lwpdsim.

``lwpdsim run`` / :func:`lwpdsim.simulate` (a scenario's ``train.lr_grid``) and ``lwpdsim figures``
(a figure spec's ``lr_grid``) both choose with this module, so the same runs give the same choice:

- a run's score is its final training loss, ``+inf`` when it diverged, stopped with an error or
  has no finite loss (:func:`final_loss`);
- a step size's score is the mean of its runs' scores over the selection seeds, ``+inf`` when a
  seed's run is missing (it failed) or not finite (:func:`grid_score`);
- the choice is the smallest step size whose score is within :data:`TIE` (0.1 %) of the lowest
  (:func:`choose`): step sizes that all bring a run to the same loss (all converged) tie, and the
  smaller, safer one is chosen rather than whichever rounding favours; one at the first or last value of the grid sits at an *edge* (:func:`edge`),
  where the best step size may lie beyond the grid.

Selection seeds of a scenario (:func:`selection_streams`): selection replicate ``j`` of run ``r``
(``r`` = 0 for ``lwpdsim run``, the replicate in a sweep) draws every random number from
``SeedSequence(seed, spawn_key=(r, SELECTION_KEY, j))``, the measured run from
``SeedSequence(seed, spawn_key=(r,))`` (:class:`lwpdsim.rng.Streams`). Each stream appends
``(stream id, index)`` to its root's key, so a selection run's keys have five numbers and a
measured run's three: the measured run has its own compute-time draws, data split and initial
parameters. Step sizes are chosen on ``lr_seeds`` runs and measured on another.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from .config.validate import as_float, as_list
from .errors import ScenarioError

if TYPE_CHECKING:
    from .results import RunResult
    from .rng import Streams

#: Step-size selection rules: name -> what it does (quoted in records and in the figures' index).
SELECT_RULES = {
    "final_loss": (
        "the step size with the lowest mean final training loss over the seeds (a run that "
        "diverged or failed counts as +inf); scores within 0.1% of the lowest tie, and ties go "
        "to the smaller step size"
    ),
}
DEFAULT_SELECT = "final_loss"
#: The most values a step-size grid may have, and the most selection seeds of a scenario.
MAX_GRID, MAX_SEEDS = 50, 50
#: The second number of a selection run's seed-sequence key (see the module's docstring).
SELECTION_KEY = 1
#: ``edge`` values: the choice is the smallest or the largest value of the grid.
EDGES = ("bottom", "top")


def final_loss(res: RunResult) -> float:
    """A run's score: its final training loss, +inf if it diverged, stopped with an error or has
    no finite final loss."""
    value = float(res.summary.get("final_loss", math.nan))
    if res.status in ("diverged", "error") or not math.isfinite(value):
        return math.inf
    return value


def run_score(res: RunResult, select: str = DEFAULT_SELECT) -> float:
    """A run's score under selection rule ``select`` (lower is better)."""
    if select != "final_loss":
        raise ValueError(f"unknown selection rule {select!r}; known: {', '.join(SELECT_RULES)}")
    return final_loss(res)


def grid_score(scores: Sequence[float], seeds: int | None = None) -> float:
    """A step size's score: the mean of its runs' scores, +inf if one is not finite or if there
    are fewer than ``seeds`` of them (a run that failed has none); NaN without any run."""
    values = np.asarray(list(scores), dtype=float)
    if values.size == 0:
        return math.nan
    if (seeds is not None and values.size < seeds) or not np.isfinite(values).all():
        return math.inf
    return float(values.mean())


#: Scores within this fraction of the lowest (by absolute value) tie with it: final losses that
#: differ by less than 0.1% are the same for a reader, and a choice between them would follow
#: rounding (the CSVs keep 8 digits), not the rules.
TIE = 1e-3


def tied(best: float, score: float) -> bool:
    """Whether ``score`` ties with the lowest score ``best`` (:data:`TIE`); +inf ties only +inf."""
    if math.isinf(best):
        return score == best
    return score <= best + TIE * abs(best)


def choose(grid: Sequence[float], scores: Sequence[float]) -> float:
    """The smallest step size of ``grid`` whose score ties with the lowest (:func:`tied`; NaN
    counts as +inf)."""
    if not grid or len(grid) != len(scores):
        raise ValueError(f"a grid of {len(grid)} step sizes and {len(scores)} scores")
    keyed = [
        (float(lr), math.inf if math.isnan(s) else float(s))
        for lr, s in zip(grid, scores, strict=True)
    ]
    best = min(score for _, score in keyed)
    return min(lr for lr, score in keyed if tied(best, score))


def edge(grid: Sequence[float], lr: float) -> str | None:
    """``"bottom"`` or ``"top"`` when ``lr`` is the smallest or largest value of ``grid`` (a grid
    of one value: ``"top"``), else None."""
    if not grid:
        return None
    if lr == max(grid):
        return "top"
    if lr == min(grid):
        return "bottom"
    return None


def grid_text(grid: Sequence[float]) -> str:
    """A grid in a few characters: ``[0.2 .. 20]`` (its smallest and largest value)."""
    return f"[{min(grid):g} .. {max(grid):g}]"


def edge_warning(label: str, lr: float, grid: Sequence[float], name: str = "lr_grid") -> str | None:
    """The warning for a choice at an edge of ``grid`` (None inside it)."""
    side = edge(grid, lr)
    if side is None:
        return None
    where = "beyond" if side == "top" else "below"
    return (
        f"lr = {lr:g} for {label} is the {side} of {name} {grid_text(grid)}; "
        f"the best step size may lie {where} it"
    )


def parse_grid(value: Any, field: str, *, min_size: int = 1) -> tuple[float, ...]:
    """A step-size grid: a list of ``min_size`` to :data:`MAX_GRID` numbers > 0 in increasing
    order, each once; else a :class:`ScenarioError` naming ``field``."""
    allowed = (
        f"a list of {min_size} to {MAX_GRID} step sizes > 0 in increasing order, e.g. "
        "[0.1, 0.3, 1, 3]"
    )
    if not isinstance(value, list | tuple):
        raise ScenarioError(field, value, allowed)
    items = as_list(value, field)
    if not min_size <= len(items) <= MAX_GRID:
        shown: Any = value if len(items) <= 20 else f"a list of {len(items)} values"
        raise ScenarioError(field, shown, allowed)
    out = tuple(as_float(v, f"{field}[{i}]", lo=0.0, lo_open=True) for i, v in enumerate(items))
    if any(b <= a for a, b in itertools.pairwise(out)):
        raise ScenarioError(field, value, f"numbers in increasing order, each once ({allowed})")
    return out


def selection_streams(seed: int, run_index: int | None, replicate: int) -> Streams:
    """The random streams of selection replicate ``replicate`` of run ``run_index`` of a scenario
    with seed ``seed`` (see the module's docstring): never those of a measured run."""
    from .rng import Streams

    key = (0 if run_index is None else int(run_index), SELECTION_KEY, int(replicate))
    return Streams(np.random.SeedSequence(int(seed), spawn_key=key))


@dataclass(frozen=True)
class LrChoice:
    """One rule's step size in a scenario with ``train.lr_grid``: chosen from the grid
    (``tuned``) or its own fixed ``lr``; for a chosen one, the grid, each grid value's score, the
    rule, and the selection seeds (seed, run index and the selection replicates)."""

    label: str
    lr: float
    tuned: bool
    grid: tuple[float, ...] = ()
    scores: tuple[float, ...] = ()
    select: str = DEFAULT_SELECT
    seed: int = 0
    run_index: int = 0
    replicates: int = 0

    @property
    def edge(self) -> str | None:
        """``"bottom"``/``"top"`` when a chosen step size sits at an edge of the grid."""
        return edge(self.grid, self.lr) if self.tuned else None

    def warnings(self) -> list[str]:
        """Lines to warn with: a choice at an edge of the grid, or a grid where every step size
        diverged or failed on the selection seeds."""
        if not self.tuned:
            return []
        if not any(math.isfinite(s) for s in self.scores):
            return [
                f"every step size of lr_grid {grid_text(self.grid)} diverged or failed for "
                f"{self.label} on the {self.replicates} selection seeds; it runs at the smallest, "
                f"{self.lr:g}"
            ]
        text = edge_warning(self.label, self.lr, self.grid)
        return [text] if text else []

    def record(self) -> dict[str, Any]:
        """The choice as plain data, as a run's manifest records it (``lr_selection``)."""
        if not self.tuned:
            return {
                "lr": self.lr,
                "tuned": False,
                "why": "the rule's own lr: fixed, not chosen from train.lr_grid",
            }
        return {
            "lr": self.lr,
            "tuned": True,
            "edge": self.edge,
            "grid": list(self.grid),
            "scores": list(self.scores),
            "select": self.select,
            "select_rule": SELECT_RULES[self.select],
            "selection_seeds": {
                "seed": self.seed,
                "run_index": self.run_index,
                "replicates": self.replicates,
                "spawn_keys": [[self.run_index, SELECTION_KEY, j] for j in range(self.replicates)],
                "measured_spawn_key": [self.run_index],
            },
        }


def choice_of(
    label: str,
    grid: Sequence[float],
    run_scores: Mapping[float, Sequence[float]],
    *,
    seeds: int,
    select: str = DEFAULT_SELECT,
    seed: int = 0,
    run_index: int | None = None,
) -> LrChoice:
    """Rule ``label``'s choice from the scores of its selection runs (:func:`run_score`, by step
    size, one per selection seed; ``seeds`` of them expected)."""
    scores = tuple(grid_score(run_scores.get(lr, ()), seeds) for lr in grid)
    return LrChoice(
        label,
        choose(grid, scores),
        True,
        tuple(float(v) for v in grid),
        scores,
        select,
        int(seed),
        0 if run_index is None else int(run_index),
        int(seeds),
    )


def lr_warnings(results: Mapping[str, RunResult]) -> list[str]:
    """The warnings of a :func:`~lwpdsim.simulate` result's step-size choices (an edge of the
    grid, or no finite score), from each rule's manifest (``lr_selection``)."""
    from .io.jsonable import json_number

    out = []
    for res in results.values():
        rec = res.manifest.get("lr_selection")
        if not isinstance(rec, Mapping) or not rec.get("tuned"):
            continue
        choice = LrChoice(
            res.label,
            float(rec["lr"]),
            True,
            tuple(float(v) for v in rec["grid"]),
            tuple(float(json_number(v)) for v in rec["scores"]),
            replicates=int(rec["selection_seeds"]["replicates"]),
        )
        out += choice.warnings()
    return out
