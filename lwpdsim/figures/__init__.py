"""Reference figures: ``lwpdsim figures`` runs figure specs and writes each figure with its data.

A figure spec is a TOML file (``scenarios/paper/``, ``scenarios/lecture/``) shaped like a sweep
file: a base scenario (a file or an inline ``[base]`` table), ``base_overrides``, and what to run.
Three kinds:

``compare`` (the default)
    Every rule of the base scenario, at every step size of one common grid ``lr_grid``, over
    ``seeds`` replicates (replicate r is ``simulate(scenario, run_index=r)``, so all rules and all
    step sizes of one replicate share their compute-time draws). Each rule's step size is chosen by
    the stated rule ``select`` (:mod:`lwpdsim.tune`, the rule of a scenario's ``train.lr_grid``); the figures then show every rule at its own choice: the loss
    curves (mean over seeds, min-max band), the grid itself, and time and bytes until the loss
    first reaches ``target_loss`` (mean over the seeds that reached it, how many did, and a
    95% bootstrap interval). ``curves`` lists the curves' x axes: ``time`` (simulated), ``update``
    and ``bytes`` (cumulative bytes sent up, workers to master). With ``by = "K"`` every label
    ends in ``" K=<number>"`` ("qsgd K=2"), and one more figure shows, per group of labels ("qsgd"),
    the chosen step size and the time to the target against that number.
``timeline``
    One run (replicate 0) drawn as a Gantt chart of every worker over the first ``window`` seconds.
``intervals``
    The time between updates as the cluster grows (``workers``), against theory.

Every figure ``<name>_<figure>.png`` comes with ``<name>_<figure>.csv`` (the numbers it draws);
``<name>_runs.csv`` holds one row per (rule, step size, seed) run, ``<name>.json`` records the
resolved spec and scenario, and ``README.md`` indexes every figure in the folder. Runs go through
:func:`lwpdsim.sweep.run_tasks` (in memory), so a spec's grid is validated like a sweep's before
anything runs and the numbers do not depend on the executor.

The modules, in the order a build uses them: :mod:`.spec` (the schema; loading writes nothing),
:mod:`.datasets` (the noisy digits, written when a build needs them), :mod:`.run` (the runs),
:mod:`.tables` (the tables behind the figures), one drawing module per figure (:mod:`.curves`,
:mod:`.lr_grid`, :mod:`.to_target`, :mod:`.by_factor`, :mod:`.intervals`; the timeline is
:func:`lwpdsim.analysis.timeline_plots.plot_timeline`), :mod:`.write` (a spec's files and manifest),
:mod:`.index` (the folder's README.md) and :mod:`.command` (the command). The look is
:mod:`lwpdsim.analysis.style`, shared with every other figure of the package (:mod:`.colors`
gives distinct colours to the labels of a rule with many).
"""

from .command import FiguresReport, build_figures, main_figures
from .datasets import NOISY_DIGITS, ensure_datasets, noisy_digits
from .index import write_index
from .run import SpecRuns, run_spec
from .spec import FigureSpec, find_specs, load_spec, select_specs
from .write import write_spec

__all__ = [
    "NOISY_DIGITS",
    "FigureSpec",
    "FiguresReport",
    "SpecRuns",
    "build_figures",
    "ensure_datasets",
    "find_specs",
    "load_spec",
    "main_figures",
    "noisy_digits",
    "run_spec",
    "select_specs",
    "write_index",
    "write_spec",
]
