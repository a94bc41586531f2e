"""Running a sweep into its output folder: the rule runs, their store, the table, the figures.

``OUT/sweep.json`` (the plan: base, factors, points, skipped points, counts, executor,
completeness) marks the folder as a sweep's; each distinct rule run (:class:`~.plan.RuleRun`) is
simulated once and stored in ``OUT/runs/<rule run id>/`` as soon as it finishes (:mod:`.store`),
``OUT/runs.csv`` (:mod:`.table`, a row per point, replicate and rule, each showing its rule run)
and the figures follow at the end. ``resume`` reuses the finished rule runs of an earlier,
interrupted run of the same sweep. Everything is written through the claimed folder
(:func:`lwpdsim.io.claim`), which records it.
"""

from __future__ import annotations

import contextlib
import warnings
from collections.abc import Callable, Mapping
from concurrent.futures import Executor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

import pandas as pd

from ..io.files import SWEEP_FOLDER, writing
from ..io.folder import OutputFolder
from ..io.jsonable import dumps
from ..io.ownership import Terms, check_out, claim
from ..io.records import records_for
from ..results import versions
from .execute import check_executor, progress_bar, resolve_executor, run_tasks
from .plan import RuleRun, RunTask, SweepPlan, plan_sweep
from .spec import SweepSpec, override_texts, parse_records
from .store import RUN_FORMAT, RunScan, record_format, scan_runs, stale_runs, write_run
from .table import TABLE_NAME, RuleResult, sweep_table


@dataclass(frozen=True)
class SweepOptions:
    """How to run a sweep (the keywords of :func:`run_sweep`).

    ``executor``: ``"auto"`` (the default: ``"processes"``, or ``"dask"`` with a ``scheduler``),
    ``"serial"``, ``"processes"`` (a process pool of ``max_workers``, default the CPU count),
    ``"dask"`` (a local Dask cluster of ``max_workers`` one-thread processes, slower to start: 1.57x
    serial against the pool's 1.86x on 2 CPUs; or the cluster at ``scheduler``, e.g.
    ``"tcp://host:8786"``), or an ``Executor`` / ``distributed.Client`` of your own (left
    running). ``out`` defaults to
    ``results/sweeps/<name>/``; an existing one is refused unless ``resume`` (a folder of the same
    sweep: reuse its finished runs, run the rest and any failed ones) or ``force`` (start over,
    removing only what lwpdsim wrote there). ``skip_invalid`` overrides the
    sweep file's setting; ``progress`` shows a bar; ``plots`` draws the figures; ``on_run`` is
    called with each new run's record (its ``run.json``) once the run is on disk; ``log`` with
    one line for each kind of earlier run that ``resume`` runs again rather than reuse, and one
    for the earlier runs it leaves aside because the sweep was edited (default: a
    ``RuntimeWarning``). ``resume`` needs a folder of the same sweep name; its grid, replicates
    and base may have changed: the runs still in the sweep are reused.
    """

    executor: str | Executor | Any = "auto"
    scheduler: str | None = None
    out: str | Path | None = None
    resume: bool = False
    force: bool = False
    skip_invalid: bool | None = None
    max_workers: int | None = None
    progress: bool = False
    plots: bool = True
    on_run: Callable[[dict[str, Any]], None] | None = None
    log: Callable[[str], None] | None = None
    #: What each new rule run keeps of its tables ("full", "thin" or "summary"; None: the sweep
    #: file's ``records``, "thin" by default; :mod:`lwpdsim.io.records`).
    records: str | None = None


@dataclass
class SweepReport:
    """What a sweep did: the table, where it is, and how many rule runs were computed, reused
    and failed, for how many rows.

    ``rows`` (table rows: point x replicate x rule) are served by ``rule_runs`` distinct rule
    runs; ``shared`` = ``rows - rule_runs`` rule runs were saved by sharing. Of the rule runs,
    ``computed`` were simulated now and ``reused`` read from an earlier run's folder."""

    plan: SweepPlan
    out: Path
    table: pd.DataFrame
    computed: int = 0  # rule runs simulated now
    reused: int = 0  # rule runs read back from the folder (--resume)
    other_version: int = 0  # earlier rule runs of other package versions, run again
    damaged: int = 0  # earlier rule runs with a damaged record, run again
    stale: list[str] = field(default_factory=list)  # earlier runs no longer of the sweep, kept
    failed_runs: list[str] = field(default_factory=list)  # ids of the rule runs that failed
    figures: list[Path] = field(default_factory=list)
    plot_error: str | None = None
    interrupted: bool = False
    records: str = "thin"  # what the new rule runs kept of their tables

    @property
    def rows(self) -> int:
        """Rows of the sweep's table (point x replicate x rule)."""
        return self.plan.rows

    @property
    def rule_runs(self) -> int:
        """Distinct rule runs serving them."""
        return len(self.plan.rule_runs)

    @property
    def shared(self) -> int:
        """Rule runs saved by sharing a result between points: ``rows - rule_runs``."""
        return self.rows - self.rule_runs


def run_sweep(source: str | Path | Mapping[str, Any], **options: Any) -> pd.DataFrame:
    """Run every (grid point, replicate) of a sweep file and return the tidy table of all runs.

    The keywords are those of :class:`SweepOptions`: ``executor`` (default ``"auto"``),
    ``scheduler``, ``out``, ``resume``, ``force``, ``skip_invalid``, ``max_workers``,
    ``progress``, ``plots`` and ``on_run``. Results are identical whichever executor runs them.
    Each run is stored in ``out/runs/<run id>/`` as it finishes; ``runs.csv`` (the returned table)
    and figures follow at the end. See :func:`execute_sweep` for the full report.
    """
    return execute_sweep(source, SweepOptions(**options)).table


def execute_sweep(
    source: str | Path | Mapping[str, Any] | SweepSpec | SweepPlan,
    options: SweepOptions | None = None,
) -> SweepReport:
    """Run a sweep (a file, a dict, a parsed spec or a plan) and return a :class:`SweepReport`.

    On ``KeyboardInterrupt`` the table of the finished runs is written before it propagates.
    """
    opts = options or SweepOptions()
    plan = (
        source
        if isinstance(source, SweepPlan)
        else plan_sweep(source, skip_invalid=opts.skip_invalid)
    )
    out = Path(opts.out) if opts.out is not None else plan.default_out()
    check_executor(opts.executor, opts.scheduler)
    if opts.records is not None:
        parse_records(opts.records, "records")
    terms = _folder_terms(plan, resume=opts.resume, force=opts.force)
    folder = claim(out, SWEEP_FOLDER, **terms, will_write=["sweep.json", TABLE_NAME, "runs"])
    with folder:
        return _execute(plan, opts, out, folder)


def check_sweep_out(plan: SweepPlan, out: Path, *, resume: bool, force: bool) -> None:
    """Refuse (one line naming ``--out``) a folder ``out`` the sweep may not write, before any
    run (what :func:`execute_sweep` checks again when it claims the folder)."""
    check_out(out, SWEEP_FOLDER, **_folder_terms(plan, resume=resume, force=force))


def _folder_terms(plan: SweepPlan, *, resume: bool, force: bool) -> Terms:
    """The terms on which a sweep takes its folder (:func:`lwpdsim.io.claim`)."""
    return {
        "resume": resume,
        "force": force,
        "inputs": sweep_inputs(plan),
        "identity": sweep_identity(plan),
    }


def sweep_identity(plan: SweepPlan) -> dict[str, Any]:
    """What makes a folder this sweep's, for ``--resume``: its name. The grid, the replicates and
    the base may have been edited since: a run is reused only if its id (a hash of its resolved
    scenario and replicate) is still one of the sweep's, and the other records are reported."""
    return {"name": plan.name}


def sweep_inputs(plan: SweepPlan) -> list[Path]:
    """The files a sweep reads (its file, its base scenario): its folder must not hold them."""
    files = [Path(plan.spec.source)] if plan.spec.source else []
    return files + ([plan.spec.base] if isinstance(plan.spec.base, Path) else [])


def _reuse(
    plan: SweepPlan, opts: SweepOptions, folder: OutputFolder, runs_dir: Path
) -> tuple[RunScan, list[str]]:
    """The runs ``--resume`` keeps, and the records it leaves aside (runs of the folder that are no
    longer the sweep's); says how many it runs again and how many it leaves aside, and refuses
    (before running anything) when a run to redo cannot be replaced."""
    scan = scan_runs(plan, runs_dir) if opts.resume else RunScan()
    stale = stale_runs(plan, runs_dir, folder) if opts.resume else []
    say = opts.log or (lambda text: warnings.warn(text, RuntimeWarning, stacklevel=4))
    old = [name for name in stale if record_format(runs_dir / name) not in (RUN_FORMAT, None)]
    if old:
        say(
            f"{len(old)} earlier {'run' if len(old) == 1 else 'runs'} in {runs_dir} "
            f"{'was' if len(old) == 1 else 'were'} written by another version (run {old[0]}: "
            f"format {record_format(runs_dir / old[0])}, not {RUN_FORMAT}): kept there, left out "
            "of runs.csv and the figures, their rules run again (only --force removes them)"
        )
    if len(stale) > len(old):
        new = [name for name in stale if name not in set(old)]
        say(
            f"{len(new)} earlier {'run' if len(new) == 1 else 'runs'} in {runs_dir} no longer "
            f"{'belongs' if len(new) == 1 else 'belong'} to the sweep (edited since; e.g. run "
            f"{new[0]}, all in sweep.json: stale_runs): kept there, left out of runs.csv and the "
            "figures (only --force, starting over, removes them)"
        )
    if scan.other_version:
        run_id, why = scan.other_version[0]
        say(
            f"{len(scan.other_version)} finished runs in {runs_dir} were written by another "
            f"version (run {run_id}: {why}): running them again"
        )
    if scan.damaged:
        run_id, why = scan.damaged[0]
        say(
            f"{len(scan.damaged)} runs in {runs_dir} have a damaged record (run {run_id}: {why}): "
            "running them again"
        )
    for task in plan.rule_runs:
        if task.run_id not in scan.done:
            folder.check_replaceable(runs_dir / task.run_id)
    return scan, stale


def _execute(plan: SweepPlan, opts: SweepOptions, out: Path, folder: OutputFolder) -> SweepReport:
    runs_dir = folder.mkdir(out / "runs")
    scan, stale = _reuse(plan, opts, folder, runs_dir)
    done = scan.done
    results = {
        task.run_id: RuleResult("ok", None, done[task.run_id][task.label])
        for task in plan.rule_runs
        if task.run_id in done
    }
    todo = [t for t in plan.rule_runs if t.run_id not in done]
    report = SweepReport(plan, out, pd.DataFrame(), reused=len(results), stale=stale)
    report.other_version, report.damaged = len(scan.other_version), len(scan.damaged)
    report.records = plan.spec.records if opts.records is None else opts.records
    keep = records_for(parse_records(report.records, "records"))
    executor = (
        resolve_executor(opts.executor, opts.scheduler)
        if isinstance(opts.executor, str)
        else type(opts.executor).__name__
    )
    _write_manifest(report, folder, executor, complete=False)
    # execute_run needs only a task's scenario and replicate, which a rule run has
    runs = run_tasks(
        cast("list[RunTask]", todo),
        executor=opts.executor,
        scheduler=opts.scheduler,
        max_workers=opts.max_workers,
    )
    try:
        with (
            contextlib.closing(runs),
            progress_bar(
                len(plan.rule_runs), desc=plan.name, initial=len(results), enabled=opts.progress
            ) as tick,
        ):
            for done_task, outcome in runs:
                task = cast(RuleRun, done_task)
                record = write_run(runs_dir, task, outcome, folder, keep)
                result = outcome.results.get(task.label)
                summary = result.summary if result is not None else None
                results[task.run_id] = RuleResult(outcome.status, outcome.error, summary)
                report.computed += 1
                if not outcome.ok:
                    report.failed_runs.append(task.run_id)
                tick(outcome)
                if opts.on_run is not None:
                    opts.on_run(record)
    except KeyboardInterrupt:
        report.interrupted = True
        raise
    finally:
        report.table = sweep_table(plan, results)
        folder.write_text(out / TABLE_NAME, report.table.to_csv(index=False))
        _write_manifest(report, folder, executor, complete=not report.interrupted)
    if opts.plots:
        report.figures, report.plot_error = draw_sweep(report.table, plan, folder, out)
    return report


def draw_sweep(
    table: pd.DataFrame, plan: SweepPlan | None, folder: OutputFolder, out: Path, **kw: Any
) -> tuple[list[Path], str | None]:
    """Draw a sweep's figures into ``out`` through ``folder``; return them and the error that
    stopped them, if any (the runs are safe on disk: a figure is not worth failing for)."""
    from ..analysis.sweep_plots import plot_sweep

    axes = kw.pop("axes", None) or (plan.spec.axes if plan else [])
    kw.setdefault("metrics", plan.spec.metrics if plan else ())
    title = kw.pop("title", plan.name if plan else None)
    written = []
    try:
        with folder.stage(out) as stage, writing(stage):
            drawn = plot_sweep(table, axes, stage, title=title, **kw)
            written = [folder.adopt(path, out / path.name) for path in drawn]
    except Exception as err:
        return written, f"{type(err).__name__}: {err}"
    return written, None


def _write_manifest(
    report: SweepReport, folder: OutputFolder, executor: str, complete: bool
) -> None:
    plan = report.plan
    spec = plan.spec
    manifest = {
        "name": spec.name,
        "description": spec.description,
        "source": spec.source,
        "base": str(spec.base) if isinstance(spec.base, Path) else dict(spec.base),
        "base_overrides": list(override_texts(spec.base_overrides)),
        "factors": list(spec.factor_keys),
        "axes": [list(a) for a in spec.axes],
        "derived": dict(spec.derived),
        "replicates": spec.replicates,
        "metrics": list(spec.metrics),
        "records": report.records,
        "points": [
            {"point": p.index, "factors": dict(p.factors), "overrides": list(p.overrides)}
            for p in plan.points
        ],
        "skipped": [
            {"point": p.index, "factors": dict(p.factors), "error": p.error} for p in plan.skipped
        ],
        "runs": len(plan.runs),
        "rows": report.rows,
        "rule_runs": report.rule_runs,
        "rule_runs_computed": report.computed,
        "rule_runs_reused": report.reused,
        "stale_runs": report.stale,
        "executor": executor,
        "complete": complete,
        "versions": versions(),
    }
    folder.write_text(report.out / "sweep.json", dumps(manifest))
