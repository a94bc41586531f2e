"""What a sweep keeps of each rule run on disk, and reads back to resume.

Rule run ``<id>`` (a point's scenario reduced to one rule, and a replicate: :class:`~.plan.RuleRun`)
gets the folder ``runs/<id>/``: ``run.json`` (format, id, replicate, the rule's label and name,
status, error and traceback, seed, package versions, wall-clock seconds, and the folder and step
size of the rule) and, if it worked, what ``lwpdsim run`` writes (``summary.csv`` and the rule's
folder, see :mod:`lwpdsim.io.codec`), so that ``lwpdsim plot runs/<id>`` redraws it. Every row of
``runs.csv`` this rule run serves (every point whose scenario has the same rule with the same
settings) reads it. A folder is complete or absent: it is written in a staging folder and renamed
(:meth:`~lwpdsim.io.OutputFolder.commit`).

To resume, :func:`scan_runs` reuses a finished rule run only if its record is sound and was
written by the same versions of the packages that make the numbers (:data:`NUMERIC_PACKAGES`) in
this format (a folder of format ``lwpdsim-sweep-run/2`` held a whole point's run: another
version's); the others are run again, and counted, so the command can say how many and why.
"""

from __future__ import annotations

import json
import os
import stat
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..io.codec import load_result, load_summary, save_results
from ..io.folder import OutputFolder
from ..io.jsonable import dumps, json_ready
from ..io.records import SWEEP_DEFAULT, RecordFormat
from ..results import safe_name, step_size, versions
from .execute import RunOutcome
from .plan import RuleRun, SweepPlan

RUN_FORMAT = "lwpdsim-sweep-run/3"
RECORD = "run.json"
#: Packages whose version changes a run's numbers: a run written by another version is redone.
NUMERIC_PACKAGES = ("lwpdsim", "numpy", "scipy", "scikit-learn")
#: The largest record read back (a record is a few kilobytes, its traceback included).
_RECORD_BYTES = 1 << 22


class DamagedRun(ValueError):
    """A run folder whose record cannot be used."""


def write_run(
    runs_dir: str | Path,
    task: RuleRun,
    outcome: RunOutcome,
    folder: OutputFolder,
    records: RecordFormat = SWEEP_DEFAULT,
) -> dict[str, Any]:
    """Write rule run ``task``'s folder into ``runs_dir`` (replacing an earlier one lwpdsim
    wrote) through the claimed ``folder``, its tables kept as ``records`` says; return its
    record (the contents of ``run.json``)."""
    runs_dir = Path(runs_dir)
    spec = task.scenario.schemes[0]
    with folder.stage(runs_dir) as tmp:
        if outcome.results:
            save_results(outcome.results, tmp, folder, records=records)
        record: dict[str, Any] = json_ready(
            {
                "format": RUN_FORMAT,
                "run_id": task.run_id,
                "replicate": task.replicate,
                "scheme": spec.label,
                "rule": spec.name,
                "status": outcome.status,
                "error": outcome.error,
                "traceback": outcome.traceback,
                "rules": [
                    {
                        "label": label,
                        "rule": spec.name,
                        "folder": safe_name(label),
                        "lr": step_size(result),  # chosen from train.lr_grid, or set
                    }
                    for label, result in outcome.results.items()
                ],
                "seed": task.scenario.seed,
                "run_index": task.replicate,
                "versions": versions(),
                "wall_seconds": outcome.wall_seconds,
            }
        )
        folder.write_text(tmp / RECORD, dumps(record))
        folder.commit(tmp, runs_dir / task.run_id)
    return record


def read_record(directory: str | Path) -> dict[str, Any]:
    """The record (``run.json``) of a run folder written by a sweep; a :class:`DamagedRun` if it
    is not a readable JSON object in a regular file."""
    path = Path(directory) / RECORD
    try:
        info = os.lstat(path)
    except OSError as err:
        raise DamagedRun(f"no {RECORD} ({err.strerror})") from None
    if not stat.S_ISREG(info.st_mode):
        raise DamagedRun(f"{RECORD} is not a file")
    if info.st_size > _RECORD_BYTES:
        raise DamagedRun(f"{RECORD} has {info.st_size} bytes")
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as err:
        raise DamagedRun(f"{RECORD} is unreadable ({type(err).__name__})") from None
    if not isinstance(record, dict):
        raise DamagedRun(f"{RECORD} is not a JSON object")
    return record


def load_run(directory: str | Path) -> RunOutcome:
    """A run folder written by a sweep, read back as the outcome it stored (results included)."""
    d = Path(directory)
    record = read_record(d)
    return RunOutcome(
        status=record["status"],
        results={r["label"]: load_result(d / _folder(r)) for r in record["rules"]},
        error=record["error"],
        traceback=record["traceback"],
        wall_seconds=record["wall_seconds"],
    )


def _folder(rule: Any) -> str:
    """A rule's folder as a record names it: one plain name inside the run's folder."""
    name = rule.get("folder") if isinstance(rule, dict) else None
    if not isinstance(name, str) or name in ("", ".", "..") or "/" in name or "\\" in name:
        raise DamagedRun(f"a rule's folder is {name!r}")
    return name


@dataclass
class RunScan:
    """What an earlier sweep left in ``runs/``: the finished rule runs to reuse (the summary by
    rule label, by rule run id), and those run again because another version wrote them, or
    their record is damaged (rule run id and why)."""

    done: dict[str, dict[str, dict[str, Any]]] = field(default_factory=dict)
    other_version: list[tuple[str, str]] = field(default_factory=list)
    damaged: list[tuple[str, str]] = field(default_factory=list)


def scan_runs(plan: SweepPlan, runs_dir: str | Path) -> RunScan:
    """Sort the rule run folders of ``plan`` in ``runs_dir`` (see :class:`RunScan`); failed rule
    runs and missing folders are simply run (again)."""
    scan = RunScan()
    mine = {k: v for k, v in versions().items() if k in NUMERIC_PACKAGES}
    for task in plan.rule_runs:
        d = Path(runs_dir) / task.run_id
        if not os.path.lexists(d):
            continue
        try:
            if os.path.islink(d) or not d.is_dir():
                raise DamagedRun("not a folder")
            record = read_record(d)
            if record.get("run_id") != task.run_id:
                raise DamagedRun(f"it names run {record.get('run_id')!r}")
            if record.get("status") != "ok":
                continue
            fmt, theirs = record.get("format"), record.get("versions")
            if not isinstance(fmt, str) or not fmt.startswith(RUN_FORMAT.split("/")[0] + "/"):
                raise DamagedRun(f"it has no format ({fmt!r})")
            if fmt != RUN_FORMAT:
                scan.other_version.append((task.run_id, f"format {fmt}, not {RUN_FORMAT}"))
                continue
            if not isinstance(theirs, dict):
                raise DamagedRun("it names no package versions")
            differ = [
                f"{k} {theirs.get(k)}, not {v}" for k, v in mine.items() if theirs.get(k) != v
            ]
            if differ:
                scan.other_version.append((task.run_id, "; ".join(differ)))
                continue
            scan.done[task.run_id] = _summaries(d, record, task)
        except DamagedRun as err:
            scan.damaged.append((task.run_id, str(err)))
        except (OSError, ValueError, KeyError, TypeError, AttributeError) as err:
            scan.damaged.append((task.run_id, f"{type(err).__name__}: {err}"))
    return scan


def _summaries(d: Path, record: dict[str, Any], task: RuleRun) -> dict[str, dict[str, Any]]:
    rules = record.get("rules")
    if not isinstance(rules, list):
        raise DamagedRun("no list of rules")
    expected = [task.label]
    labels = [r.get("label") if isinstance(r, dict) else None for r in rules]
    if labels != expected:
        raise DamagedRun(f"its rules are {labels}, not {expected}")
    out = {}
    for rule in rules:
        summary = load_summary(d / _folder(rule))
        if not isinstance(summary, dict) or "status" not in summary:
            raise DamagedRun(f"no summary for {rule['label']!r}")
        out[rule["label"]] = summary
    return out


def stale_runs(plan: SweepPlan, runs_dir: str | Path, folder: OutputFolder) -> list[str]:
    """The run folders in ``runs_dir`` that lwpdsim wrote but that are no rule run of ``plan``
    (the sweep was edited since: its grid, replicates or base; or another version wrote them in
    another layout), sorted; a user's own files are not counted."""
    mine = {task.run_id for task in plan.rule_runs}
    try:
        names = os.listdir(runs_dir)
    except OSError:
        return []
    return sorted(
        name
        for name in names
        if name not in mine
        and not name.startswith(".")
        and folder.owns(Path(runs_dir) / name)
        and os.path.isdir(Path(runs_dir) / name)
        and not os.path.islink(Path(runs_dir) / name)
    )


def finished_runs(plan: SweepPlan, runs_dir: str | Path) -> dict[str, dict[str, dict[str, Any]]]:
    """The summaries (by rule label) of the rule runs of ``plan`` that finished well in
    ``runs_dir``, by rule run id (see :func:`scan_runs`); failed, damaged, foreign or other
    versions' rule runs are left out (so they run again)."""
    return scan_runs(plan, runs_dir).done


def record_format(directory: str | Path) -> str | None:
    """The format a run folder's record names (None if it has no readable record)."""
    try:
        fmt = read_record(directory).get("format")
    except DamagedRun:
        return None
    return fmt if isinstance(fmt, str) else None
