"""Reference figures: ``lwpdsim figures`` runs figure specs and writes each figure with its data.

A figure spec is a TOML file (``scenarios/paper/``, ``scenarios/lecture/``) shaped like a sweep
file: a base scenario (a file or an inline ``[base]`` table), ``base_overrides``, and what to run.
Three kinds:

``compare`` (the default)
    Every rule of the base scenario, at every step size of one common grid ``lr_grid``, over
    ``seeds`` replicates (replicate r is ``simulate(scenario, run_index=r)``, so all rules and all
    step sizes of one replicate share their compute-time draws). Each rule's step size is chosen by
    the stated rule ``select``; the figures then show every rule at its own choice: the loss
    curves (mean over seeds, min-max band), the grid itself, and time and bytes until the loss
    first reaches ``target_loss`` with 95% t-intervals over seeds.
``timeline``
    One run (replicate 0) drawn as a Gantt chart of every worker over the first ``window`` seconds.
``intervals``
    The time between updates as the cluster grows (``workers``), against theory.

Every figure ``<name>_<figure>.png`` comes with ``<name>_<figure>.csv`` (the numbers it draws);
``<name>_runs.csv`` holds one row per (rule, step size, seed) run, ``<name>.json`` records the
resolved spec and scenario, and ``README.md`` indexes every figure in the folder. Runs go through
:func:`lwpdsim.sweep.execute_sweep`, so a spec's grid is validated like a sweep's before anything
runs and the numbers do not depend on the executor.
"""

from __future__ import annotations

import itertools
import json
import math
import multiprocessing
import os
import re
import sys
import tempfile
import time
from collections.abc import Iterator, Mapping, Sequence
from concurrent.futures import Executor, ProcessPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import matplotlib as mpl
import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.ticker import FuncFormatter, NullFormatter
from scipy import stats

from .analysis import data, plots
from .errors import LwpdsimError, ScenarioError
from .latency import from_spec
from .results import RunResult, json_ready, versions
from .scenario import Scenario, load_scenario, read_toml
from .sim import simulate
from .sweep import (
    SweepPlan,
    cpu_count,
    execute_sweep,
    load_run,
    load_sweep,
    plan_sweep,
    run_updates,
)
from .validation import as_bool, as_choice, as_float, as_int, as_list, as_str, check_keys

KINDS = ("compare", "timeline", "intervals")
#: Step-size selection rules: name -> what it does (quoted in the index).
SELECT_RULES = {
    "final_loss": (
        "the step size with the lowest mean final training loss over the seeds (a run that "
        "diverged or failed counts as +inf); ties go to the smaller step size"
    ),
}
CURVE_AXES = ("time", "update")
SPEC_KEYS = (
    "name",
    "kind",
    "title",
    "description",
    "fixed",
    "changed",
    "base",
    "base_overrides",
    "derived",
    "seeds",
    "lr_grid",
    "select",
    "target_loss",
    "curves",
    "split_lwpd",
    "window",
    "workers",
    "cdf_workers",
    "quick",
)
#: Keys that only some kinds accept.
KIND_KEYS = {
    "lr_grid": ("compare",),
    "select": ("compare",),
    "target_loss": ("compare",),
    "curves": ("compare",),
    "split_lwpd": ("compare",),
    "window": ("timeline",),
    "workers": ("intervals",),
    "cdf_workers": ("intervals",),
    "derived": ("intervals",),
}
QUICK_KEYS = ("seeds", "lr_grid", "base_overrides", "workers")
#: Where specs are looked for (relative to the working directory), in this order.
DEFAULT_SPEC_DIRS = (Path("scenarios") / "paper", Path("scenarios") / "lecture")
DEFAULT_OUT = Path("results") / "figures"
QUICK_OUT = Path("results") / "figures-quick"
MANIFEST_FORMAT = "lwpdsim-figure/1"
INDEX_NAME = "README.md"
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]*")
_FLOAT = "%.8g"


# --------------------------------------------------------------------------- the spec


@dataclass(frozen=True)
class FigureSpec:
    """A parsed, validated figure spec; :attr:`plan` holds every run it needs."""

    name: str
    kind: str
    title: str
    description: str
    fixed: str
    changed: str  # what was changed after a first look at results, and why
    source: str
    section: str  # the folder the spec lives in (paper, lecture, ...)
    seeds: int
    lr_grid: tuple[float, ...]
    select: str
    target_loss: float | None
    curves: tuple[str, ...]
    split_lwpd: bool
    window: float | None
    workers: tuple[int, ...]
    cdf_workers: int | None
    quick: bool
    plan: SweepPlan = field(repr=False, compare=False)
    order: int = 0  # position among all specs (the index lists them in this order)

    @property
    def scenario(self) -> Scenario:
        """The resolved scenario of the first grid point (for the record and the index)."""
        return self.plan.runs[0].scenario


def _path_text(path: Path) -> str:
    try:
        return str(path.resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(path)


def load_spec(path: str | Path, *, quick: bool = False) -> FigureSpec:
    """Read and validate a figure spec; ``quick`` applies its ``[quick]`` table (fewer seeds, a
    shorter grid, a shorter run). Raises :class:`ScenarioError` naming the file and the field."""
    path = Path(path)
    raw = read_toml(path)
    try:
        return _parse_spec(raw, path, quick)
    except ScenarioError as err:
        if err.source and err.source != str(path):
            allowed = f"{err.allowed} (in the base scenario {err.source})"
            raise ScenarioError(err.field, err.value, allowed, source=str(path)) from None
        raise err.with_source(str(path)) from None


def _number_list(value: Any, where: str, *, integer: bool = False) -> tuple[Any, ...]:
    items = as_list(value, where)
    if not items:
        raise ScenarioError(where, value, "a non-empty list of numbers")
    if integer:
        out: tuple[Any, ...] = tuple(as_int(v, f"{where}[{i}]", lo=1) for i, v in enumerate(items))
    else:
        out = tuple(as_float(v, f"{where}[{i}]", lo=0.0, lo_open=True) for i, v in enumerate(items))
    if any(b <= a for a, b in itertools.pairwise(out)):
        raise ScenarioError(where, value, "numbers in increasing order, each once")
    return out


def _parse_spec(raw: Mapping[str, Any], path: Path, quick: bool) -> FigureSpec:
    check_keys(raw, SPEC_KEYS, "")
    name = as_str(raw.get("name", path.stem), "name")
    if not _NAME.fullmatch(name):
        raise ScenarioError("name", name, "letters, digits, '_' and '-' (used in file names)")
    kind = as_choice(raw.get("kind", "compare"), "kind", KINDS)
    for key, kinds in KIND_KEYS.items():
        if key in raw and kind not in kinds:
            raise ScenarioError(key, raw[key], f"only for kind = {' or '.join(kinds)}")
    if "title" not in raw:
        raise ScenarioError("title", None, "this key is required: a short title for the figures")
    title = as_str(raw["title"], "title")
    description = as_str(raw.get("description", ""), "description")
    fixed = as_str(raw.get("fixed", ""), "fixed")
    changed = as_str(raw.get("changed", ""), "changed")
    table = dict(raw)
    q = check_keys(raw.get("quick", {}), QUICK_KEYS, "quick")
    if quick:
        for key, value in q.items():
            if key == "base_overrides":
                if not isinstance(value, Mapping):
                    raise ScenarioError(
                        "quick.base_overrides", value, "a table of KEY = value pairs"
                    )
                base_overrides = raw.get("base_overrides", {})
                if not isinstance(base_overrides, Mapping):
                    raise ScenarioError(
                        "base_overrides", base_overrides, "a table of KEY = value pairs"
                    )
                table["base_overrides"] = {**base_overrides, **value}  # the quick values win
            else:
                table[key] = value
        if "seeds" not in q and kind == "compare":
            table["seeds"] = 2
    seeds = as_int(table.get("seeds", 1), "seeds", lo=2 if kind == "compare" else 1)
    if kind == "timeline" and seeds != 1:
        raise ScenarioError("seeds", seeds, "1: a timeline shows one run")
    lr_grid: tuple[float, ...] = ()
    if kind == "compare":
        if "lr_grid" not in table:
            raise ScenarioError(
                "lr_grid", None, "this key is required: the common step-size grid, e.g. [0.1, 0.5]"
            )
        lr_grid = _number_list(table["lr_grid"], "lr_grid")
    select = as_choice(table.get("select", "final_loss"), "select", SELECT_RULES)
    target = table.get("target_loss")
    target_loss = None if target is None else as_float(target, "target_loss")
    curves = tuple(
        as_choice(c, f"curves[{i}]", CURVE_AXES)
        for i, c in enumerate(as_list(table.get("curves", ["time"]), "curves"))
    )
    if kind == "compare" and not curves:
        raise ScenarioError("curves", [], f"a non-empty list of {', '.join(CURVE_AXES)}")
    split_lwpd = as_bool(table.get("split_lwpd", True), "split_lwpd")
    window = table.get("window")
    window = None if window is None else as_float(window, "window", lo=0.0, lo_open=True)
    workers: tuple[int, ...] = ()
    cdf_workers = None
    if kind == "intervals":
        if "workers" not in table:
            raise ScenarioError("workers", None, "this key is required: e.g. [2, 4, 8, 16]")
        workers = _number_list(table["workers"], "workers", integer=True)
        cdf_workers = as_int(table.get("cdf_workers", workers[len(workers) // 2]), "cdf_workers")
        if cdf_workers not in workers:
            raise ScenarioError("cdf_workers", cdf_workers, f"one of workers = {list(workers)}")
    plan = _plan(table, name, kind, path, seeds, lr_grid, workers)
    if kind == "compare":
        for task in plan.runs:
            if task.scenario.train.target_loss is not None:
                raise ScenarioError(
                    "base.train.target_loss",
                    task.scenario.train.target_loss,
                    "unset: runs go on to the end of the time budget; give the figure's target "
                    "as target_loss at the top of the spec",
                )
    return FigureSpec(
        name=name,
        kind=kind,
        title=title,
        description=description,
        fixed=fixed,
        changed=changed,
        source=_path_text(path),
        section=path.resolve().parent.name,
        seeds=seeds,
        lr_grid=lr_grid,
        select=select,
        target_loss=target_loss,
        curves=curves,
        split_lwpd=split_lwpd,
        window=window,
        workers=workers,
        cdf_workers=cdf_workers,
        quick=quick,
        plan=plan,
    )


def _plan(
    table: Mapping[str, Any],
    name: str,
    kind: str,
    path: Path,
    seeds: int,
    lr_grid: Sequence[float],
    workers: Sequence[int],
) -> SweepPlan:
    """The runs of a spec, as a sweep over the step-size grid (or the cluster sizes)."""
    if "base" not in table:
        raise ScenarioError(
            "base", None, "this key is required: a scenario file or an inline [base] table"
        )
    base = table["base"]
    if isinstance(base, Mapping):
        base = _absolute_dataset(base, path.resolve().parent)
    else:
        text = as_str(base, "base")
        file = (path.resolve().parent / text).resolve()
        if not file.is_file():
            raise ScenarioError("base", text, f"an existing scenario file; {file} is not one")
        base = str(file)
    sweep: dict[str, Any] = {
        "name": name,
        "base": base,
        "replicates": seeds,
        "base_overrides": table.get("base_overrides", {}),
    }
    if kind == "compare":
        sweep["factors"] = {"scheme.lr": list(lr_grid)}
    elif kind == "intervals":
        sweep["factors"] = {"cluster.workers": list(workers)}
        sweep["derived"] = table.get("derived", {})
    parsed = load_sweep(sweep)
    base_scenario = (
        {"name": name, **parsed.base} if isinstance(parsed.base, Mapping) else parsed.base
    )
    load_scenario(base_scenario, overrides=list(parsed.base_overrides))  # one error, field named
    return plan_sweep(parsed)


def _absolute_dataset(base: Mapping[str, Any], folder: Path) -> dict[str, Any]:
    """An inline base whose relative dataset file is made absolute (relative to the spec)."""
    base = dict(base)
    model = base.get("model")
    if isinstance(model, Mapping):
        dataset = model.get("dataset")
        if (
            isinstance(dataset, str)
            and dataset.endswith((".npz", ".csv"))
            and not Path(dataset).is_absolute()
        ):
            path = (folder / dataset).resolve()
            if path.name == NOISY_DIGITS.name and not path.exists():
                noisy_digits(path)  # generated on demand (deterministic), never committed
            base["model"] = {**model, "dataset": str(path)}
    return base


def find_specs(paths: Sequence[str | Path] | None = None) -> list[Path]:
    """Spec files: the given files, and the ``*.toml`` files of the given folders (default
    :data:`DEFAULT_SPEC_DIRS`), in order."""
    given = [Path(p) for p in paths] if paths else [d for d in DEFAULT_SPEC_DIRS if d.is_dir()]
    if not given:
        raise ScenarioError(
            "--specs",
            None,
            "folders of figure specs; none of "
            + ", ".join(str(d) for d in DEFAULT_SPEC_DIRS)
            + " exists here (run from the repository root, or pass --specs)",
        )
    files: list[Path] = []
    for p in given:
        if p.is_dir():
            files += sorted(p.glob("*.toml"))
        elif p.is_file():
            files.append(p)
        else:
            raise ScenarioError("--specs", str(p), "an existing spec file or folder of specs")
    return files


#: The paper and lecture specs' dataset: digits with a tenth of the labels redrawn (see
#: :func:`noisy_digits`), written next to the specs the first time a spec needs it (not in git).
NOISY_DIGITS = Path("scenarios") / "paper" / "digits_noisy.npz"


def noisy_digits(
    path: str | Path = NOISY_DIGITS, *, fraction: float = 0.1, seed: int = 20220717
) -> Path:
    """Write scikit-learn's digits with each label, with probability ``fraction``, replaced by a
    uniformly drawn class (possibly the same one) to ``path`` (arrays ``X``, ``y``, as uint8).

    The clean digits are linearly separable, so the training loss of an exact-gradient rule keeps
    falling as the step size grows and no step-size grid brackets the best choice; the redrawn
    labels give the loss a finite minimum and the step size a finite optimum."""
    from sklearn.datasets import load_digits

    digits = load_digits()
    rng = np.random.default_rng(seed)
    y = digits.target.copy()
    redraw = rng.random(y.size) < fraction
    y[redraw] = rng.integers(0, 10, int(redraw.sum()))
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(path, X=digits.data.astype(np.uint8), y=y.astype(np.uint8))
    return path


# --------------------------------------------------------------------------- running


@contextmanager
def _pool(jobs: int) -> Iterator[Executor | None]:
    """One process pool for all specs (None: run in this process)."""
    if jobs <= 1:
        yield None
        return
    methods = multiprocessing.get_all_start_methods()
    ctx = multiprocessing.get_context("forkserver" if "forkserver" in methods else None)
    if "forkserver" in methods:
        ctx.set_forkserver_preload(["lwpdsim.sweep"])
    pool = ProcessPoolExecutor(max_workers=jobs, mp_context=ctx)
    try:
        yield pool
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


def _as_result(record: Mapping[str, Any], label: str) -> RunResult:
    """A run record's scheme as a :class:`RunResult` (no tasks table)."""
    summary = next(s["summary"] for s in record["schemes"] if s["label"] == label)
    config = {"scheme": label, "scenario": record["scenario"]}
    return RunResult(label, run_updates(record, label), pd.DataFrame(), dict(summary), config)


@dataclass
class SpecRuns:
    """The runs of one spec: ``runs[(factor value, replicate)][label]``."""

    spec: FigureSpec
    runs: dict[tuple[Any, int], dict[str, RunResult]]
    labels: list[str]
    problems: list[str]


def run_spec(spec: FigureSpec, pool: Executor | None = None, *, progress: bool = False) -> SpecRuns:
    """Run every simulation a spec needs (through ``pool`` if given)."""
    labels = [s.label for s in spec.scenario.schemes]
    problems: list[str] = []
    runs: dict[tuple[Any, int], dict[str, RunResult]] = {}
    if spec.kind == "timeline":
        results = simulate(spec.scenario, run_index=0)
        runs[(None, 0)] = results
        labels = list(results)
    else:
        factor = "scheme.lr" if spec.kind == "compare" else "cluster.workers"
        with tempfile.TemporaryDirectory(prefix="lwpdsim-figures-") as tmp:
            out = Path(tmp) / spec.name
            execute_sweep(
                spec.plan,
                executor=pool if pool is not None else "serial",
                out=out,
                plots=False,
                progress=progress,
            )
            for task in spec.plan.runs:
                record = load_run(out / "runs" / f"{task.run_id}.json")
                key = (task.factors[factor], task.replicate)
                if record["status"] != "ok":
                    problems.append(
                        f"{spec.name}: run {factor}={key[0]}, seed {key[1]} failed: {record['error']}"
                    )
                    continue
                runs[key] = {s["label"]: _as_result(record, s["label"]) for s in record["schemes"]}
    for (value, seed), results in runs.items():
        for label, res in results.items():
            if res.status == "error":
                what = f"lr={value}, " if spec.kind == "compare" else ""
                problems.append(
                    f"{spec.name}: {label} ({what}seed {seed}) stopped with an error: "
                    f"{res.summary.get('message')}"
                )
    return SpecRuns(spec, runs, labels, problems)


# --------------------------------------------------------------------------- numbers


def _t_interval(values: Sequence[float], level: float = 0.95) -> tuple[float, float, float]:
    """Mean and two-sided t-interval of ``values`` (NaN bounds for fewer than two)."""
    x = np.asarray([v for v in values if math.isfinite(v)], dtype=float)
    if x.size == 0:
        return math.nan, math.nan, math.nan
    mean = float(x.mean())
    if x.size < 2:
        return mean, math.nan, math.nan
    half = float(stats.t.ppf(0.5 + level / 2, x.size - 1) * x.std(ddof=1) / math.sqrt(x.size))
    return mean, mean - half, mean + half


def final_loss(res: RunResult) -> float:
    """The run's final training loss, +inf if it diverged or stopped with an error."""
    value = float(res.summary.get("final_loss", math.nan))
    if res.status in ("diverged", "error") or not math.isfinite(value):
        return math.inf
    return value


def _staleness(res: RunResult) -> float:
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
                    "wasted_tasks": wasted / tasks,
                }
            )
    return pd.DataFrame(rows)


def lr_grid_table(runs: pd.DataFrame, spec: FigureSpec) -> pd.DataFrame:
    """Per rule and step size: the mean, lowest and highest final loss over seeds, how many runs
    diverged or failed, and whether the selection rule chose this step size."""
    rows = []
    for label in runs["scheme"].unique():
        sub = runs[runs["scheme"] == label]
        best_lr, best = None, math.inf
        block = []
        for lr in spec.lr_grid:
            vals = sub.loc[sub["lr"] == lr, "final_loss"].to_numpy(dtype=float)
            mean = float(vals.mean()) if vals.size else math.nan
            block.append(
                {
                    "scheme": label,
                    "rule": sub["rule"].iloc[0],
                    "lr": lr,
                    "seeds": int(vals.size),
                    "not_finite": int((~np.isfinite(vals)).sum()),
                    "mean_final_loss": mean,
                    "lo": float(vals.min()) if vals.size else math.nan,
                    "hi": float(vals.max()) if vals.size else math.nan,
                }
            )
            if best_lr is None or mean < best:  # ascending grid: ties keep the smaller lr
                best_lr, best = lr, mean
        for row in block:
            row["chosen"] = row["lr"] == best_lr
        rows += block
    return pd.DataFrame(rows)


def chosen_lr(grid: pd.DataFrame) -> dict[str, float]:
    """Each rule's chosen step size from a :func:`lr_grid_table`."""
    picked = grid[grid["chosen"]]
    return dict(zip(picked["scheme"], picked["lr"].astype(float), strict=True))


def _chosen_runs(sr: SpecRuns, lrs: Mapping[str, float]) -> dict[str, list[RunResult]]:
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


def summary_table(runs: pd.DataFrame, lrs: Mapping[str, float]) -> pd.DataFrame:
    """Per rule at its chosen step size: final loss (mean, min, max), time and bytes to the target
    (mean and 95% t-interval over the seeds that reached it), and per-update averages."""
    rows = []
    for label, lr in lrs.items():
        sub = runs[(runs["scheme"] == label) & (runs["lr"] == lr)]
        fl = sub["final_loss"].to_numpy(dtype=float)
        t_mean, t_lo, t_hi = _t_interval(sub["time_to_target"].tolist())
        b_mean, b_lo, b_hi = _t_interval(sub["bytes_to_target"].tolist())
        rows.append(
            {
                "scheme": label,
                "rule": sub["rule"].iloc[0],
                "lr": lr,
                "seeds": len(sub),
                "final_loss_mean": float(fl.mean()),
                "final_loss_lo": float(fl.min()),
                "final_loss_hi": float(fl.max()),
                "reached": int(np.isfinite(sub["time_to_target"].to_numpy(dtype=float)).sum()),
                "time_to_target_mean": t_mean,
                "time_to_target_lo95": t_lo,
                "time_to_target_hi95": t_hi,
                "bytes_to_target_mean": b_mean,
                "bytes_to_target_lo95": b_lo,
                "bytes_to_target_hi95": b_hi,
                "updates_mean": float(sub["updates"].mean()),
                "time_per_update_mean": float(sub["time_per_update"].mean()),
                "bytes_per_update_mean": float(sub["bytes_per_update"].mean()),
                "staleness_mean": float(sub["staleness"].mean()),
                "wasted_tasks_mean": float(sub["wasted_tasks"].mean()),
            }
        )
    return pd.DataFrame(rows)


def curves_table(sr: SpecRuns, lrs: Mapping[str, float], x: str) -> pd.DataFrame:
    """Loss against ``x`` for each rule at its chosen step size: mean, min and max over seeds."""
    chosen = _chosen_runs(sr, lrs)
    table = data.loss_curves(chosen, x)
    table.insert(1, "lr", table["scheme"].map(lrs))
    return table


def interval_tables(sr: SpecRuns) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The mean time between updates per rule and cluster size (95% t-interval, theory), and the
    distribution of the gaps at ``cdf_workers`` (empirical and theoretical CDF on one grid)."""
    spec = sr.spec
    rows = []
    at_cdf: list[tuple[str, RunResult, np.ndarray]] = []
    for position, label in enumerate(sr.labels):
        for n in spec.workers:
            runs = [
                list(sr.runs[(n, r)].values())[position]
                for r in range(spec.seeds)
                if (n, r) in sr.runs
            ]
            if not runs:
                continue
            gaps = data.update_intervals(runs)
            mean, lo, hi = _t_interval(gaps.tolist())
            theory = data.interval_theory(runs[0])
            model = from_spec(data.scenario_config(runs[0])["cluster"]["latency"])
            rows.append(
                {
                    "scheme": label,
                    "label": runs[0].label,
                    "workers": n,
                    "gaps": int(gaps.size),
                    "mean": mean,
                    "lo95": lo,
                    "hi95": hi,
                    "theory_mean": theory.mean if theory else math.nan,
                    "theory": theory.description if theory else "",
                    "compute_mean": float(model.mean),
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


# --------------------------------------------------------------------------- drawing


def _figure(width: float, height: float) -> Figure:
    return Figure(figsize=(width, height), layout="constrained")


def _save(fig: Figure, path: Path) -> None:
    with mpl.rc_context(plots.STYLE):
        fig.savefig(path, dpi=plots.DPI, metadata={"Software": None})


def _two_five(value: float, _pos: Any = None) -> str:
    """A label for minor log ticks at 2 and 5 times a power of ten only."""
    if value <= 0:
        return ""
    mantissa = value / 10 ** math.floor(math.log10(value))
    return f"{value:g}" if min(abs(mantissa - 2), abs(mantissa - 5)) < 1e-6 else ""


def _log_axis(ax: Any, which: str = "y") -> None:
    """A log axis with plain labels: every minor tick labelled over a short range, only 2 and 5
    over a longer one, none beyond three decades."""
    plain = FuncFormatter(lambda v, _: f"{v:g}")
    axis = ax.yaxis if which == "y" else ax.xaxis
    (ax.set_yscale if which == "y" else ax.set_xscale)("log")
    axis.set_major_formatter(plain)
    lo, hi = ax.get_ylim() if which == "y" else ax.get_xlim()
    ratio = hi / lo if lo > 0 else math.inf
    if ratio < 12:
        axis.set_minor_formatter(plain)
    elif ratio < 1000:
        axis.set_minor_formatter(FuncFormatter(_two_five))
    else:
        axis.set_minor_formatter(NullFormatter())


def _colors(sr: SpecRuns) -> dict[str, Any]:
    first = next(iter(sr.runs.values()))
    return plots.scheme_colors({label: first[label] for label in sr.labels if label in first})


def _panels(sr: SpecRuns) -> list[list[str]]:
    """Labels per panel: one panel per LWPD label (with every other rule) when the spec splits
    them, else one panel of everything."""
    first = next(iter(sr.runs.values()))
    lwpd = [lb for lb in sr.labels if data.rule_name(first[lb]) == "lwpd"]
    if not sr.spec.split_lwpd or len(lwpd) < 2:
        return [list(sr.labels)]
    others = [lb for lb in sr.labels if lb not in lwpd]
    return [[*others, lb] for lb in lwpd]


def draw_curves(sr: SpecRuns, curves: pd.DataFrame, x: str, path: Path) -> None:
    """Loss curves (mean and min-max band over seeds), LWPD decoders side by side."""
    spec = sr.spec
    colors = _colors(sr)
    panels = _panels(sr)
    with mpl.rc_context(plots.STYLE):
        fig = _figure(4.3 * len(panels) + 2.6 if len(panels) > 1 else 8.6, 4.6)
        axes = fig.subplots(1, len(panels), sharex=True, sharey=True, squeeze=False)[0]
        for ax, labels in zip(axes, panels, strict=True):
            for label in labels:
                c = curves[curves["scheme"] == label]
                if c.empty:
                    continue
                style = "steps-post" if x == "time" else "default"
                lr = float(c["lr"].iloc[0])
                lwpd_here = len(panels) > 1 and label == labels[-1]
                ax.plot(
                    c["x"],
                    c["mean"],
                    color=colors[label],
                    lw=2.2 if lwpd_here else 1.5,
                    drawstyle=style,
                    label=f"{label}, lr {lr:g}",
                )
                ax.fill_between(
                    c["x"],
                    c["lo"],
                    c["hi"],
                    color=colors[label],
                    alpha=0.16,
                    lw=0,
                    step="post" if style == "steps-post" else None,
                )
            if spec.target_loss is not None:
                ax.axhline(spec.target_loss, color="0.35", ls=":", lw=1.2)
            if len(panels) > 1:
                ax.set_title(labels[-1], loc="left", fontweight="bold", fontsize=11)
            ax.set_xlabel(plots.TIME_LABEL if x == "time" else "updates (steps of the master)")
            ax.set_xlim(left=0)
            ax.grid(True, which="both", alpha=0.3)
        if (curves["lo"] > 0).all():
            _log_axis(axes[0])
        axes[0].set_ylabel("training loss")
        handles: dict[str, Any] = {}
        for ax in axes:
            for h, lb in zip(*ax.get_legend_handles_labels(), strict=True):
                handles.setdefault(lb, h)
        if spec.target_loss is not None:
            handles[f"target {spec.target_loss:g}"] = Line2D([], [], color="0.35", ls=":")
        fig.legend(
            list(handles.values()),
            list(handles),
            loc="outside right center" if len(panels) > 1 else "outside right upper",
            frameon=False,
            title=f"mean of {spec.seeds} seeds\nband: min-max",
        )
        vs = "simulated time" if x == "time" else "updates"
        heading = f"{spec.title}: training loss vs {vs}"
        if len(panels) > 1:
            fig.suptitle(heading)
        else:
            axes[0].set_title(heading)
    _save(fig, path)


def draw_lr_grid(sr: SpecRuns, grid: pd.DataFrame, path: Path) -> None:
    """Mean final loss for every step size of the grid; the chosen one ringed."""
    spec = sr.spec
    colors = _colors(sr)
    finite = grid["hi"].to_numpy(dtype=float)
    finite = finite[np.isfinite(finite)]
    top = float(finite.max()) * 1.6 if finite.size else 10.0
    with mpl.rc_context(plots.STYLE):
        fig = _figure(8.6, 4.6)
        ax = fig.add_subplot()
        n = len(sr.labels)
        for i, label in enumerate(sr.labels):
            g = grid[grid["scheme"] == label]
            if g.empty:
                continue
            shift = 1.0 + 0.035 * (i - (n - 1) / 2)  # spread the rules a little along x
            lr = g["lr"].to_numpy(dtype=float) * shift
            mean = g["mean_final_loss"].to_numpy(dtype=float)
            lo, hi = g["lo"].to_numpy(dtype=float), g["hi"].to_numpy(dtype=float)
            ok = np.isfinite(mean)
            c = colors[label]
            ax.plot(lr[ok], mean[ok], "-o", color=c, ms=4, lw=1.3, label=label)
            hi_shown = np.where(np.isfinite(hi), hi, top)
            ax.vlines(lr[ok], lo[ok], hi_shown[ok], color=c, lw=1.0, alpha=0.6)
            if (~ok).any():
                ax.plot(lr[~ok], np.full((~ok).sum(), top), "x", color=c, ms=7, mew=1.8)
            pick = g["chosen"].to_numpy(dtype=bool) & ok
            ax.plot(lr[pick], mean[pick], "o", ms=13, mfc="none", mec=c, mew=2.0)
        ax.set_xscale("log")
        ax.set_xticks(list(spec.lr_grid), [f"{v:g}" for v in spec.lr_grid])
        ax.xaxis.set_minor_formatter(NullFormatter())
        ax.set_xticks([], minor=True)
        _log_axis(ax)
        ax.set_xlabel("step size (the common grid)")
        horizon = spec.scenario.train.max_time
        ax.set_ylabel(f"final training loss (t = {horizon:g})")
        ax.grid(True, which="both", alpha=0.3)
        handles, names = ax.get_legend_handles_labels()
        handles.append(Line2D([], [], ls="none", marker="o", ms=11, mfc="none", mec="0.3", mew=2))
        names.append("chosen: " + spec.select.replace("_", " "))
        if (grid["not_finite"] > 0).any():
            handles.append(Line2D([], [], ls="none", marker="x", color="0.3", ms=7, mew=1.8))
            names.append("diverged or failed (drawn at the top)")
        fig.legend(
            handles,
            names,
            loc="outside right upper",
            frameon=False,
            title=f"mean of {spec.seeds} seeds\nbar: min-max",
        )
        ax.set_title(f"{spec.title}: step-size grid")
    _save(fig, path)


def draw_to_target(sr: SpecRuns, summary: pd.DataFrame, path: Path) -> None:
    """Per rule: time and bytes until the target loss (95% t-interval) and the final loss."""
    spec = sr.spec
    colors = _colors(sr)
    labels = list(summary["scheme"])
    pos = np.arange(len(labels))[::-1]
    panels = [
        ("time_to_target", "simulated time to reach the target", 1.0, ""),
        ("bytes_to_target", "traffic to reach the target", 1e6, " (MB)"),
        ("final_loss", f"final training loss (t = {spec.scenario.train.max_time:g})", 1.0, ""),
    ]
    with mpl.rc_context(plots.STYLE):
        fig = _figure(14.0, 0.55 * len(labels) + 2.2)
        axes = fig.subplots(1, 3, sharey=True)
        for ax, (key, heading, scale, unit) in zip(axes, panels, strict=True):
            if key == "final_loss":
                mid = summary["final_loss_mean"].to_numpy(dtype=float)
                lo = summary["final_loss_lo"].to_numpy(dtype=float)
                hi = summary["final_loss_hi"].to_numpy(dtype=float)
            else:
                mid = summary[f"{key}_mean"].to_numpy(dtype=float) / scale
                lo = summary[f"{key}_lo95"].to_numpy(dtype=float) / scale
                hi = summary[f"{key}_hi95"].to_numpy(dtype=float) / scale
            right = np.nanmax(np.concatenate([hi[np.isfinite(hi)], mid[np.isfinite(mid)], [0]]))
            for p, label, m, a, b in zip(pos, labels, mid, lo, hi, strict=True):
                c = colors[label]
                if not math.isfinite(m):
                    ax.text(
                        0.02,
                        p,
                        "not reached",
                        va="center",
                        color="0.4",
                        fontsize=9,
                        transform=ax.get_yaxis_transform(),
                    )
                    continue
                if math.isfinite(a) and math.isfinite(b):
                    ax.hlines(p, max(a, 0.0), b, color=c, lw=2.2, alpha=0.7)  # CSV: unclipped
                ax.plot([m], [p], "o", color=c, ms=7)
            if key != "final_loss":
                reached = summary["reached"].to_numpy()
                for p, m, r in zip(pos, mid, reached, strict=True):
                    if math.isfinite(m):
                        ax.text(
                            1.0,
                            p,
                            f"{r}/{spec.seeds}",
                            va="center",
                            ha="right",
                            fontsize=8.5,
                            color="0.35",
                            transform=ax.get_yaxis_transform(),
                        )
            ax.set_xlim(0, right * 1.12 if right > 0 else 1)
            ax.set_title(heading, fontsize=11)
            ax.set_xlabel(
                heading.split(" to ")[0].replace("simulated ", "") + unit
                if key != "final_loss"
                else "loss"
            )
            ax.grid(True, axis="x", alpha=0.3)
        axes[0].set_yticks(pos, labels)
        axes[0].set_ylim(-0.7, len(labels) - 0.3)
        target = spec.target_loss
        fig.suptitle(
            f"{spec.title}: reaching loss {target:g}\n"
            f"time and traffic: mean and 95% t-interval over the seeds that reached it (count at "
            f"the right); final loss: mean and min-max over {spec.seeds} seeds",
            fontsize=11,
        )
    _save(fig, path)


def draw_intervals(sr: SpecRuns, table: pd.DataFrame, path: Path) -> None:
    """Mean time between updates against the number of workers, with theory."""
    spec = sr.spec
    with mpl.rc_context(plots.STYLE):
        fig = _figure(8.6, 4.6)
        ax = fig.add_subplot()
        colors = _colors(sr)
        for label in sr.labels:
            color = colors[label]
            t = table[table["scheme"] == label]
            ax.errorbar(
                t["workers"],
                t["mean"],
                yerr=[t["mean"] - t["lo95"], t["hi95"] - t["mean"]],
                fmt="o",
                color=color,
                ms=6,
                capsize=3,
                label=f"{label}: simulated (95% CI)",
            )
            ax.plot(
                t["workers"], t["theory_mean"], "--", color=color, lw=1.2, label=f"{label}: theory"
            )
        compute = float(table["compute_mean"].iloc[0])
        ax.axhline(
            compute, color="0.3", ls=":", lw=1.2, label=f"one task's mean E[X] = {compute:g}"
        )
        ax.set_xscale("log", base=2)
        ax.set_xticks(list(spec.workers), [str(w) for w in spec.workers])
        ax.xaxis.set_minor_formatter(NullFormatter())
        ax.set_xlabel("workers n")
        ax.set_ylabel("mean time between updates")
        ax.set_ylim(bottom=0)
        ax.grid(True, alpha=0.3)
        handles, names = ax.get_legend_handles_labels()
        rank = {label: i for i, label in enumerate(sr.labels)}
        order = sorted(
            range(len(names)),
            key=lambda i: (rank.get(names[i].split(":")[0], len(rank)), "theory" in names[i]),
        )
        fig.legend(
            [handles[i] for i in order],
            [names[i] for i in order],
            loc="outside right upper",
            frameon=False,
        )
        ax.set_title(f"{spec.title}: time between updates")
    _save(fig, path)


def draw_cdf(sr: SpecRuns, table: pd.DataFrame, path: Path) -> None:
    """Distribution of the time between updates at ``cdf_workers`` against theory."""
    spec = sr.spec
    with mpl.rc_context(plots.STYLE):
        fig = _figure(8.6, 4.6)
        ax = fig.add_subplot()
        colors = _colors(sr)
        for label in sr.labels:
            t = table[table["scheme"] == label]
            color = colors[label]
            ax.plot(
                t["x"],
                t["empirical"],
                color=color,
                lw=1.8,
                drawstyle="steps-post",
                label=f"{t['label'].iloc[0]}: simulated",
            )
            if t["theory"].notna().any():
                ax.plot(t["x"], t["theory"], "--", color="black", lw=1.1)
        ax.plot([], [], "--", color="black", lw=1.1, label="theory (order statistic)")
        ax.set_xlabel("time between updates")
        ax.set_ylabel("P(time between updates ≤ x)")
        ax.set_ylim(0, 1.02)
        ax.set_xlim(left=0)
        ax.grid(True, alpha=0.3)
        fig.legend(loc="outside right upper", frameon=False)
        ax.set_title(f"{spec.title}: n = {spec.cdf_workers}")
    _save(fig, path)


# --------------------------------------------------------------------------- writing


@dataclass
class FigureFile:
    """One written figure: its PNG, its CSV files and a sentence for the index."""

    png: str
    csv: list[str]
    sentence: str


def _write_csv(table: pd.DataFrame, path: Path) -> str:
    table.to_csv(path, index=False, float_format=_FLOAT)
    return path.name


def _rules_text(labels: Sequence[str]) -> str:
    return ", ".join(labels[:-1]) + f" and {labels[-1]}" if len(labels) > 1 else labels[0]


def write_compare(sr: SpecRuns, out: Path) -> tuple[list[FigureFile], list[str], pd.DataFrame]:
    """Figures and CSVs of a compare spec; returns them, the extra files and the summary."""
    spec = sr.spec
    name = spec.name
    runs = runs_table(sr)
    extra = [_write_csv(runs, out / f"{name}_runs.csv")]
    grid = lr_grid_table(runs, spec)
    lrs = chosen_lr(grid)
    summary = summary_table(runs, lrs)
    files = []
    rules = _rules_text(sr.labels)
    seeds = f"{spec.seeds} seeds"
    for x in spec.curves:
        stem = f"{name}_loss_vs_{'time' if x == 'time' else 'updates'}"
        curves = curves_table(sr, lrs, x)
        draw_curves(sr, curves, x, out / f"{stem}.png")
        against = "simulated time" if x == "time" else "the number of updates"
        side = (
            "; the LWPD variants side by side, each panel with every other rule"
            if len(_panels(sr)) > 1
            else ""
        )
        files.append(
            FigureFile(
                f"{stem}.png",
                [_write_csv(curves, out / f"{stem}.csv")],
                f"Training loss against {against} for {rules}, each at its chosen step size: "
                f"mean of {seeds} with a min-max band{side}.",
            )
        )
    stem = f"{name}_lr_grid"
    draw_lr_grid(sr, grid, out / f"{stem}.png")
    grid_text = ", ".join(f"{v:g}" for v in spec.lr_grid)
    files.append(
        FigureFile(
            f"{stem}.png",
            [_write_csv(grid, out / f"{stem}.csv")],
            f"The common step-size grid ({grid_text}): mean final training loss of every rule at "
            f"every step size (bars: min-max over {seeds}); the ringed point is each rule's "
            "choice by the selection rule.",
        )
    )
    if spec.target_loss is not None:
        stem = f"{name}_to_target"
        draw_to_target(sr, summary, out / f"{stem}.png")
        files.append(
            FigureFile(
                f"{stem}.png",
                [_write_csv(summary, out / f"{stem}.csv")],
                f"Simulated time and bytes moved until the training loss first reaches "
                f"{spec.target_loss:g} (mean and 95% t-interval over the seeds that reached it), "
                f"and the final loss, per rule at its chosen step size.",
            )
        )
    else:
        extra.append(_write_csv(summary, out / f"{name}_summary.csv"))
    return files, extra, summary


def write_timeline(sr: SpecRuns, out: Path) -> list[FigureFile]:
    spec = sr.spec
    results = sr.runs[(None, 0)]
    window = spec.window or data.timeline_window(results)
    stem = f"{spec.name}_timeline"
    plots.plot_timeline(results, out / f"{stem}.png", t_max=window, title=spec.title)
    frames = []
    for label, res in results.items():
        seg = data.timeline(res, window)
        seg.insert(0, "scheme", label)
        frames.append(seg)
    table = pd.concat(frames, ignore_index=True)
    return [
        FigureFile(
            f"{stem}.png",
            [_write_csv(table, out / f"{stem}.csv")],
            f"What each worker does in the first {window:g} simulated seconds of one run, one "
            f"panel per rule ({_rules_text(list(results))}): bars coloured by the task's outcome, "
            "transfers lighter than compute, a line at each update of the master.",
        )
    ]


def write_intervals(sr: SpecRuns, out: Path) -> list[FigureFile]:
    spec = sr.spec
    table, cdf = interval_tables(sr)
    files = []
    stem = f"{spec.name}_mean_gap"
    draw_intervals(sr, table, out / f"{stem}.png")
    files.append(
        FigureFile(
            f"{stem}.png",
            [_write_csv(table, out / f"{stem}.csv")],
            f"Mean simulated time between updates for {_rules_text(sr.labels)} as the cluster "
            f"grows ({', '.join(map(str, spec.workers))} workers; 95% t-interval) against the "
            "order-statistic theory, and one task's mean compute time for scale.",
        )
    )
    stem = f"{spec.name}_cdf"
    draw_cdf(sr, cdf, out / f"{stem}.png")
    files.append(
        FigureFile(
            f"{stem}.png",
            [_write_csv(cdf, out / f"{stem}.csv")],
            f"Distribution of the time between updates with {spec.cdf_workers} workers, "
            "simulated against the theoretical CDF of the order statistic each rule waits for.",
        )
    )
    return files


def _scenario_facts(scenario: Scenario) -> str:
    c, m, tr = scenario.cluster, scenario.model, scenario.train
    lat = from_spec(c.latency)
    net = c.network
    parts = [f"{c.workers} workers", f"compute time per work unit {lat.describe()}"]
    if math.isfinite(net.bandwidth) or net.latency > 0:
        shared = ", one shared master link" if net.shared_master_link else ""
        parts.append(f"links {net.latency:g} s + bytes / {net.bandwidth:g} B/s{shared}")
    if c.stragglers and c.straggler_factor != 1:
        parts.append(f"workers {list(c.stragglers)} {c.straggler_factor:g}x slower")
    model = f"{m.kind} (hidden {m.hidden})" if m.kind == "mlp" else m.kind
    parts.append(f"{model} on {Path(m.dataset).name}")
    if math.isfinite(tr.max_time):
        parts.append(f"{tr.max_time:g} simulated seconds")
    else:
        parts.append(f"{tr.max_updates} updates")
    return "; ".join(parts)


def _clear_previous(out: Path, name: str) -> None:
    """Remove the files an earlier build of this spec wrote (so renamed figures do not linger)."""
    manifest = out / f"{name}.json"
    if not manifest.is_file():
        return
    try:
        old = json.loads(manifest.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return
    if old.get("format") != MANIFEST_FORMAT:
        return
    names = [f["png"] for f in old.get("figures", [])]
    names += [c for f in old.get("figures", []) for c in f.get("csv", [])]
    names += old.get("files", [])
    for item in names:
        target = out / Path(item).name
        if target.is_file():
            target.unlink()


def write_spec(sr: SpecRuns, out: Path) -> dict[str, Any]:
    """Write a spec's figures, CSVs and manifest into ``out``; return the manifest."""
    spec = sr.spec
    out.mkdir(parents=True, exist_ok=True)
    _clear_previous(out, spec.name)
    extra: list[str] = []
    results: list[dict[str, Any]] = []
    if spec.kind == "compare":
        files, extra, summary = write_compare(sr, out)
        results = summary.replace({np.nan: None}).to_dict(orient="records")
    elif spec.kind == "timeline":
        files = write_timeline(sr, out)
    else:
        files = write_intervals(sr, out)
    manifest = {
        "format": MANIFEST_FORMAT,
        "name": spec.name,
        "kind": spec.kind,
        "section": spec.section,
        "order": spec.order,
        "title": spec.title,
        "description": spec.description,
        "fixed": spec.fixed,
        "changed": spec.changed,
        "source": spec.source,
        "quick": spec.quick,
        "seeds": spec.seeds,
        "lr_grid": list(spec.lr_grid),
        "select": spec.select if spec.kind == "compare" else None,
        "select_rule": SELECT_RULES[spec.select] if spec.kind == "compare" else None,
        "target_loss": spec.target_loss,
        "workers": list(spec.workers),
        "setting": _scenario_facts(spec.scenario),
        "scenario": _portable(spec.scenario.to_dict(), spec.source),
        "figures": [{"png": f.png, "csv": f.csv, "sentence": f.sentence} for f in files],
        "files": extra,
        "results": results,
        "problems": sr.problems,
        "versions": versions(),
    }
    text = json.dumps(json_ready(manifest), indent=2, allow_nan=False) + "\n"
    (out / f"{spec.name}.json").write_text(text, encoding="utf-8")
    return manifest


def _portable(scenario: dict[str, Any], source: str) -> dict[str, Any]:
    """The scenario with an absolute dataset path written relative to the spec's folder."""
    dataset = scenario.get("model", {}).get("dataset", "")
    if dataset.endswith((".npz", ".csv")) and Path(dataset).is_absolute():
        folder = Path(source).resolve().parent
        scenario["model"]["dataset"] = os.path.relpath(dataset, folder)
    return scenario


# --------------------------------------------------------------------------- the index


def _fmt(value: Any, digits: int = 3) -> str:
    if value is None:
        return "-"
    if value == "inf":
        return "∞"
    v = float(value)
    return "-" if math.isnan(v) else f"{v:.{digits}g}"


def _interval(mean: Any, lo: Any, hi: Any, scale: float = 1.0) -> str:
    if mean is None:
        return "-"
    m = float(mean) / scale
    if lo is None or hi is None:
        return f"{m:.3g}"
    low = max(float(lo), 0.0) / scale  # times and bytes are never negative (the CSV is unclipped)
    return f"{m:.3g} [{low:.3g}, {float(hi) / scale:.3g}]"


def _results_lines(manifest: Mapping[str, Any]) -> list[str]:
    rows = manifest.get("results") or []
    if not rows:
        return []
    target = manifest.get("target_loss")
    lines = [
        "",
        f"| rule | chosen lr | final loss, mean [min, max] | time to loss {_fmt(target)} "
        "| MB to that loss | reached |",
        "|---|---|---|---|---|---|",
    ]
    for r in rows:
        final = (
            f"{_fmt(r['final_loss_mean'])} [{_fmt(r['final_loss_lo'])}, {_fmt(r['final_loss_hi'])}]"
        )
        lines.append(
            f"| {r['scheme']} | {_fmt(r['lr'])} | {final} | "
            f"{_interval(r['time_to_target_mean'], r['time_to_target_lo95'], r['time_to_target_hi95'])} | "
            f"{_interval(r['bytes_to_target_mean'], r['bytes_to_target_lo95'], r['bytes_to_target_hi95'], 1e6)} | "
            f"{r['reached']}/{r['seeds']} |"
        )
    lines.append("")
    lines.append(
        "Times are simulated seconds; intervals are 95% t-intervals over the seeds that reached "
        "the loss."
    )
    return lines


_SECTION_ORDER = {"paper": 0, "lecture": 1}
_SECTION_TITLES = {
    "paper": "The LWPD paper's comparison (scenarios/paper/)",
    "lecture": "Figures of the lecture, docs/lecture.md (scenarios/lecture/)",
}


def write_index(out: Path) -> Path:
    """(Re)write ``README.md`` in ``out`` from the manifests found there: every figure with one
    sentence, the method, what was fixed in advance, and each comparison's numbers."""
    manifests = []
    for path in sorted(out.glob("*.json")):
        try:
            m = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        if isinstance(m, dict) and m.get("format") == MANIFEST_FORMAT:
            manifests.append(m)
    manifests.sort(
        key=lambda m: (_SECTION_ORDER.get(m.get("section", ""), 9), m.get("order", 0), m["name"])
    )
    quick = any(m.get("quick") for m in manifests)
    lines = [
        "# Reference figures",
        "",
        "Written by `lwpdsim figures` (do not edit: rerun the command). Every figure `X.png` has "
        "its numbers in `X.csv`; `<spec>_runs.csv` has one row per run (rule, step size, seed) "
        "and `<spec>.json` the resolved scenario and package versions.",
        "",
    ]
    if quick:
        lines += [
            "**Quick build (`--quick`)**: fewer seeds, a shorter grid and shorter runs than the "
            "reference; for tests, not for conclusions.",
            "",
        ]
    lines += [
        "How the comparisons are made (the same for every spec, decided before any run):",
        "",
        "- All rules of a spec run on the same cluster, data split, initial parameters and "
        "compute-time draws (replicate r of a scenario is `simulate(scenario, run_index=r)`), so "
        "differences within a seed are the rules', not the dice's.",
        "- Each rule's step size comes from one common grid, shown in the `*_lr_grid` figure, by "
        "one stated rule: "
        + SELECT_RULES["final_loss"]
        + ". The final loss is the training loss at the end of the spec's simulated time budget.",
        "- Curves show the mean over seeds with a min-max band; times and bytes to the target "
        "loss show the mean with a 95% t-interval over the seeds that reached it, and how many "
        "did. The target is only measured: no run stops at it.",
        "- The figures show what the simulation gives: the scenarios, grids, targets and seeds "
        "were fixed before the results were looked at, except where a spec says below what was "
        "changed after a first build and why; nothing was changed to favour a rule.",
        "",
    ]
    section = None
    for m in manifests:
        if m.get("section") != section:
            section = str(m.get("section"))
            lines += [f"## {_SECTION_TITLES.get(section, section)}", ""]
        lines.append(f"### {m['name']}: {m['title']}")
        lines.append("")
        if m.get("description"):
            lines += [m["description"], ""]
        lines.append(f"Spec `{m['source']}`. Setting: {m['setting']}.")
        if m["kind"] == "compare":
            grid = ", ".join(f"{v:g}" for v in m["lr_grid"])
            lines.append(f"Seeds: {m['seeds']}; step-size grid: {grid}.")
        if m.get("fixed"):
            lines.append(f"Fixed in advance: {m['fixed']}")
        if m.get("changed"):
            lines.append(f"Changed after a first build: {m['changed']}")
        lines.append("")
        for f in m["figures"]:
            csv = ", ".join(f"[{c}]({c})" for c in f["csv"])
            lines.append(f"- [{f['png']}]({f['png']}) ({csv}): {f['sentence']}")
        lines += _results_lines(m)
        for p in m.get("problems") or []:
            lines.append(f"- problem: {p}")
        lines.append("")
    path = out / INDEX_NAME
    path.write_text("\n".join(lines).rstrip() + "\n", encoding="utf-8")
    return path


# --------------------------------------------------------------------------- the command


@dataclass
class FiguresReport:
    """What ``lwpdsim figures`` did."""

    out: Path
    specs: list[str] = field(default_factory=list)
    figures: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    seconds: dict[str, float] = field(default_factory=dict)
    index: Path | None = None


def select_specs(
    paths: Sequence[Path], only: Sequence[str] | None = None, *, quick: bool = False
) -> list[FigureSpec]:
    """Load every spec (all are validated), keeping those named in ``only`` (all by default)."""
    specs = [replace(load_spec(p, quick=quick), order=i) for i, p in enumerate(paths)]
    names = [s.name for s in specs]
    for i, name in enumerate(names):
        if names.index(name) != i:
            raise ScenarioError("name", name, f"a name used by one spec only ({specs[i].source})")
    if not only:
        return specs
    for name in only:
        if name not in names:
            from .validation import suggest

            raise ScenarioError(
                "--only", name, f"a spec name{suggest(name, names)}: {', '.join(names)}"
            )
    return [s for s in specs if s.name in only]


def build_figures(
    specs: Sequence[str | Path] | None = None,
    *,
    out: str | Path | None = None,
    only: Sequence[str] | None = None,
    quick: bool = False,
    jobs: int | None = None,
    progress: bool = False,
    log: Any = None,
) -> FiguresReport:
    """Run the figure specs (files or folders; default ``scenarios/paper`` and
    ``scenarios/lecture``) and write every figure, its CSV and the index into ``out`` (default
    ``results/figures``, or ``results/figures-quick`` with ``quick``). ``jobs`` processes run the
    simulations (default: the CPU count; 1 runs them here). ``log`` is called with progress lines.
    """
    chosen = select_specs(find_specs(specs), only, quick=quick)
    out_dir = Path(out) if out is not None else (QUICK_OUT if quick else DEFAULT_OUT)
    if out_dir.exists() and not out_dir.is_dir():
        raise ScenarioError("--out", str(out_dir), "a directory")
    jobs = cpu_count() if jobs is None else jobs
    if jobs < 1:
        raise ScenarioError("--jobs", jobs, "an integer >= 1")
    report = FiguresReport(out_dir)
    say = log or (lambda _text: None)
    with _pool(jobs) as pool:
        for spec in chosen:
            started = time.perf_counter()
            runs = len(spec.plan.runs)
            say(f"{spec.name}: {runs} run{'s' if runs != 1 else ''} ({spec.kind})")
            sr = run_spec(spec, pool, progress=progress)
            manifest = write_spec(sr, out_dir)
            report.specs.append(spec.name)
            report.figures += [f["png"] for f in manifest["figures"]]
            report.problems += sr.problems
            report.seconds[spec.name] = time.perf_counter() - started
            say(
                f"  {len(manifest['figures'])} figures in {report.seconds[spec.name]:.1f} s: "
                + ", ".join(f["png"] for f in manifest["figures"])
            )
    report.index = write_index(out_dir)
    return report


def _print(text: str) -> None:
    print(text, flush=True)


def main_figures(args: Any) -> int:
    """The ``lwpdsim figures`` command (see :func:`build_figures`)."""
    started = time.perf_counter()
    report = build_figures(
        args.specs,
        out=args.out,
        only=args.only,
        quick=args.quick,
        jobs=args.jobs,
        progress=not args.quiet and sys.stderr.isatty(),
        log=None if args.quiet else _print,
    )
    total = time.perf_counter() - started
    print(
        f"{len(report.figures)} figures from {len(report.specs)} specs written to "
        f"{report.out}/ (index: {report.index}) in {total:.0f} s"
    )
    for problem in report.problems:
        print(f"error: {problem}", file=sys.stderr)
    if report.problems:
        raise LwpdsimError(f"{len(report.problems)} runs failed (listed above; figures written)")
    return 0
