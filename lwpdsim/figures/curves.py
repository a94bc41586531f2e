"""The loss-curves figure (``<spec>_loss_vs_time.png``, ``_loss_vs_updates.png``,
``_loss_vs_bytes.png``): each rule at
its chosen step size, the mean over seeds with a min-max band, the LWPD variants side by side (the
data of :func:`lwpdsim.figures.tables.curves_table`)."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pandas as pd
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from ..analysis.style import (
    X_LABELS,
    band,
    figure,
    log_axis,
    save,
    side_suptitle,
    side_title,
    styled,
)
from ..plugins import loaded_rule
from .colors import label_colors
from .spec import FigureSpec

#: Axis labels of the curve kinds :data:`~lwpdsim.analysis.style.X_LABELS` has none for.
X_AXES = {"bytes": "bytes sent up (cumulative, workers to master)"}
#: What the loss is plotted against, per curve kind (in the title).
VERSUS = {"time": "simulated time", "update": "updates", "bytes": "bytes sent up"}


def curve_panels(rules: Mapping[str, str], split_lwpd: bool) -> list[list[str]]:
    """Labels per panel: one panel per label of a rule whose variants are best seen apart
    (:attr:`Scheme.panel_per_label`, LWPD's decoders), with every other rule beside it, when the
    spec splits them and there are several; else one panel of everything."""
    split = [label for label, rule in rules.items() if _panel_per_label(rule)]
    if not split_lwpd or len(split) < 2:
        return [list(rules)]
    others = [label for label in rules if label not in split]
    return [[*others, label] for label in split]


def _panel_per_label(rule: str) -> bool:
    cls = loaded_rule(rule)
    return cls is not None and cls.panel_per_label


@styled
def draw_curves(
    spec: FigureSpec, rules: Mapping[str, str], curves: pd.DataFrame, x: str, path: Path
) -> Figure:
    """Loss curves (mean and min-max band over seeds), LWPD decoders side by side."""
    colors = label_colors(rules)
    panels = curve_panels(rules, spec.split_lwpd)
    width = 4.3 * len(panels) + 2.6 if len(panels) > 1 else 8.6
    fig = figure(width, 4.6)
    axes = fig.subplots(1, len(panels), sharex=True, sharey=True, squeeze=False)[0]
    for ax, labels in zip(axes, panels, strict=True):
        for label in labels:
            c = curves[curves["scheme"] == label]
            if c.empty:
                continue
            style = "default" if x == "update" else "steps-post"
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
            band(ax, c["x"], c["lo"], c["hi"], colors[label], alpha=0.16, steps=x != "update")
        if spec.target_loss is not None:
            ax.axhline(spec.target_loss, color="0.35", ls=":", lw=1.2)
        if len(panels) > 1:
            ax.set_title(labels[-1], loc="left", fontweight="bold", fontsize=11)
        ax.set_xlabel(X_AXES.get(x, X_LABELS.get(x, x)))
        ax.set_xlim(left=0)
        ax.grid(True, which="both", alpha=0.3)
    if (curves["lo"] > 0).all():
        log_axis(axes[0], label_all_below=12, two_five_below=1000)
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
    vs = VERSUS.get(x, x)
    heading = f"{spec.title}: training loss vs {vs}"
    if len(panels) > 1:
        side_suptitle(fig, heading, width)
    else:
        side_title(axes[0], heading, width)
    return save(fig, path)
