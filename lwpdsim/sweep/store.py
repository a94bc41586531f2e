"""What a sweep keeps of each run on disk, and reads back to resume.

Run ``<id>`` (a (point, replicate) pair) gets the folder ``runs/<id>/``: ``run.json`` (format,
id, point, replicate, factors and their overrides, status, error and traceback, seed, package
versions, wall-clock seconds, and the folder of each rule) and, if it worked, what ``lwpdsim run``
writes (``summary.csv`` and one folder per rule, see :mod:`lwpdsim.io.codec`), so that
``lwpdsim plot runs/<id>`` redraws it. A folder is complete or absent: it is written under a
temporary name and renamed.
"""

from __future__ import annotations

import json
import os
import shutil
import threading
from pathlib import Path
from typing import Any, cast

from ..io.codec import load_result, load_summary, save_results
from ..io.files import write_text_atomic
from ..io.jsonable import dumps, json_ready
from ..results import safe_name, versions
from .execute import RunOutcome
from .plan import RunTask, SweepPlan

RUN_FORMAT = "lwpdsim-sweep-run/2"
RECORD = "run.json"


def write_run(runs_dir: str | Path, task: RunTask, outcome: RunOutcome) -> dict[str, Any]:
    """Write run ``task``'s folder into ``runs_dir`` (replacing an earlier one); return its
    record (the contents of ``run.json``)."""
    runs_dir = Path(runs_dir)
    final = runs_dir / task.run_id
    tmp = runs_dir / f".{task.run_id}.{os.getpid()}.{threading.get_ident()}.tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    try:
        if outcome.results:
            save_results(outcome.results, tmp)
        rules = {s.label: s.name for s in task.scenario.schemes}
        record: dict[str, Any] = json_ready(
            {
                "format": RUN_FORMAT,
                "run_id": task.run_id,
                "point": task.point,
                "replicate": task.replicate,
                "factors": dict(task.factors),
                "overrides": list(task.overrides),
                "status": outcome.status,
                "error": outcome.error,
                "traceback": outcome.traceback,
                "rules": [
                    {"label": label, "rule": rules.get(label, ""), "folder": safe_name(label)}
                    for label in outcome.results
                ],
                "seed": task.scenario.seed,
                "run_index": task.replicate,
                "versions": versions(),
                "wall_seconds": outcome.wall_seconds,
            }
        )
        write_text_atomic(tmp / RECORD, dumps(record))
        if final.exists():
            shutil.rmtree(final)
        os.replace(tmp, final)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return record


def read_record(directory: str | Path) -> dict[str, Any]:
    """The record (``run.json``) of a run folder written by a sweep."""
    text = (Path(directory) / RECORD).read_text(encoding="utf-8")
    return cast(dict[str, Any], json.loads(text))  # run.json holds an object (write_run)


def load_run(directory: str | Path) -> RunOutcome:
    """A run folder written by a sweep, read back as the outcome it stored (results included)."""
    d = Path(directory)
    record = read_record(d)
    return RunOutcome(
        status=record["status"],
        results={r["label"]: load_result(d / r["folder"]) for r in record["rules"]},
        error=record["error"],
        traceback=record["traceback"],
        wall_seconds=record["wall_seconds"],
    )


def finished_runs(plan: SweepPlan, runs_dir: str | Path) -> dict[str, dict[str, dict[str, Any]]]:
    """The summaries (by rule label) of the runs of ``plan`` that finished well in ``runs_dir``, by
    run id; failed, unreadable or foreign run folders are left out (so they run again)."""
    done = {}
    for task in plan.runs:
        d = Path(runs_dir) / task.run_id
        if not (d / RECORD).is_file():
            continue
        try:
            record = read_record(d)
            if (
                record.get("format") != RUN_FORMAT
                or record.get("status") != "ok"
                or record.get("run_id") != task.run_id
            ):
                continue
            done[task.run_id] = {r["label"]: load_summary(d / r["folder"]) for r in record["rules"]}
        except (OSError, ValueError, KeyError, TypeError):
            continue
    return done
