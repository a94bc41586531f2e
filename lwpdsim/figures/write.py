"""Writing a spec's files: each figure's PNG and CSV, the per-run table, and the manifest
``<spec>.json`` (the resolved spec and scenario, one sentence per figure, the numbers, the package
versions) that the index is written from. Everything is written through the claimed output
folder (drawn in a staging folder, then moved into place), and a rebuild first removes what the
previous build of the spec wrote, if lwpdsim wrote it."""

from __future__ import annotations

import json
import math
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from ..analysis import data
from ..analysis.decoding import EXACT, FLOOR, MIN_STEPS, WINDOWS
from ..analysis.stats import INTERVAL_NAME, INTERVAL_SHORT
from ..analysis.timeline_plots import plot_timeline
from ..config import Scenario
from ..io.files import writing
from ..io.folder import OutputFolder
from ..io.jsonable import json_ready
from ..latency import from_spec
from ..results import versions
from ..tune import SELECT_RULES, edge_warning
from .by_factor import draw_by
from .curves import curve_panels, draw_curves
from .decoding import draw_decode_error
from .intervals import draw_cdf, draw_interval_target, draw_intervals
from .lr_grid import draw_lr_grid
from .run import SpecRuns
from .spec import FigureSpec
from .tables import (
    by_table,
    chosen_edges,
    chosen_lr,
    chosen_summary,
    curves_table,
    decode_error_tables,
    interval_tables,
    interval_target_table,
    lr_grid_table,
    runs_table,
)
from .to_target import draw_to_target

MANIFEST_FORMAT = "lwpdsim-figure/1"
_FLOAT = "%.8g"
#: Per curve kind: the end of its figure's file name, and what the loss is against (its caption).
STEMS = {"time": "time", "update": "updates", "bytes": "bytes"}
AGAINST = {
    "time": "simulated time",
    "update": "the number of updates",
    "bytes": "the cumulative bytes sent up (workers to master)",
}


@dataclass
class FigureFile:
    """One written figure: its PNG, its CSV files and a sentence for the index."""

    png: str
    csv: list[str]
    sentence: str


def _write_csv(table: pd.DataFrame, path: Path) -> str:
    table.to_csv(path, index=False, float_format=_FLOAT)
    return path.name


def _figure_file(out: Path, stem: str, table: pd.DataFrame, sentence: str) -> FigureFile:
    """The figure ``<stem>.png`` (already drawn in ``out``) with its table written beside it as
    ``<stem>.csv``."""
    return FigureFile(f"{stem}.png", [_write_csv(table, out / f"{stem}.csv")], sentence)


#: A figure drawn from one table: ``draw(spec, rules, table, png_path)``.
Draw = Callable[[FigureSpec, Mapping[str, str], pd.DataFrame, Path], Figure]


def _figure(
    sr: SpecRuns, out: Path, suffix: str, draw: Draw, table: pd.DataFrame, sentence: str
) -> FigureFile:
    """Draw ``<spec>_<suffix>.png`` from ``table`` into ``out`` and write the table beside it."""
    stem = f"{sr.spec.name}_{suffix}"
    draw(sr.spec, sr.rules, table, out / f"{stem}.png")
    return _figure_file(out, stem, table, sentence)


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
    summary = chosen_summary(runs, lrs)
    summary["lr_edge"] = summary["scheme"].map(chosen_edges(grid)).fillna("")
    files = []
    rules = sr.rules
    rules_text = _rules_text(sr.labels)
    seeds = f"{spec.seeds} seeds"
    for x in spec.curves:
        if x == "decode_error":
            files.append(_decode_error_file(sr, out, lrs))
            continue
        stem = f"{name}_loss_vs_{STEMS[x]}"
        curves = curves_table(sr, lrs, x)
        draw_curves(spec, rules, curves, x, out / f"{stem}.png")
        against = AGAINST[x]
        side = (
            "; the LWPD variants side by side, each panel with every other rule"
            if len(curve_panels(rules, spec.split_lwpd)) > 1
            else ""
        )
        sentence = (
            f"Training loss against {against} for {rules_text}, each at its chosen step size: "
            f"mean of {seeds} with a min-max band{side}."
        )
        files.append(_figure_file(out, stem, curves, sentence))
    grid_text = ", ".join(f"{v:g}" for v in spec.lr_grid)
    sentence = (
        f"The common step-size grid ({grid_text}): mean final training loss of every rule at "
        f"every step size (bars: min-max over {seeds}); the ringed point is each rule's "
        "choice by the selection rule, with an arrow outwards when it sits at an edge of the "
        "grid (its smallest or largest step size: the best may lie beyond it)."
    )
    files.append(_figure(sr, out, "lr_grid", draw_lr_grid, grid, sentence))
    if spec.target_loss is not None:
        sentence = (
            f"Simulated time and bytes sent (up and down) until the training loss first reaches "
            f"{spec.target_loss:g} (mean over the seeds that reached it, how many did, and "
            f"the {INTERVAL_NAME}), and the final loss, per rule at its chosen step size."
        )
        files.append(_figure(sr, out, "to_target", draw_to_target, summary, sentence))
        if spec.by is not None:
            sentence = (
                f"Against {spec.by} (the number ending each label), per group of labels: the "
                f"step size each label chose from the common grid, and its time to reach "
                f"{spec.target_loss:g} (mean over the seeds that reached it, the "
                f"{INTERVAL_NAME})."
            )
            table = by_table(summary, spec)
            files.append(_figure(sr, out, f"by_{spec.by}", draw_by, table, sentence))
    else:
        extra.append(_write_csv(summary, out / f"{name}_summary.csv"))
    return files, extra, summary


def _decode_error_file(sr: SpecRuns, out: Path, lrs: Mapping[str, float]) -> FigureFile:
    """The decoding-error figure of a compare spec, its window means ``<stem>.csv``, its CDF
    ``<stem>_cdf.csv`` and its per-rule summary ``<stem>_rules.csv``."""
    windows, cdf, stats = decode_error_tables(sr, lrs)
    labels = list(stats["scheme"])
    if not labels:  # the spec's check makes this a run where no measuring rule took a step
        raise ValueError(f"{sr.spec.name}: no run recorded a decoding error")
    stem = f"{sr.spec.name}_decode_error"
    draw_decode_error(sr.spec, sr.rules, (windows, cdf, stats), out / f"{stem}.png")
    sentence = (
        f"Decoding error ||step - g|| / ||g|| of every update (g the full training gradient at "
        f"the parameters the step is applied to) of {_rules_text(labels)}, the rules that "
        f"measured it, each at its chosen step size, the steps of {sr.spec.seeds} seeds pooled: "
        "(a) against simulated time, the mean over windows of consecutive steps of equal count "
        f"(at most {WINDOWS}, of at least {MIN_STEPS} steps where a rule took that many), and (b) the CDF of all steps' errors, the "
        f"legend giving the fraction of steps decoded exactly (error below {EXACT:g}) and the "
        f"mean; errors below {FLOOR:g} (rounding of an exact decoding) are drawn at it. "
        f"`{stem}_rules.csv` has per rule the steps, exact fraction, mean, median, 90th "
        "percentile and max."
    )
    csv = [
        _write_csv(table, out / f"{stem}{end}.csv")
        for table, end in ((windows, ""), (cdf, "_cdf"), (stats, "_rules"))
    ]
    return FigureFile(f"{stem}.png", csv, sentence)


def write_timeline(sr: SpecRuns, out: Path) -> list[FigureFile]:
    """The Gantt chart of a timeline spec's run and the segments it draws."""
    spec = sr.spec
    results = sr.runs[(None, 0)]
    window = spec.window or data.timeline_window(results)
    stem = f"{spec.name}_timeline"
    plot_timeline(results, out / f"{stem}.png", t_max=window, title=spec.title)
    frames = []
    for label, res in results.items():
        seg = data.timeline(res, window)
        seg.insert(0, "scheme", label)
        frames.append(seg)
    table = pd.concat(frames, ignore_index=True)
    sentence = (
        f"What each worker does in the first {window:g} simulated seconds of one run, one "
        f"panel per rule ({_rules_text(list(results))}): bars coloured by the task's outcome, "
        "transfers lighter than compute, a line at each update of the master."
    )
    return [_figure_file(out, stem, table, sentence)]


def write_intervals(sr: SpecRuns, out: Path) -> list[FigureFile]:
    """The mean-gap and CDF figures of an intervals spec, with their tables, and the time to the
    target as the cluster grows when the spec has a target."""
    spec = sr.spec
    table, cdf = interval_tables(sr)
    scale = (
        "one worker's mean time for a full-batch gradient (latency_per = gradient: a task of "
        "1/n of the data takes 1/n of it)"
        if spec.scenario.cluster.latency_per == "gradient"
        else "one task's mean compute time (latency_per = unit: the same at every n)"
    )
    sentence = (
        f"Mean simulated time between updates for {_rules_text(sr.labels)} as the cluster "
        f"grows ({', '.join(map(str, spec.workers))} workers; {INTERVAL_SHORT}) against the "
        f"order-statistic theory, and {scale} for scale."
    )
    files = [_figure(sr, out, "mean_gap", draw_intervals, table, sentence)]
    if spec.target_loss is not None:
        sentence = (
            f"Simulated time until the training loss first reaches {spec.target_loss:g} for "
            f"{_rules_text(sr.labels)} as the cluster grows (mean and {INTERVAL_SHORT} over "
            f"the seeds that reached it, of {spec.seeds}); measured only."
        )
        reach = interval_target_table(sr)
        files.append(_figure(sr, out, "to_target", draw_interval_target, reach, sentence))
    sentence = (
        f"Distribution of the time between updates with {spec.cdf_workers} workers, "
        "simulated against the theoretical CDF of the order statistic each rule waits for."
    )
    files.append(_figure(sr, out, "cdf", draw_cdf, cdf, sentence))
    return files


def _scenario_facts(scenario: Scenario) -> str:
    """The setting in one line: cluster, compute times, network, model, data and budget."""
    c, m, tr = scenario.cluster, scenario.model, scenario.train
    lat = from_spec(c.latency, base_dir=Path(scenario.base_dir) if scenario.base_dir else None)
    net = c.network
    per = "full-batch gradient" if c.latency_per == "gradient" else "work unit (1/n of a gradient)"
    parts = [f"{c.workers} workers", f"compute time per {per} {lat.describe()}"]
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


def _clear_previous(folder: OutputFolder, out: Path, name: str) -> None:
    """Remove the files an earlier build of this spec wrote (so renamed figures do not linger):
    those its manifest lists, if lwpdsim wrote that manifest and them."""
    manifest = out / f"{name}.json"
    if not folder.owns(manifest) or not manifest.is_file() or manifest.is_symlink():
        return
    try:
        old = json.loads(manifest.read_text(encoding="utf-8"))
        if old.get("format") != MANIFEST_FORMAT:
            return
        names = [f["png"] for f in old.get("figures", [])]
        names += [c for f in old.get("figures", []) for c in f.get("csv", [])]
        names += old.get("files", [])
    except (OSError, ValueError, AttributeError, TypeError, KeyError):
        return
    for item in names:
        if isinstance(item, str) and item and Path(item).name == item and item not in (".", ".."):
            folder.remove(out / item)


def write_spec(sr: SpecRuns, folder: OutputFolder, out: Path | None = None) -> dict[str, Any]:
    """Write a spec's figures, CSVs and manifest into ``out`` (default: the claimed ``folder``)
    through ``folder`` (recorded, each file atomically); return the manifest."""
    spec = sr.spec
    out = folder.mkdir(out if out is not None else folder.path)
    _clear_previous(folder, out, spec.name)
    extra: list[str] = []
    results: list[dict[Any, Any]] = []
    warnings: list[str] = []
    with folder.stage(out) as stage, writing(stage):
        if spec.kind == "compare":
            files, extra, summary = write_compare(sr, stage)
            results = summary.replace({np.nan: None}).to_dict(orient="records")
            warnings = lr_edge_warnings(spec.name, spec.lr_grid, results)
        elif spec.kind == "timeline":
            files = write_timeline(sr, stage)
        else:
            files = write_intervals(sr, stage)
        for name in [*(f.png for f in files), *(c for f in files for c in f.csv), *extra]:
            folder.adopt(stage / name, out / name)
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
        "overrides": list(spec.overrides),
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
        "warnings": warnings,
        "versions": versions(),
    }
    text = json.dumps(json_ready(manifest), indent=2, allow_nan=False) + "\n"
    folder.write_text(out / f"{spec.name}.json", text)
    return manifest


def lr_edge_warnings(
    name: str, grid: Sequence[float], results: Sequence[dict[Any, Any]]
) -> list[str]:
    """One warning per rule of spec ``name`` whose chosen step size sits at an edge of the grid
    (``results``: the manifest's summary rows, with ``lr`` and ``lr_edge``)."""
    out = []
    for row in results:
        if row.get("lr_edge"):
            text = edge_warning(str(row["scheme"]), float(row["lr"]), grid, "the lr_grid")
            out.append(f"{name}: {text}")
    return out


def _portable(scenario: dict[str, Any], source: str) -> dict[str, Any]:
    """The scenario with an absolute dataset path written relative to the spec's folder."""
    dataset = scenario.get("model", {}).get("dataset", "")
    if dataset.endswith((".npz", ".csv")) and Path(dataset).is_absolute():
        folder = Path(source).resolve().parent
        scenario["model"]["dataset"] = os.path.relpath(dataset, folder)
    return scenario
