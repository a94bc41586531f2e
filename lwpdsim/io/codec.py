"""The one codec of a :class:`~lwpdsim.results.RunResult`: a folder of four files, read back exactly.

``updates.csv`` and ``tasks.csv`` (the tables; floats written in full and read back with the
round-trip parser, so every number comes back bit for bit, with its dtype);
``manifest.json`` (label, status, summary without wall-clock times, the resolved scenario, seed,
package versions; identical for the same scenario and seed); ``timing.json`` (the wall-clock split
of this machine's run). ``lwpdsim run`` writes one such folder per rule next to ``summary.csv``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pandas as pd

from ..results import OUTCOMES, RunResult, safe_name
from .files import RUN_FOLDER, write_text_atomic
from .jsonable import dumps, json_number

UPDATES, TASKS, MANIFEST, TIMING = "updates.csv", "tasks.csv", "manifest.json", "timing.json"
#: Categories of a tasks table's ``outcome`` column, as runs make it ("" while a task is open).
OUTCOME_CATEGORIES = ("", *OUTCOMES)
#: Summary entries that are text; every other entry is a number (or a table of numbers).
_TEXT = ("status", "message")
_OWN_KEYS = ("label", "status", "summary", "config")
#: pandas 3.1 reads every float exactly (and deprecates the option); older ones need "round_trip".
_PANDAS = tuple(int(x) for x in re.findall(r"\d+", pd.__version__)[:2])
_EXACT: dict[str, Any] = {} if _PANDAS >= (3, 1) else {"float_precision": "round_trip"}


def save_result(result: RunResult, directory: str | Path) -> Path:
    """Write ``result`` into ``directory`` (created if need be) and return it."""
    out = Path(directory)
    out.mkdir(parents=True, exist_ok=True)
    write_text_atomic(out / UPDATES, result.updates.to_csv(index=False))
    write_text_atomic(out / TASKS, result.tasks.to_csv(index=False))
    summary = {k: v for k, v in result.summary.items() if k != "wall_seconds"}
    manifest = {
        "label": result.label,
        "status": result.summary.get("status"),
        "summary": summary,
        "config": result.config,
        **result.manifest,
    }
    write_text_atomic(out / MANIFEST, dumps(manifest))
    write_text_atomic(out / TIMING, dumps({"wall_seconds": result.summary.get("wall_seconds", {})}))
    return out


def load_result(directory: str | Path) -> RunResult:
    """Read a result written by :func:`save_result`: equal to the one saved, tables included."""
    d = Path(directory)
    manifest = _read_manifest(d)
    tasks = pd.read_csv(d / TASKS, keep_default_na=False, na_values=[""], **_EXACT)
    if "outcome" in tasks:
        tasks["outcome"] = pd.Categorical(
            tasks["outcome"].fillna(""), categories=list(OUTCOME_CATEGORIES)
        )
    return RunResult(
        label=manifest["label"],
        updates=pd.read_csv(d / UPDATES, **_EXACT),
        tasks=tasks,
        summary=manifest["summary"],
        config=manifest["config"],
        manifest={k: v for k, v in manifest.items() if k not in _OWN_KEYS},
    )


def load_summary(directory: str | Path) -> dict[str, Any]:
    """Only the summary of a saved result (wall-clock times included), without reading its tables."""
    return dict(_read_manifest(Path(directory))["summary"])


def save_results(results: Mapping[str, RunResult], directory: str | Path) -> pd.DataFrame:
    """Write every rule's result into its own folder of ``directory`` (named by
    :func:`~lwpdsim.results.safe_name` of its label) and the rules' summary table into
    ``summary.csv``; return that table."""
    from ..analysis.tables import summary_table  # pulls in matplotlib: only when writing

    out = Path(directory)
    out.mkdir(parents=True, exist_ok=True)
    for label, result in results.items():
        save_result(result, out / safe_name(label))
    table = summary_table(results)
    write_text_atomic(out / RUN_FOLDER.marker, table.to_csv())
    return table


def _read_manifest(d: Path) -> dict[str, Any]:
    manifest: dict[str, Any] = json.loads((d / MANIFEST).read_text(encoding="utf-8"))
    summary = manifest["summary"]
    timing = d / TIMING
    if timing.exists():
        summary.update(json.loads(timing.read_text(encoding="utf-8")))
    manifest["summary"] = {k: v if k in _TEXT else _numbers(v) for k, v in summary.items()}
    return manifest


def _numbers(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {k: _numbers(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_numbers(v) for v in value]
    return json_number(value)
