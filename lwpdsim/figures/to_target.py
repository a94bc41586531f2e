"""The to-target figure (``<spec>_to_target.png``): per rule at its chosen step size, the time and
bytes until the loss first reaches the target (mean over the seeds that reached it, how many did,
and its bootstrap interval, :func:`lwpdsim.analysis.stats.mean_interval`) and the final loss at the
end of the time budget (the data of :func:`lwpdsim.figures.tables.chosen_summary`)."""

from __future__ import annotations

import math
from collections.abc import Mapping
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from ..analysis.stats import INTERVAL_NAME, MIN_VALUES
from ..analysis.style import SECONDS, at_time, figure, save, styled, wrap
from .colors import label_colors
from .spec import FigureSpec


@styled
def draw_to_target(
    spec: FigureSpec, rules: Mapping[str, str], summary: pd.DataFrame, path: Path
) -> Figure:
    """Per rule: time and bytes until the target loss (mean of the seeds that reached it, how
    many did, its interval) and the final loss at the end of the budget (mean, min-max)."""
    colors = label_colors(rules)
    labels = list(summary["scheme"])
    pos = np.arange(len(labels))[::-1]
    horizon = at_time(spec.scenario.train.max_time)
    panels = [
        ("time_to_target", "simulated time to reach the target", 1.0, SECONDS),
        ("bytes_to_target", "traffic to reach the target (up + down)", 1e6, "MB"),
        ("final_loss", f"final training loss {horizon}", 1.0, "training loss"),
    ]
    width = 14.0
    fig = figure(width, 0.55 * len(labels) + 2.6)
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
                    f"not reached, 0/{spec.seeds}" if key != "final_loss" else "no value",
                    va="center",
                    color="0.4",
                    fontsize=9,
                    transform=ax.get_yaxis_transform(),
                )
                continue
            if math.isfinite(a) and math.isfinite(b):
                ax.hlines(p, a, b, color=c, lw=2.2, alpha=0.7, gid=f"interval:{label}")
            ax.plot([m], [p], "o", color=c, ms=7, gid=f"mean:{label}")
        if key != "final_loss":
            reached = summary["reached"].to_numpy()
            for p, label, m, r in zip(pos, labels, mid, reached, strict=True):
                if math.isfinite(m):
                    ax.text(
                        1.0,
                        p,
                        f"{r}/{spec.seeds}",
                        gid=f"reached:{label}",
                        va="center",
                        ha="right",
                        fontsize=8.5,
                        color="0.35",
                        transform=ax.get_yaxis_transform(),
                    )
        ax.set_xlim(0, right * 1.12 if right > 0 else 1)
        ax.set_title(heading, fontsize=11)
        ax.set_xlabel(unit)
        ax.grid(True, axis="x", alpha=0.3)
    axes[0].set_yticks(pos, labels)
    axes[0].set_ylim(-0.7, len(labels) - 0.3)
    target = spec.target_loss
    head = wrap(f"{spec.title}: reaching training loss {target:g}", width, 12)
    notes = wrap(
        f"Time and traffic: mean over the seeds that reached it (how many: at the right), bars: "
        f"{INTERVAL_NAME} (none from fewer than {MIN_VALUES} seeds). Final loss {horizon}: mean "
        f"and min-max over {spec.seeds} seeds.",
        width,
        11,
    )
    fig.suptitle(f"{head}\n{notes}", fontsize=11)
    return save(fig, path)
