"""The decoding error per update over simulated time: the numbers of the ``decode_error`` curves
of a compare figure (no matplotlib here).

A run measures it when its rule entry has ``decode_error`` (docs/schemes.md): its updates table
then has the column :data:`~lwpdsim.sim.records.DECODE_ERROR_COLUMN`, ``||step - g|| / ||g||`` per
step. Runs without the column are left out; nothing here depends on which rule a run used.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from ..results import RunResult
from ..sim.records import DECODE_ERROR_COLUMN as COLUMN

#: Errors below this are float rounding of an exact decoding; log axes draw them here.
FLOOR = 1e-17
#: Time windows the simulated time is cut into (each point of a curve summarises one window).
WINDOWS = 60
#: Columns of :func:`decode_error_curves`.
CURVE_COLUMNS = ("scheme", "x", "median", "q25", "q75", "steps", "seeds")


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


def decode_error_curves(
    results: Mapping[str, Sequence[RunResult]], windows: int = WINDOWS
) -> pd.DataFrame:
    """The decoding error per step against simulated time, one curve per label whose runs
    measured it (columns :data:`CURVE_COLUMNS`).

    Simulated time from 0 to the last step of any run is cut into ``windows`` equal windows; a
    label's point in a window (``x`` its middle) is the ``median`` of the errors of all the steps
    of its runs (seeds) that fall in it, with the quartiles ``q25`` and ``q75``, how many ``steps``
    that is and from how many ``seeds``. The median, because one step's relative error is
    heavy-tailed (a small true gradient makes it large) and the curves are drawn on a log scale;
    pooling the seeds' steps weighs every step alike. Windows without a step are left out."""
    measuring = {
        label: [step_errors(r) for r in runs if measured(r)] for label, runs in results.items()
    }
    measuring = {label: runs for label, runs in measuring.items() if runs}
    ends = [float(t[-1]) for runs in measuring.values() for t, _ in runs if t.size]
    end = max(ends, default=0.0)
    edges = np.linspace(0.0, end, max(1, int(windows)) + 1) if end > 0 else np.array([0.0, 1.0])
    rows = []
    for label, runs in measuring.items():
        times = np.concatenate([t for t, _ in runs])
        errors = np.concatenate([e for _, e in runs])
        seed_of = np.concatenate([np.full(t.size, i) for i, (t, _) in enumerate(runs)])
        # window i holds the times in (edges[i], edges[i+1]]; steps at time 0 go to the first
        where = np.clip(np.searchsorted(edges, times, side="left") - 1, 0, edges.size - 2)
        for i in np.unique(where):
            in_window = where == i
            values = errors[in_window]
            q25, median, q75 = np.percentile(values, [25, 50, 75])
            rows.append(
                {
                    "scheme": label,
                    "x": float(edges[i] + edges[i + 1]) / 2,
                    "median": float(median),
                    "q25": float(q25),
                    "q75": float(q75),
                    "steps": int(values.size),
                    "seeds": int(np.unique(seed_of[in_window]).size),
                }
            )
    return pd.DataFrame(rows, columns=list(CURVE_COLUMNS))
