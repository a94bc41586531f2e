"""The one codec of a :class:`~lwpdsim.results.RunResult`: a folder of four files, read back exactly.

``updates.csv`` and ``tasks.csv`` (the tables; floats written in full and read back with the
round-trip parser, so every number comes back bit for bit, with its dtype);
``manifest.json`` (label, status, summary without wall-clock times, the resolved scenario, seed,
package versions; identical for the same scenario and seed); ``timing.json`` (the wall-clock split
of this machine's run). ``lwpdsim run`` writes one such folder per rule next to ``summary.csv``.

Runs saved before results' ages were recorded load with them recomputed (:func:`with_ages`).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ..results import OUTCOMES, RunResult, safe_name, summary_table, used_staleness
from .files import PLAIN, Writer
from .jsonable import dumps, json_number

UPDATES, TASKS, MANIFEST, TIMING = "updates.csv", "tasks.csv", "manifest.json", "timing.json"
#: The rules' summary table ``lwpdsim run`` writes next to their folders.
SUMMARY = "summary.csv"
#: Categories of a tasks table's ``outcome`` column, as runs make it ("" while a task is open).
OUTCOME_CATEGORIES = ("", *OUTCOMES)
#: Summary entries that are text; every other entry is a number (or a table of numbers).
_TEXT = ("status", "message")
_OWN_KEYS = ("label", "status", "summary", "config")
#: pandas 3.1 reads every float exactly (and deprecates the option); older ones need "round_trip".
_PANDAS = tuple(int(x) for x in re.findall(r"\d+", pd.__version__)[:2])
_EXACT: dict[str, Any] = {} if _PANDAS >= (3, 1) else {"float_precision": "round_trip"}


def save_result(result: RunResult, directory: str | Path, writer: Writer = PLAIN) -> Path:
    """Write ``result`` into ``directory`` (created if need be) through ``writer`` (each file
    atomically) and return it."""
    out = writer.mkdir(Path(directory))
    writer.write_text(out / UPDATES, result.updates.to_csv(index=False))
    writer.write_text(out / TASKS, result.tasks.to_csv(index=False))
    summary = {k: v for k, v in result.summary.items() if k != "wall_seconds"}
    manifest = {
        "label": result.label,
        "status": result.summary.get("status"),
        "summary": summary,
        "config": result.config,
        **result.manifest,
    }
    writer.write_text(out / MANIFEST, dumps(manifest))
    writer.write_text(out / TIMING, dumps({"wall_seconds": result.summary.get("wall_seconds", {})}))
    return out


def _regular(path: Path) -> Path:
    """``path``, if it is a regular file (never read a pipe or a device); else a ValueError."""
    if not path.is_file():
        raise ValueError(f"{path} is not a file")
    return path


def load_result(directory: str | Path) -> RunResult:
    """Read a result written by :func:`save_result`: equal to the one saved, tables included."""
    d = Path(directory)
    manifest = _read_manifest(d)
    tasks = pd.read_csv(_regular(d / TASKS), keep_default_na=False, na_values=[""], **_EXACT)
    if "outcome" in tasks:
        tasks["outcome"] = pd.Categorical(
            tasks["outcome"].fillna(""), categories=list(OUTCOME_CATEGORIES)
        )
    updates, tasks = with_ages(pd.read_csv(_regular(d / UPDATES), **_EXACT), tasks)
    summary = manifest["summary"]
    if "outcome" in tasks:
        for key, value in used_staleness(tasks).items():
            summary.setdefault(key, value)
    return RunResult(
        label=manifest["label"],
        updates=updates,
        tasks=tasks,
        summary=summary,
        config=manifest["config"],
        manifest={k: v for k, v in manifest.items() if k not in _OWN_KEYS},
    )


def with_ages(updates: pd.DataFrame, tasks: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The tables of a run saved before ages were recorded, with them recomputed: a used task's
    ``age`` is the time of the update that used it (``used_by``) minus its ``start``; an update's
    ``age_mean`` and ``age_max`` are over the tasks it used. Tables that have them, or lack what
    they are made from, are returned as they are."""
    if (
        "age" not in tasks
        and {"used_by", "start"} <= set(tasks)
        and {"update", "time"} <= set(updates)
    ):
        when = updates.set_index("update")["time"]
        when = when[~when.index.duplicated()]
        used_by = tasks["used_by"].to_numpy()
        step_time = when.reindex(used_by).to_numpy(dtype=float)
        age = np.where(used_by >= 0, step_time - tasks["start"].to_numpy(dtype=float), np.nan)
        tasks = tasks.copy()
        tasks.insert(_after(tasks, "staleness"), "age", age)
    if "age_mean" not in updates and "age" in tasks and "used_by" in tasks:
        by_update = tasks.groupby("used_by")["age"].agg(["mean", "max"])
        updates = updates.copy()
        at = _after(updates, "staleness_max")
        for offset, stat in enumerate(("mean", "max")):
            values = by_update[stat].reindex(updates["update"]).to_numpy(dtype=float)
            updates.insert(at + offset, f"age_{stat}", values)
    return updates, tasks


def _after(table: pd.DataFrame, column: str) -> int:
    """The position just after ``column`` (the end when there is none)."""
    names = list(table.columns)
    return names.index(column) + 1 if column in names else len(names)


def load_summary(directory: str | Path) -> dict[str, Any]:
    """Only the summary of a saved result (wall-clock times included), without reading its tables."""
    return dict(_read_manifest(Path(directory))["summary"])


def save_results(
    results: Mapping[str, RunResult], directory: str | Path, writer: Writer = PLAIN
) -> pd.DataFrame:
    """Write every rule's result into its own folder of ``directory`` (named by
    :func:`~lwpdsim.results.safe_name` of its label, distinct for distinct labels of one
    scenario) and the rules' summary table into ``summary.csv``; return that table."""

    out = writer.mkdir(Path(directory))
    folders = [safe_name(label).lower() for label in results]
    if len(set(folders)) != len(folders):
        raise ValueError(f"two rules would share a folder: {sorted(results)}")
    for label, result in results.items():
        save_result(result, out / safe_name(label), writer)
    table = summary_table(results)
    writer.write_text(out / SUMMARY, table.to_csv())
    return table


def _read_manifest(d: Path) -> dict[str, Any]:
    manifest: dict[str, Any] = json.loads(_regular(d / MANIFEST).read_text(encoding="utf-8"))
    summary = manifest["summary"]
    timing = d / TIMING
    if timing.is_file():
        summary.update(json.loads(timing.read_text(encoding="utf-8")))
    manifest["summary"] = {k: v if k in _TEXT else _numbers(v) for k, v in summary.items()}
    return manifest


def _numbers(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {k: _numbers(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_numbers(v) for v in value]
    return json_number(value)
