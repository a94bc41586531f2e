"""The numbers behind every figure, as plain pandas/numpy (no matplotlib here).

Each figure in :mod:`lwpdsim.analysis.plots` draws what one function of this module returns, so a
test can check the data of a figure without looking at pixels:

- :func:`loss_curves`: a metric against simulated time or updates, with a band over seeds;
- :func:`bytes_per_update`, :func:`bytes_to_target` and :func:`communication`: traffic;
- :func:`timeline`: each worker's tasks cut into download, compute and upload segments;
- :func:`update_intervals` and :func:`interval_theory`: time between updates against theory.

Functions take one :class:`~lwpdsim.results.RunResult` or a mapping ``label -> RunResult``;
:func:`loss_curves` also accepts ``label -> [RunResult, ...]`` (one run per seed).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from ..config.reading import check_results_folder
from ..config.scenario import SAVED_LATENCY_PER, task_share
from ..errors import ScenarioError
from ..latency import from_spec
from ..plugins import loaded_rule
from ..results import RunResult, safe_name
from ..schemes import Scheme
from ..schemes.theory import IntervalTheory
from .saved import check_manifest, check_tables

#: Phases of a task, in order: parameters travel to the worker, it computes, its message travels back.
PHASES = ("download", "compute", "upload")
#: Metrics the updates table holds (``loss_curves(metric=...)``).
METRICS = ("loss", "accuracy", "test_loss", "test_accuracy")

Runs = Mapping[str, RunResult | Sequence[RunResult]]


# --------------------------------------------------------------------------- helpers


def as_run_lists(results: Runs) -> dict[str, list[RunResult]]:
    """``label -> [runs]`` from a mapping whose values are one run or a sequence of runs."""
    out: dict[str, list[RunResult]] = {}
    for label, value in results.items():
        runs = [value] if isinstance(value, RunResult) else list(value)
        if not runs:
            raise ValueError(f"no runs for {label!r}")
        out[label] = runs
    return out


def scheme_entry(result: RunResult) -> dict[str, Any]:
    """The scheme's table in the resolved scenario (``name``, ``label``, ``lr`` and parameters)."""
    label = result.config.get("scheme", result.label)
    for entry in result.config.get("scenario", {}).get("schemes", []):
        if entry.get("label") == label:
            return dict(entry)
    return {"name": str(label).split("(", 1)[0], "label": label}


def rule_name(result: RunResult) -> str:
    """The rule a run used (``sync``, ``ksync``, ...), whatever its label."""
    return str(scheme_entry(result)["name"])


def scenario_config(source: RunResult | Mapping[str, Any]) -> dict[str, Any]:
    """The resolved scenario of a result or of a result's ``config`` (a scenario dict is returned
    as it is); empty if there is none."""
    if isinstance(source, RunResult):
        return dict(source.config.get("scenario", {}))
    inner = source.get("scenario")
    return dict(inner) if isinstance(inner, Mapping) else dict(source)


def target_loss(result: RunResult) -> float | None:
    """The scenario's ``train.target_loss``, or None."""
    value = scenario_config(result).get("train", {}).get("target_loss")
    return None if value is None else float(value)


def _step_values(xs: np.ndarray, values: np.ndarray, grid: np.ndarray) -> np.ndarray:
    """The right-continuous step function through (xs, values) at ``grid``; NaN before xs[0]."""
    idx = np.searchsorted(xs, grid, side="right") - 1
    out = np.full(grid.shape, np.nan)
    ok = idx >= 0
    out[ok] = values[idx[ok]]
    return out


# --------------------------------------------------------------------------- curves


def metric_points(result: RunResult, metric: str = "loss", x: str = "time") -> pd.DataFrame:
    """The updates at which ``metric`` was evaluated: columns ``x`` and ``value``."""
    if metric not in METRICS:
        raise ValueError(f"metric must be one of {METRICS}, got {metric!r}")
    if x not in ("time", "update"):
        raise ValueError(f"x must be 'time' or 'update', got {x!r}")
    u = result.updates
    keep = u[metric].notna()
    return pd.DataFrame(
        {
            "x": u.loc[keep, x].to_numpy(dtype=float),
            "value": u.loc[keep, metric].to_numpy(dtype=float),
        }
    )


def loss_curves(
    results: Runs,
    x: str = "time",
    *,
    metric: str = "loss",
    points: int = 400,
) -> pd.DataFrame:
    """A metric against simulated time (``x="time"``) or updates (``x="update"``), one curve per
    label: columns ``scheme``, ``x``, ``mean``, ``lo``, ``hi``, ``seeds``.

    A label with one run gives its evaluated points as they are (``lo == hi == mean``). A label
    with several runs (seeds) is put on a common grid: ``points`` evenly spaced times from 0 to the
    last update of any run, or every update number. Each run's value at a grid point is its most
    recently evaluated metric (the curve is a step function; a run that stopped keeps its final
    value), ``mean`` is the mean over runs and ``lo``/``hi`` the smallest and largest run.
    Labels without any evaluated value of ``metric`` (e.g. accuracy in a regression) are left out.
    """
    frames = []
    for label, runs in as_run_lists(results).items():
        curves = [metric_points(r, metric, x) for r in runs]
        curves = [c for c in curves if not c.empty]
        if not curves:
            continue
        if len(runs) == 1:
            c = curves[0]
            frames.append(
                pd.DataFrame(
                    {
                        "scheme": label,
                        "x": c["x"],
                        "mean": c["value"],
                        "lo": c["value"],
                        "hi": c["value"],
                        "seeds": 1,
                    }
                )
            )
            continue
        end = max(float(c["x"].iloc[-1]) for c in curves)
        if x == "time":
            grid = np.linspace(0.0, end, max(2, int(points)))
        else:
            grid = np.arange(0.0, end + 1.0)
        table = np.vstack(
            [_step_values(c["x"].to_numpy(), c["value"].to_numpy(), grid) for c in curves]
        )
        present = np.isfinite(table)
        seeds = present.sum(axis=0)
        with np.errstate(all="ignore"):
            masked = np.where(present, table, np.nan)
            mean = np.nanmean(masked, axis=0) if present.any() else np.full(grid.shape, np.nan)
        keep = seeds > 0
        frames.append(
            pd.DataFrame(
                {
                    "scheme": label,
                    "x": grid[keep],
                    "mean": mean[keep],
                    "lo": np.nanmin(masked[:, keep], axis=0),
                    "hi": np.nanmax(masked[:, keep], axis=0),
                    "seeds": seeds[keep],
                }
            )
        )
    columns = ["scheme", "x", "mean", "lo", "hi", "seeds"]
    if not frames:
        return pd.DataFrame(columns=columns)
    return pd.concat(frames, ignore_index=True)[columns]


# --------------------------------------------------------------------------- communication


def bytes_per_update(result: RunResult) -> pd.DataFrame:
    """Bytes moved between one update and the next: columns ``update``, ``time``, ``bytes_up``
    (workers to master) and ``bytes_down`` (master to workers), one row per update after the
    first. They are the differences of the updates table's cumulative counters, so they include
    traffic of tasks that were later cancelled or discarded."""
    u = result.updates
    return pd.DataFrame(
        {
            "update": u["update"].to_numpy()[1:],
            "time": u["time"].to_numpy(dtype=float)[1:],
            "bytes_up": np.diff(u["bytes_up"].to_numpy(dtype=np.int64)),
            "bytes_down": np.diff(u["bytes_down"].to_numpy(dtype=np.int64)),
        }
    )


def bytes_to_target(result: RunResult, target: float | None = None) -> dict[str, float]:
    """Cumulative traffic when the training loss first reached ``target`` (default: the scenario's
    target): ``update``, ``time``, ``bytes_up``, ``bytes_down`` and ``bytes`` (their sum), all
    NaN when the loss never got there (or there is no target)."""
    target = target_loss(result) if target is None else float(target)
    missing = dict.fromkeys(("update", "time", "bytes_up", "bytes_down", "bytes"), math.nan)
    if target is None:
        return missing
    u = result.updates
    hit = u.index[u["loss"].to_numpy(dtype=float) <= target]
    if hit.empty:
        return missing
    row = u.loc[hit[0]]
    up, down = float(row["bytes_up"]), float(row["bytes_down"])
    return {
        "update": float(row["update"]),
        "time": float(row["time"]),
        "bytes_up": up,
        "bytes_down": down,
        "bytes": up + down,
    }


def communication(results: Mapping[str, RunResult], target: float | None = None) -> pd.DataFrame:
    """Traffic per rule (indexed by label): mean ``bytes_up_per_update`` and
    ``bytes_down_per_update``, totals at the last update, and the cumulative bytes at the first
    update whose loss is <= ``target`` (``*_to_target``, NaN if never reached). ``target``
    defaults to each run's scenario target."""
    rows = {}
    for label, res in results.items():
        u = res.updates
        n = int(u["update"].iloc[-1])
        up, down = float(u["bytes_up"].iloc[-1]), float(u["bytes_down"].iloc[-1])
        reach = bytes_to_target(res, target)
        rows[label] = {
            "updates": n,
            "bytes_up_per_update": up / n if n else math.nan,
            "bytes_down_per_update": down / n if n else math.nan,
            "bytes_up": up,
            "bytes_down": down,
            "target": target if target is not None else target_loss(res),
            "update_at_target": reach["update"],
            "time_at_target": reach["time"],
            "bytes_up_to_target": reach["bytes_up"],
            "bytes_down_to_target": reach["bytes_down"],
            "bytes_to_target": reach["bytes"],
        }
    table = pd.DataFrame.from_dict(rows, orient="index")
    table.index.name = "scheme"
    return table


# --------------------------------------------------------------------------- timeline

TIMELINE_COLUMNS = (
    "worker",
    "task",
    "phase",
    "start",
    "end",
    "outcome",
    "version",
    "used_by",
)


def timeline(result: RunResult, t_max: float | None = None) -> pd.DataFrame:
    """Each task cut into its phases, one row per segment: ``worker``, ``task``, ``phase``
    (download, compute, upload), ``start``, ``end``, ``outcome`` (of the whole task), ``version``
    and ``used_by``.

    Download runs from the task's start until the parameters arrived, compute until the result was
    ready, upload until the message reached the master or the task ended (cancelled, failed, lost,
    unfinished). A task stopped before its parameters arrived is one download segment; every task
    has a compute segment once its parameters arrived (even of length zero), so every task has at
    least one segment. With ``t_max`` only segments starting before it are kept, cut at ``t_max``.
    """
    t = result.tasks
    start = t["start"].to_numpy(dtype=float)
    received = t["received"].to_numpy(dtype=float)
    computed = t["computed"].to_numpy(dtype=float)
    end = t["end"].to_numpy(dtype=float)
    got = np.isfinite(received)
    done = np.isfinite(computed)
    parts = []
    # download: the whole task if the parameters never arrived, otherwise start -> received
    d_end = np.where(got, received, end)
    d_keep = ~got | (received > start)
    parts.append((d_keep, "download", start, d_end))
    # compute: received -> computed, or -> end if stopped while computing
    parts.append((got, "compute", received, np.where(done, computed, end)))
    # upload: computed -> end
    parts.append((done & (end > computed), "upload", computed, end))
    frames = []
    for keep, phase, a, b in parts:
        idx = np.flatnonzero(keep)
        frames.append(
            pd.DataFrame(
                {
                    "worker": t["worker"].to_numpy()[idx],
                    "task": t["task"].to_numpy()[idx],
                    "phase": phase,
                    "start": a[idx],
                    "end": b[idx],
                    "outcome": t["outcome"].to_numpy()[idx],
                    "version": t["version"].to_numpy()[idx],
                    "used_by": t["used_by"].to_numpy()[idx],
                }
            )
        )
    seg = pd.concat(frames, ignore_index=True)
    seg["_order"] = seg["phase"].map({p: i for i, p in enumerate(PHASES)})
    seg = seg.sort_values(["worker", "start", "task", "_order"], kind="stable")
    seg = seg.drop(columns="_order").reset_index(drop=True)
    if t_max is not None:
        seg = seg[seg["start"] < t_max].copy()
        seg["end"] = seg["end"].clip(upper=t_max)
        seg = seg.reset_index(drop=True)
    return seg[list(TIMELINE_COLUMNS)]


def update_times(result: RunResult, t_max: float | None = None) -> np.ndarray:
    """Times of the master's updates (update 0, the start, excluded), up to ``t_max``."""
    u = result.updates
    times = u.loc[u["update"] > 0, "time"].to_numpy(dtype=float)
    return times if t_max is None else times[times <= t_max]


def timeline_window(results: Mapping[str, RunResult], updates: int = 30) -> float:
    """A time window that shows the start of every run well: the median over runs of the time of
    update ``updates`` (or of a run's last update if it made fewer)."""
    times = []
    for res in results.values():
        t = update_times(res)
        if t.size:
            times.append(float(t[min(updates, t.size) - 1]))
        else:
            times.append(float(res.tasks["end"].max()) if len(res.tasks) else 0.0)
    window = float(np.median(times)) if times else 0.0
    return window if window > 0 else 1.0


# --------------------------------------------------------------------------- time between updates


def update_intervals(result: RunResult | Sequence[RunResult]) -> np.ndarray:
    """Simulated time between successive updates (the first from time 0 to update 1); several
    runs (seeds) are pooled."""
    runs = [result] if isinstance(result, RunResult) else list(result)
    gaps = [np.diff(r.updates["time"].to_numpy(dtype=float)) for r in runs]
    return np.concatenate(gaps) if gaps else np.empty(0)


def _as_float(value: Any) -> float:
    return float(value)  # accepts "inf" as saved in configs


def _no_network_cost(cluster: Mapping[str, Any]) -> bool:
    net = cluster.get("network", {})
    return (
        _as_float(net.get("latency", 0.0)) == 0.0
        and math.isinf(_as_float(net.get("bandwidth", "inf")))
        and _as_float(net.get("loss", 0.0)) == 0.0
    )


def _homogeneous(cluster: Mapping[str, Any]) -> bool:
    slow = [float(s) for s in cluster.get("slowdown", [])]
    strag = cluster.get("stragglers", {}) or {}
    return (
        all(s == 1.0 for s in slow)
        and (not strag.get("workers") or float(strag.get("factor", 1.0)) == 1.0)
        and not cluster.get("failures")
        and not cluster.get("failure_process")
    )


def _task_units(
    source: RunResult | Mapping[str, Any],
    rule: type[Scheme] | None,
    entry: Mapping[str, Any],
    n: int,
) -> list[float]:
    """Work units of each worker's tasks: from the tasks table of a result, else what ``rule``
    charges under the scenario's cost model (one unit if the rule is unknown)."""
    if isinstance(source, RunResult) and len(source.tasks):
        per = source.tasks.groupby("worker")["units"].first()
        return [float(per.get(w, math.nan)) for w in range(n)]
    cost = scenario_config(source).get("cluster", {}).get("cost", "work")
    return [1.0] * n if rule is None else rule.task_units(entry, n, cost)


def interval_theory(
    source: RunResult | Mapping[str, Any],
    *,
    label: str | None = None,
    base_dir: str | Path | None = None,
) -> IntervalTheory | None:
    """The theory of the time between updates for one run, or None when none applies.

    ``source`` is a :class:`~lwpdsim.results.RunResult` or its ``config`` (``{"scheme": label,
    "scenario": {...}}``); ``label`` picks a scheme when ``source`` is a bare scenario dict.
    Theory needs i.i.d. compute times: one latency model for every worker drawn independently (no
    latency groups, Markov modulation or replayed trace), no network cost (no latency, infinite
    bandwidth, no loss),
    no slowdown, stragglers or failures, no coding work charged (``cluster.master_flops`` infinite,
    ``cluster.charge_encoding`` false), and equal work units on every worker. A task then computes
    for ``f * X``, with f its share of a full gradient (``units / n``) under ``cluster.latency_per
    = "gradient"`` and its work units under ``"unit"`` (the meaning of a saved configuration
    without the key). The rule says what the theory is
    (:meth:`Scheme.interval_theory <lwpdsim.schemes.base.Scheme.interval_theory>`):

    - sync, ksync(K), gc(s): ``f * X_(j:n)`` with j = n, K, n - s;
    - kasync(K) with exponential compute times: ``f * X_(K:n)`` (memorylessness);
    - kbatchasync(K): only the long-run mean ``K * f * E[X] / n``;
    - lwpd with the backproject decoder (or lstsq with update_every = 1): only the mean
      ``update_every * f * E[X] / n``.

    ``base_dir`` resolves a relative trace file of an empirical latency model.
    """
    return theory_or_reason(source, label=label, base_dir=base_dir)[0]


def theory_or_reason(
    source: RunResult | Mapping[str, Any],
    *,
    label: str | None = None,
    base_dir: str | Path | None = None,
) -> tuple[IntervalTheory | None, str]:
    """:func:`interval_theory` and, when there is none, a few words saying why."""
    config = source.config if isinstance(source, RunResult) else source
    scenario = scenario_config(source)
    label = label or config.get("scheme")
    entry = next((e for e in scenario.get("schemes", []) if e.get("label") == label), None)
    cluster = scenario.get("cluster", {})
    if entry is None or not cluster:
        return None, "no scenario recorded"
    if not _no_network_cost(cluster):
        return None, "network cost"
    if not _homogeneous(cluster):
        return None, "slowdown, stragglers or failures"
    if _as_float(cluster.get("master_flops", "inf")) < math.inf or cluster.get("charge_encoding"):
        return None, "coding work charged"  # the formulas leave out decoding and encoding time
    n = int(cluster["workers"])
    rule = loaded_rule(str(entry["name"]))
    units_all = _task_units(source, rule, entry, n)
    if not units_all or any(u != units_all[0] for u in units_all):
        return None, "unequal task sizes"
    latency_per = str(cluster.get("latency_per", SAVED_LATENCY_PER))
    share = task_share(float(units_all[0]), latency_per, n)
    try:
        model = from_spec(cluster["latency"], base_dir=Path(base_dir) if base_dir else None)
    except (ScenarioError, OSError):
        return None, "latency trace not found"
    if model.not_iid:  # the oracles assume i.i.d. workers
        return None, model.not_iid
    if rule is None:
        return None, f"no theory for {entry['name']}"
    theory = rule.interval_theory(entry, n, model, share)
    return (theory, "") if isinstance(theory, IntervalTheory) else (None, theory)


def interval_summary(
    results: Mapping[str, RunResult], *, base_dir: str | Path | None = None
) -> pd.DataFrame:
    """Per rule: number and mean of the intervals between updates, the theoretical mean and
    formula where one exists, and the Kolmogorov-Smirnov p-value against a continuous theoretical
    distribution (NaN otherwise)."""
    rows = {}
    for label, res in results.items():
        gaps = update_intervals(res)
        th, why = theory_or_reason(res, base_dir=base_dir)
        p = math.nan
        if th is not None and th.continuous and gaps.size >= 5:
            p = float(stats.kstest(gaps, th.cdf).pvalue)
        rows[label] = {
            "intervals": int(gaps.size),
            "mean": float(gaps.mean()) if gaps.size else math.nan,
            "theory_mean": th.mean if th else math.nan,
            "theory": th.description if th else f"none: {why}",
            "ks_pvalue": p,
        }
    table = pd.DataFrame.from_dict(rows, orient="index")
    table.index.name = "scheme"
    return table


# --------------------------------------------------------------------------- reading a run


def load_results_dir(directory: str | Path) -> dict[str, RunResult]:
    """The runs of a directory written by ``lwpdsim run`` (``summary.csv`` and one folder per rule),
    in the summary's order. Each rule's folder is the one whose ``manifest.json`` names that rule
    (its :func:`~lwpdsim.results.safe_name` first), so a rule is never shown with another's
    numbers. Raises :class:`~lwpdsim.errors.ScenarioError` naming the directory and the damaged
    file if it is not such a directory."""
    d = Path(directory)
    allowed = "a results directory written by 'lwpdsim run' (summary.csv and one folder per rule)"
    summary = d / "summary.csv"
    check_results_folder(d, "RESULTS_DIR")
    if not d.is_dir() or not summary.is_file():
        raise ScenarioError("RESULTS_DIR", str(d), allowed)
    try:  # labels are text, whatever they look like ("NA", "None", "nan", "1e3")
        table = pd.read_csv(summary, usecols=[0], dtype=str, keep_default_na=False)
        labels = table.iloc[:, 0].tolist()
    except (OSError, ValueError, pd.errors.ParserError, pd.errors.EmptyDataError):
        raise ScenarioError("RESULTS_DIR", str(d), allowed + f"; {summary} is unreadable") from None
    if len(set(labels)) != len(labels):
        raise ScenarioError("RESULTS_DIR", str(d), allowed + f"; {summary} repeats a rule")
    out = {}
    others: dict[str, RunResult] | None = None
    for label in labels:
        result = _load_rule(d / safe_name(label))
        if result is None or result.label != label:
            if others is None:
                others = _rule_folders(d)
            result = others.get(label)
        if result is None:
            raise ScenarioError(
                "RESULTS_DIR",
                str(d),
                f"{allowed}; no folder of it has a manifest.json of the rule {label!r}",
            )
        out[label] = result
    if not out:
        raise ScenarioError("RESULTS_DIR", str(d), allowed + "; summary.csv lists no rule")
    return out


def _load_rule(folder: Path) -> RunResult | None:
    """The run saved in ``folder``; None if there is none, an error if it is unreadable."""
    if not (folder / "manifest.json").is_file():
        return None
    try:
        check_manifest(folder)
        return check_tables(RunResult.load(folder), folder)
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as err:
        raise ScenarioError(
            "RESULTS_DIR", str(folder.parent), f"readable rule folders; {folder} is not: {err}"
        ) from None


def _rule_folders(d: Path) -> dict[str, RunResult]:
    """Every rule folder of ``d`` by the label its manifest names (folders of older versions
    were named differently); a label named by two folders is an error."""
    found: dict[str, RunResult] = {}
    for sub in sorted(p for p in d.iterdir() if p.is_dir()):
        result = _load_rule(sub)
        if result is None or not isinstance(result.label, str):
            continue
        if result.label in found:
            raise ScenarioError(
                "RESULTS_DIR", str(d), f"one folder per rule; two hold {result.label!r}"
            )
        found[result.label] = result
    return found
