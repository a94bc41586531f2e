"""The figures of an ``intervals`` spec: the mean time between updates as the cluster grows
(``<spec>_mean_gap.png``) and its distribution at one size (``<spec>_cdf.png``), against the
order-statistic theory (the data of :func:`lwpdsim.figures.tables.interval_tables`); and, with a
``target_loss``, the time to reach it as the cluster grows (``<spec>_to_target.png``, the data of
:func:`lwpdsim.figures.tables.interval_target_table`). Axes turn logarithmic when the numbers span
more than a factor of 10 (strong scaling: the times fall like 1/n)."""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.axes import Axes
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
    fig, ax = _one_panel()
    for label, color, t in _by_rule(rules, table):
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
    per = str(table["latency_per"].iloc[0]) if "latency_per" in table else "unit"
    what = "one worker's full gradient" if per == "gradient" else "one task's mean"
    ax.axhline(compute, color="0.3", ls=":", lw=1.2, label=f"{what}: E[X] = {compute:g}")
    _workers_axis(ax, spec)
    ax.set_ylabel(f"mean time between updates ({SECONDS})")
    _value_axis(ax, [*table["lo95"], *table["hi95"], *table["theory_mean"], compute])
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


def _one_panel() -> tuple[Figure, Axes]:
    fig = figure(8.6, 4.6)
    return fig, fig.add_subplot()


def _by_rule(
    rules: Mapping[str, str], table: pd.DataFrame
) -> Iterator[tuple[str, tuple[float, float, float], pd.DataFrame]]:
    """Each rule's label, colour and rows of ``table``, in the rules' order."""
    colors = rule_colors(rules)
    for label in rules:
        yield label, colors[label], table[table["scheme"] == label]


def _workers_axis(ax: Axes, spec: FigureSpec) -> None:
    ax.set_xscale("log", base=2)
    ax.set_xticks(list(spec.workers), [str(w) for w in spec.workers])
    ax.xaxis.set_minor_formatter(NullFormatter())
    ax.set_xlabel("workers n")
    ax.grid(True, alpha=0.3)


def _value_axis(ax: Axes, values: Sequence[float]) -> None:
    """A linear axis from 0, or a logarithmic one when the finite positive values span more than
    a factor of 10."""
    v = np.asarray(values, dtype=float)
    v = v[np.isfinite(v) & (v > 0)]
    if v.size and v.max() > 10 * v.min():
        ax.set_yscale("log")
    else:
        ax.set_ylim(bottom=0)


@styled
def draw_interval_target(
    spec: FigureSpec, rules: Mapping[str, str], table: pd.DataFrame, path: Path
) -> Figure:
    """Time until the training loss first reaches the spec's target against the number of
    workers: mean and bootstrap interval over the seeds that reached it, and how many did."""
    fig, ax = _one_panel()
    for label, color, t in _by_rule(rules, table):
        mean = t["time_to_target_mean"].to_numpy(dtype=float)
        lo = t["time_to_target_lo95"].to_numpy(dtype=float)
        hi = t["time_to_target_hi95"].to_numpy(dtype=float)
        ok = np.isfinite(lo) & np.isfinite(hi)
        err = np.where(ok, [mean - lo, hi - mean], 0.0)  # bounds within the values' range
        ax.errorbar(
            t["workers"],
            mean,
            yerr=err,
            fmt="o-",
            color=color,
            ms=6,
            capsize=3,
            lw=1.2,
            label=f"{label}: simulated ({INTERVAL_SHORT})",
        )
        for x, y, r, s in zip(t["workers"], mean, t["reached"], t["seeds"], strict=True):
            if not r:
                ax.annotate(
                    f"0/{s}",
                    (x, 0.02),
                    xycoords=("data", "axes fraction"),
                    fontsize=8,
                    color=color,
                    ha="center",
                )
            elif r < s and math.isfinite(y):  # a mean over fewer seeds than ran: say so
                ax.annotate(
                    f"{r}/{s}",
                    (x, y),
                    textcoords="offset points",
                    xytext=(5, 5),
                    fontsize=8,
                    color=color,
                )
    _workers_axis(ax, spec)
    ax.set_ylabel(f"simulated time to loss {spec.target_loss:g}")
    _value_axis(
        ax,
        [
            *table["time_to_target_lo95"],
            *table["time_to_target_hi95"],
            *table["time_to_target_mean"],
        ],
    )
    missed = table[table["reached"] < table["seeds"]]
    note = (
        "numbers: seeds that reached the target / seeds run (means over those that reached)"
        if len(missed)
        else f"every seed reached the target ({int(table['seeds'].min())} per point)"
    )
    ax.plot([], [], ls="none", label=note)
    fig.legend(loc="outside right upper", frameon=False)
    ax.set_title(f"{spec.title}: time to target")
    return save(fig, path)


@styled
def draw_cdf(spec: FigureSpec, rules: Mapping[str, str], table: pd.DataFrame, path: Path) -> Figure:
    """Distribution of the time between updates at ``cdf_workers`` against theory."""
    fig, ax = _one_panel()
    for _label, color, t in _by_rule(rules, table):
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
