"""Parameter sweeps: a grid of scenarios run through an executor, each run stored as it finishes.

:mod:`.spec` reads a sweep file (:class:`SweepSpec`), :mod:`.expr` evaluates its ``[derived]``
expressions, :mod:`.plan` expands it into points, runs and rule runs (:class:`SweepPlan`,
:class:`RunTask`, :class:`RuleRun`; :mod:`.resolve` gives each point's scenario), :mod:`.execute`
runs them (:func:`run_tasks`, in memory, on any executor), :mod:`.store` keeps each rule run in
``OUT/runs/<rule run id>/``, :mod:`.table` makes the tidy ``runs.csv`` and :mod:`.run` does it all
into an output folder (:func:`run_sweep`, :func:`execute_sweep`).

A run is a (grid point, replicate r) pair, with one row per rule in the table. What is simulated is
a rule run: the point's scenario reduced to one rule, ``simulate(scenario, run_index=r)``, whose
result is that rule's inside the full scenario (each rule gets its random streams afresh). Points
whose scenarios agree but in other rules' settings share it; the same rule run gives the same
numbers in any grid and with any executor.
"""

from .execute import EXECUTORS, RunOutcome, cpu_count, execute_run, run_tasks
from .expr import ExpressionError, compile_expression, evaluate_expression
from .plan import (
    InvalidPointsError,
    RuleRun,
    RunTask,
    SweepPlan,
    SweepPoint,
    expand_sweep,
    plan_sweep,
    resolve_scenario,
    run_id,
)
from .run import SweepOptions, SweepReport, execute_sweep, run_sweep
from .spec import SweepSpec, is_sweep_file, load_sweep, value_text
from .store import finished_runs, load_run, read_record, write_run
from .table import METRIC_COLUMNS, TABLE_NAME, RuleResult, run_rows, sweep_table

__all__ = [
    "EXECUTORS",
    "METRIC_COLUMNS",
    "TABLE_NAME",
    "ExpressionError",
    "InvalidPointsError",
    "RuleResult",
    "RuleRun",
    "RunOutcome",
    "RunTask",
    "SweepOptions",
    "SweepPlan",
    "SweepPoint",
    "SweepReport",
    "SweepSpec",
    "compile_expression",
    "cpu_count",
    "evaluate_expression",
    "execute_run",
    "execute_sweep",
    "expand_sweep",
    "finished_runs",
    "is_sweep_file",
    "load_run",
    "load_sweep",
    "plan_sweep",
    "read_record",
    "resolve_scenario",
    "run_id",
    "run_rows",
    "run_sweep",
    "run_tasks",
    "sweep_table",
    "value_text",
    "write_run",
]
