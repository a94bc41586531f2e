"""The decoding error per update: the numbers of the ``decode_error`` figure of a compare spec
(no matplotlib here).

A run measures it when its rule entry has ``decode_error`` (docs/schemes.md): its updates table
then has the column :data:`~lwpdsim.sim.records.DECODE_ERROR_COLUMN`, ``||step - g|| / ||g||`` per
step. Runs without the column are left out; nothing here depends on which rule a run used.

A rule's errors can be bimodal (most arrival sets decode exactly, about 1e-15, the others not,
about 0.1), so a window's median or quartiles would flip between the modes; the figure shows the
mean over time (what ``E||ĝ - g|| / ||g||`` estimates) and the whole distribution (its CDF), with
the share of steps that decoded exactly (error below :data:`EXACT`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from ..results import RunResult
from ..sim.records import DECODE_ERROR_COLUMN as COLUMN

#: Errors below this are float rounding of an exact decoding; log axes draw them here.
FLOOR = 1e-17
#: A step "decoded exactly" when its error is below this (rounding of float64 sums is ~1e-15).
EXACT = 1e-12
#: At most this many windows of consecutive steps per rule (each point of a curve is one).
WINDOWS = 60
#: At least this many steps per window (fewer windows when a rule has few steps): a window's mean
#: of a bimodal error then rarely misses the inexact mode by chance.
MIN_STEPS = 20
#: Points of each rule's CDF (log-spaced errors from :data:`FLOOR` to the largest error).
CDF_POINTS = 241
#: Columns of :func:`window_means`, :func:`error_cdf` and :func:`error_stats`.
WINDOW_COLUMNS = ("scheme", "x", "t_from", "t_to", "mean", "exact", "steps", "seeds")
CDF_COLUMNS = ("scheme", "error", "cdf")
STATS_COLUMNS = ("scheme", "steps", "seeds", "exact", "mean", "median", "p90", "max")

Errors = Mapping[str, Sequence[RunResult]]


def measured(run: RunResult) -> bool:
    """Whether a run recorded its decoding error."""
    return COLUMN in run.updates


def step_errors(run: RunResult) -> tuple[np.ndarray, np.ndarray]:
    """The times and decoding errors of a run's steps (row 0, before any step, left out; so are
    steps without a number: NaN)."""
    u = run.updates
    times = u["time"].to_numpy(dtype=float)[1:]
    errors = u[COLUMN].to_numpy(dtype=float)[1:]
    keep = ~np.isnan(errors)
    return times[keep], errors[keep]


def _pooled(results: Errors) -> dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """Per label with a measuring run that took a step: the times, errors and seed index (0, 1,
    ... over its measuring runs) of all its steps, sorted by time (stable: ties keep seed order)."""
    pooled = {}
    for label, runs in results.items():
        steps = [step_errors(r) for r in runs if measured(r)]
        if not steps or not sum(t.size for t, _ in steps):
            continue
        times = np.concatenate([t for t, _ in steps])
        order = np.argsort(times, kind="stable")
        errors = np.concatenate([e for _, e in steps])
        seed = np.concatenate([np.full(t.size, i) for i, (t, _) in enumerate(steps)])
        pooled[label] = (times[order], errors[order], seed[order])
    return pooled


def window_means(
    results: Errors, windows: int = WINDOWS, min_steps: int = MIN_STEPS
) -> pd.DataFrame:
    """The mean decoding error per step against simulated time (columns :data:`WINDOW_COLUMNS`).

    A label's steps of all its runs (seeds), in order of time, are cut into consecutive windows of
    equal count (within one): ``min(windows, steps // min_steps)`` of them, at least one. A
    window's ``mean`` is the mean error of its ``steps`` (from ``seeds`` runs), ``exact`` the
    fraction of them below :data:`EXACT`, ``t_from`` and ``t_to`` its first and last step's time
    and ``x`` the mean time of its steps. Equal counts, because a mean of a few steps of a bimodal
    error is mostly luck."""
    rows = []
    for label, (times, errors, seed) in _pooled(results).items():
        count = max(1, min(int(windows), times.size // max(1, int(min_steps))))
        for part in np.array_split(np.arange(times.size), count):
            e = errors[part]
            rows.append(
                {
                    "scheme": label,
                    "x": float(times[part].mean()),
                    "t_from": float(times[part[0]]),
                    "t_to": float(times[part[-1]]),
                    "mean": float(e.mean()),
                    "exact": float(np.mean(e < EXACT)),
                    "steps": int(part.size),
                    "seeds": int(np.unique(seed[part]).size),
                }
            )
    return pd.DataFrame(rows, columns=list(WINDOW_COLUMNS))


def error_cdf(results: Errors, points: int = CDF_POINTS) -> pd.DataFrame:
    """The empirical CDF of each label's step errors pooled over its runs (columns
    :data:`CDF_COLUMNS`): ``cdf`` is the fraction of its steps with an error at most ``error``, on
    ``points`` log-spaced errors from :data:`FLOOR` to the largest finite error of any label (an
    infinite error keeps the CDF below 1)."""
    pooled = _pooled(results)
    finite = [e[np.isfinite(e)] for _, e, _ in pooled.values()]
    top = max((float(e.max()) for e in finite if e.size), default=FLOOR)
    grid = np.geomspace(FLOOR, max(top, 10 * FLOOR), max(2, int(points)))
    frames = []
    for label, (_, errors, _) in pooled.items():
        below = np.searchsorted(np.sort(errors), grid, side="right") / errors.size
        frames.append(pd.DataFrame({"scheme": label, "error": grid, "cdf": below}))
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=CDF_COLUMNS)


def error_stats(results: Errors) -> pd.DataFrame:
    """Per label, its step errors pooled over its runs (columns :data:`STATS_COLUMNS`): how many
    ``steps`` from how many ``seeds``, the fraction ``exact`` below :data:`EXACT`, the ``mean``
    (an infinite error makes it infinite), ``median``, 90th percentile ``p90`` and ``max``."""
    rows = []
    for label, (_, errors, seed) in _pooled(results).items():
        median, p90 = np.percentile(errors, [50, 90])
        rows.append(
            {
                "scheme": label,
                "steps": int(errors.size),
                "seeds": int(np.unique(seed).size),
                "exact": float(np.mean(errors < EXACT)),
                "mean": float(errors.mean()),
                "median": float(median),
                "p90": float(p90),
                "max": float(errors.max()),
            }
        )
    return pd.DataFrame(rows, columns=list(STATS_COLUMNS))
