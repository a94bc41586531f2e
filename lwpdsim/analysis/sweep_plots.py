"""Figures of a sweep's tidy table (``runs.csv``): a metric against one factor, and heatmaps of it
over two factors, drawn from the tables of :mod:`lwpdsim.analysis.sweep_tables`.

The metric is the time to the target loss when any run reached it, the final loss otherwise, unless
the sweep file's ``metrics`` lists others (:data:`~lwpdsim.analysis.sweep_tables.METRICS`): then
the figures are drawn for each. A factor of numbers is plotted on a numeric axis, one of text or
booleans (``schemes[0].decoder``) on a categorical one, its levels in the sweep file's order. No
point pools the levels of another axis silently: an axis whose levels change the numbers is drawn
as panels (or, past :data:`~lwpdsim.analysis.sweep_tables.MAX_PANELS` panels, pooled and said so
in the title). Every point says how many runs reached the target (``2/3``); the mean is of those;
a point where none did is drawn as an open marker at the top of its axis, a heatmap cell as a
hatched cell, distinct from a blank cell without runs (a point skipped as invalid). Intervals are
:func:`lwpdsim.analysis.stats.mean_interval`. PNG files are byte-stable for the same table
(:func:`lwpdsim.analysis.style.save`).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import matplotlib as mpl
import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch, Rectangle

from ..results import safe_name
from .stats import INTERVAL_NAME, INTERVAL_SHORT, MIN_VALUES
from .style import SECONDS, figure, rule_colors, save, wrap
from .sweep_tables import (
    MAX_PANELS,
    REPLICATE_FACTORS,
    TARGET_METRICS,
    Layout,
    choose_metric,
    failed_runs,
    fraction,
    heatmap_table,
    is_numeric,
    level_order,
    level_text,
    line_keys,
    none_text,
    numeric_factors,
    point_table,
    read_sweep_folder,
    sweep_axes,
    sweep_metrics,
    varied_factors,
)

__all__ = [
    "METRIC_LABELS",
    "REPLICATE_FACTORS",
    "choose_metric",
    "heatmap_table",
    "line_keys",
    "numeric_factors",
    "plot_heatmap",
    "plot_metric_vs_factor",
    "plot_sweep",
    "read_sweep_folder",
    "replot_sweep",
]

METRIC_LABELS = {
    "time_to_target": f"time to target loss ({SECONDS})",
    "bytes_to_target": "traffic to target loss (bytes up + down)",
    "final_loss": "final training loss",
    "final_accuracy": "final training accuracy",
    "sim_time": f"simulated time ({SECONDS})",
}
#: Resolution of the sweep figures (drawn in matplotlib's default style, not the slide style).
DPI = 110
#: Font size of the sweep figures' titles (points).
TITLE_SIZE = 10.0
#: How far apart (in category widths) the markers of the schemes are at one categorical level.
CATEGORY_DODGE = 0.08
#: Height (axes fraction) per stacked marker of the band at the top where no run reached a point.
STRIP_STEP = 0.07
#: The look of a point by how many of its runs reached the target.
_ALL: dict[str, Any] = {"marker": "o", "ms": 6}
_SOME: dict[str, Any] = {
    "marker": "o",
    "ms": 6,
    "fillstyle": "bottom",
    "markerfacecoloralt": "white",
}
_NONE: dict[str, Any] = {"marker": "o", "ms": 6, "markerfacecolor": "none"}
#: Heatmap cells where runs exist but none has a value, and where every run failed.
NONE_HATCH: dict[str, Any] = {"facecolor": "0.82", "edgecolor": "0.35", "hatch": "///", "lw": 0}
FAILED_HATCH: dict[str, Any] = {
    "facecolor": "white",
    "edgecolor": "#d62728",
    "hatch": "xx",
    "lw": 0,
}


def _colors(points: pd.DataFrame) -> dict[str, tuple[float, float, float]]:
    rules = dict(zip(points["scheme"], points["rule"], strict=True))
    return rule_colors(rules)


def _notes(
    metric: str,
    lay: Layout,
    failed: int,
    total: int,
    *,
    interval: bool = True,
    together: Sequence[str] = (),
) -> list[str]:
    """What every figure of a sweep says under its title: what a point is, its interval, which
    keys vary together with the plotted ones (a ``[[zip]]`` or ``[sample]``), what was pooled,
    and which runs are left out."""
    if metric in TARGET_METRICS:
        what = "Mean of the runs that reached the target; reached/runs at each point"
    else:
        what = f"Mean of the runs with a finite {metric}; those/runs at each point"
    notes = [f"{what}; bars: {INTERVAL_NAME}, from {MIN_VALUES} runs." if interval else what]
    if together:
        notes.append(f"Varying together with it: {', '.join(together)}.")
    if lay.facets:
        notes.append("Panels: " + ", ".join(" & ".join(g) for g in lay.facets) + ".")
    if lay.pooled:
        names = ", ".join(" & ".join(g) for g in lay.pooled)
        notes.append(f"Pooled over {names}: each point mixes its levels (too many for panels).")
    if failed:
        notes.append(f"{failed} of {total} runs failed and are left out.")
    return notes


def _title(fig: Figure, what: str, title: str | None, notes: Sequence[str], width: float) -> None:
    head = f"{title}: {what}" if title else what
    text = wrap(head, width, TITLE_SIZE + 1) + "\n" + wrap(" ".join(notes), width, TITLE_SIZE)
    fig.suptitle(text, fontsize=TITLE_SIZE)


def _total_runs(table: pd.DataFrame) -> int:
    return int(table["run_id"].nunique()) if "run_id" in table else len(table)


def plot_metric_vs_factor(
    table: pd.DataFrame,
    factor: str,
    path: str | Path | None = None,
    *,
    factors: Sequence[str] = (),
    axes: Sequence[Sequence[str]] | None = None,
    metric: str = "auto",
    title: str | None = None,
    max_panels: int = MAX_PANELS,
) -> Figure:
    """``metric`` against ``factor``: a line per scheme and a panel per level of every other axis
    that changes the numbers (the data of :func:`~lwpdsim.analysis.sweep_tables.point_table`).

    Each point is the mean of the runs that reached the target, with ``reached/runs`` beside it
    and its interval; a filled marker when all runs reached it, a half-filled one when some did,
    an open one at the top of the axis when none did. ``axes`` are the sweep's axes (lists of keys
    that vary together; default: each of ``factors`` alone)."""
    metric = choose_metric(table, metric)
    groups = sweep_axes(axes, factors, [factor])
    points, lay = point_table(table, [factor], groups, metric, max_panels)
    panels = list(dict.fromkeys(points["panel"])) or [""]
    ncols = min(3, len(panels))
    nrows = math.ceil(len(panels) / ncols)
    width = max(8.0, 4.3 * ncols + 1.2)
    fig = figure(width, 3.3 * nrows + 2.4)
    grid = fig.subplots(nrows, ncols, sharey=True, squeeze=False)
    colors = _colors(points) if not points.empty else {}
    categorical = factor in table and not is_numeric(table[factor])
    positions = None
    if categorical:  # text or booleans: evenly spaced, in the sweep file's order
        levels = level_order(table, factor)
        positions = {v: float(i) for i, v in enumerate(levels)}
    else:
        levels = sorted(pd.to_numeric(points[factor]).unique()) if not points.empty else []
    missed = points[points["reached"] == 0]
    stack = int(missed.groupby(["panel", factor]).size().max()) if len(missed) else 0
    strip = STRIP_STEP * stack + 0.03 if stack else 0.0
    for i, (ax, panel) in enumerate(zip(grid.flat, panels, strict=False)):
        _draw_panel(ax, points[points["panel"] == panel], factor, colors, positions)
        if strip:
            _strip(ax, strip, none_text(metric) if i % ncols == 0 else None)
        if positions is not None:
            texts = [level_text(v) for v in levels]
            slant = sum(map(len, texts)) > 40
            ax.set_xticks(list(positions.values()), texts, rotation=25 if slant else 0)
        elif len(levels) <= 12 and _spread(levels):
            ax.set_xticks(levels, [level_text(v) for v in levels])
        if panel:
            ax.set_title(panel, fontsize="small")
        ax.set_xlabel(factor)
        ax.margins(x=0.12)
        ax.grid(True, alpha=0.3)
    for ax in list(grid.flat)[len(panels) :]:
        ax.set_visible(False)
    for ax in grid[:, 0]:
        ax.set_ylabel(METRIC_LABELS.get(metric, metric))
    _limits(grid[0, 0], points, metric, strip)
    if points.empty:
        grid[0, 0].text(0.5, 0.5, "no runs", transform=grid[0, 0].transAxes, ha="center")
    handles = _legend(colors, metric)
    fig.legend(
        handles=handles,
        loc="outside lower center",
        ncols=3 if width < 9 else 4,
        frameon=False,
        fontsize="small",
    )
    what = f"{METRIC_LABELS.get(metric, metric)} against {factor}"
    together = [k for g in groups if factor in g for k in g if k != factor]
    notes = _notes(metric, lay, failed_runs(table), _total_runs(table), together=together)
    _title(fig, what, title, notes, width)
    return save(fig, path, dpi=DPI, rc=None)


def _spread(levels: Sequence[float]) -> bool:
    """Whether numeric levels are far enough apart for a tick each (drawn points of a
    ``[sample]`` often are not: matplotlib's own ticks then)."""
    values = np.asarray(levels, dtype=float)
    if values.size < 2:
        return True
    return bool(np.diff(values).min() >= (values[-1] - values[0]) / 8)


def _draw_panel(
    ax: Axes,
    points: pd.DataFrame,
    factor: str,
    colors: dict[str, Any],
    positions: dict[Any, float] | None = None,
) -> None:
    """One panel: per scheme a line through the means, the markers, the intervals, ``r/n`` at
    every point and an open marker at the top where no run has a value. ``positions`` place the
    levels of a categorical factor (default: the factor's numbers): no line joins them, and each
    scheme's markers sit a little to the side of the others'."""
    slots: dict[float, int] = {}
    top = ax.get_xaxis_transform()  # x in data, y in axes coordinates
    keys = list(dict.fromkeys(points["scheme"]))
    for j, key in enumerate(keys):
        sub = points[points["scheme"] == key]
        c = colors[key]
        if positions is None:
            x = pd.to_numeric(sub[factor]).to_numpy(dtype=float)
        else:
            dodge = CATEGORY_DODGE * (j - (len(keys) - 1) / 2)
            x = sub[factor].map(positions).to_numpy(dtype=float) + dodge
        mean = sub["mean"].to_numpy(dtype=float)
        lo, hi = sub["lo"].to_numpy(dtype=float), sub["hi"].to_numpy(dtype=float)
        reached, runs = sub["reached"].to_numpy(dtype=int), sub["runs"].to_numpy(dtype=int)
        if positions is None:  # categories are not joined: no order between them
            ax.plot(x, mean, color=c, lw=1.4, gid=f"line:{key}")  # NaN breaks the line
        full, some, none = reached == runs, (reached > 0) & (reached < runs), reached == 0
        full &= reached > 0
        ax.plot(x[full], mean[full], ls="none", color=c, gid=f"all:{key}", **_ALL)
        ax.plot(x[some], mean[some], ls="none", color=c, gid=f"some:{key}", **_SOME)
        ci = np.isfinite(lo) & np.isfinite(hi)
        if ci.any():
            bars = ax.errorbar(
                x[ci],
                mean[ci],
                yerr=[mean[ci] - lo[ci], hi[ci] - mean[ci]],
                fmt="none",
                ecolor=c,
                capsize=3,
                lw=1.0,
            )
            for artist in bars.get_children():
                artist.set_gid(f"interval:{key}")
        for xv, m, r, n in zip(x[~none], mean[~none], reached[~none], runs[~none], strict=True):
            ax.annotate(
                fraction(r, n),
                (xv, m),
                xytext=(4, 3),
                textcoords="offset points",
                fontsize=7,
                color=c,
                gid=f"count:{key}",
            )
        for xv, n in zip(x[none], runs[none], strict=True):
            slot = slots.get(xv, 0)
            slots[xv] = slot + 1
            y = 1.0 - STRIP_STEP * (slot + 0.5) - 0.015
            ax.plot([xv], [y], transform=top, color=c, clip_on=False, gid=f"none:{key}", **_NONE)
            ax.annotate(
                fraction(0, n),
                (xv, y),
                xycoords=top,
                xytext=(5, -3),
                textcoords="offset points",
                fontsize=7,
                color=c,
                gid=f"count:{key}",
            )


def _strip(ax: Axes, height: float, text: str | None) -> None:
    """The band at the top of a panel where the points no run reached are drawn, named by
    ``text`` beside the axis (first column only)."""
    band = Rectangle((0, 1 - height), 1, height, transform=ax.transAxes, color="0.94", lw=0)
    band.set_zorder(0)
    ax.add_patch(band)
    if text:
        ax.text(
            -0.015,
            1 - height / 2,
            text.replace(" ", "\n"),
            transform=ax.transAxes,
            fontsize=7,
            color="0.4",
            ha="right",
            va="center",
            gid="band",
        )


def _limits(ax: Axes, points: pd.DataFrame, metric: str, strip: float) -> None:
    """The shared y range: from 0 for times, with room above the data for the top band."""
    values = np.concatenate([points["mean"], points["hi"]]).astype(float)
    values = values[np.isfinite(values)]
    if metric in (*TARGET_METRICS, "sim_time") or not values.size:
        ax.set_ylim(bottom=0)
    bottom, top = ax.get_ylim()
    if values.size:
        top = float(values.max()) + 0.05 * (float(values.max()) - bottom)
    if strip:
        top = bottom + (top - bottom) / (1 - strip)
    ax.set_ylim(bottom, top)


def _legend(colors: dict[str, Any], metric: str) -> list[Any]:
    handles: list[Any] = [Line2D([], [], color=c, lw=1.4, label=k) for k, c in colors.items()]
    some = "some reached: mean of those" if metric in TARGET_METRICS else "some finite"
    handles += [
        Line2D([], [], ls="none", color="0.3", label="all runs reached", **_ALL),
        Line2D([], [], ls="none", color="0.3", label=some, **_SOME),
        Line2D(
            [], [], ls="none", color="0.3", label=f"{none_text(metric)} (band at the top)", **_NONE
        ),
        Line2D([], [], color="0.3", marker="_", ms=8, lw=1.0, label=INTERVAL_SHORT),
    ]
    if metric not in TARGET_METRICS:
        handles[-4].set_label("all runs finite")
    return handles


def plot_heatmap(
    table: pd.DataFrame,
    x: str,
    y: str,
    path: str | Path | None = None,
    *,
    factors: Sequence[str] = (),
    axes: Sequence[Sequence[str]] | None = None,
    metric: str = "auto",
    title: str | None = None,
    max_panels: int = MAX_PANELS,
) -> Figure:
    """The mean of ``metric`` over every cell of factors ``x`` and ``y``, one panel per scheme
    (and per level of every other axis that changes the numbers), shared colour scale, each cell
    with ``reached/runs`` (the data of :func:`heatmap_table`): hatched where no run reached the
    target, blank where there was no run (a point skipped as invalid)."""
    metric = choose_metric(table, metric)
    cells, lay = heatmap_table(
        table, x, y, factors=factors, axes=axes, metric=metric, max_panels=max_panels
    )
    panels = list(dict.fromkeys(zip(cells["panel"], cells["scheme"], strict=True)))
    xs = sorted(cells[x].unique())
    ys = sorted(cells[y].unique())
    means = cells.loc[cells["state"] == "value", "mean"].to_numpy(dtype=float)
    vmin, vmax = (float(means.min()), float(means.max())) if means.size else (0.0, 1.0)
    ncols = min(3, max(1, len(panels)))
    nrows = math.ceil(max(1, len(panels)) / ncols)
    width = 3.6 * ncols + 1.4
    fig = figure(width, 3.1 * nrows + 1.6)
    grid = fig.subplots(nrows, ncols, squeeze=False)
    cmap = mpl.colormaps["viridis"].with_extremes(bad="white")
    image = None
    states: set[str] = set()
    for ax, (panel, key) in zip(grid.flat, panels, strict=False):
        sub = cells[(cells["panel"] == panel) & (cells["scheme"] == key)]
        values = np.full((len(ys), len(xs)), np.nan)
        for _, _, xv, yv, runs, reached, mean, state in sub.itertuples(index=False, name=None):
            i, j = ys.index(yv), xs.index(xv)
            states.add(state)
            if state == "value":
                values[i, j] = float(mean)
            _cell(ax, i, j, state, float(mean), int(reached), int(runs), vmin, vmax)
        image = ax.imshow(
            np.ma.masked_invalid(values),
            origin="lower",
            aspect="auto",
            cmap=cmap,
            vmin=vmin,
            vmax=vmax,
            zorder=0,
        )
        ax.set_xticks(range(len(xs)), [level_text(v) for v in xs])
        ax.set_yticks(range(len(ys)), [level_text(v) for v in ys])
        ax.set_xlabel(x)
        ax.set_ylabel(y)
        ax.set_title(f"{key}\n{panel}" if panel else str(key), fontsize="small")
    for ax in list(grid.flat)[len(panels) :]:
        ax.set_visible(False)
    if image is not None:
        label = METRIC_LABELS.get(metric, metric)
        fig.colorbar(image, ax=grid, label=label, shrink=0.9)
    handles = [
        Patch(**NONE_HATCH, label=f"{none_text(metric)} (runs: 0/n)"),
        Patch(facecolor="white", edgecolor="0.6", lw=0.8, label="no run (skipped as invalid)"),
    ]
    if "failed" in states:
        handles.append(Patch(**FAILED_HATCH, label="every run failed"))
    fig.legend(handles=handles, loc="outside lower center", ncols=len(handles), frameon=False)
    what = f"mean {METRIC_LABELS.get(metric, metric)} over {x} and {y}"
    groups = sweep_axes(axes, factors, [x, y])
    together = [k for g in groups if x in g or y in g for k in g if k not in (x, y)]
    notes = _notes(
        metric, lay, failed_runs(table), _total_runs(table), interval=False, together=together
    )
    _title(fig, what, title, notes, width)
    return save(fig, path, dpi=DPI, rc=None)


def _cell(
    ax: Axes,
    i: int,
    j: int,
    state: str,
    mean: float,
    reached: int,
    runs: int,
    vmin: float,
    vmax: float,
) -> None:
    """Mark one heatmap cell by its state, with its text."""
    if state in ("none", "failed"):
        look = NONE_HATCH if state == "none" else FAILED_HATCH
        ax.add_patch(Rectangle((j - 0.5, i - 0.5), 1, 1, zorder=1, gid=state, **look))
    if state == "value":
        shade = (mean - vmin) / (vmax - vmin) if vmax > vmin else 0.5
        text = f"{mean:.3g}\n{fraction(reached, runs)}"
        color = "black" if shade > 0.6 else "white"
    elif state == "none":
        text, color = f"none\n{fraction(0, runs)}", "black"
    elif state == "failed":
        text, color = "failed", "#d62728"
    else:
        text, color = "no run", "0.55"
    ax.text(j, i, text, ha="center", va="center", fontsize="x-small", color=color, zorder=2)


def plot_sweep(
    table: pd.DataFrame,
    axes: Sequence[Sequence[str]],
    out_dir: str | Path,
    *,
    metric: str = "auto",
    metrics: Sequence[str] = (),
    title: str | None = None,
) -> list[Path]:
    """Write the aggregate figures of a sweep into ``out_dir`` and return their paths.

    ``axes`` are the sweep's independent axes, each a group of keys that vary together (a factor
    alone, or the keys of one ``[[zip]]`` table). For each of ``metrics`` (default: ``metric``;
    ``"auto"`` is the time to target if any run reached it, else the final loss): one figure
    against the first varied key of each axis (a numeric one if it has any: a zip's other keys
    would only relabel it), and a heatmap over those of the first two numeric axes.
    """
    out = Path(out_dir)
    rows = table[table["status"] == "ok"] if "status" in table else table
    if rows.empty:
        return []
    chosen = dict.fromkeys(choose_metric(rows, m) for m in (metrics or [metric]))
    return [path for m in chosen for path in _metric_figures(table, rows, axes, out, m, title)]


def _metric_figures(
    table: pd.DataFrame,
    rows: pd.DataFrame,
    axes: Sequence[Sequence[str]],
    out: Path,
    metric: str,
    title: str | None,
) -> list[Path]:
    """The figures of one metric (see :func:`plot_sweep`)."""
    groups = [list(g) for g in axes]
    written = []
    firsts = []
    for group in axes:
        numeric = numeric_factors(rows, group)
        varied = numeric or varied_factors(rows, group)
        if not varied:
            continue
        key = varied[0]
        if numeric:
            firsts.append(key)
        path = out / f"{metric}_vs_{safe_name(key)}.png"
        plot_metric_vs_factor(table, key, path, axes=groups, metric=metric, title=title)
        written.append(path)
    if len(firsts) >= 2:
        x, y = firsts[:2]
        path = out / f"{metric}_heatmap_{safe_name(x)}_{safe_name(y)}.png"
        plot_heatmap(table, x, y, path, axes=groups, metric=metric, title=title)
        written.append(path)
    return written


def replot_sweep(
    directory: str | Path, *, metric: str = "auto", metrics: Sequence[str] | None = None
) -> list[Path]:
    """Redraw the figures of a sweep's results directory from its ``runs.csv`` and ``sweep.json``
    (for the metrics it names, unless ``metrics`` are given).

    Raises :class:`~lwpdsim.errors.ScenarioError` naming the file when either is damaged."""
    d = Path(directory)
    name, axes, table = read_sweep_folder(d)
    chosen = sweep_metrics(d) if metrics is None else tuple(metrics)
    return plot_sweep(table, axes, d, metric=metric, metrics=chosen, title=name)
