"""The to-target figure (``<spec>_to_target.png``): per rule at its chosen step size, the time and
bytes until the loss first reaches the target (95% t-interval over the seeds that reached it) and
the final loss (the data of :func:`lwpdsim.figures.tables.chosen_summary`)."""

from __future__ import annotations

import math
from collections.abc import Mapping
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from ..analysis.style import figure, rule_colors, save, styled
from .spec import FigureSpec


@styled
def draw_to_target(
    spec: FigureSpec, rules: Mapping[str, str], summary: pd.DataFrame, path: Path
) -> Figure:
    """Per rule: time and bytes until the target loss (95% t-interval) and the final loss."""
    colors = rule_colors(rules)
    labels = list(summary["scheme"])
    pos = np.arange(len(labels))[::-1]
    panels = [
        ("time_to_target", "simulated time to reach the target", 1.0, ""),
        ("bytes_to_target", "traffic to reach the target", 1e6, " (MB)"),
        ("final_loss", f"final training loss (t = {spec.scenario.train.max_time:g})", 1.0, ""),
    ]
    fig = figure(14.0, 0.55 * len(labels) + 2.2)
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
    return save(fig, path)
