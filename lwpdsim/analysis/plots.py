"""Figures of runs: curves against simulated time and updates, traffic, and the time between
updates against theory; :func:`draw_run` writes a run's figures, worker timelines included.

Every function draws what a function of :mod:`lwpdsim.analysis.data` returns, takes a mapping
``label -> RunResult`` (curves also ``label -> [RunResult, ...]``, one run per seed, drawn as a mean
with a min-max band) and an optional ``path``, and returns the :class:`~matplotlib.figure.Figure`.
The look (slide style, byte-stable PNG files, log axes, a colour per rule) comes from
:mod:`lwpdsim.analysis.style`; the worker timelines are :mod:`lwpdsim.analysis.timeline_plots`.
"""

from __future__ import annotations

import io
import math
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import matplotlib as mpl
import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.patches import Patch
from matplotlib.ticker import MaxNLocator

from ..io.files import PLAIN, Writer
from ..results import RunResult, safe_name
from . import data, decoding
from .style import (
    DPI,
    SECONDS,
    STYLE,
    X_LABELS,
    band,
    figure,
    heading,
    log_axis,
    save,
    scheme_colors,
    shade,
    side_suptitle,
    side_title,
    styled,
    wrap,
)
from .timeline_plots import plot_timeline

# --------------------------------------------------------------------------- curves

_METRIC_LABELS = {
    "loss": "training loss",
    "accuracy": "training accuracy",
    "test_loss": "test loss",
    "test_accuracy": "test accuracy",
}


@styled
def plot_curves(
    results: data.Runs,
    path: str | Path | None = None,
    *,
    x: str = "time",
    metric: str = "loss",
    title: str | None = None,
    target: float | None = None,
) -> Figure:
    """``metric`` against simulated time or updates, one line per label (the data of
    :func:`~lwpdsim.analysis.data.loss_curves`); labels with several runs are drawn as the mean
    over seeds with a band from the lowest to the highest run. ``target`` (a training loss) is
    drawn on the training-loss axis only."""
    curves = data.loss_curves(results, x, metric=metric)
    colors = scheme_colors(results)
    fig = figure(8.4, 4.6)
    ax = fig.add_subplot()
    any_band = False
    for label in results:
        c = curves[curves["scheme"] == label]
        if c.empty:
            continue
        seeds = int(c["seeds"].max())
        name = f"{label} ({seeds} seeds)" if seeds > 1 else label
        style = "steps-post" if x == "time" else "default"
        ax.plot(c["x"], c["mean"], label=name, color=colors[label], lw=1.6, drawstyle=style)
        if seeds > 1:
            any_band = True
            band(ax, c["x"], c["lo"], c["hi"], colors[label], alpha=0.18, steps=x == "time")
    if (
        target is not None and metric == "loss"
    ):  # the target is a training loss: never on a test axis
        ax.axhline(target, color="0.35", ls=":", lw=1.2, label=f"target loss {target:g}")
    positive = curves["lo"].to_numpy(dtype=float)
    if metric.endswith("loss") and positive.size and np.nanmin(positive) > 0:
        log_axis(ax)
    if x == "update":
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlabel(X_LABELS[x])
    ax.set_ylabel(_METRIC_LABELS[metric])
    ax.set_xlim(left=0)
    ax.grid(True, which="both", alpha=0.3)
    if ax.lines:
        fig.legend(
            loc="outside right upper",
            title="band: min-max over seeds" if any_band else None,
            frameon=False,
        )
    else:
        ax.text(
            0.5, 0.5, f"no {_METRIC_LABELS[metric]} recorded", transform=ax.transAxes, ha="center"
        )
    vs = "simulated time" if x == "time" else "updates"
    what = heading(f"{_METRIC_LABELS[metric]} vs {vs}", title)
    side_title(ax, what, 8.4)
    return save(fig, path)


def plot_loss_vs_time(
    results: data.Runs,
    path: str | Path | None = None,
    *,
    title: str | None = None,
    target: float | None = None,
) -> Figure:
    """Training loss against simulated wall-clock time, one line per rule."""
    return plot_curves(results, path, x="time", metric="loss", title=title, target=target)


def plot_loss_vs_updates(
    results: data.Runs,
    path: str | Path | None = None,
    *,
    title: str | None = None,
    target: float | None = None,
) -> Figure:
    """Training loss against the number of updates, one line per rule."""
    return plot_curves(results, path, x="update", metric="loss", title=title, target=target)


@styled
def plot_decode_error(
    results: Mapping[str, RunResult], path: str | Path | None = None, *, title: str | None = None
) -> Figure:
    """Each step's decoding error ``||step - g|| / ||g||`` against simulated time (log scale), one
    line per rule that measured it (:func:`~lwpdsim.analysis.decoding.step_errors`); errors below
    :data:`~lwpdsim.analysis.decoding.FLOOR` (rounding of an exact decoding) are drawn at it."""
    colors = scheme_colors(results)
    fig = figure(8.4, 4.6)
    ax = fig.add_subplot()
    for label, res in results.items():
        if decoding.measured(res):
            times, errors = decoding.step_errors(res)
            ax.plot(
                times,
                np.maximum(errors, decoding.FLOOR),
                color=colors[label],
                lw=1.2,
                marker=".",
                ms=3,
                label=label,
            )
    ax.set_yscale("log")
    ax.set_xlabel(X_LABELS["time"])
    ax.set_ylabel("decoding error ||step - g|| / ||g||")
    ax.set_xlim(left=0)
    ax.grid(True, which="both", alpha=0.3)
    if ax.lines:
        fig.legend(loc="outside right upper", frameon=False)
    side_title(ax, heading("decoding error per update vs simulated time", title), 8.4)
    return save(fig, path)


def accuracy_metric(results: data.Runs) -> str | None:
    """``test_accuracy`` if any run recorded it, else ``accuracy`` if any did, else None."""
    runs = [r for rs in data.as_run_lists(results).values() for r in rs]
    for metric in ("test_accuracy", "accuracy"):
        if any(r.updates[metric].notna().any() for r in runs):
            return metric
    return None


# --------------------------------------------------------------------------- communication


def _byte_unit(largest: float) -> tuple[float, str]:
    for scale, unit in ((1e9, "GB"), (1e6, "MB"), (1e3, "kB")):
        if largest >= scale:
            return scale, unit
    return 1.0, "bytes"


def _traffic_bars(
    ax: Axes,
    labels: Sequence[str],
    up: np.ndarray,
    down: np.ndarray,
    colors: Mapping[str, Any],
    missing: str,
) -> str:
    scale, unit = _byte_unit(float(np.nanmax(np.concatenate([up + down, [0.0]]))))
    pos = np.arange(len(labels))
    col = [colors[label] for label in labels]
    ok = np.isfinite(up)
    ax.bar(pos[ok], up[ok] / scale, color=[c for c, k in zip(col, ok, strict=True) if k])
    ax.bar(
        pos[ok],
        down[ok] / scale,
        bottom=up[ok] / scale,
        color=[shade(c, 0.6) for c, k in zip(col, ok, strict=True) if k],
        hatch="//",
        edgecolor="white",
        lw=0,
    )
    top = float(np.nanmax(np.concatenate([(up + down)[ok] / scale, [1e-12]])))
    for p, total in zip(pos[ok], (up + down)[ok] / scale, strict=True):
        ax.text(p, total + top * 0.01, f"{total:.3g}", ha="center", va="bottom", fontsize=9)
    if ok.any():
        ax.set_ylim(0, top * 1.1)
    else:
        ax.set_ylim(0, 1)
        ax.set_yticks([])
    for p in pos[~ok]:
        ax.text(p, top * 0.03, missing, ha="center", va="bottom", fontsize=9, color="0.3")
    ax.set_xticks(pos, labels, rotation=30, ha="right")
    ax.grid(True, axis="y", alpha=0.3)
    return unit


@styled
def plot_communication(
    results: Mapping[str, RunResult],
    path: str | Path | None = None,
    *,
    title: str | None = None,
    target: float | None = None,
) -> Figure:
    """Traffic per rule: mean bytes per update (uploaded solid, downloaded hatched), cumulative
    bytes when the loss first reached the target, and the training loss against cumulative bytes
    uploaded (the data of :func:`~lwpdsim.analysis.data.communication`)."""
    table = data.communication(results, target)
    labels = list(results)
    colors = scheme_colors(results)
    fig = figure(14.5, 4.6)
    a1, a2, a3 = fig.subplots(1, 3, gridspec_kw={"width_ratios": [1, 1, 1.25]})
    unit = _traffic_bars(
        a1,
        labels,
        table["bytes_up_per_update"].to_numpy(dtype=float),
        table["bytes_down_per_update"].to_numpy(dtype=float),
        colors,
        "no\nupdates",
    )
    a1.set_ylabel(f"{unit} per update")
    a1.set_title("traffic per update")
    goal = table["target"].dropna()
    unit = _traffic_bars(
        a2,
        labels,
        table["bytes_up_to_target"].to_numpy(dtype=float),
        table["bytes_down_to_target"].to_numpy(dtype=float),
        colors,
        "not\nreached" if len(goal) else "no\ntarget",
    )
    a2.set_ylabel(f"{unit} until the target")
    a2.set_title(f"traffic to reach loss {goal.iloc[0]:g}" if len(goal) else "no target loss set")
    largest = max(float(r.updates["bytes_up"].iloc[-1]) for r in results.values())
    scale, unit = _byte_unit(largest)
    for label, res in results.items():
        u = res.updates.dropna(subset=["loss"])
        a3.plot(
            u["bytes_up"] / scale,
            u["loss"],
            drawstyle="steps-post",
            color=colors[label],
            lw=1.6,
            label=label,
        )
    if len(goal):
        a3.axhline(goal.iloc[0], color="0.35", ls=":", lw=1.2, label=f"target {goal.iloc[0]:g}")
    if all((r.updates["loss"].dropna() > 0).all() for r in results.values()):
        log_axis(a3)
    a3.set_xlabel(f"{unit} uploaded (cumulative)")
    a3.set_ylabel("training loss")
    a3.set_title("loss vs bytes uploaded")
    a3.grid(True, which="both", alpha=0.3)
    a3.set_xlim(left=0)
    handles, _ = a3.get_legend_handles_labels()
    handles += [
        Patch(facecolor="0.35", label="uploaded (workers → master)"),
        Patch(facecolor=shade("0.35", 0.6), hatch="//", edgecolor="white", label="downloaded"),
    ]
    fig.legend(handles=handles, loc="outside right upper", frameon=False)
    what = heading("communication", title)
    side_suptitle(fig, what, 14.5)
    return save(fig, path)


# --------------------------------------------------------------------------- time between updates


@styled
def plot_update_intervals(
    results: Mapping[str, RunResult],
    path: str | Path | None = None,
    *,
    title: str | None = None,
    base_dir: str | Path | None = None,
) -> Figure:
    """The empirical distribution (CDF) of the time between updates, one panel per rule, against
    the theoretical CDF where one exists, or the theoretical mean alone (the data of
    :func:`~lwpdsim.analysis.data.update_intervals` and
    :func:`~lwpdsim.analysis.data.interval_theory`)."""
    labels = list(results)
    colors = scheme_colors(results)
    summary = data.interval_summary(results, base_dir=base_dir)
    ncols = min(3, max(1, len(labels)))
    nrows = math.ceil(max(1, len(labels)) / ncols)
    width = 4.6 * ncols + 2.2
    fig = figure(width, 3.5 * nrows + 0.7)
    axes = fig.subplots(nrows, ncols, squeeze=False)
    for ax, label in zip(axes.flat, labels, strict=False):
        res = results[label]
        gaps = np.sort(data.update_intervals(res))
        theory, why = data.theory_or_reason(res, base_dir=base_dir)
        ax.set_title(label, loc="left", fontweight="bold")
        ax.set_ylim(0, 1.02)
        ax.grid(True, alpha=0.3)
        if not gaps.size:
            ax.text(0.5, 0.5, "no updates", transform=ax.transAxes, ha="center")
            continue
        hi = float(gaps[-1])
        if theory is not None:
            hi = max(hi, theory.mean * 1.5)
        xs = np.linspace(0.0, hi * 1.05, 600)
        ecdf_x = np.concatenate([[0.0], gaps, [hi * 1.05]])
        ecdf_y = np.concatenate([[0.0], np.arange(1, gaps.size + 1) / gaps.size, [1.0]])
        color = colors[label]
        ax.plot(ecdf_x, ecdf_y, color=color, lw=1.8, drawstyle="steps-post", label="simulated")
        ax.axvline(gaps.mean(), color=color, ls=":", lw=1.4, label=f"mean {gaps.mean():.3g}")
        if theory is not None:
            if theory.has_cdf:
                what = f"theory CDF {theory.mathtext}"
                ax.plot(xs, theory.cdf(xs), color="black", ls="--", lw=1.3, label=what)
                what = f"theory mean {theory.mean:.3g}"
            else:
                what = f"theory mean {theory.mathtext} = {theory.mean:.3g}"
            ax.axvline(theory.mean, color="black", ls=":", lw=1.2, label=what)
            # pandas-stubs type a .loc cell as any scalar (or None); ks_pvalue is a float column
            p = float(summary.loc[label, "ks_pvalue"])  # type: ignore[arg-type]
            if math.isfinite(p):
                ax.plot([], [], ls="none", label=f"KS test p = {p:.2g}")
        else:
            ax.plot([], [], ls="none", label=f"no theory: {why}")
        ax.legend(loc="best", fontsize=9, framealpha=0.9, handlelength=1.6)
        ax.set_xlim(0, hi * 1.05)
        ax.set_title(f"{gaps.size} gaps", loc="right", fontsize=10)
    for ax in axes.flat[len(labels) :]:
        ax.set_visible(False)
    for ax in axes[:, 0]:
        ax.set_ylabel("P(time between updates ≤ x)")
    for ax in axes[-1]:
        ax.set_xlabel(f"time between updates ({SECONDS})")
    fig.suptitle(wrap(heading("time between updates", title), width, STYLE["figure.titlesize"]))
    return save(fig, path)


# --------------------------------------------------------------------------- a run's figures


def _meta(results: Mapping[str, RunResult], scenario: Any) -> tuple[str | None, float | None, Any]:
    """Title, target loss and base directory from a Scenario, a scenario dict, or the runs."""
    if scenario is not None and hasattr(scenario, "train"):
        return scenario.name, scenario.train.target_loss, scenario.base_dir
    if isinstance(scenario, Mapping):
        cfg = data.scenario_config(scenario)
    else:
        first = next(iter(results.values()), None)
        cfg = data.scenario_config(first) if first is not None else {}
    target = cfg.get("train", {}).get("target_loss")
    return cfg.get("name"), None if target is None else float(target), None


#: The figures ``lwpdsim run`` draws next to a run's results.
RUN_FIGURES = ("loss_vs_time.png", "timeline.png", "communication.png")
#: The figures ``lwpdsim plot`` adds (the accuracy ones when the model has an accuracy, the
#: decoding error when a rule measured it), and one ``timeline_<rule folder>.png`` per rule.
MORE_FIGURES = (
    "loss_vs_updates.png",
    "accuracy_vs_time.png",
    "accuracy_vs_updates.png",
    "update_intervals.png",
    "decode_error_vs_time.png",
)


def figure_names(labels: Sequence[str], *, full: bool = False) -> list[str]:
    """The file names :func:`draw_run` may write for rules ``labels``."""
    if not full:
        return list(RUN_FIGURES)
    return [*RUN_FIGURES, *MORE_FIGURES, *(f"timeline_{safe_name(label)}.png" for label in labels)]


def png_bytes(fig: Figure) -> bytes:
    """``fig`` as the PNG :func:`~lwpdsim.analysis.style.save` writes (the same bytes)."""
    buffer = io.BytesIO()
    with mpl.rc_context(STYLE):
        fig.savefig(buffer, format="png", dpi=DPI, metadata={"Software": None})
    return buffer.getvalue()


def draw_run(
    results: Mapping[str, RunResult],
    out: str | Path,
    scenario: Any = None,
    *,
    full: bool = False,
    writer: Writer = PLAIN,
) -> list[Path]:
    """Write a run's figures into ``out`` (through ``writer``: atomically, and recorded when it
    is a claimed folder) and return their paths.

    The main ones (``lwpdsim run``): ``loss_vs_time.png``, ``timeline.png`` and
    ``communication.png``. With ``full`` (``lwpdsim plot``) also ``loss_vs_updates.png``,
    ``accuracy_vs_time.png`` and ``accuracy_vs_updates.png`` (when the model has an accuracy),
    ``update_intervals.png``, ``decode_error_vs_time.png`` (when a rule measured its decoding
    error) and one ``timeline_<rule>.png`` per rule. ``scenario`` (a Scenario or
    its dict) names the figures and gives the target loss; by default they come from the runs.
    """
    d = writer.mkdir(Path(out))
    title, target, base_dir = _meta(results, scenario)
    written: list[Path] = []

    def put(name: str, draw: Callable[..., Figure], items: Any = results, **kw: Any) -> None:
        fig = draw(items, None, title=title, **kw)
        written.append(writer.write_bytes(d / name, png_bytes(fig)))

    put("loss_vs_time.png", plot_loss_vs_time, target=target)
    put("timeline.png", plot_timeline)
    put("communication.png", plot_communication, target=target)
    if not full:
        return written
    put("loss_vs_updates.png", plot_loss_vs_updates, target=target)
    metric = accuracy_metric(results)
    if metric is not None:
        put("accuracy_vs_time.png", plot_curves, x="time", metric=metric)
        put("accuracy_vs_updates.png", plot_curves, x="update", metric=metric)
    put("update_intervals.png", plot_update_intervals, base_dir=base_dir)
    if any(decoding.measured(r) for r in results.values()):
        put("decode_error_vs_time.png", plot_decode_error)
    for label, res in results.items():
        one = {label: res}
        put(f"timeline_{safe_name(label)}.png", plot_timeline, one, t_max=data.timeline_window(one))
    return written


def draw_all(
    results: Mapping[str, RunResult],
    out: str | Path,
    scenario: Any = None,
    *,
    writer: Writer = PLAIN,
) -> list[Path]:
    """Every figure of a run (:func:`draw_run` with ``full=True``)."""
    return draw_run(results, out, scenario, full=True, writer=writer)
