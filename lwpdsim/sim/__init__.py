"""The simulation core: a SimPy-timed cluster of workers driving one update rule.

- :mod:`.run`: :func:`simulate` a scenario (every rule on the same data and draws), one rule's run
  (:func:`run_scheme`), and the scenario's dataset (:func:`build_dataset`);
- :mod:`.cluster`: the physics: tasks, compute times, cancellations, failures, the event loop;
- :mod:`.network`: the links between the master and its workers;
- :mod:`.master`: the parameters, their version, steps, evaluation and the stop rules;
- :mod:`.records`: the tasks and updates tables a run records.
"""

from .run import build_dataset, run_scheme, simulate, with_label_noise

__all__ = ["build_dataset", "run_scheme", "simulate", "with_label_noise"]
