"""The step-size grid figure (``<spec>_lr_grid.png``): every rule's mean final loss at every step
size of the common grid, its min-max over seeds, and the chosen step size ringed, with an arrow
outwards when it is the grid's smallest or largest, an edge (the data of
:func:`lwpdsim.figures.tables.lr_grid_table`)."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.ticker import NullFormatter

from ..analysis.style import at_time, figure, log_axis, save, side_title, styled
from .colors import label_colors
from .spec import FigureSpec


@styled
def draw_lr_grid(
    spec: FigureSpec, rules: Mapping[str, str], grid: pd.DataFrame, path: Path
) -> Figure:
    """Mean final loss for every step size of the grid; the chosen one ringed, with an arrow
    outwards at an edge of the grid."""
    colors = label_colors(rules)
    finite = grid["hi"].to_numpy(dtype=float)
    finite = finite[np.isfinite(finite)]
    top = float(finite.max()) * 1.6 if finite.size else 10.0
    fig = figure(8.6, 4.6)
    ax = fig.add_subplot()
    n = len(rules)
    edges = False
    for i, label in enumerate(rules):
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
        sides = g["edge"].fillna("").astype(str).to_numpy() if "edge" in g else np.full(len(g), "")
        for x, y, side in zip(lr[pick], mean[pick], sides[pick], strict=True):
            if side:  # a choice at an edge of the grid: an arrow to where the best may lie
                beyond = x * 1.09 if side == "top" else x / 1.09
                ax.plot([beyond], [y], ">" if side == "top" else "<", color=c, ms=8)
                edges = True
    ax.set_xscale("log")
    ax.set_xticks(list(spec.lr_grid), [f"{v:g}" for v in spec.lr_grid])
    ax.xaxis.set_minor_formatter(NullFormatter())
    ax.set_xticks([], minor=True)
    log_axis(ax, label_all_below=12, two_five_below=1000)
    ax.set_xlabel("step size (the common grid)")
    horizon = spec.scenario.train.max_time
    ax.set_ylabel(f"final training loss {at_time(horizon)}")
    ax.grid(True, which="both", alpha=0.3)
    handles, names = ax.get_legend_handles_labels()
    handles.append(Line2D([], [], ls="none", marker="o", ms=11, mfc="none", mec="0.3", mew=2))
    names.append("chosen: " + spec.select.replace("_", " "))
    if edges:
        handles.append(Line2D([], [], ls="none", marker=">", color="0.3", ms=8))
        names.append("chosen at an edge of the grid:\nthe best may lie beyond it")
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
    side_title(ax, f"{spec.title}: step-size grid", 8.6)
    return save(fig, path)
