"""Run a scenario: build its data and model once, then every rule on the same cluster and draws."""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from threadpoolctl import threadpool_limits

from .. import latency as latency_models
from ..config.limits import check_times
from ..data import Dataset, load_dataset
from ..errors import ScenarioError
from ..models import make_model
from ..plugins import get_rule, import_plugins, rule_source
from ..problem import Problem
from ..results import RunResult, decode_error_summary, summarize, versions, worker_work
from ..rng import Streams
from ..tune import LrChoice
from .cluster import Cluster
from .compression import downlink_summary, make_downlink, make_uplink
from .compression import summary_of as compression_summary
from .failures import unit_generators
from .master import Master

if TYPE_CHECKING:
    from ..config import Scenario, SchemeSpec


def build_dataset(scenario: Scenario, streams: Streams) -> Dataset:
    """The scenario's dataset, shuffled and split with the ``data`` stream."""
    m = scenario.model
    data = load_dataset(m.dataset, streams.generator("data"), **scenario.dataset_options())
    if m.label_noise > 0:
        data = with_label_noise(data, m.label_noise, streams.generator("data", 1))
    return data


def with_label_noise(data: Dataset, fraction: float, rng: np.random.Generator) -> Dataset:
    """A copy of a classification dataset in which each label (train and test) is, with
    probability ``fraction``, replaced by a class drawn uniformly at random (possibly the same).
    Noisy labels give the training loss a minimum above zero, as real data has."""
    if not data.n_classes:
        raise ScenarioError("model.label_noise", fraction, "0 for a regression dataset")

    def noisy(y: np.ndarray) -> np.ndarray:
        out = y.copy()
        redraw = np.less(rng.random(y.shape[0]), fraction)
        out[redraw] = rng.integers(0, data.n_classes, int(redraw.sum()))
        out.setflags(write=False)
        return out

    return dataclasses.replace(data, y_train=noisy(data.y_train), y_test=noisy(data.y_test))


def simulate(
    scenario: Scenario,
    *,
    run_index: int | None = None,
    progress: bool = False,
) -> dict[str, RunResult]:
    """Run every rule of ``scenario`` on the same cluster, data, initial parameters and compute-time
    draws; return the results keyed by scheme label, in the scenario's order.

    ``run_index`` selects run i of a sweep (its own random streams); ``progress`` shows a bar.

    With ``train.lr_grid``, each rule without its own lr first gets its step size from the grid
    on selection runs with other random streams (:mod:`lwpdsim.sim.tuning`); every rule's result
    then records its step size (``summary["lr"]``, and ``summary["lr_at_edge"]`` for a chosen
    one) and the choice (``manifest["lr_selection"]``: grid, scores, rule, selection seeds).
    """
    import_plugins(scenario.plugins)  # a worker process imports them too (their rules register)
    choices: dict[str, LrChoice] = {}
    seconds: dict[str, float] = {}
    if scenario.train.lr_grid:
        from .tuning import choose_step_sizes, with_step_sizes  # tuning runs run_scheme

        choices, seconds = choose_step_sizes(scenario, run_index, progress=progress)
        scenario = with_step_sizes(scenario, choices)
    streams = Streams.from_seed(scenario.seed, run_index)
    with threadpool_limits(1):
        data = build_dataset(scenario, streams)
        model = make_model(scenario.model.kind, data, hidden=scenario.model.hidden)
        check_message_times(scenario, model.n_params)
        results = {}
        for spec in scenario.schemes:
            results[spec.label] = run_scheme(
                scenario, spec, model, data, streams, progress=progress
            )
    for label, choice in choices.items():
        res = results[label]
        res.summary["lr"] = choice.lr
        if choice.tuned:
            res.summary["lr_at_edge"] = choice.edge is not None
            res.summary["wall_seconds"]["lr_selection"] = seconds.get(label, 0.0)
        res.manifest["lr_selection"] = choice.record()
    return results


def check_message_times(scenario: Scenario, n_params: int) -> None:
    """Check the scenario's times (:func:`~lwpdsim.config.limits.check_times`) now that the size of
    its messages is known (at most ``n_params`` numbers), before any rule runs."""
    try:
        lat = latency_models.from_spec(
            scenario.cluster.latency,
            base_dir=Path(scenario.base_dir) if scenario.base_dir else None,
        )
        check_times(scenario.cluster, scenario.schemes, scenario.train, lat, elements=n_params)
    except ScenarioError as err:
        if scenario.source and not err.source:
            raise err.with_source(scenario.source) from None
        raise


def run_scheme(
    scenario: Scenario,
    spec: SchemeSpec,
    model: Any,
    data: Dataset,
    streams: Streams,
    *,
    progress: bool = False,
) -> RunResult:
    """One rule's run on the scenario's cluster (at ``spec.lr``: set, or chosen by
    :func:`simulate`)."""
    if spec.lr is None:
        raise ValueError(f"{spec.label} has no step size: simulate() chooses it from train.lr_grid")
    started = time.perf_counter()
    n = scenario.cluster.workers
    problem = Problem(model, data, cache_size=max(64, 4 * n))
    rule = get_rule(spec.name)
    scheme = rule(
        spec.params,
        n,
        problem,
        cost=scenario.cluster.cost,
        rng=streams.generator("code"),
        max_staleness=spec.max_staleness,
    )
    theta0 = model.init_params(streams.generator("model_init"))
    lat = latency_models.from_spec(
        scenario.cluster.latency,
        base_dir=Path(scenario.base_dir) if scenario.base_dir else None,
    )
    where = [i for i, s in enumerate(scenario.schemes) if s.label == spec.label]
    field = f"schemes[{where[0]}].compress" if where else "compress"
    itemsize = scenario.cluster.network.itemsize
    try:  # a parameter that does not fit the message (k > d) is found only now
        uplink = make_uplink(spec.compress, scheme, itemsize, streams, field)
        downlink = make_downlink(
            spec.compress_down, scheme, theta0, itemsize, streams, f"{field}_down"
        )
    except ScenarioError as err:
        raise (err.with_source(scenario.source) if scenario.source else err) from None
    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=scenario.train.max_updates, desc=spec.label, unit="upd", leave=False)
    master = Master(
        scheme,
        problem,
        theta0,
        spec.lr,
        scenario.train,
        n,
        progress=bar,
        decode_error=spec.decode_error,
    )
    cluster = Cluster(
        scenario.cluster,
        scheme,
        master,
        lat,
        [streams.generator("latency", w) for w in range(n)],
        loss_rngs=[streams.generator("network", w) for w in range(n)],
        uplink=uplink,
        downlink=downlink,
        failure_rngs=unit_generators(scenario.cluster, streams),
        state_rngs=lambda w: streams.generator("latency_state", w),
    )
    try:
        cluster.run()
    finally:
        if bar is not None:
            bar.close()
    updates = cluster.updates.frame()
    tasks = cluster.tasks.frame()
    wall = time.perf_counter() - started
    # the decoding-error measurement's gradients are neither the run's work nor its simulation
    measured = {"decode_error": problem.measure_seconds} if spec.decode_error else {}
    summary = summarize(
        updates,
        tasks,
        status=master.status,
        message=master.message,
        sim_time=cluster.end_time,
        bytes_up_total=cluster.bytes_up,
        bytes_down_total=cluster.bytes_down,
        time_to_target=master.time_to_target,
        gradient_evaluations=problem.gradient_evaluations,
        events=cluster.events,
        worker_work=worker_work(tasks, scenario.cluster.workers),
        gradient_work=problem.gradient_work,
        wall_seconds={
            "total": wall,
            "gradients": problem.gradient_seconds,
            "evaluation": problem.eval_seconds,
            "simulation": wall
            - problem.gradient_seconds
            - problem.eval_seconds
            - problem.measure_seconds,
            **measured,
        },
    )
    if spec.decode_error:  # only then: other runs' summaries are as before the key existed
        summary.update(decode_error_summary(updates))
    if uplink is not None:  # only then: a run without a compress table records what it did
        summary.update(compression_summary(uplink, model.n_params))
    if downlink is not None:  # likewise for the downlink
        summary.update(downlink_summary(downlink, model.n_params))
    config = {"scheme": spec.label, "scenario": scenario.to_dict()}
    manifest = {"seed": scenario.seed, "run_index": run_index_of(streams), "versions": versions()}
    if scenario.cluster.failures or scenario.cluster.failure_process is not None:
        manifest["outages"] = cluster.outages.record(cluster.end_time)
    source = rule_source(rule)
    if source is not None:  # a plugin rule: the code that ran (lwpdsim.plugins)
        manifest["rule_source"] = source
    return RunResult(spec.label, updates, tasks, summary, config, manifest)


def run_index_of(streams: Streams) -> int | None:
    """The sweep run index ``streams`` were made for (``None`` for a plain run)."""
    key = streams.root.spawn_key
    return int(key[0]) if key else None
