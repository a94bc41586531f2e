"""The numbers behind a spec's figures, as tables (each written as the figure's CSV): one row per
run, the step-size grid and each rule's choice, the summary at the chosen step sizes, the loss
curves, and the time between updates against theory. Drawing modules consume these tables.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd

from ..analysis import data
from ..analysis.decoding import error_cdf, error_stats, window_means
from ..analysis.stats import mean_interval
from ..config.scenario import SAVED_LATENCY_PER
from ..latency import from_spec
from ..results import RunResult
from ..tune import choose, edge, final_loss, grid_score
from .run import SpecRuns
from .spec import FigureSpec


def _staleness(res: RunResult) -> float:
    """Mean staleness of the messages a run used, weighted by how many each update used."""
    u = res.updates
    used = u["messages_used"].to_numpy(dtype=float)[1:]
    stale = u["staleness_mean"].to_numpy(dtype=float)[1:]
    ok = np.isfinite(used) & np.isfinite(stale) & (used > 0)
    return float((used[ok] * stale[ok]).sum() / used[ok].sum()) if ok.any() else math.nan


def runs_table(sr: SpecRuns) -> pd.DataFrame:
    """One row per (rule, step size, seed) of a compare spec."""
    rows = []
    target = sr.spec.target_loss
    for (lr, seed), results in sorted(sr.runs.items(), key=lambda kv: (kv[0][0], kv[0][1])):
        for label in sr.labels:
            res = results.get(label)
            if res is None:
                continue
            s = res.summary
            reach = data.bytes_to_target(res, target) if target is not None else {}
            tasks = float(s.get("tasks", 0)) or math.nan
            wasted = float(s.get("tasks_cancelled", 0)) + float(s.get("tasks_discarded", 0))
            updates = int(s["updates"])
            rows.append(
                {
                    "scheme": label,
                    "rule": data.rule_name(res),
                    "lr": lr,
                    "seed": seed,
                    "status": res.status,
                    "final_loss": final_loss(res),
                    "sim_time": float(s["sim_time"]),
                    "updates": updates,
                    "time_per_update": float(s["mean_time_between_updates"]),
                    "time_to_target": reach.get("time", math.nan),
                    "updates_to_target": reach.get("update", math.nan),
                    "bytes_to_target": reach.get("bytes", math.nan),
                    "bytes_total": float(s["bytes_up_total"]) + float(s["bytes_down_total"]),
                    "bytes_per_update": (float(s["bytes_up_total"]) + float(s["bytes_down_total"]))
                    / updates
                    if updates
                    else math.nan,
                    "staleness": _staleness(res),
                    "age": float(s.get("age_mean", math.nan)),  # seconds, over used results
                    "wasted_tasks": wasted / tasks,
                }
            )
    return pd.DataFrame(rows)


def lr_grid_table(runs: pd.DataFrame, spec: FigureSpec) -> pd.DataFrame:
    """Per rule and step size: the mean, lowest and highest final loss over seeds, how many runs
    diverged or failed, whether the selection rule (:mod:`lwpdsim.tune`, the one ``lwpdsim run``
    uses) chose this step size, and on the chosen row the ``edge`` of the grid it sits at
    ("bottom", "top" or empty). A step size with fewer seeds than the rule's others (a run
    failed) scores +inf."""
    rows = []
    for label in runs["scheme"].unique():
        sub = runs[runs["scheme"] == label]
        block = []
        for lr in spec.lr_grid:
            vals = sub.loc[sub["lr"] == lr, "final_loss"].to_numpy(dtype=float)
            block.append(
                {
                    "scheme": label,
                    "rule": sub["rule"].iloc[0],
                    "lr": lr,
                    "seeds": int(vals.size),
                    "not_finite": int((~np.isfinite(vals)).sum()),
                    "mean_final_loss": float(vals.mean()) if vals.size else math.nan,
                    "lo": float(vals.min()) if vals.size else math.nan,
                    "hi": float(vals.max()) if vals.size else math.nan,
                    "values": vals,
                }
            )
        seeds = max(row["seeds"] for row in block)
        scores = [grid_score(row.pop("values"), seeds) for row in block]
        best = choose(spec.lr_grid, scores)
        for row in block:
            row["chosen"] = row["lr"] == best
            row["edge"] = (edge(spec.lr_grid, best) or "") if row["chosen"] else ""
        rows += block
    return pd.DataFrame(rows)


def chosen_edges(grid: pd.DataFrame) -> dict[str, str]:
    """The rules whose chosen step size sits at an edge of the grid, with the edge, from a
    :func:`lr_grid_table`."""
    picked = grid[grid["chosen"] & (grid["edge"] != "")]
    return dict(zip(picked["scheme"], picked["edge"], strict=True))


def chosen_lr(grid: pd.DataFrame) -> dict[str, float]:
    """Each rule's chosen step size from a :func:`lr_grid_table`."""
    picked = grid[grid["chosen"]]
    return dict(zip(picked["scheme"], picked["lr"].astype(float), strict=True))


def _chosen_runs(sr: SpecRuns, lrs: Mapping[str, float]) -> dict[str, list[RunResult]]:
    """Each rule's runs (one per seed that ran) at its chosen step size."""
    out: dict[str, list[RunResult]] = {}
    for label in sr.labels:
        if label not in lrs:
            continue
        out[label] = [
            sr.runs[(lrs[label], seed)][label]
            for seed in range(sr.spec.seeds)
            if (lrs[label], seed) in sr.runs
        ]
    return out


def chosen_summary(runs: pd.DataFrame, lrs: Mapping[str, float]) -> pd.DataFrame:
    """Per rule at its chosen step size: final loss (mean, min, max), how many seeds reached the
    target, time and bytes to it (mean over the seeds that reached it, and its interval,
    :func:`~lwpdsim.analysis.stats.mean_interval`: none from fewer than three), and per-update
    averages."""
    rows = []
    for label, lr in lrs.items():
        sub = runs[(runs["scheme"] == label) & (runs["lr"] == lr)]
        fl = sub["final_loss"].to_numpy(dtype=float)
        ttt = mean_interval(sub["time_to_target"].to_numpy(dtype=float))
        btt = mean_interval(sub["bytes_to_target"].to_numpy(dtype=float))
        rows.append(
            {
                "scheme": label,
                "rule": sub["rule"].iloc[0],
                "lr": lr,
                "seeds": len(sub),
                "final_loss_mean": float(fl.mean()),
                "final_loss_lo": float(fl.min()),
                "final_loss_hi": float(fl.max()),
                "reached": ttt.n,
                "time_to_target_mean": ttt.mean,
                "time_to_target_lo95": ttt.lo,
                "time_to_target_hi95": ttt.hi,
                "bytes_to_target_mean": btt.mean,
                "bytes_to_target_lo95": btt.lo,
                "bytes_to_target_hi95": btt.hi,
                "updates_mean": float(sub["updates"].mean()),
                "time_per_update_mean": float(sub["time_per_update"].mean()),
                "bytes_per_update_mean": float(sub["bytes_per_update"].mean()),
                "staleness_mean": float(sub["staleness"].mean()),
                # runs tables written before ages were recorded have no age column
                "age_mean": float(sub["age"].mean()) if "age" in sub else math.nan,
                "wasted_tasks_mean": float(sub["wasted_tasks"].mean()),
            }
        )
    return pd.DataFrame(rows)


def against_bytes(res: RunResult) -> RunResult:
    """The run with each update's cumulative ``bytes_up`` (workers to master) as its time, so that
    a curve against time is one against the traffic sent up."""
    updates = res.updates.copy()
    updates["time"] = updates["bytes_up"].to_numpy(dtype=float)
    return replace(res, updates=updates)


def curves_table(sr: SpecRuns, lrs: Mapping[str, float], x: str) -> pd.DataFrame:
    """Loss against ``x`` (``time``, ``update`` or ``bytes``: cumulative bytes sent up) for each
    rule at its chosen step size: mean, min and max over seeds."""
    chosen = _chosen_runs(sr, lrs)
    if x == "bytes":
        chosen = {label: [against_bytes(r) for r in runs] for label, runs in chosen.items()}
        x = "time"
    table = data.loss_curves(chosen, x)
    table.insert(1, "lr", table["scheme"].map(lrs))
    return table


def decode_error_tables(
    sr: SpecRuns, lrs: Mapping[str, float]
) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """The decoding error of each rule that measured it, at its chosen step size: its mean per
    window of simulated time, its CDF and its summary (:mod:`lwpdsim.analysis.decoding`'s
    ``window_means``, ``error_cdf`` and ``error_stats``), each with the step size ``lr``."""
    chosen = _chosen_runs(sr, lrs)
    tables = (window_means(chosen), error_cdf(chosen), error_stats(chosen))
    for table in tables:
        table.insert(1, "lr", table["scheme"].map(lrs))
    return tables


def _runs_by_size(sr: SpecRuns) -> Iterator[tuple[str, int, list[RunResult]]]:
    """Rule by rule, each cluster size of an intervals spec with that rule's runs at that size (one
    per seed that ran; sizes without any are left out)."""
    spec = sr.spec
    for position, label in enumerate(sr.labels):
        for n in spec.workers:
            runs = [
                list(sr.runs[(n, r)].values())[position]
                for r in range(spec.seeds)
                if (n, r) in sr.runs
            ]
            if runs:
                yield label, n, runs


def interval_tables(sr: SpecRuns) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The mean time between updates per rule and cluster size (its interval,
    :func:`~lwpdsim.analysis.stats.mean_interval`, and theory), and the
    distribution of the gaps at ``cdf_workers`` (empirical and theoretical CDF on one grid)."""
    spec = sr.spec
    base_dir = Path(spec.scenario.base_dir) if spec.scenario.base_dir else None  # relative traces
    rows = []
    at_cdf: list[tuple[str, RunResult, np.ndarray]] = []
    for label, n, runs in _runs_by_size(sr):
        gaps = data.update_intervals(runs)
        gap = mean_interval(gaps)
        theory = data.interval_theory(runs[0], base_dir=base_dir)
        model = from_spec(data.scenario_config(runs[0])["cluster"]["latency"], base_dir=base_dir)
        cluster = data.scenario_config(runs[0])["cluster"]
        rows.append(
            {
                "scheme": label,
                "label": runs[0].label,
                "workers": n,
                "gaps": int(gaps.size),
                "mean": gap.mean,
                "lo95": gap.lo,
                "hi95": gap.hi,
                "theory_mean": theory.mean if theory else math.nan,
                "theory": theory.description if theory else "",
                "compute_mean": float(model.mean),
                # what compute_mean is the time of: a full gradient, or one work unit
                "latency_per": cluster.get("latency_per", SAVED_LATENCY_PER),
            }
        )
        if n == spec.cdf_workers and gaps.size:
            at_cdf.append((label, runs[0], np.sort(gaps)))
    frames = []
    if at_cdf:
        xs = np.linspace(0.0, max(float(g[-1]) for _, _, g in at_cdf) * 1.05, 400)
        for label, res, gaps in at_cdf:
            theory = data.interval_theory(res)
            frames.append(
                pd.DataFrame(
                    {
                        "scheme": label,
                        "label": res.label,
                        "workers": spec.cdf_workers,
                        "x": xs,
                        "empirical": np.searchsorted(gaps, xs, side="right") / gaps.size,
                        "theory": theory.cdf(xs)
                        if theory is not None and theory.has_cdf
                        else np.full_like(xs, np.nan),
                    }
                )
            )
    cdf = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()
    return pd.DataFrame(rows), cdf


def interval_target_table(sr: SpecRuns) -> pd.DataFrame:
    """For an intervals spec with a ``target_loss``: per rule and cluster size, how many seeds ran
    and reached the target, the time to reach it (mean and bootstrap interval over the seeds
    that did: :func:`~lwpdsim.analysis.stats.mean_interval`), the updates that took, and the
    mean time between updates over all seeds' runs."""
    spec = sr.spec
    target = spec.target_loss
    rows: list[dict[str, object]] = []
    if target is None:
        return pd.DataFrame(rows)
    for label, n, runs in _runs_by_size(sr):
        reach = [data.bytes_to_target(res, target) for res in runs]
        times = [r.get("time", math.nan) for r in reach]
        updates = np.array([r.get("update", math.nan) for r in reach], dtype=float)
        ttt = mean_interval(times)
        reached = np.isfinite(updates)
        rows.append(
            {
                "scheme": label,
                "label": runs[0].label,
                "workers": n,
                "target_loss": target,
                "seeds": len(runs),
                "reached": int(reached.sum()),
                "time_to_target_mean": ttt.mean,
                "time_to_target_lo95": ttt.lo,
                "time_to_target_hi95": ttt.hi,
                "updates_to_target_mean": float(updates[reached].mean())
                if reached.any()
                else math.nan,
                "time_per_update_mean": float(data.update_intervals(runs).mean()),
            }
        )
    return pd.DataFrame(rows)


def by_table(summary: pd.DataFrame, spec: FigureSpec) -> pd.DataFrame:
    """For a spec with ``by``: the :func:`chosen_summary` rows with each label's group and number
    (``"qsgd K=2"``: group ``qsgd``, ``K`` 2), sorted by group (in the spec's order) and number."""
    by = spec.by or "value"
    split = [spec.by_value(str(label)) for label in summary["scheme"]]
    table = pd.DataFrame(
        {
            "group": [g for g, _ in split],
            by: [v for _, v in split],
            "scheme": summary["scheme"],
            "lr": summary["lr"],
            "lr_edge": summary["lr_edge"],  # set by write_compare
            "seeds": summary["seeds"],
            "reached": summary["reached"],
            "time_to_target_mean": summary["time_to_target_mean"],
            "time_to_target_lo95": summary["time_to_target_lo95"],
            "time_to_target_hi95": summary["time_to_target_hi95"],
            "final_loss_mean": summary["final_loss_mean"],
        }
    )
    order = {g: i for i, g in enumerate(dict.fromkeys(table["group"]))}
    table["_order"] = table["group"].map(order)
    return table.sort_values(["_order", by], kind="stable").drop(columns="_order")
