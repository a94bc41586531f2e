"""The figure against a number in the labels (``<spec>_by_<name>.png``, a spec with ``by``): per
group of labels ("qsgd K=1", "qsgd K=2", ...: group qsgd), the chosen step size and the time to the
target against the number (the data of :func:`lwpdsim.figures.tables.by_table`)."""

from __future__ import annotations

import math
from collections.abc import Mapping
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from ..analysis.style import SECONDS, figure, save, side_suptitle, styled
from .colors import label_colors
from .spec import FigureSpec


@styled
def draw_by(spec: FigureSpec, rules: Mapping[str, str], table: pd.DataFrame, path: Path) -> Figure:
    """Two panels against the labels' number: each group's chosen step size (an open marker at an
    edge of the grid) and its mean time to the target over the seeds that reached it (bars: the
    interval; "r/n" beside a point that not every seed reached; none when none did)."""
    by = spec.by or "value"
    groups = list(dict.fromkeys(table["group"]))
    colors = label_colors({g: f"group {g}" for g in groups})  # one colour per group
    width = 12.0
    fig = figure(width, 4.6)
    lr_ax, t_ax = fig.subplots(1, 2, sharex=True)
    values = sorted(set(table[by].astype(float)))
    for i, g in enumerate(groups):
        sub = table[table["group"] == g]
        shift = 2.0 ** (0.04 * (i - (len(groups) - 1) / 2))  # groups a little apart along x
        x = sub[by].to_numpy(dtype=float) * shift
        c = colors[g]
        lr = sub["lr"].to_numpy(dtype=float)
        lr_ax.plot(x, lr, "-o", color=c, lw=1.5, ms=5, label=g)
        at_edge = sub["lr_edge"].fillna("").astype(str).to_numpy() != ""
        lr_ax.plot(x[at_edge], lr[at_edge], "o", ms=11, mfc="none", mec=c, mew=1.5)
        mean = sub["time_to_target_mean"].to_numpy(dtype=float)
        lo = sub["time_to_target_lo95"].to_numpy(dtype=float)
        hi = sub["time_to_target_hi95"].to_numpy(dtype=float)
        ok = np.isfinite(mean)
        t_ax.plot(x[ok], mean[ok], "-o", color=c, lw=1.5, ms=5, label=g)
        band = ok & np.isfinite(lo) & np.isfinite(hi)
        t_ax.vlines(x[band], lo[band], hi[band], color=c, lw=1.0, alpha=0.6)
        for xi, m, r, n in zip(x, mean, sub["reached"], sub["seeds"], strict=True):
            if math.isfinite(m) and int(r) < int(n):
                t_ax.annotate(f"{int(r)}/{int(n)}", (xi, m), xytext=(4, 4), **_small(c))
    if not np.isfinite(table["time_to_target_mean"].to_numpy(dtype=float)).any():
        t_ax.text(0.5, 0.5, "no seed reached the target", ha="center", transform=t_ax.transAxes)
    for ax in (lr_ax, t_ax):
        ax.set_xscale("log", base=2)
        ax.set_xticks(values, [f"{v:g}" for v in values])
        ax.minorticks_off()
        ax.set_xlabel(by)
        ax.grid(True, alpha=0.3)
    lr_ax.set_yscale("log")
    grid = list(spec.lr_grid)
    lr_ax.set_yticks(grid, [f"{v:g}" for v in grid])
    lr_ax.set_ylim(grid[0] / 1.5, grid[-1] * 1.5)
    lr_ax.set_ylabel("chosen step size (ringed: at an edge of the grid)")
    t_ax.set_ylabel(f"time to loss {spec.target_loss:g} ({SECONDS})")
    t_ax.set_ylim(bottom=0)
    handles, labels = lr_ax.get_legend_handles_labels()
    fig.legend(handles, labels, loc="outside right upper", frameon=False)
    side_suptitle(fig, f"{spec.title}: step size and time to target against {by}", width)
    return save(fig, path)


def _small(color: tuple[float, float, float]) -> dict[str, object]:
    return {"textcoords": "offset points", "fontsize": 8, "color": color}
