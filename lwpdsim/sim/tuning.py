"""A scenario's step sizes: each rule without its own ``lr`` gets one from ``train.lr_grid``
before its measured run (the rule and the selection seeds are :mod:`lwpdsim.tune`'s).

Every rule to tune runs at every step size of the grid on ``train.lr_seeds`` selection runs, each
with its own random streams (:func:`lwpdsim.tune.selection_streams`: never those of the measured
run). Selection runs are the scenario's runs with ``train.target_loss`` left out, so they go on to
the end of the budget (``max_updates`` / ``max_time``) and their final losses compare; everything
else (cluster, model, evaluation, divergence rule) is the scenario's.
"""

from __future__ import annotations

import dataclasses
import time
from typing import TYPE_CHECKING

from threadpoolctl import threadpool_limits

from ..models import make_model
from ..tune import LrChoice, choice_of, run_score, selection_streams
from .run import build_dataset, check_message_times, run_scheme

if TYPE_CHECKING:
    from ..config import Scenario, SchemeSpec


def tuned_rules(scenario: Scenario) -> list[SchemeSpec]:
    """The rules whose step size is chosen from ``train.lr_grid`` (those without their own lr)."""
    return [s for s in scenario.schemes if s.lr is None]


def selection_runs(scenario: Scenario) -> int:
    """How many rule runs choosing the step sizes takes: tuned rules x grid x selection seeds."""
    train = scenario.train
    return len(tuned_rules(scenario)) * len(train.lr_grid) * train.lr_seeds


def choose_step_sizes(
    scenario: Scenario, run_index: int | None = None, *, progress: bool = False
) -> tuple[dict[str, LrChoice], dict[str, float]]:
    """Every rule's step size in a scenario with ``train.lr_grid`` (a fixed one for a rule with
    its own lr), by label in the scenario's order, and the wall-clock seconds each tuned rule's
    selection runs took. Empty without a grid. ``progress`` shows a bar over the runs."""
    train = scenario.train
    if not train.lr_grid:
        return {}, {}
    tuned = tuned_rules(scenario)
    scores: dict[str, dict[float, list[float]]] = {
        s.label: {lr: [] for lr in train.lr_grid} for s in tuned
    }
    seconds = dict.fromkeys(scores, 0.0)
    selection = dataclasses.replace(scenario, train=dataclasses.replace(train, target_loss=None))
    bar = None
    if progress and tuned:
        from tqdm.auto import tqdm

        bar = tqdm(total=selection_runs(scenario), desc="choosing lr", unit="run", leave=False)
    try:
        for j in range(train.lr_seeds if tuned else 0):  # no rule to tune: no selection run
            streams = selection_streams(scenario.seed, run_index, j)
            with threadpool_limits(1):
                data = build_dataset(scenario, streams)
                model = make_model(scenario.model.kind, data, hidden=scenario.model.hidden)
                check_message_times(scenario, model.n_params)
                for lr in train.lr_grid:
                    for spec in tuned:
                        started = time.perf_counter()
                        # a selection run's score is its final loss: no decoding error to measure
                        rule = dataclasses.replace(spec, lr=lr, decode_error=False)
                        res = run_scheme(selection, rule, model, data, streams)
                        scores[spec.label][lr].append(run_score(res, train.lr_select))
                        seconds[spec.label] += time.perf_counter() - started
                        if bar is not None:
                            bar.update(1)
    finally:
        if bar is not None:
            bar.close()
    choices = {}
    for spec in scenario.schemes:
        if spec.lr is not None:
            choices[spec.label] = LrChoice(spec.label, spec.lr, tuned=False)
        else:
            choices[spec.label] = choice_of(
                spec.label,
                train.lr_grid,
                scores[spec.label],
                seeds=train.lr_seeds,
                select=train.lr_select,
                seed=scenario.seed,
                run_index=run_index,
            )
    return choices, seconds


def with_step_sizes(scenario: Scenario, choices: dict[str, LrChoice]) -> Scenario:
    """``scenario`` with every chosen step size filled in (the scenario the measured run runs)."""
    schemes = tuple(
        dataclasses.replace(s, lr=choices[s.label].lr) if s.label in choices else s
        for s in scenario.schemes
    )
    return dataclasses.replace(scenario, schemes=schemes)


def selection_plan(scenario: Scenario) -> str:
    """One line saying how a scenario's step sizes will be chosen ("" without ``train.lr_grid``)."""
    train = scenario.train
    if not train.lr_grid:
        return ""
    grid = ", ".join(f"{v:g}" for v in train.lr_grid)
    tuned = tuned_rules(scenario)
    fixed = [s.label for s in scenario.schemes if s.lr is not None]
    own = f"; own lr kept by {', '.join(fixed)}" if fixed else ""
    if not tuned:
        return "step sizes: every rule's own lr (train.lr_grid not used)"
    seeds = f"{train.lr_seeds} selection run{'s' if train.lr_seeds != 1 else ''}"
    return (
        f"step sizes: chosen per rule from train.lr_grid = [{grid}] by {train.lr_select} on "
        f"{seeds} ({selection_runs(scenario)} rule runs), then measured on a run with other "
        f"random draws{own}"
    )
