"""The decoding-error figure of a compare spec (``<spec>_decode_error.png``, curve kind
``decode_error``), per rule that measured ``||step - g|| / ||g||``, in two panels: (a) the mean
error of the steps in each window of simulated time, and (b) the CDF of all its steps' errors
pooled over the seeds, the legend giving the fraction that decoded exactly (error below
:data:`~lwpdsim.analysis.decoding.EXACT`) and the mean. The data of
:func:`lwpdsim.figures.tables.decode_error_tables`."""

from __future__ import annotations

import math
from collections.abc import Mapping
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from ..analysis.decoding import EXACT, FLOOR
from ..analysis.style import STYLE, X_LABELS, figure, save, styled, wrap
from .colors import label_colors
from .spec import FigureSpec

ERROR = "decoding error ||step - g|| / ||g||"
TITLE = STYLE["figure.titlesize"]


@styled
def draw_decode_error(
    spec: FigureSpec,
    rules: Mapping[str, str],
    tables: tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame],
    path: Path,
) -> Figure:
    """Mean decoding error per window against simulated time (log y) beside the CDF of the
    errors (log x); ``tables`` are the window means, the CDF and the per-rule summary."""
    windows, cdf, stats = tables
    colors = label_colors(rules)
    width = 12.0
    fig = figure(width, 4.6 + 0.25 * math.ceil(len(stats) / 2))
    over_time, spread = fig.subplots(1, 2)
    for label in rules:
        w = windows[windows["scheme"] == label]
        c = cdf[cdf["scheme"] == label]
        s = stats[stats["scheme"] == label]
        if s.empty:
            continue
        row = s.iloc[0]
        over_time.plot(
            w["x"], np.maximum(w["mean"], FLOOR), color=colors[label], lw=1.5, marker=".", ms=4
        )
        spread.plot(
            c["error"],
            c["cdf"],
            color=colors[label],
            lw=1.6,
            drawstyle="steps-post",
            label=f"{label}, lr {row['lr']:g}: {row['exact']:.0%} exact, mean {row['mean']:.2g}",
        )
    over_time.set_yscale("log")
    over_time.set_xlabel(X_LABELS["time"])
    over_time.set_xlim(left=0)
    over_time.set_ylabel(f"mean {ERROR}")
    over_time.set_title("(a) mean per window of consecutive steps", loc="left")
    spread.axvline(EXACT, color="black", ls=":", lw=1)
    spread.set_xscale("log")
    spread.set_xlim(FLOOR, float(cdf["error"].max()) if not cdf.empty else 1.0)
    spread.set_ylim(0, 1.02)
    spread.set_xlabel(ERROR)
    spread.set_ylabel("fraction of steps with error ≤ x")
    spread.set_title(f"(b) CDF of all steps (dotted: exact below {EXACT:g})", loc="left")
    for ax in (over_time, spread):
        ax.grid(True, which="both", alpha=0.3)
    fig.legend(
        loc="outside lower center",
        ncols=2,
        frameon=False,
        title=f"the steps of {spec.seeds} seeds pooled; errors below {FLOOR:g} drawn at it",
    )
    fig.suptitle(wrap(f"{spec.title}: decoding error per update", width - 1.0, TITLE))
    return save(fig, path)
