"""The numbers behind a sweep's figures: per plotted point, how many runs there were, how many
reached the target, the mean of those that did and its interval; and the reading of a sweep's
folder (``runs.csv``, ``sweep.json``) that the figures are redrawn from.

A figure of a sweep plots one or two factors; every other axis of the sweep is either drawn as
panels (one per level), or, when its levels give bit-identical numbers for every line (a rule's
runs do not depend on another rule's parameter), counted once; only when the panels would be too
many is an axis pooled, and the figure says so (:class:`Layout`). Runs that missed the target are
never dropped silently: every point carries ``reached`` of ``runs``.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ..results import SWEEP_METRICS
from .stats import mean_interval

#: Factors that only pick random streams: pooled with the replicates, never an axis or a panel.
REPLICATE_FACTORS = ("seed",)
#: Most panels a figure splits into before it pools the remaining axes (and says so).
MAX_PANELS = 12
#: The metrics a sweep can plot (a sweep file's ``metrics``); ``"auto"`` is the time to target
#: when any run reached it, else the final loss.
METRICS = SWEEP_METRICS
#: Metrics that only runs reaching the target loss have (NaN for the others).
TARGET_METRICS = ("time_to_target", "bytes_to_target")
#: What a point where no run has a value is called, per metric.
NONE_TEXT = {m: "none reached" for m in TARGET_METRICS}


def choose_metric(table: pd.DataFrame, metric: str = "auto") -> str:
    """``metric``, or for ``"auto"`` time to target when any run reached it, else final loss."""
    if metric != "auto":
        return metric
    ttt = pd.to_numeric(table.get("time_to_target", pd.Series(dtype=float)), errors="coerce")
    return "time_to_target" if np.isfinite(ttt.to_numpy(dtype=float)).any() else "final_loss"


def with_metric(table: pd.DataFrame, metric: str) -> pd.DataFrame:
    """``table``, with a ``bytes_to_target`` column when that is ``metric`` and ``runs.csv`` has
    none: a run stops at the update that reaches the target, so its traffic to the target is its
    total traffic up and down (``bytes_up_total + bytes_down_total``) when ``time_to_target`` is
    finite, NaN when the run never reached it."""
    if metric != "bytes_to_target" or metric in table:
        return table
    num = {c: pd.to_numeric(table[c], errors="coerce") for c in _BYTES_FROM if c in table}
    out = table.copy()
    if len(num) < len(_BYTES_FROM):
        out[metric] = math.nan
        return out
    total = num["bytes_up_total"] + num["bytes_down_total"]
    out[metric] = total.where(np.isfinite(num["time_to_target"].astype(float)))
    return out


_BYTES_FROM = ("time_to_target", "bytes_up_total", "bytes_down_total")


def none_text(metric: str) -> str:
    """What a point is called where no run has a finite ``metric`` (``none reached``)."""
    return NONE_TEXT.get(metric, "no finite value")


def is_numeric(column: pd.Series) -> bool:
    """Whether a factor's column holds numbers (booleans and text are categories)."""
    return pd.api.types.is_numeric_dtype(column) and not pd.api.types.is_bool_dtype(column)


def numeric_factors(table: pd.DataFrame, factors: Sequence[str]) -> list[str]:
    """The factors that vary in ``table`` over at least two numbers (``seed`` excepted)."""
    return [f for f in varied_factors(table, factors) if is_numeric(table[f])]


def varied_factors(table: pd.DataFrame, factors: Sequence[str]) -> list[str]:
    """The factors that take at least two values in ``table``, numbers or categories (text,
    booleans, lists as override text), ``seed`` excepted."""
    return [
        f
        for f in factors
        if f not in REPLICATE_FACTORS and f in table and table[f].nunique(dropna=True) >= 2
    ]


def level_order(table: pd.DataFrame, factor: str) -> list[Any]:
    """A factor's levels as a figure orders them: numbers ascending, categories in the order the
    table first has them (the sweep file's order)."""
    column = table[factor].dropna()
    if is_numeric(column):
        return sorted(pd.to_numeric(column).unique())
    return list(dict.fromkeys(column))


def _category_key(table: pd.DataFrame, columns: Sequence[str]) -> Any:
    """A ``sort_values`` key putting the categorical ``columns`` in :func:`level_order` (None
    when all are numbers)."""
    orders = {
        c: {v: i for i, v in enumerate(level_order(table, c))}
        for c in columns
        if c in table and not is_numeric(table[c])
    }

    def key(col: pd.Series) -> pd.Series:
        return col.map(orders[str(col.name)]) if col.name in orders else col

    return key if orders else None


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


def replicate_id(table: pd.DataFrame, factors: Sequence[str]) -> pd.Series:
    """Which replicate a row is: its ``replicate``, and its ``seed`` factor when that varies."""
    ids = table["replicate"].astype(str)
    for f in REPLICATE_FACTORS:
        if f in factors and f in table:
            ids = ids + "/" + table[f].astype(str)
    return ids


def level_text(value: object) -> str:
    """A factor's level as figure text (numbers in their shortest form)."""
    if isinstance(value, float | int | np.integer | np.floating) and not isinstance(value, bool):
        return f"{float(value):g}" if isinstance(value, float | np.floating) else str(value)
    return str(value)


@dataclass(frozen=True)
class Layout:
    """How a figure treats the sweep's axes other than the plotted ones: ``facets`` are drawn as
    one panel per combination of their levels, ``pooled`` are mixed into each point (stated on the
    figure), and ``identical`` gave bit-identical numbers at every level for every line, so each of
    their runs is counted once. Each axis is a list of the keys that vary together."""

    facets: list[list[str]] = field(default_factory=list)
    pooled: list[list[str]] = field(default_factory=list)
    identical: list[list[str]] = field(default_factory=list)

    @property
    def facet_keys(self) -> list[str]:
        return [k for group in self.facets for k in group]

    @property
    def pooled_keys(self) -> list[str]:
        return [k for group in self.pooled for k in group]


def usable(table: pd.DataFrame, metric: str) -> pd.DataFrame:
    """The rows of runs that did not fail, with ``metric`` as floats (see :func:`with_metric`)."""
    table = with_metric(table, metric)
    ok = table[table["status"] == "ok"] if "status" in table else table
    ok = ok.copy()
    ok[metric] = pd.to_numeric(ok[metric], errors="coerce").astype(float)
    return ok


def failed_runs(table: pd.DataFrame) -> int:
    """How many runs of ``table`` failed (distinct run ids, or rows without them)."""
    if "status" not in table:
        return 0
    bad = table[table["status"] != "ok"]
    return int(bad["run_id"].nunique()) if "run_id" in bad else len(bad)


def _other_axes(
    rows: pd.DataFrame, plotted: Sequence[str], axes: Sequence[Sequence[str]]
) -> list[list[str]]:
    """The sweep's axes, other than the plotted ones and replicate factors, that vary in
    ``rows`` (each as its keys present in the table)."""
    out = []
    for group in axes:
        keys = [k for k in group if k in rows and k not in REPLICATE_FACTORS]
        if not keys or any(k in plotted for k in group):
            continue
        if len(rows.drop_duplicates(keys)) > 1:
            out.append(keys)
    return out


def _varies_within(rows: pd.DataFrame, by: Sequence[str], metric: str) -> bool:
    """Whether ``metric`` takes two different values (NaN counted as a value) in a group of
    ``rows`` grouped ``by``."""
    if rows.empty:
        return False
    counts = rows.groupby(list(by), dropna=False, sort=False)[metric].nunique(dropna=False)
    return bool((counts > 1).any())


def layout(
    rows: pd.DataFrame,
    plotted: Sequence[str],
    axes: Sequence[Sequence[str]],
    metric: str,
    max_panels: int,
) -> Layout:
    """Which of the other ``axes`` of usable ``rows`` (with ``_key`` and ``_rep`` columns) become
    panels (as many as ``max_panels`` allows), which are counted once (identical numbers) and
    which must be pooled (:func:`point_table`'s step)."""
    others = _other_axes(rows, plotted, axes)
    base = ["_key", "_rep", *plotted]
    matters = []
    for group in others:
        fixed = [k for g in others if g is not group for k in g]
        if _varies_within(rows, [*base, *fixed], metric):
            matters.append(group)
    facets: list[list[str]] = []
    pooled: list[list[str]] = []
    panels = 1
    for group in matters:
        levels = len(rows.drop_duplicates(group))
        if panels * levels <= max_panels:
            facets.append(group)
            panels *= levels
        else:
            pooled.append(group)
    identical = [g for g in others if g not in matters]
    kept = [*base, *(k for g in facets + pooled for k in g)]
    if identical and _varies_within(rows, kept, metric):  # not identical jointly: say so
        pooled += identical
        identical = []
    return Layout(facets, pooled, identical)


def sweep_axes(
    axes: Sequence[Sequence[str]] | None, factors: Sequence[str], plotted: Sequence[str]
) -> list[list[str]]:
    """A sweep's axes (lists of keys moving together): ``axes``, else each of ``factors`` alone;
    every ``plotted`` factor belongs to one."""
    groups = [list(g) for g in axes] if axes else [[f] for f in factors]
    for f in plotted:
        if not any(f in g for g in groups):
            groups.append([f])
    return groups


def panel_label(levels: Sequence[object], keys: Sequence[str]) -> str:
    """A panel's title: each facet key with its level (``cluster.workers = 8``)."""
    return ", ".join(f"{k} = {level_text(v)}" for k, v in zip(keys, levels, strict=True))


def point_table(
    table: pd.DataFrame,
    plotted: Sequence[str],
    axes: Sequence[Sequence[str]],
    metric: str,
    max_panels: int = MAX_PANELS,
) -> tuple[pd.DataFrame, Layout]:
    """The numbers of a sweep figure of ``metric`` against the ``plotted`` factors: one row per
    panel, line (``scheme``: the label without the plotted parameters) and plotted level, with
    ``runs`` (runs that did not fail, each counted once), ``reached`` (those with a finite value:
    for time to target, those that reached it), ``mean`` (of those), and its interval ``lo`` and
    ``hi`` (:func:`~lwpdsim.analysis.stats.mean_interval`; NaN from fewer than three values).
    ``panel`` names the facet levels (empty without facets); the :class:`Layout` says which axes
    became panels, which were counted once and which were pooled."""
    keys = [k for group in axes for k in group]
    rows = usable(table, metric)
    rows["_key"] = line_keys(rows, plotted)
    rows["_rep"] = replicate_id(rows, keys)
    lay = layout(rows, plotted, axes, metric, max_panels)
    units = ["_key", "_rep", *plotted, *lay.facet_keys, *lay.pooled_keys]
    rows = rows.drop_duplicates(units)  # one row per run; identical levels counted once
    facet_keys = lay.facet_keys
    out = []
    by = [*facet_keys, "_key", *plotted]
    order = {key: i for i, key in enumerate(dict.fromkeys(rows["_key"]))}
    for values, group in rows.groupby(by, sort=True, dropna=False):
        levels = values if isinstance(values, tuple) else (values,)
        facet = levels[: len(facet_keys)]
        key = levels[len(facet_keys)]
        at = levels[len(facet_keys) + 1 :]
        interval = mean_interval(group[metric].to_numpy(dtype=float))
        row: dict[str, object] = {"panel": panel_label(facet, facet_keys)}
        row.update(zip(facet_keys, facet, strict=True))
        row.update(scheme=key, rule=str(group["rule"].iloc[0]))
        row.update(zip(plotted, at, strict=True))
        row.update(
            runs=len(group),
            reached=interval.n,
            mean=interval.mean,
            lo=interval.lo,
            hi=interval.hi,
            _order=order[key],
        )
        out.append(row)
    columns = ["panel", *facet_keys, "scheme", "rule", *plotted]
    columns += ["runs", "reached", "mean", "lo", "hi"]
    frame = pd.DataFrame(out, columns=[*columns, "_order"])
    if not frame.empty:
        by = [*facet_keys, "_order", *plotted]
        frame = frame.sort_values(by, kind="stable", key=_category_key(table, by))
    return frame.drop(columns="_order").reset_index(drop=True), lay


def fraction(reached: int, runs: int) -> str:
    """``reached/runs`` as the figures print it."""
    return f"{reached}/{runs}"


def heatmap_table(
    table: pd.DataFrame,
    x: str,
    y: str,
    *,
    factors: Sequence[str] = (),
    axes: Sequence[Sequence[str]] | None = None,
    metric: str = "auto",
    max_panels: int = MAX_PANELS,
) -> tuple[pd.DataFrame, Layout]:
    """Every cell of a heatmap of ``metric`` over ``x`` and ``y``, per panel and scheme: the
    :func:`~lwpdsim.analysis.sweep_tables.point_table` numbers and its ``state``: ``"value"``
    (some run has a value), ``"none"`` (runs, none reached the target), ``"failed"`` (every run
    failed) or ``"empty"`` (no run: a point skipped as invalid, or not in the grid)."""
    metric = choose_metric(table, metric)
    groups = sweep_axes(axes, factors, [x, y])
    points, lay = point_table(table, [x, y], groups, metric, max_panels)
    failed = _failed_cells(table, x, y)
    xs = sorted(pd.to_numeric(table[x]).dropna().unique())
    ys = sorted(pd.to_numeric(table[y]).dropna().unique())
    cells = []
    for (panel, key), sub in points.groupby(["panel", "scheme"], sort=False):
        known = {(float(r[x]), float(r[y])): r for _, r in sub.iterrows()}
        for yv in ys:
            for xv in xs:
                row = known.get((float(xv), float(yv)))
                cell: dict[str, Any] = {"panel": panel, "scheme": key, x: xv, y: yv}
                if row is None:
                    state = "failed" if (str(key), float(xv), float(yv)) in failed else "empty"
                    cell |= {"runs": 0, "reached": 0, "mean": math.nan, "state": state}
                else:
                    cell |= {k: row[k] for k in ("runs", "reached", "mean")}
                    cell["state"] = "value" if row["reached"] > 0 else "none"
                cells.append(cell)
    columns = ["panel", "scheme", x, y, "runs", "reached", "mean", "state"]
    return pd.DataFrame(cells, columns=columns), lay


def _failed_cells(table: pd.DataFrame, x: str, y: str) -> set[tuple[str, float, float]]:
    """(line key, x, y) of the failed runs' rows."""
    if "status" not in table:
        return set()
    bad = table[table["status"] != "ok"]
    if bad.empty:
        return set()
    keys = line_keys(bad, [x, y])
    return {(str(k), float(a), float(b)) for k, a, b in zip(keys, bad[x], bad[y], strict=True)}


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


def sweep_metrics(d: Path) -> tuple[str, ...]:
    """The metrics a sweep folder's ``sweep.json`` names (its sweep file's ``metrics``; empty for
    the default, or for a manifest without them)."""
    try:
        manifest = json.loads((d / "sweep.json").read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError, RecursionError):
        return ()
    names = manifest.get("metrics") if isinstance(manifest, dict) else None
    if not isinstance(names, list) or not all(m in METRICS for m in names):
        return ()
    return tuple(str(m) for m in names)
