"""Running a spec: its simulations go through the sweep machinery (:func:`lwpdsim.sweep.run_tasks`
and its executors), in memory; a timeline's single run is simulated here.

Replicate r of a scenario is ``simulate(scenario, run_index=r)``, so the numbers do not depend on
the executor.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ..analysis import data
from ..results import RunResult
from ..sim import simulate
from ..sweep import RunOutcome, run_tasks
from ..sweep.execute import progress_bar
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


#: Without a progress bar, a spec's runs are reported this many times (and at the end).
PROGRESS_LINES = 10


def run_spec(
    spec: FigureSpec,
    *,
    jobs: int = 1,
    progress: bool = False,
    log: Callable[[str], None] | None = None,
) -> SpecRuns:
    """Run every simulation a spec needs, in ``jobs`` processes (1: in this process); the results
    stay in memory (no files). ``progress`` draws a bar; ``log``, if given, is told how many runs
    are done about :data:`PROGRESS_LINES` times (for output that is not a terminal)."""
    if spec.kind == "timeline":
        results = simulate(spec.scenario, run_index=0)
        return _collect(spec, {(None, 0): results}, list(results), [])
    outcomes: dict[str, RunOutcome] = {}
    executor = "processes" if jobs > 1 else "serial"
    total = len(spec.plan.runs)
    every = max(1, -(-total // PROGRESS_LINES))
    with progress_bar(total, desc=spec.plan.name, enabled=progress) as tick:
        for task, outcome in run_tasks(spec.plan.runs, executor=executor, max_workers=jobs):
            outcomes[task.run_id] = outcome
            tick(outcome)
            done = len(outcomes)
            if log is not None and (done % every == 0 or done == total):
                log(f"  {spec.name}: {done}/{total} runs done")
    factor = "scheme.lr" if spec.kind == "compare" else "cluster.workers"
    problems: list[str] = []
    runs: dict[tuple[Any, int], dict[str, RunResult]] = {}
    for task in spec.plan.runs:  # plan order, whatever order the runs finished in
        outcome = outcomes[task.run_id]
        key = (task.factors[factor], task.replicate)
        if not outcome.ok:
            problems.append(
                f"{spec.name}: run {factor}={key[0]}, seed {key[1]} failed: {outcome.error}"
            )
            continue
        runs[key] = dict(outcome.results)
    return _collect(spec, runs, [s.label for s in spec.scenario.schemes], problems)


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
