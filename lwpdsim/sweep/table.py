"""The tidy table of a sweep (``runs.csv``): one row per (run, rule) with its factors and numbers,
and its summary per point (what ``lwpdsim sweep`` prints).

A row shows the result of the rule run serving it (:class:`~.plan.RuleRun`, column
``result_id``); ``shared`` counts the rows of the sweep that show that same result (1: none
other). Each point still has one row per replicate and rule, so a point's means are over its own
replicates; a shared result is never counted twice within a point, and nothing pools points."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from ..results import COST_METRICS, HEADLINE_METRICS
from .plan import RunTask, SweepPlan
from .spec import value_text

TABLE_NAME = "runs.csv"
#: Summary metrics in the table, in this order (other scalar summary keys follow them).
METRIC_COLUMNS = (
    *HEADLINE_METRICS,
    "tasks",
    "tasks_used",
    "tasks_cancelled",
    "tasks_discarded",
    "tasks_failed",
    "tasks_unfinished",
    *COST_METRICS,
)
#: Summary keys kept out of the table: shown elsewhere, or not reproducible (wall-clock times).
_NOT_METRICS = ("status", "message", "wall_seconds")
#: The columns after the others: the rule run a row shows, and how many rows show it.
SHARE_COLUMNS = ("result_id", "shared")


@dataclass(frozen=True)
class RuleResult:
    """How a rule run ended, as the table needs it: ``status`` "ok" with the rule's ``summary``,
    or "failed" with the ``error``."""

    status: str
    error: str | None = None
    summary: Mapping[str, Any] | None = None


def run_rows(
    task: RunTask,
    results: Mapping[str, RuleResult],
    shared: Mapping[str, int] | None = None,
) -> list[dict[str, Any]]:
    """The table rows of one run, one per rule of its scenario whose rule run has a result in
    ``results`` (by rule run id): its status ("ok" or "failed", with the error) and summary, and
    how many rows of the sweep show that result (``shared``, by rule run id; default 1)."""
    rows: list[dict[str, Any]] = []
    for spec, rid in zip(task.scenario.schemes, task.result_ids, strict=True):
        result = results.get(rid)
        if result is None:
            continue
        row: dict[str, Any] = {"point": task.point, "replicate": task.replicate}
        row["run_id"] = task.run_id
        row.update({k: _cell(v) for k, v in task.factors.items()})
        row.update(scheme=spec.label, rule=spec.name)
        row.update(result_id=rid, shared=(shared or {}).get(rid, 1))
        summary = result.summary
        if result.status != "ok" or summary is None:
            error = result.error or f"no result for scheme {spec.label!r}"
            row.update(status="failed", scheme_status=None, message=None, error=error)
            rows.append(row)
            continue
        failed = summary.get("status") == "error"
        row["status"] = "failed" if failed else "ok"
        row["scheme_status"] = summary.get("status")
        for key, value in summary.items():
            if key in _NOT_METRICS or isinstance(value, Mapping | list):
                continue
            row[key] = _number(value)
        row["message"] = summary.get("message")
        row["error"] = summary.get("message") if failed else None
        rows.append(row)
    return rows


def sweep_table(plan: SweepPlan, results: Mapping[str, RuleResult]) -> pd.DataFrame:
    """The tidy table: the rows (:func:`run_rows`) of every (run, rule) of ``plan`` whose rule
    run has a result in ``results`` (by rule run id), in run order, with the factors,
    replicate, run id, scheme, status, summary metrics, error, and the rule run's id and sharing
    (:data:`SHARE_COLUMNS`) as columns."""
    shared = plan.shared
    ordered = [row for task in plan.runs for row in run_rows(task, results, shared)]
    known = {"point", "replicate", "run_id", *plan.factor_keys, "scheme", "rule", "status"}
    known |= {"scheme_status", *METRIC_COLUMNS, "message", "error", *SHARE_COLUMNS}
    extra: list[str] = []
    for row in ordered:
        extra += [key for key in row if key not in known and key not in extra]
    columns = [
        "point",
        "replicate",
        "run_id",
        *plan.factor_keys,
        "scheme",
        "rule",
        "status",
        "scheme_status",
        *METRIC_COLUMNS,
        *extra,
        "message",
        "error",
        *SHARE_COLUMNS,
    ]
    table = pd.DataFrame(ordered, columns=columns)
    table["shared"] = table["shared"].astype(int)
    for col in (*METRIC_COLUMNS, *extra):
        table[col] = pd.to_numeric(table[col], errors="coerce").astype(float)
    return table


def _number(value: Any) -> Any:
    """A summary entry as a table cell: a number (booleans as 0.0 and 1.0)."""
    return float(value) if isinstance(value, bool) else value


def _cell(value: Any) -> Any:
    """A factor value as a table cell: scalars as they are, lists and tables as override text."""
    if isinstance(value, list | tuple | Mapping):
        return value_text(value)
    return value


#: The columns of :func:`point_summary` averaged over every run of a point that did not fail.
SUMMARY_MEANS = ("final_loss", "sim_time")


def point_summary(table: pd.DataFrame, factor_keys: Sequence[str]) -> pd.DataFrame:
    """Per point and scheme of a sweep's tidy table: its factors, ``runs`` (that did not fail),
    ``failed``, ``reached`` (runs that reached the target loss), ``time_to_target`` (the mean of
    those that reached it; NaN when none did) and the means of :data:`SUMMARY_MEANS` over the
    runs. Nothing is pooled over points, and no mean hides a run: the mean time to target is
    only ever read beside ``reached`` of ``runs``."""
    keys = [k for k in factor_keys if k in table]
    rows = []
    for (point, scheme), sub in table.groupby(["point", "scheme"], sort=False):
        ok = sub[sub["status"] == "ok"]
        ttt = pd.to_numeric(ok["time_to_target"], errors="coerce").to_numpy(dtype=float)
        hit = ttt[np.isfinite(ttt)]
        row: dict[str, Any] = {"point": point}
        row.update({k: sub[k].iloc[0] for k in keys})
        row.update(scheme=scheme, runs=len(ok), failed=len(sub) - len(ok), reached=hit.size)
        row["time_to_target"] = float(hit.mean()) if hit.size else math.nan
        for column in SUMMARY_MEANS:
            values = pd.to_numeric(ok[column], errors="coerce").to_numpy(dtype=float)
            row[column] = float(values.mean()) if values.size else math.nan
        rows.append(row)
    columns = ["point", *keys, "scheme", "runs", "failed", "reached", "time_to_target"]
    return pd.DataFrame(rows, columns=[*columns, *SUMMARY_MEANS])


def format_point_summary(summary: pd.DataFrame) -> str:
    """:func:`point_summary` as console text: one line per point and scheme, ``reached/runs``
    beside the mean time to target, and a line saying what each mean is over."""
    shown = summary.drop(columns=["runs", "failed", "reached"])
    at = list(shown.columns).index("time_to_target")
    counts = zip(summary["reached"], summary["runs"], strict=True)
    shown.insert(at, "reached", [f"{r}/{n}" for r, n in counts])
    if summary["failed"].any():
        shown.insert(at, "failed", summary["failed"])
    shown = shown.rename(columns={"time_to_target": "time_to_target*"})
    text = shown.to_string(index=False, float_format=lambda v: f"{v:.4g}", na_rep="-")
    note = (
        "* mean of the runs that reached the target loss (reached/runs beside it; '-': none "
        f"did); {' and '.join(SUMMARY_MEANS)}: mean of all runs of the point"
    )
    if summary["failed"].any():
        note += ", failed runs left out (listed below)"
    return f"{text}\n{note}"
