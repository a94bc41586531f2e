"""Checks of a saved run's files before :mod:`lwpdsim.analysis.data` reads them for ``lwpdsim plot``:
each raises ``ValueError`` naming the damaged file (the caller turns it into one line)."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from ..results import RunResult

#: Columns a saved run's tables must have, all numeric but ``outcome``, for its figures.
UPDATES_NEEDED = ("update", "time", "loss", "accuracy", "bytes_up", "bytes_down")
TASKS_NEEDED = ("task", "worker", "version", "start", "received", "computed", "end", "used_by")


def check_manifest(sub: Path) -> None:
    """Raise ValueError unless ``sub/manifest.json`` (and ``timing.json``, if any) hold what
    :meth:`RunResult.load` reads: objects with a text label, a summary and a config."""
    manifest_path = sub / "manifest.json"
    try:
        manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as err:
        raise ValueError(f"{manifest_path} is not valid JSON ({err})") from None
    if not isinstance(manifest, dict):
        raise ValueError(f"{manifest_path} holds a {type(manifest).__name__}, not an object")
    kinds = {"label": str, "summary": dict, "config": dict}
    for key, kind in kinds.items():
        if not isinstance(manifest.get(key), kind):
            raise ValueError(f"{manifest_path} lacks {key!r} (a {kind.__name__})")
    timing_path = sub / "timing.json"
    if timing_path.exists():
        try:
            timing = json.loads(timing_path.read_text(encoding="utf-8"))
        except json.JSONDecodeError as err:
            raise ValueError(f"{timing_path} is not valid JSON ({err})") from None
        if not isinstance(timing, dict) or not isinstance(timing.get("wall_seconds", {}), dict):
            raise ValueError(f"{timing_path} is not an object with 'wall_seconds'")


def check_tables(result: RunResult, sub: Path) -> RunResult:
    """Raise ValueError unless the run's tables have the numeric columns its figures read."""
    for name, table, needed in (
        ("updates.csv", result.updates, UPDATES_NEEDED),
        ("tasks.csv", result.tasks, TASKS_NEEDED),
    ):
        for column in needed:
            numeric = table.empty or pd.api.types.is_numeric_dtype(table.get(column))
            if column not in table or not numeric:
                raise ValueError(f"{sub / name} lacks a numeric column {column!r}")
    if "outcome" not in result.tasks:
        raise ValueError(f"{sub / 'tasks.csv'} lacks the column 'outcome'")
    if result.updates.empty:
        raise ValueError(f"{sub / 'updates.csv'} has no rows")
    return result
