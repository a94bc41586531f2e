"""The time-between-updates figures of an ``intervals`` spec (``<spec>_mean_gap.png`` and
``<spec>_cdf.png``): the mean gap as the cluster grows and its distribution at one size, against
the order-statistic theory (the data of :func:`lwpdsim.figures.tables.interval_tables`)."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import pandas as pd
from matplotlib.figure import Figure
from matplotlib.ticker import NullFormatter

from ..analysis.stats import INTERVAL_SHORT
from ..analysis.style import SECONDS, figure, rule_colors, save, styled
from .spec import FigureSpec


@styled
def draw_intervals(
    spec: FigureSpec, rules: Mapping[str, str], table: pd.DataFrame, path: Path
) -> Figure:
    """Mean time between updates against the number of workers, with theory."""
    fig = figure(8.6, 4.6)
    ax = fig.add_subplot()
    colors = rule_colors(rules)
    for label in rules:
        color = colors[label]
        t = table[table["scheme"] == label]
        ax.errorbar(
            t["workers"],
            t["mean"],
            yerr=[t["mean"] - t["lo95"], t["hi95"] - t["mean"]],
            fmt="o",
            color=color,
            ms=6,
            capsize=3,
            label=f"{label}: simulated mean ({INTERVAL_SHORT})",
        )
        ax.plot(t["workers"], t["theory_mean"], "--", color=color, lw=1.2, label=f"{label}: theory")
    compute = float(table["compute_mean"].iloc[0])
    ax.axhline(compute, color="0.3", ls=":", lw=1.2, label=f"one task's mean E[X] = {compute:g}")
    ax.set_xscale("log", base=2)
    ax.set_xticks(list(spec.workers), [str(w) for w in spec.workers])
    ax.xaxis.set_minor_formatter(NullFormatter())
    ax.set_xlabel("workers n")
    ax.set_ylabel(f"mean time between updates ({SECONDS})")
    ax.set_ylim(bottom=0)
    ax.grid(True, alpha=0.3)
    handles, names = ax.get_legend_handles_labels()
    rank = {label: i for i, label in enumerate(rules)}
    order = sorted(
        range(len(names)),
        key=lambda i: (rank.get(names[i].split(":")[0], len(rank)), "theory" in names[i]),
    )
    fig.legend(
        [handles[i] for i in order],
        [names[i] for i in order],
        loc="outside right upper",
        frameon=False,
    )
    ax.set_title(f"{spec.title}: time between updates")
    return save(fig, path)


@styled
def draw_cdf(spec: FigureSpec, rules: Mapping[str, str], table: pd.DataFrame, path: Path) -> Figure:
    """Distribution of the time between updates at ``cdf_workers`` against theory."""
    fig = figure(8.6, 4.6)
    ax = fig.add_subplot()
    colors = rule_colors(rules)
    for label in rules:
        t = table[table["scheme"] == label]
        color = colors[label]
        ax.plot(
            t["x"],
            t["empirical"],
            color=color,
            lw=1.8,
            drawstyle="steps-post",
            label=f"{t['label'].iloc[0]}: simulated",
        )
        if t["theory"].notna().any():
            ax.plot(t["x"], t["theory"], "--", color="black", lw=1.1)
    ax.plot([], [], "--", color="black", lw=1.1, label="theory (order statistic)")
    ax.set_xlabel(f"time between updates ({SECONDS})")
    ax.set_ylabel("P(time between updates ≤ x)")
    ax.set_ylim(0, 1.02)
    ax.set_xlim(left=0)
    ax.grid(True, alpha=0.3)
    fig.legend(loc="outside right upper", frameon=False)
    ax.set_title(f"{spec.title}: n = {spec.cdf_workers}")
    return save(fig, path)
