"""The decoding-error figure of a compare spec (``<spec>_decode_error.png``, curve kind
``decode_error``): per rule that measured it, the median decoding error ``||step - g|| / ||g||`` of
the steps in each window of simulated time, with the quartiles as a band, on a log scale (the data
of :func:`lwpdsim.analysis.decoding.decode_error_curves`)."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from ..analysis.decoding import FLOOR
from ..analysis.style import X_LABELS, figure, save, side_title, styled
from .colors import label_colors
from .spec import FigureSpec


@styled
def draw_decode_error(
    spec: FigureSpec, rules: Mapping[str, str], curves: pd.DataFrame, path: Path
) -> Figure:
    """Median decoding error per window of simulated time (quartile band), log y."""
    colors = label_colors(rules)
    width = 8.6
    fig = figure(width, 4.6)
    ax = fig.subplots()
    for label in rules:
        c = curves[curves["scheme"] == label]
        if c.empty:
            continue
        lr = float(c["lr"].iloc[0]) if "lr" in c else float("nan")
        ax.plot(
            c["x"],
            np.maximum(c["median"], FLOOR),
            color=colors[label],
            lw=1.5,
            marker=".",
            ms=3,
            label=f"{label}, lr {lr:g}",
        )
        ax.fill_between(
            c["x"],
            np.maximum(c["q25"], FLOOR),
            np.maximum(c["q75"], FLOOR),
            color=colors[label],
            alpha=0.16,
            lw=0,
        )
    ax.set_yscale("log")
    ax.set_xlabel(X_LABELS["time"])
    ax.set_xlim(left=0)
    ax.set_ylabel("decoding error ||step - g|| / ||g||")
    ax.grid(True, which="both", alpha=0.3)
    fig.legend(
        loc="outside right upper",
        frameon=False,
        title=f"median over the steps\nof {spec.seeds} seeds per window\nband: quartiles",
    )
    side_title(ax, f"{spec.title}: decoding error per update vs simulated time", width)
    return save(fig, path)
