"""The one codec of a :class:`~lwpdsim.results.RunResult`: a folder of files, read back exactly.

``updates.csv`` and ``tasks.csv`` (the tables; floats written in full and read back with the
round-trip parser, so every number comes back bit for bit, with its dtype; or, as
:mod:`.records` chooses, one ``tables.npz``, thinned tables, or none);
``manifest.json`` (label, status, summary without wall-clock times, the resolved scenario, seed,
package versions; identical for the same scenario and seed); ``timing.json`` (the wall-clock split
of this machine's run). ``lwpdsim run`` writes one such folder per rule next to ``summary.csv``.

What a folder keeps (``records``, a :class:`~.records.RecordFormat`): every row as CSV by default,
exactly the files of old (no ``records`` entry in the manifest); any other choice is named in the
manifest's ``records`` entry (what is kept, the format, the rows kept), which is what
:func:`load_result` reads to find the tables, so every layout ever written reads back.

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
from .records import (
    FULL_CSV,
    NPZ,
    RecordFormat,
    npz_bytes,
    read_npz,
    regular_file,
    target_of,
    thin_tables,
)

UPDATES, TASKS, MANIFEST, TIMING = "updates.csv", "tasks.csv", "manifest.json", "timing.json"
#: The rules' summary table ``lwpdsim run`` writes next to their folders.
SUMMARY = "summary.csv"
#: Categories of a tasks table's ``outcome`` column, as runs make it ("" while a task is open).
OUTCOME_CATEGORIES = ("", *OUTCOMES)
#: Summary entries that are text; every other entry is a number (or a table of numbers).
_TEXT = ("status", "message")
_OWN_KEYS = ("label", "status", "summary", "config")
#: The manifest's entry naming what a folder keeps (absent: every row, as CSV).
RECORDS = "records"
#: pandas 3.1 reads every float exactly (and deprecates the option); older ones need "round_trip".
_PANDAS = tuple(int(x) for x in re.findall(r"\d+", pd.__version__)[:2])
_EXACT: dict[str, Any] = {} if _PANDAS >= (3, 1) else {"float_precision": "round_trip"}


def save_result(
    result: RunResult,
    directory: str | Path,
    writer: Writer = PLAIN,
    *,
    records: RecordFormat = FULL_CSV,
) -> Path:
    """Write ``result`` into ``directory`` (created if need be) through ``writer`` (each file
    atomically), keeping its tables as ``records`` says (every row as CSV by default), and
    return it. The summary is the run's own, computed from its full tables."""
    out = writer.mkdir(Path(directory))
    updates, tasks = result.updates, result.tasks
    if records.keep == "thin":
        updates, tasks = thin_tables(updates, tasks, records.rows, target_of(result.config))
    if records.keep != "summary":
        if records.format == "npz":
            writer.write_bytes(out / NPZ, npz_bytes(updates, tasks))
        else:
            writer.write_text(out / UPDATES, updates.to_csv(index=False))
            writer.write_text(out / TASKS, tasks.to_csv(index=False))
    summary = {k: v for k, v in result.summary.items() if k != "wall_seconds"}
    manifest = {
        "label": result.label,
        "status": result.summary.get("status"),
        "summary": summary,
        "config": result.config,
        **{k: v for k, v in result.manifest.items() if k != RECORDS},
    }
    if records != FULL_CSV:
        manifest[RECORDS] = {
            "keep": records.keep,
            "format": None if records.keep == "summary" else records.format,
            "updates_rows": 0 if records.keep == "summary" else len(updates),
            "tasks_rows": 0 if records.keep == "summary" else len(tasks),
        }
    writer.write_text(out / MANIFEST, dumps(manifest))
    writer.write_text(out / TIMING, dumps({"wall_seconds": result.summary.get("wall_seconds", {})}))
    return out


def load_result(directory: str | Path) -> RunResult:
    """Read a result written by :func:`save_result`, in any of its layouts: equal to the one
    saved, tables included (as kept: a thinned folder gives its thinned tables; a folder that
    kept only the summary is a ValueError, see :func:`load_summary`)."""
    d = Path(directory)
    manifest = _read_manifest(d)
    kept = _records(manifest, d)
    if kept.keep == "summary":
        raise ValueError(f"{d} keeps only the summary of its run (records 'summary'), no tables")
    if kept.format == "npz":
        updates, tasks = read_npz(d / NPZ)
        if "outcome" in tasks:  # the categories as runs make them, whatever the archive says
            tasks["outcome"] = pd.Categorical(
                tasks["outcome"].astype(str), categories=list(OUTCOME_CATEGORIES)
            )
    else:
        tasks = pd.read_csv(
            regular_file(d / TASKS), keep_default_na=False, na_values=[""], **_EXACT
        )
        updates = pd.read_csv(regular_file(d / UPDATES), **_EXACT)
        if "outcome" in tasks:
            tasks["outcome"] = pd.Categorical(
                tasks["outcome"].fillna(""), categories=list(OUTCOME_CATEGORIES)
            )
    if kept.keep == "full":  # ages of a thinned table would be made from the wrong rows
        updates, tasks = with_ages(updates, tasks)
    summary = manifest["summary"]
    if "outcome" in tasks and kept.keep == "full":
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


def records_of(directory: str | Path) -> RecordFormat:
    """What a result folder keeps of its run's tables, as its manifest says."""
    d = Path(directory)
    return _records(_read_manifest(d), d)


def _records(manifest: Mapping[str, Any], d: Path) -> RecordFormat:
    entry = manifest.get(RECORDS)
    if entry is None:
        return FULL_CSV
    try:
        return RecordFormat(str(entry["keep"]), str(entry.get("format") or "csv"))
    except (TypeError, KeyError, ValueError) as err:
        raise ValueError(f"{d / MANIFEST}: its 'records' entry is unreadable ({err})") from None


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
    results: Mapping[str, RunResult],
    directory: str | Path,
    writer: Writer = PLAIN,
    *,
    records: RecordFormat = FULL_CSV,
) -> pd.DataFrame:
    """Write every rule's result into its own folder of ``directory`` (named by
    :func:`~lwpdsim.results.safe_name` of its label, distinct for distinct labels of one
    scenario; tables kept as ``records`` says, see :func:`save_result`) and the rules' summary
    table into ``summary.csv``; return that table."""

    out = writer.mkdir(Path(directory))
    folders = [safe_name(label).lower() for label in results]
    if len(set(folders)) != len(folders):
        raise ValueError(f"two rules would share a folder: {sorted(results)}")
    for label, result in results.items():
        save_result(result, out / safe_name(label), writer, records=records)
    table = summary_table(results)
    writer.write_text(out / SUMMARY, table.to_csv())
    return table


def _read_manifest(d: Path) -> dict[str, Any]:
    manifest: dict[str, Any] = json.loads(regular_file(d / MANIFEST).read_text(encoding="utf-8"))
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
