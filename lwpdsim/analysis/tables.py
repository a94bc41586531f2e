"""The summary table comparing rules as text for a terminal (the table itself is
:func:`lwpdsim.results.summary_table`, which run folders also store)."""

from __future__ import annotations

from collections.abc import Mapping

import pandas as pd

from ..results import (
    COMPRESSION_COLUMNS,
    DECODE_ERROR_METRICS,
    SUMMARY_COLUMNS,
    RunResult,
    summary_table,
)

__all__ = ["SUMMARY_COLUMNS", "format_summary", "format_wall_split", "summary_table"]


def format_summary(table: pd.DataFrame) -> str:
    """The summary table as aligned text for a terminal. Work is shown as the workers' completed
    computation in full-gradient equivalents (``work``); numpy's gradient work and call count, and
    the compression and decoding-error columns, stay in the table itself (``summary.csv``)."""
    hidden = ["gradient_work", "gradient_evaluations", *COMPRESSION_COLUMNS, *DECODE_ERROR_METRICS]
    shown = table.drop(columns=hidden, errors="ignore").rename(
        columns={
            "time_to_target": "t_target",
            "final_loss": "loss",
            "final_accuracy": "acc",
            "sim_time": "sim_time",
            "mean_time_between_updates": "t/update",
            "staleness_mean": "stale",
            "age_mean": "age",
            "bytes_up_total": "MB_up",
            "bytes_down_total": "MB_down",
            "worker_work": "work",
        }
    )
    shown["MB_up"] = shown["MB_up"] / 1e6
    shown["MB_down"] = shown["MB_down"] / 1e6
    return shown.to_string(float_format=lambda v: f"{v:.4g}", na_rep="-")


def format_wall_split(results: Mapping[str, RunResult]) -> str:
    """One line saying where the wall-clock time of ``results`` went (summed over the rules)."""
    total = {"total": 0.0, "gradients": 0.0, "evaluation": 0.0, "simulation": 0.0}
    evaluations = 0
    for r in results.values():
        for key, seconds in r.summary.get("wall_seconds", {}).items():
            total[key] = total.get(key, 0.0) + float(seconds)
        evaluations += int(r.summary.get("gradient_evaluations", 0))
    # the decoding-error measurement (a rule entry's decode_error), named only when it ran
    measured = f", decoding error {total['decode_error']:.2f} s" if "decode_error" in total else ""
    return (
        f"wall time {total['total']:.2f} s: gradients {total['gradients']:.2f} s "
        f"({evaluations:,} evaluations), loss evaluation {total['evaluation']:.2f} s, "
        f"simulation {total['simulation']:.2f} s{measured}"
    )
