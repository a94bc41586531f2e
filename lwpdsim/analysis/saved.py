"""Checks of a saved run's files before :mod:`lwpdsim.analysis.data` reads them for ``lwpdsim plot``:
each raises ``ValueError`` naming the damaged file (the caller turns it into one line)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

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
    _check_config(manifest_path, manifest["config"])
    _check_outages(manifest_path, manifest.get("outages"))
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
            if column not in table or not (
                table.empty or pd.api.types.is_numeric_dtype(table[column])
            ):
                raise ValueError(f"{sub / name} lacks a numeric column {column!r}")
    if "outcome" not in result.tasks:
        raise ValueError(f"{sub / 'tasks.csv'} lacks the column 'outcome'")
    if result.updates.empty:
        raise ValueError(f"{sub / 'updates.csv'} has no rows")
    return result


def _check_outages(path: Path, outages: object) -> None:
    """Raise ValueError unless ``outages`` (when recorded) is what the timelines draw: lists
    ``worker`` (integers >= 0), ``start`` and ``end`` (numbers) of one length."""
    if outages is None:
        return
    columns = ("worker", "start", "end")
    if not isinstance(outages, dict) or not all(isinstance(outages.get(c), list) for c in columns):
        raise ValueError(f"{path}: outages is not an object of lists {', '.join(columns)}")
    if len({len(outages[c]) for c in columns}) > 1:
        raise ValueError(f"{path}: outages' lists {', '.join(columns)} differ in length")
    for column in columns:
        for value in outages[column]:
            whole = column == "worker"
            kind = int if whole else int | float
            if isinstance(value, bool) or not isinstance(value, kind) or (whole and value < 0):
                what = "a worker (an integer >= 0)" if whole else "a number"
                raise ValueError(f"{path}: outages.{column} holds {value!r}, not {what}")


def _check_config(path: Path, config: dict[str, object]) -> None:
    """Raise ValueError unless the resolved scenario a run recorded is one lwpdsim would accept
    (the figures read its cluster, rules and target). Its latency table is not checked here: a
    trace file it names may have moved, and the figures then do without theory."""
    from ..config import parse_scenario
    from ..config.parse import DEFAULT_LATENCY
    from ..errors import ScenarioError

    if not isinstance(config.get("scheme", ""), str):
        raise ValueError(f"{path}: config.scheme is not text")
    scenario = config.get("scenario")
    if scenario is None:
        return
    if not isinstance(scenario, dict):
        raise ValueError(f"{path}: config.scenario is not an object")
    raw = dict(scenario)
    if isinstance(raw.get("cluster"), dict):
        raw["cluster"] = {**raw["cluster"], "latency": DEFAULT_LATENCY}
    _without_plugins(raw)
    try:
        parse_scenario(raw)
    except ScenarioError as err:
        raise ValueError(f"{path} records a scenario lwpdsim cannot read ({err})") from None


def _without_plugins(raw: dict[str, Any]) -> None:
    """A saved scenario checked without running code it names: its ``plugins`` are not imported,
    and entries of rules not built in go unchecked (their keys are their code's to check; the
    figures draw them with their colour and theory only if the rule is loaded already)."""
    from ..schemes import REGISTRY

    raw.pop("plugins", None)
    schemes = raw.get("schemes")
    if isinstance(schemes, list):
        kept = [s for s in schemes if not isinstance(s, dict) or s.get("name") in REGISTRY]
        raw["schemes"] = kept or [{"name": "sync"}]  # nothing left to check but the rest
