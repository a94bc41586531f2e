"""Figures of runs: curves against simulated time and updates, traffic, worker timelines, and the
time between updates against theory.

Every function draws what a function of :mod:`lwpdsim.analysis.data` returns, takes a mapping
``label -> RunResult`` (curves also ``label -> [RunResult, ...]``, one run per seed, drawn as a mean
with a min-max band) and an optional ``path``, and returns the :class:`~matplotlib.figure.Figure`.
Figures are built without pyplot, so they never touch (or switch) the interactive backend and are
saved with Agg; PNG files are byte-identical for the same data. A rule keeps its colour in every
figure (:func:`scheme_colors`); task outcomes have fixed colours (:data:`OUTCOME_COLORS`).
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, TypeVar

import matplotlib as mpl
import numpy as np
from matplotlib.axes import Axes
from matplotlib.collections import PolyCollection
from matplotlib.colors import to_rgb
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch
from matplotlib.ticker import FuncFormatter, MaxNLocator, NullFormatter

from ..results import RunResult, safe_name
from . import data

#: Colours of task outcomes in timelines.
OUTCOME_COLORS = {
    "used": "#2ca02c",
    "cancelled": "#9a9a9a",
    "discarded": "#ff7f0e",
    "failed": "#d62728",
    "lost": "#9467bd",
    "unfinished": "#9ecae1",
}
#: Colour of each rule; labels of one rule beyond the first get darker or lighter shades.
RULE_COLORS = {
    "sync": "#1f77b4",
    "ksync": "#ff7f0e",
    "kasync": "#2ca02c",
    "kbatchasync": "#9467bd",
    "gc": "#8c564b",
    "lwpd": "#d62728",
}
_SPARE_COLORS = ("#e377c2", "#17becf", "#bcbd22", "#7f7f7f")
_SHADES = (0.0, -0.35, 0.4, -0.6, 0.6)
#: Height of a task's bar in a timeline (rows are 1 apart).
BAR_HEIGHT = 0.72
#: Hatching colour of the time a worker is down (failed, not yet recovered).
DOWN_COLOR = "#e08080"
#: How much lighter download and upload are drawn than compute in a timeline.
PHASE_LIGHTEN = {"download": 0.55, "compute": 0.0, "upload": 0.55}
#: Text sizes for figures shown on a slide.
STYLE: Any = {
    "font.size": 11,
    "axes.titlesize": 12,
    "axes.labelsize": 11,
    "figure.titlesize": 13,
    "legend.fontsize": 9.5,
    "legend.title_fontsize": 9.5,
    "xtick.labelsize": 10,
    "ytick.labelsize": 10,
    "axes.spines.top": False,
    "axes.spines.right": False,
}
DPI = 120
TIME_LABEL = "simulated wall-clock time"

F = TypeVar("F", bound=Callable[..., Figure])


def _styled(func: F) -> F:
    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Figure:
        with mpl.rc_context(STYLE):
            return func(*args, **kwargs)

    return wrapper  # type: ignore[return-value]


def _shade(color: Any, amount: float) -> tuple[float, float, float]:
    """``color`` mixed with white (amount > 0) or black (amount < 0)."""
    rgb = np.array(to_rgb(color))
    target = np.ones(3) if amount > 0 else np.zeros(3)
    return tuple(float(v) for v in rgb + (target - rgb) * abs(amount))  # type: ignore[return-value]


def scheme_colors(results: Mapping[str, Any]) -> dict[str, tuple[float, float, float]]:
    """A colour per label: the rule's colour (:data:`RULE_COLORS`), shaded for the second and later
    labels of the same rule; rules without a colour of their own take spare ones in order."""
    out = {}
    seen: dict[str, int] = {}
    spare = iter(_SPARE_COLORS * 4)
    extra: dict[str, str] = {}
    for label, value in results.items():
        runs = data.as_run_lists({label: value})[label]
        rule = data.rule_name(runs[0])
        if rule not in RULE_COLORS and rule not in extra:
            extra[rule] = next(spare)
        base = RULE_COLORS.get(rule) or extra[rule]
        i = seen.get(rule, 0)
        seen[rule] = i + 1
        out[label] = _shade(base, _SHADES[i % len(_SHADES)])
    return out


def _save(fig: Figure, path: str | Path | None) -> Figure:
    if path is not None:
        with mpl.rc_context(STYLE):
            fig.savefig(path, dpi=DPI, metadata={"Software": None})
    return fig


def _figure(width: float, height: float) -> Figure:
    return Figure(figsize=(width, height), layout="constrained")


def _heading(what: str, title: str | None) -> str:
    return f"{title}: {what}" if title else what


def _log_y(ax: Axes) -> None:
    """A log y axis with plain tick labels (0.3, 0.5, 1, 2 rather than powers of ten)."""
    ax.set_yscale("log")
    plain = FuncFormatter(lambda v, _: f"{v:g}")
    ax.yaxis.set_major_formatter(plain)
    lo, hi = ax.get_ylim()
    if lo > 0 and hi / lo < 20:  # label the minor ticks only when there are few decades
        ax.yaxis.set_minor_formatter(plain)
    else:
        ax.yaxis.set_minor_formatter(NullFormatter())


# --------------------------------------------------------------------------- curves

_METRIC_LABELS = {
    "loss": "training loss",
    "accuracy": "training accuracy",
    "test_loss": "test loss",
    "test_accuracy": "test accuracy",
}
_X_LABELS = {"time": TIME_LABEL, "update": "updates (steps of the master)"}


@_styled
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
    over seeds with a band from the lowest to the highest run."""
    curves = data.loss_curves(results, x, metric=metric)
    colors = scheme_colors(results)
    fig = _figure(8.4, 4.6)
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
            ax.fill_between(
                c["x"],
                c["lo"],
                c["hi"],
                color=colors[label],
                alpha=0.18,
                lw=0,
                step="post" if style == "steps-post" else None,
            )
    if target is not None and metric.endswith("loss"):
        ax.axhline(target, color="0.35", ls=":", lw=1.2, label=f"target loss {target:g}")
    positive = curves["lo"].to_numpy(dtype=float)
    if metric.endswith("loss") and positive.size and np.nanmin(positive) > 0:
        _log_y(ax)
    if x == "update":
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlabel(_X_LABELS[x])
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
    ax.set_title(_heading(f"{_METRIC_LABELS[metric]} vs {vs}", title))
    return _save(fig, path)


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
        color=[_shade(c, 0.6) for c, k in zip(col, ok, strict=True) if k],
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


@_styled
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
    fig = _figure(14.5, 4.6)
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
        _log_y(a3)
    a3.set_xlabel(f"{unit} uploaded (cumulative)")
    a3.set_ylabel("training loss")
    a3.set_title("loss vs bytes uploaded")
    a3.grid(True, which="both", alpha=0.3)
    a3.set_xlim(left=0)
    handles, _ = a3.get_legend_handles_labels()
    handles += [
        Patch(facecolor="0.35", label="uploaded (workers → master)"),
        Patch(facecolor=_shade("0.35", 0.6), hatch="//", edgecolor="white", label="downloaded"),
    ]
    fig.legend(handles=handles, loc="outside right upper", frameon=False)
    fig.suptitle(_heading("communication", title))
    return _save(fig, path)


# --------------------------------------------------------------------------- timeline


def _draw_timeline(ax: Axes, res: RunResult, t_max: float) -> tuple[set[str], bool, bool]:
    """Draw one run's timeline; returns the outcomes shown, whether any transfer is visible and
    whether any worker was down."""
    seg = data.timeline(res, t_max)
    cluster = data.scenario_config(res).get("cluster", {})
    n = int(cluster.get("workers", 0)) or (
        int(res.tasks["worker"].max()) + 1 if len(res.tasks) else 1
    )
    stopped = float(res.summary.get("sim_time", math.inf))
    down = [
        (int(f["worker"]), float(f["at"]), min(float(f.get("recover", math.inf)), stopped, t_max))
        for f in cluster.get("failures", [])
        if float(f["at"]) < min(stopped, t_max)
    ]
    for worker, at, until in down:
        ax.barh(
            worker,
            until - at,
            left=at,
            height=BAR_HEIGHT,
            color="none",
            hatch="///",
            edgecolor=DOWN_COLOR,
            linewidth=0,
            zorder=1,
        )
    colors = [
        _shade(OUTCOME_COLORS.get(o, "#cccccc"), PHASE_LIGHTEN[p])
        for o, p in zip(seg["outcome"], seg["phase"], strict=True)
    ]
    y = seg["worker"].to_numpy(dtype=float)
    x0, x1 = seg["start"].to_numpy(dtype=float), seg["end"].to_numpy(dtype=float)
    h = BAR_HEIGHT / 2
    boxes = np.stack(
        [np.column_stack(c) for c in ((x0, y - h), (x0, y + h), (x1, y + h), (x1, y - h))],
        axis=1,
    )  # one rectangle per segment, drawn as one collection (fast for thousands of tasks)
    ax.add_collection(
        PolyCollection(
            list(boxes),
            facecolors=colors,
            edgecolors="white",
            linewidths=0.7 if n <= 16 else 0.3,
            zorder=2,
        )
    )
    times = data.update_times(res, t_max)
    ax.vlines(times, -0.5, n - 0.5, colors="0.15", lw=0.8, alpha=0.6, zorder=3)
    ax.set_ylim(n - 0.5, -0.5)
    step = max(1, math.ceil(n / 12))
    ticks = list(range(0, n, step))
    ax.set_yticks(ticks, [f"w{w}" for w in ticks])
    ax.set_xlim(0, t_max)
    if stopped < t_max:
        ax.axvspan(stopped, t_max, color="0.94", lw=0, zorder=0)
    if stopped < t_max * 0.85:
        why = str(res.summary.get("status", "")).replace("_", " ")
        ax.text(
            (stopped + t_max) / 2,
            (n - 1) / 2,
            f"run stopped\n({why})" if why else "run stopped",
            ha="center",
            va="center",
            fontsize=10,
            color="0.45",
        )
    ax.set_title(res.label, loc="left", fontweight="bold")
    ax.set_title(f"{times.size} updates by t = {t_max:.3g}", loc="right", fontsize=10)
    ax.spines["left"].set_visible(False)
    ax.tick_params(axis="y", length=0)
    transfers = seg["phase"] != "compute"
    width = (seg["end"] - seg["start"])[transfers]
    return set(seg["outcome"]), bool((width > t_max * 1e-3).any()), bool(down)


@_styled
def plot_timeline(
    results: Mapping[str, RunResult],
    path: str | Path | None = None,
    *,
    t_max: float | None = None,
    title: str | None = None,
) -> Figure:
    """Each worker's tasks over time (a Gantt chart), one panel per rule on a shared time axis:
    bars coloured by the task's outcome, download and upload lighter than compute, and a vertical
    line at each update of the master (the data of :func:`~lwpdsim.analysis.data.timeline`).
    ``t_max`` defaults to :func:`~lwpdsim.analysis.data.timeline_window`."""
    t_max = float(t_max) if t_max is not None else data.timeline_window(results)
    labels = list(results)
    ncols = 1 if len(labels) <= 2 else 2
    nrows = math.ceil(len(labels) / ncols)
    workers = max(
        int(data.scenario_config(r).get("cluster", {}).get("workers", 0)) or 1
        for r in results.values()
    )
    panel = min(0.24 * workers, 3.6) + 0.9  # many workers: thinner rows, not a taller figure
    width = 10.5 if ncols == 1 else 15.0
    fig = _figure(width, panel * nrows + 0.9)
    axes = fig.subplots(nrows, ncols, sharex=True, squeeze=False)
    seen: set[str] = set()
    transfers = failures = False
    for ax, label in zip(axes.flat, labels, strict=False):
        outcomes, moved, down = _draw_timeline(ax, results[label], t_max)
        seen |= outcomes
        transfers |= moved
        failures |= down
    for ax in axes.flat[len(labels) :]:
        ax.set_visible(False)
    for ax in axes[-1]:
        ax.set_xlabel(TIME_LABEL)
    if len(labels) % ncols and nrows > 1:  # the empty slot's neighbour above needs tick labels
        axes[-2, -1].xaxis.set_tick_params(labelbottom=True)
        axes[-2, -1].set_xlabel(TIME_LABEL)
    handles: list[Any] = [
        Patch(facecolor=OUTCOME_COLORS[o], label=o) for o in OUTCOME_COLORS if o in seen
    ]
    if failures:
        handles.append(
            Patch(facecolor="none", hatch="///", edgecolor=DOWN_COLOR, lw=0, label="worker down")
        )
    spacer = Line2D([], [], ls="none", label=" ")
    handles.append(spacer)
    if transfers:
        used = OUTCOME_COLORS["used"]
        handles += [
            Patch(facecolor=used, label="compute"),
            Patch(facecolor=_shade(used, PHASE_LIGHTEN["upload"]), label="download / upload"),
        ]
    handles.append(Line2D([], [], color="0.15", lw=0.8, alpha=0.6, label="update of the master"))
    fig.legend(handles=handles, loc="outside right upper", frameon=False, title="task outcome")
    fig.suptitle(_heading("what each worker does", title))
    return _save(fig, path)


# --------------------------------------------------------------------------- time between updates


@_styled
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
    fig = _figure(4.6 * ncols + 2.2, 3.5 * nrows + 0.7)
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
            p = float(summary.loc[label, "ks_pvalue"])
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
        ax.set_xlabel("time between updates")
    fig.suptitle(_heading("time between updates", title))
    return _save(fig, path)


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


def draw_run(
    results: Mapping[str, RunResult],
    out: str | Path,
    scenario: Any = None,
    *,
    full: bool = False,
) -> list[Path]:
    """Write a run's figures into ``out`` and return their paths.

    The main ones (``lwpdsim run``): ``loss_vs_time.png``, ``timeline.png`` and
    ``communication.png``. With ``full`` (``lwpdsim plot``) also ``loss_vs_updates.png``,
    ``accuracy_vs_time.png`` and ``accuracy_vs_updates.png`` (when the model has an accuracy),
    ``update_intervals.png`` and one ``timeline_<rule>.png`` per rule. ``scenario`` (a Scenario or
    its dict) names the figures and gives the target loss; by default they come from the runs.
    """
    d = Path(out)
    d.mkdir(parents=True, exist_ok=True)
    title, target, base_dir = _meta(results, scenario)
    written: list[Path] = []

    def put(name: str, draw: Callable[..., Figure], items: Any = results, **kw: Any) -> None:
        written.append(d / name)
        draw(items, d / name, title=title, **kw)

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
    for label, res in results.items():
        one = {label: res}
        put(f"timeline_{safe_name(label)}.png", plot_timeline, one, t_max=data.timeline_window(one))
    return written


def draw_all(results: Mapping[str, RunResult], out: str | Path, scenario: Any = None) -> list[Path]:
    """Every figure of a run (:func:`draw_run` with ``full=True``)."""
    return draw_run(results, out, scenario, full=True)
