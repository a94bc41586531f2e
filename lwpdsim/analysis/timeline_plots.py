"""Worker timelines: each worker's tasks over time as a Gantt chart, one panel per rule, bars
coloured by the task's outcome, transfers lighter than compute, a line at each update of the master
(the data of :func:`lwpdsim.analysis.data.timeline`)."""

from __future__ import annotations

import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.collections import PolyCollection
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch

from ..results import RunResult
from . import data
from .style import TIME_LABEL, figure, heading, save, shade, side_suptitle, styled

#: Colours of task outcomes in timelines.
OUTCOME_COLORS = {
    "used": "#2ca02c",
    "cancelled": "#9a9a9a",
    "discarded": "#ff7f0e",
    "failed": "#d62728",
    "lost": "#9467bd",
    "unfinished": "#9ecae1",
}
#: Height of a task's bar in a timeline (rows are 1 apart).
BAR_HEIGHT = 0.72
#: Hatching colour of the time a worker is down (failed, not yet recovered).
DOWN_COLOR = "#e08080"
#: How much darker (mixed with black) every other task of a worker is drawn.
ALTERNATE = -0.25
#: How much lighter download and upload are drawn than compute in a timeline.
PHASE_LIGHTEN = {"download": 0.55, "compute": 0.0, "upload": 0.55}


def alternate(seg: pd.DataFrame) -> np.ndarray:
    """For each segment of a timeline (:func:`~lwpdsim.analysis.data.timeline`), 1 if its task
    is its worker's 2nd, 4th, ... task by start time, else 0: a worker's back-to-back tasks are
    drawn in alternating shades, so they stay apart where an update line covers their border."""
    ordered = seg.sort_values(["worker", "start", "task"], kind="stable")
    nth = ordered.groupby("worker", sort=False)["task"].transform(lambda t: pd.factorize(t)[0])
    return (nth.reindex(seg.index).to_numpy(dtype=int) % 2).astype(int)


def down_periods(res: RunResult, until: float) -> list[tuple[int, float, float]]:
    """Each (worker, start, end) a worker was down before ``until`` (cut there): the run's record
    (``manifest["outages"]``), or for a run saved without one, its scheduled failures."""
    rec = res.manifest.get("outages")
    if rec is not None:
        rows = zip(rec["worker"], rec["start"], rec["end"], strict=True)
        return [(int(w), float(a), min(float(b), until)) for w, a, b in rows if float(a) < until]
    cluster = data.scenario_config(res).get("cluster", {})
    racks = cluster.get("racks", [])
    out = []
    for f in cluster.get("failures", []):
        at, end = float(f["at"]), min(float(f.get("recover", math.inf)), until)
        workers = racks[int(f["rack"])] if "rack" in f else [f["worker"]]
        out += [(int(w), at, end) for w in workers if at < until]
    return out


def segment_colors(
    seg: pd.DataFrame, outcome: str | None = None
) -> list[tuple[float, float, float]]:
    """The colour of each segment of a timeline (:func:`~lwpdsim.analysis.data.timeline`): its
    task's outcome (or ``outcome`` for every segment, e.g. ``"unfinished"`` for tasks still
    running), lighter for download and upload, darker for every other task of a worker."""
    outcomes = seg["outcome"] if outcome is None else [outcome] * len(seg)
    return [
        shade(shade(OUTCOME_COLORS.get(o, "#cccccc"), PHASE_LIGHTEN[p]), ALTERNATE * odd)
        for o, p, odd in zip(outcomes, seg["phase"], alternate(seg), strict=True)
    ]


def bar_boxes(seg: pd.DataFrame) -> np.ndarray:
    """The bar of each segment of a timeline as a rectangle, shape (segments, 4, 2): corners
    (start, below), (start, above), (end, above), (end, below) around the worker's row."""
    y = seg["worker"].to_numpy(dtype=float)
    x0, x1 = seg["start"].to_numpy(dtype=float), seg["end"].to_numpy(dtype=float)
    h = BAR_HEIGHT / 2
    corners = ((x0, y - h), (x0, y + h), (x1, y + h), (x1, y - h))
    return np.stack([np.column_stack(c) for c in corners], axis=1).reshape(len(seg), 4, 2)


def _draw_timeline(ax: Axes, res: RunResult, t_max: float) -> tuple[set[str], bool, bool]:
    """Draw one run's timeline; returns the outcomes shown, whether any transfer is visible and
    whether any worker was down."""
    seg = data.timeline(res, t_max)
    cluster = data.scenario_config(res).get("cluster", {})
    n = int(cluster.get("workers", 0)) or (
        int(res.tasks["worker"].max()) + 1 if len(res.tasks) else 1
    )
    stopped = float(res.summary.get("sim_time", math.inf))
    down = down_periods(res, min(stopped, t_max))
    for worker, at, until in down:
        ax.barh(
            worker,
            until - at,
            left=at,
            height=BAR_HEIGHT,
            color="none",
            hatch="///",
            edgecolor=DOWN_COLOR,
            linewidth=0,
            zorder=1,
        )
    colors = segment_colors(seg)
    boxes = bar_boxes(seg)  # one rectangle per segment, one collection (fast for thousands)
    ax.add_collection(
        PolyCollection(
            list(boxes),
            facecolors=colors,
            edgecolors="white",
            linewidths=0.7 if n <= 16 else 0.3,
            zorder=2,
        )
    )
    times = data.update_times(res, t_max)
    ax.vlines(times, -0.5, n - 0.5, colors="0.15", lw=0.8, alpha=0.6, zorder=3)
    ax.set_ylim(n - 0.5, -0.5)
    step = max(1, math.ceil(n / 12))
    ticks = list(range(0, n, step))
    ax.set_yticks(ticks, [f"w{w}" for w in ticks])
    ax.set_xlim(0, t_max)
    if stopped < t_max:
        ax.axvspan(stopped, t_max, color="0.94", lw=0, zorder=0)
    if stopped < t_max * 0.85:
        why = str(res.summary.get("status", "")).replace("_", " ")
        ax.text(
            (stopped + t_max) / 2,
            (n - 1) / 2,
            f"run stopped\n({why})" if why else "run stopped",
            ha="center",
            va="center",
            fontsize=10,
            color="0.45",
        )
    ax.set_title(res.label, loc="left", fontweight="bold")
    ax.set_title(f"{times.size} updates by t = {t_max:.3g}", loc="right", fontsize=10)
    ax.spines["left"].set_visible(False)
    ax.tick_params(axis="y", length=0)
    transfers = seg["phase"] != "compute"
    width = (seg["end"] - seg["start"])[transfers]
    return set(seg["outcome"]), bool((width > t_max * 1e-3).any()), bool(down)


@styled
def plot_timeline(
    results: Mapping[str, RunResult],
    path: str | Path | None = None,
    *,
    t_max: float | None = None,
    title: str | None = None,
) -> Figure:
    """Each worker's tasks over time (a Gantt chart), one panel per rule on a shared time axis:
    bars coloured by the task's outcome, download and upload lighter than compute, and a vertical
    line at each update of the master (the data of :func:`~lwpdsim.analysis.data.timeline`).
    ``t_max`` defaults to :func:`~lwpdsim.analysis.data.timeline_window`."""
    t_max = float(t_max) if t_max is not None else data.timeline_window(results)
    labels = list(results)
    ncols = 1 if len(labels) <= 2 else 2
    nrows = math.ceil(len(labels) / ncols)
    workers = max(
        int(data.scenario_config(r).get("cluster", {}).get("workers", 0)) or 1
        for r in results.values()
    )
    panel = min(0.24 * workers, 3.6) + 0.9  # many workers: thinner rows, not a taller figure
    width = 10.5 if ncols == 1 else 15.0
    fig = figure(width, panel * nrows + 0.9)
    axes = fig.subplots(nrows, ncols, sharex=True, squeeze=False)
    seen: set[str] = set()
    transfers = failures = False
    for ax, label in zip(axes.flat, labels, strict=False):
        outcomes, moved, down = _draw_timeline(ax, results[label], t_max)
        seen |= outcomes
        transfers |= moved
        failures |= down
    for ax in axes.flat[len(labels) :]:
        ax.set_visible(False)
    for ax in axes[-1]:
        ax.set_xlabel(TIME_LABEL)
    if len(labels) % ncols and nrows > 1:  # the empty slot's neighbour above needs tick labels
        axes[-2, -1].xaxis.set_tick_params(labelbottom=True)
        axes[-2, -1].set_xlabel(TIME_LABEL)
    handles: list[Any] = [
        Patch(facecolor=OUTCOME_COLORS[o], label=o) for o in OUTCOME_COLORS if o in seen
    ]
    if failures:
        handles.append(
            Patch(facecolor="none", hatch="///", edgecolor=DOWN_COLOR, lw=0, label="worker down")
        )
    used = OUTCOME_COLORS["used"]
    spacer = Line2D([], [], ls="none", label=" ")
    handles.append(spacer)
    if transfers:
        handles += [
            Patch(facecolor=used, label="compute"),
            Patch(facecolor=shade(used, PHASE_LIGHTEN["upload"]), label="download / upload"),
        ]
    handles.append(Patch(facecolor=shade(used, ALTERNATE), label="every other task of a worker"))
    handles.append(Line2D([], [], color="0.15", lw=0.8, alpha=0.6, label="update of the master"))
    fig.legend(handles=handles, loc="outside right upper", frameon=False, title="task outcome")
    what = heading("what each worker does", title)
    side_suptitle(fig, what, width)
    return save(fig, path)
