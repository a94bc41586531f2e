"""Figures of a sweep's tidy table (``runs.csv``): a metric against one factor, with a 95% confidence
interval over replicates, and heatmaps of the mean over two factors.

The metric is the time to the target loss when any run reached it, the final loss otherwise. Runs that
missed the target have no time to target: they are left out of the means and counted in the titles.
PNG files are byte-stable for the same table (:func:`lwpdsim.analysis.style.save`); the
intervals are :func:`lwpdsim.analysis.stats.mean_ci`.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Sequence
from pathlib import Path

import matplotlib as mpl
import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from ..results import safe_name
from .stats import mean_ci
from .style import figure, save

METRIC_LABELS = {
    "time_to_target": "time to target loss (simulated)",
    "final_loss": "final training loss",
    "final_accuracy": "final training accuracy",
    "sim_time": "simulated time",
}
#: Resolution of the sweep figures (drawn in matplotlib's default style, not the slide style).
DPI = 110
#: Factors that only pick random streams: pooled with the replicates, never an axis.
REPLICATE_FACTORS = ("seed",)


def choose_metric(table: pd.DataFrame, metric: str = "auto") -> str:
    """``metric``, or for ``"auto"`` time to target when any run reached it, else final loss."""
    if metric != "auto":
        return metric
    ttt = pd.to_numeric(table.get("time_to_target", pd.Series(dtype=float)), errors="coerce")
    return "time_to_target" if np.isfinite(ttt.to_numpy(dtype=float)).any() else "final_loss"


def numeric_factors(table: pd.DataFrame, factors: Sequence[str]) -> list[str]:
    """The factors that vary in ``table`` over at least two numbers (``seed`` excepted)."""
    out = []
    for f in factors:
        if f in REPLICATE_FACTORS or f not in table:
            continue
        col = table[f]
        if pd.api.types.is_bool_dtype(col) or not pd.api.types.is_numeric_dtype(col):
            continue
        if col.nunique(dropna=True) >= 2:
            out.append(f)
    return out


def line_keys(table: pd.DataFrame, factors: Sequence[str]) -> pd.Series:
    """What each row is drawn as: its scheme label, without the parameters being plotted.

    ``lwpd(k=4,t=2)`` plotted against ``scheme.k`` becomes ``lwpd(t=2)``; a rule whose labels
    still name a single value of a plotted factor is drawn as one line under the rule's name.
    """
    params = [f.rsplit(".", 1)[-1] for f in factors]
    keys = table["scheme"].astype(str).map(lambda label: _strip_params(label, params))
    for rule, rows in table.groupby("rule", sort=False):
        for f in factors:
            per_key = rows.groupby(keys.loc[rows.index])[f].nunique()
            if rows[f].nunique() > 1 and (per_key <= 1).all():
                keys.loc[rows.index] = str(rule)
                break
    return keys


def _strip_params(label: str, params: Sequence[str]) -> str:
    for p in params:
        label = re.sub(rf"(?<=[(,]){re.escape(p)}=[^,)]*(,|(?=\)))", "", label)
    label = label.replace(",)", ")")
    return re.sub(r"\(\)$", "", label)


def _replicate_id(table: pd.DataFrame, factors: Sequence[str]) -> pd.Series:
    ids = table["replicate"].astype(str)
    for f in REPLICATE_FACTORS:
        if f in factors and f in table:
            ids = ids + "/" + table[f].astype(str)
    return ids


def _usable(table: pd.DataFrame, metric: str) -> pd.DataFrame:
    ok = table[table["status"] == "ok"] if "status" in table else table
    ok = ok.copy()
    ok[metric] = pd.to_numeric(ok[metric], errors="coerce").astype(float)
    return ok


def _missed_note(rows: pd.DataFrame, metric: str) -> str:
    missed = int((~np.isfinite(rows[metric].to_numpy(dtype=float))).sum())
    if not missed:
        return ""
    what = "missed the target" if metric == "time_to_target" else f"have no {metric}"
    return f"; {missed} of {len(rows)} scheme runs {what} (left out)"


def plot_metric_vs_factor(
    table: pd.DataFrame,
    factor: str,
    path: str | Path | None = None,
    *,
    factors: Sequence[str] = (),
    metric: str = "auto",
    title: str | None = None,
) -> Figure:
    """``metric`` against ``factor``, one line per scheme: the mean over replicates with its 95%
    t-interval. Other varied ``factors`` are averaged within each replicate first, so each
    replicate counts once."""
    metric = choose_metric(table, metric)
    rows = _usable(table, metric)
    rows["_key"] = line_keys(rows, [factor])
    rows["_rep"] = _replicate_id(rows, factors)
    per_rep = (
        rows.groupby(["_key", factor, "_rep"], sort=False)[metric]
        .mean()  # skips NaN (runs that missed the target)
        .reset_index()
    )
    fig = figure(7, 4.2)
    ax = fig.add_subplot()
    for key in dict.fromkeys(rows["_key"]):
        sub = per_rep[per_rep["_key"] == key]
        xs, means, halves = [], [], []
        for x in sorted(sub[factor].unique()):
            mean, half, _ = mean_ci(sub.loc[sub[factor] == x, metric])
            if math.isfinite(mean):
                xs.append(x)
                means.append(mean)
                halves.append(half if math.isfinite(half) else 0.0)
        if xs:
            ax.errorbar(xs, means, yerr=halves, label=str(key), marker="o", capsize=3, lw=1.4)
    levels = sorted(per_rep[factor].unique())
    if len(levels) <= 12:
        ax.set_xticks(levels, [f"{v:g}" for v in levels])
    ax.set_xlabel(factor)
    ax.set_ylabel(METRIC_LABELS.get(metric, metric))
    ax.grid(True, alpha=0.3)
    if ax.lines:
        ax.legend(fontsize="small")
    else:
        ax.text(0.5, 0.5, "no finite values", transform=ax.transAxes, ha="center")
    note = "mean and 95% CI over replicates" + _missed_note(rows, metric)
    ax.set_title(f"{title}: {note}" if title else note, fontsize="medium")
    return save(fig, path, dpi=DPI, rc=None)


def plot_heatmap(
    table: pd.DataFrame,
    x: str,
    y: str,
    path: str | Path | None = None,
    *,
    metric: str = "auto",
    title: str | None = None,
) -> Figure:
    """The mean of ``metric`` over every grid cell of factors ``x`` and ``y``, one panel per
    scheme (shared colour scale; blank cells: no finite value)."""
    metric = choose_metric(table, metric)
    rows = _usable(table, metric)
    rows["_key"] = line_keys(rows, [x, y])
    keys = list(dict.fromkeys(rows["_key"]))
    xs = sorted(rows[x].unique())
    ys = sorted(rows[y].unique())
    grids = {}
    for key in keys:
        sub = rows[rows["_key"] == key]
        grid = np.full((len(ys), len(xs)), np.nan)
        for (xv, yv), vals in sub.groupby([x, y])[metric]:
            grid[ys.index(yv), xs.index(xv)] = mean_ci(vals)[0]
        grids[key] = grid
    finite = np.concatenate([g[np.isfinite(g)] for g in grids.values()] or [np.array([])])
    vmin, vmax = (float(finite.min()), float(finite.max())) if finite.size else (0.0, 1.0)
    ncols = min(3, max(1, len(keys)))
    nrows = math.ceil(max(1, len(keys)) / ncols)
    fig = figure(3.6 * ncols + 1.2, 3.1 * nrows + 0.6)
    axes = fig.subplots(nrows, ncols, squeeze=False)
    cmap = mpl.colormaps["viridis"].with_extremes(bad="0.88")
    image = None
    for ax, key in zip(axes.flat, keys, strict=False):
        grid = np.ma.masked_invalid(grids[key])
        image = ax.imshow(grid, origin="lower", aspect="auto", cmap=cmap, vmin=vmin, vmax=vmax)
        for (i, j), value in np.ndenumerate(grids[key]):
            if math.isfinite(value):
                shade = (value - vmin) / (vmax - vmin) if vmax > vmin else 0.5
                ax.text(
                    j,
                    i,
                    f"{value:.3g}",
                    ha="center",
                    va="center",
                    fontsize="x-small",
                    color="black" if shade > 0.6 else "white",
                )
        ax.set_xticks(range(len(xs)), [f"{v:g}" for v in xs])
        ax.set_yticks(range(len(ys)), [f"{v:g}" for v in ys])
        ax.set_xlabel(x)
        ax.set_ylabel(y)
        ax.set_title(str(key), fontsize="small")
    for ax in list(axes.flat)[len(keys) :]:
        ax.set_visible(False)
    if image is not None:
        fig.colorbar(image, ax=axes, label=METRIC_LABELS.get(metric, metric), shrink=0.9)
    note = f"mean {metric} per cell" + _missed_note(rows, metric)
    fig.suptitle(f"{title}: {note}" if title else note, fontsize="medium")
    return save(fig, path, dpi=DPI, rc=None)


def plot_sweep(
    table: pd.DataFrame,
    axes: Sequence[Sequence[str]],
    out_dir: str | Path,
    *,
    metric: str = "auto",
    title: str | None = None,
) -> list[Path]:
    """Write the aggregate figures of a sweep into ``out_dir`` and return their paths.

    ``axes`` are the sweep's independent axes, each a group of keys that vary together (a factor
    alone, or the keys of one ``[[zip]]`` table). One figure of ``metric`` against the first
    numeric varied key of each axis (a zip's other keys would only relabel it), and a heatmap over
    those of the first two such axes.
    """
    out = Path(out_dir)
    rows = table[table["status"] == "ok"] if "status" in table else table
    if rows.empty:
        return []
    metric = choose_metric(rows, metric)
    all_keys = [k for group in axes for k in group]
    written = []
    firsts = []
    for group in axes:
        numeric = numeric_factors(rows, group)
        if not numeric:
            continue
        key = numeric[0]
        firsts.append(key)
        path = out / f"{metric}_vs_{safe_name(key)}.png"
        plot_metric_vs_factor(rows, key, path, factors=all_keys, metric=metric, title=title)
        written.append(path)
    if len(firsts) >= 2:
        x, y = firsts[:2]
        path = out / f"{metric}_heatmap_{safe_name(x)}_{safe_name(y)}.png"
        plot_heatmap(rows, x, y, path, metric=metric, title=title)
        written.append(path)
    return written


def replot_sweep(directory: str | Path, *, metric: str = "auto") -> list[Path]:
    """Redraw the figures of a sweep's results directory from its ``runs.csv`` and ``sweep.json``.

    Raises :class:`~lwpdsim.errors.ScenarioError` naming the file when either is damaged."""
    d = Path(directory)
    name, axes, table = read_sweep_folder(d)
    return plot_sweep(table, axes, d, metric=metric, title=name)


#: Columns of ``runs.csv`` the sweep figures read.
RUNS_NEEDED = ("replicate", "scheme", "rule", "status")


def read_sweep_folder(d: Path) -> tuple[str | None, list[list[str]], pd.DataFrame]:
    """A sweep folder's name and axes (lists of factor keys) from its ``sweep.json``, and its
    ``runs.csv`` (every text column read as text: a label ``NA`` stays ``"NA"``)."""
    from ..config.reading import check_results_folder
    from ..errors import ScenarioError

    def bad(path: Path, why: str) -> ScenarioError:
        allowed = f"a sweep folder written by 'lwpdsim sweep'; {path} {why}"
        return ScenarioError("RESULTS_DIR", str(d), allowed)

    check_results_folder(d, "RESULTS_DIR")  # no FIFO or device among the files read below
    path = d / "sweep.json"
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError, RecursionError) as err:
        raise bad(path, f"is unreadable ({type(err).__name__}: {err})") from None
    if not isinstance(manifest, dict):
        raise bad(path, f"holds a {type(manifest).__name__}, not an object")
    axes = manifest.get("axes") or [[k] for k in _texts(manifest.get("factors")) or []]
    if not isinstance(axes, list) or not all(_texts(group) for group in axes):
        raise bad(path, "has no 'axes' (lists of factor keys) or 'factors' (a list of keys)")
    name = manifest.get("name")
    if not isinstance(name, str | None):
        raise bad(path, "has a 'name' that is not text")
    runs = d / "runs.csv"
    try:
        table = pd.read_csv(runs, keep_default_na=False, na_values=[""])
    except (OSError, ValueError) as err:  # pandas' parser errors are ValueErrors
        raise bad(runs, f"is unreadable ({err})") from None
    missing = [c for c in RUNS_NEEDED if c not in table]
    if missing:
        raise bad(runs, f"lacks the columns {', '.join(missing)}")
    for column in ("scheme", "rule", "status"):
        table[column] = table[column].astype(str)
    return name, [list(group) for group in axes], table


def _texts(value: object) -> list[str] | None:
    """``value`` if it is a non-empty list of strings, else None."""
    if isinstance(value, list) and value and all(isinstance(v, str) for v in value):
        return [str(v) for v in value]
    return None
