"""Results of a run: tables as pandas DataFrames, a summary and the resolved config (saved and
loaded by :mod:`lwpdsim.io.codec`)."""

from __future__ import annotations

import functools
import hashlib
import math
import platform
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

#: Outcomes a task can end with: its result was used by a step; it was cancelled (a straggler the
#: rule stopped waiting for); its result arrived but was thrown away (stale or superfluous); its
#: worker failed; a message was lost on the link for good; or the run stopped first.
OUTCOMES = ("used", "cancelled", "discarded", "failed", "lost", "unfinished")

#: What a sweep's figures can plot (a sweep file's ``metrics``): ``bytes_to_target`` is the traffic
#: up and down until the target loss was reached (:func:`lwpdsim.analysis.sweep_tables.with_metric`).
SWEEP_METRICS = ("time_to_target", "bytes_to_target", "final_loss", "final_accuracy", "sim_time")
#: Headline numbers of a run's summary, in the order every table shows them.
HEADLINE_METRICS = (
    "time_to_target",
    "final_loss",
    "final_accuracy",
    "sim_time",
    "updates",
    "mean_time_between_updates",
)
#: How old the results the steps used were: mean staleness in versions and mean age in simulated
#: seconds (step time - the time the task's parameters were sent), over the used results.
STALENESS_METRICS = ("staleness_mean", "age_mean")
#: What a run cost, in table order: bytes over the links; the work the simulated workers completed,
#: in full-gradient equivalents (the work units of every task whose computation finished, over n:
#: what the cluster charged time for, redundant work of a code included); the gradient work numpy
#: did (rows evaluated / training rows: a partition two workers share at one version is computed
#: once); and the gradient calls it took.
COST_METRICS = (
    "bytes_up_total",
    "bytes_down_total",
    "worker_work",
    "gradient_work",
    "gradient_evaluations",
)

#: Packages whose versions a manifest records.
TRACKED_PACKAGES = ("lwpdsim", "numpy", "scipy", "pandas", "simpy", "matplotlib", "scikit-learn")


def versions() -> dict[str, str]:
    """Installed versions of the packages a result depends on."""
    return dict(_versions())


@functools.cache
def _versions() -> dict[str, str]:  # read once per process: reading package metadata takes 5-10 ms
    out = {"python": platform.python_version()}
    for name in TRACKED_PACKAGES:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:  # pragma: no cover - always installed with lwpdsim
            out[name] = "not installed"
    return out


#: The longest folder name :func:`safe_name` gives (before its hash suffix).
NAME_MAX = 100
#: Names Windows keeps for devices (with or without an extension).
_DEVICES = frozenset(
    ["con", "prn", "aux", "nul", *(f"com{i}" for i in range(10)), *(f"lpt{i}" for i in range(10))]
)
#: Endings of the files lwpdsim writes next to a run's rule folders (a folder never ends so).
_FILE_ENDINGS = (".png", ".csv", ".json", ".jsonl", ".md", ".tmp", ".lock", ".npz")


def safe_name(label: str) -> str:
    """A safe folder (or file-name) part for a rule label or a key, e.g. ``ksync(K=6)`` ->
    ``ksync_K=6``: ASCII letters, digits and ``_.=-``, never starting or ending with ``.`` or
    ``_``, at most :data:`NAME_MAX` characters plus a suffix. A label that loses more than its
    brackets, commas and spaces (non-ASCII or unprintable characters, nothing left, too long, a
    Windows device name, a name ending like one of lwpdsim's files) gets ``-`` and ten hex digits
    of its SHA-256, so different such labels get different names."""
    slug = re.sub(r"[^A-Za-z0-9_.=-]+", "_", label).strip("_.")
    if (
        slug
        and len(slug) <= NAME_MAX
        and label.isascii()
        and label.isprintable()
        and slug.split(".")[0].lower() not in _DEVICES
        and not slug.lower().endswith(_FILE_ENDINGS)
    ):
        return slug
    digest = hashlib.sha256(label.encode("utf-8", "surrogatepass")).hexdigest()[:10]
    return f"{slug[:NAME_MAX].rstrip('_.') or 'rule'}-{digest}"


@dataclass
class RunResult:
    """One rule's run: ``updates`` (one row per update, cumulative bytes), ``tasks`` (one row per
    task with its outcome), ``summary`` (headline numbers and status) and ``config`` (the resolved
    scenario plus which scheme this is)."""

    label: str
    updates: pd.DataFrame
    tasks: pd.DataFrame
    summary: dict[str, Any]
    config: dict[str, Any]
    manifest: dict[str, Any] = field(default_factory=dict)

    @property
    def status(self) -> str:
        return str(self.summary["status"])

    def save(self, directory: str | Path) -> Path:
        """Write ``updates.csv``, ``tasks.csv``, ``manifest.json`` and ``timing.json`` into
        ``directory`` (see :mod:`lwpdsim.io.codec`). Every file but ``timing.json`` (the wall-clock
        split of this machine's run) is identical for the same scenario and seed."""
        from .io.codec import save_result

        return save_result(self, directory)

    @classmethod
    def load(cls, directory: str | Path) -> RunResult:
        """Read a result written by :meth:`save`: equal to the saved one, tables included."""
        from .io.codec import load_result

        return load_result(directory)


def _outcome_counts(outcome: pd.Series) -> dict[str, int]:
    if isinstance(outcome.dtype, pd.CategoricalDtype):  # as runs make it: count the codes
        cats = outcome.cat.categories
        return dict(zip(cats, np.bincount(outcome.cat.codes, minlength=len(cats)), strict=True))
    return {str(k): int(v) for k, v in outcome.value_counts().items()}


def summarize(updates: pd.DataFrame, tasks: pd.DataFrame, **extra: Any) -> dict[str, Any]:
    """Headline numbers of a run from its tables (plus ``extra`` fields, e.g. status)."""
    losses = updates["loss"].to_numpy(dtype=float)
    finite = losses[np.isfinite(losses)]
    n_updates = int(updates["update"].iloc[-1])
    times = updates["time"].to_numpy(dtype=float)
    counts = _outcome_counts(tasks["outcome"])
    status = extra.pop("status")
    summary: dict[str, Any] = {
        "status": status,
        "message": extra.pop("message", ""),
        # a diverged run has no meaningful final loss: never report an earlier finite one
        "final_loss": math.inf
        if status == "diverged"
        else (float(finite[-1]) if finite.size else math.nan),
        "final_accuracy": float(updates["accuracy"].dropna().iloc[-1])
        if updates["accuracy"].notna().any()
        else math.nan,
        "sim_time": float(extra.pop("sim_time")),
        "updates": n_updates,
        "mean_time_between_updates": float((times[-1] - times[0]) / n_updates)
        if n_updates
        else math.nan,
        "tasks": len(tasks),
        **{f"tasks_{o}": int(counts.get(o, 0)) for o in OUTCOMES},
        **used_staleness(tasks),
    }
    summary.update(extra)
    return summary


def worker_work(tasks: pd.DataFrame, workers: int) -> float:
    """The work the simulated workers completed, in full gradients: the ``units`` (1/n of a full
    gradient each) of every task whose computation finished, over the ``workers`` n."""
    done = np.isfinite(tasks["computed"].to_numpy(dtype=float))
    return float(tasks["units"].to_numpy(dtype=float)[done].sum() / workers)


def used_staleness(tasks: pd.DataFrame) -> dict[str, float]:
    """:data:`STALENESS_METRICS` from a tasks table: the mean ``staleness`` and ``age`` of the
    tasks a step used (each once; NaN when none was used, or the column is missing)."""
    used = (tasks["outcome"] == "used").to_numpy()
    out = {}
    for key, column in zip(STALENESS_METRICS, ("staleness", "age"), strict=True):
        values = tasks[column].to_numpy(dtype=float)[used] if column in tasks else np.empty(0)
        with np.errstate(over="ignore"):  # ages near the largest float sum to inf, not a warning
            out[key] = float(values.mean()) if values.size else math.nan
    return out


#: Columns of the comparison table, in order (``lr``: the step size the rule ran at).
SUMMARY_COLUMNS = ("status", "lr", *HEADLINE_METRICS, *STALENESS_METRICS, *COST_METRICS)


def step_size(result: RunResult) -> float:
    """The step size a rule ran at (chosen from ``train.lr_grid`` or set), from its resolved
    scenario; NaN when its config does not say."""
    scenario = result.config.get("scenario")
    schemes = scenario.get("schemes") if isinstance(scenario, Mapping) else None
    for scheme in schemes if isinstance(schemes, list) else ():
        if isinstance(scheme, Mapping) and scheme.get("label") == result.label:
            lr = scheme.get("lr")
            return (
                float(lr) if isinstance(lr, int | float) and not isinstance(lr, bool) else math.nan
            )
    return math.nan


#: Columns the comparison table adds when at least one rule compresses its messages (a rule
#: entry's ``compress`` table, docs/compression.md); not shown on the console.
COMPRESSION_COLUMNS = ("bits_per_coordinate", "compression_error")


#: What a run summary records of a run that measures its decoding error (the updates table's
#: ``decode_error`` column): :func:`decode_error_summary`. The comparison table adds the first two
#: when at least one rule measured it.
DECODE_ERROR_METRICS = ("decode_error_mean", "decode_error_max", "decode_error_steps")


def decode_error_summary(updates: pd.DataFrame) -> dict[str, float | int]:
    """``decode_error_mean`` and ``decode_error_max`` over the steps whose decoding error is a
    number (not NaN: row 0, a step at non-finite parameters, a step of 0 where the gradient is 0),
    and ``decode_error_steps``, how many such steps there are; an infinite error (a non-zero step
    where the gradient is 0) makes both infinite. NaN when no step has one."""
    values = updates["decode_error"].to_numpy(dtype=float)[1:]  # row 0: no step
    values = values[~np.isnan(values)]
    if not values.size:
        return dict(zip(DECODE_ERROR_METRICS, (math.nan, math.nan, 0), strict=True))
    return dict(
        zip(
            DECODE_ERROR_METRICS,
            (float(values.mean()), float(values.max()), int(values.size)),
            strict=True,
        )
    )


def summary_table(results: Mapping[str, RunResult]) -> pd.DataFrame:
    """One row per rule (indexed by label) with the headline numbers of :data:`SUMMARY_COLUMNS`,
    and :data:`COMPRESSION_COLUMNS` and the decoding error's mean and max
    (:data:`DECODE_ERROR_METRICS`) when a rule has them (empty for the others)."""
    optional = (*COMPRESSION_COLUMNS, *DECODE_ERROR_METRICS[:2])
    extra = [c for c in optional if any(c in r.summary for r in results.values())]
    columns = [*SUMMARY_COLUMNS, *extra]
    rows = {
        label: {c: step_size(r) if c == "lr" else r.summary.get(c) for c in columns}
        for label, r in results.items()
    }
    table = pd.DataFrame.from_dict(rows, orient="index", columns=columns)
    table.index.name = "scheme"
    return table
