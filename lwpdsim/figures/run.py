"""Running a spec: its simulations go through the sweep machinery
(:func:`lwpdsim.sweep.execute_sweep` and its executors); a timeline's single run is simulated here.

Replicate r of a scenario is ``simulate(scenario, run_index=r)``, so the numbers do not depend on
the executor.
"""

from __future__ import annotations

import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from ..analysis import data
from ..results import RunResult
from ..simulate import simulate
from ..sweep import execute_sweep, load_run, run_updates
from .spec import FigureSpec


@dataclass
class SpecRuns:
    """The runs of one spec: ``runs[(factor value, replicate)][label]``; ``labels`` in the
    scenario's order; ``problems`` one line per failed run."""

    spec: FigureSpec
    runs: dict[tuple[Any, int], dict[str, RunResult]]
    labels: list[str]
    problems: list[str]

    @property
    def rules(self) -> dict[str, str]:
        """``label -> rule name`` in label order (what the figures' colours and panels follow)."""
        out = {}
        for label in self.labels:
            res = next((r[label] for r in self.runs.values() if label in r), None)
            if res is not None:
                out[label] = data.rule_name(res)
        return out


def run_spec(spec: FigureSpec, *, jobs: int = 1, progress: bool = False) -> SpecRuns:
    """Run every simulation a spec needs, in ``jobs`` processes (1: in this process)."""
    if spec.kind == "timeline":
        results = simulate(spec.scenario, run_index=0)
        return _collect(spec, {(None, 0): results}, list(results), [])
    with tempfile.TemporaryDirectory(prefix="lwpdsim-figures-") as tmp:
        out = Path(tmp) / spec.name
        execute_sweep(
            spec.plan,
            executor="processes" if jobs > 1 else "serial",
            max_workers=jobs,
            out=out,
            plots=False,
            progress=progress,
        )
        records = [load_run(out / "runs" / f"{task.run_id}.json") for task in spec.plan.runs]
    return _from_records(spec, records)


def _from_records(spec: FigureSpec, records: list[dict[str, Any]]) -> SpecRuns:
    """The runs of a compare or intervals spec from its run records (in plan order)."""
    factor = "scheme.lr" if spec.kind == "compare" else "cluster.workers"
    problems: list[str] = []
    runs: dict[tuple[Any, int], dict[str, RunResult]] = {}
    for task, record in zip(spec.plan.runs, records, strict=True):
        key = (task.factors[factor], task.replicate)
        if record["status"] != "ok":
            problems.append(
                f"{spec.name}: run {factor}={key[0]}, seed {key[1]} failed: {record['error']}"
            )
            continue
        runs[key] = {s["label"]: _as_result(record, s["label"]) for s in record["schemes"]}
    return _collect(spec, runs, [s.label for s in spec.scenario.schemes], problems)


def _as_result(record: Mapping[str, Any], label: str) -> RunResult:
    """A run record's scheme as a :class:`RunResult` (no tasks table)."""
    summary = next(s["summary"] for s in record["schemes"] if s["label"] == label)
    config = {"scheme": label, "scenario": record["scenario"]}
    return RunResult(label, run_updates(record, label), pd.DataFrame(), dict(summary), config)


def _collect(
    spec: FigureSpec,
    runs: dict[tuple[Any, int], dict[str, RunResult]],
    labels: list[str],
    problems: list[str],
) -> SpecRuns:
    """The runs with a problem line added for every rule that stopped with an error."""
    for (value, seed), results in runs.items():
        for label, res in results.items():
            if res.status == "error":
                what = f"lr={value}, " if spec.kind == "compare" else ""
                problems.append(
                    f"{spec.name}: {label} ({what}seed {seed}) stopped with an error: "
                    f"{res.summary.get('message')}"
                )
    return SpecRuns(spec, runs, labels, problems)
