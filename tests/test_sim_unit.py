"""The simulation core alone: the cluster driven by tiny stub rules on constant compute times, with
every event time, outcome and stop reason worked out by hand; the master without any simulation."""

from __future__ import annotations

import ast
import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import lwpdsim
from lwpdsim.errors import DecodingError
from lwpdsim.latency import from_spec
from lwpdsim.schemes.base import Decision, Result, Scheme
from lwpdsim.sim import cluster as cluster_module
from lwpdsim.sim.cluster import Cluster
from lwpdsim.sim.master import STALL_DELIVERIES, Master

NAN = math.nan


class StubProblem:
    """Two parameters; the loss is the first one (or ``loss(theta)``), no accuracy."""

    n_params = 2

    def __init__(self, loss: Any = None) -> None:
        self.loss = loss or (lambda theta: float(theta[0]))

    def evaluate(self, theta: np.ndarray) -> dict[str, float]:
        return {"loss": self.loss(theta), "accuracy": NAN, "test_loss": NAN, "test_accuracy": NAN}


class EveryResult(Scheme):
    """Steps with ``step`` on every result and restarts its worker; remembers what it saw."""

    name = "every"

    def __init__(self, n: int, step: Any = (0.25, 0.0), problem: Any = None) -> None:
        super().__init__({}, n, problem or StubProblem())
        self.step = np.asarray(step, dtype=float)
        self.seen: list[tuple[int, int, int]] = []  # (worker, its version, master's version)

    def compute(self, worker: int, version: int, theta: np.ndarray) -> np.ndarray:
        return self.step

    def on_result(self, result: Result) -> Decision:
        self.seen.append((result.worker, result.version, self.version))
        return Decision(step=result.message, used=[result], restart=[result.worker])


class FirstWins(EveryResult):
    """Worker 0's result wins: worker 1's task is cancelled and both restart."""

    def on_result(self, result: Result) -> Decision:
        self.seen.append((result.worker, result.version, self.version))
        return Decision(step=result.message, used=[result], cancel=[1], restart=[0, 1])


class NeverSteps(EveryResult):
    def on_result(self, result: Result) -> Decision:
        return Decision(discarded=[result], restart=[result.worker])


class RestartsNobody(EveryResult):
    def on_result(self, result: Result) -> Decision:
        return Decision(step=result.message, used=[result])


class NeedsEveryone(EveryResult):
    def can_progress(self, available: set[int]) -> bool:
        return available == set(range(self.n))


class FailsSecond(EveryResult):
    def on_result(self, result: Result) -> Decision:
        if len(self.seen) == 1:
            raise DecodingError("no codeword")
        return super().on_result(result)


def specs(workers: int = 2, **over: Any) -> Any:
    """The cluster and train specs of a scenario with constant compute times of 1 per task (the
    stub rules' tasks are one work unit, and X is one unit's time: latency_per = "unit")."""
    cluster = {
        "workers": workers,
        "latency": {"dist": "constant", "value": 1.0},
        "latency_per": "unit",
    }
    cluster.update(over.pop("cluster", {}))
    train = {"lr": 1.0, "max_updates": 100, "eval_every": 1, **over.pop("train", {})}
    sc = lwpdsim.load_scenario(
        {
            "name": "unit",
            "cluster": cluster,
            "model": {"kind": "least_squares", "dataset": "synthetic_regression", "samples": 8},
            "schemes": [{"name": "sync"}],
            "train": train,
        }
    )
    return sc.cluster, sc.train


def simulate(rule: Scheme, theta0: Any = (1.0, 0.0), **over: Any) -> tuple[Cluster, Master]:
    spec, train = specs(rule.n, **over)
    master = Master(rule, rule.problem, np.asarray(theta0), train.lr, train, spec.workers)
    rngs = [np.random.default_rng(w) for w in range(spec.workers)]
    world = Cluster(spec, rule, master, from_spec(spec.latency), rngs, loss_rngs=rngs)
    world.run()
    return world, master


def column(world: Cluster, name: str) -> list[Any]:
    return world.updates.frame()[name].tolist()


def tasks(world: Cluster) -> list[tuple[Any, ...]]:
    t = world.tasks.frame()
    return list(zip(t["worker"], t["start"], t["end"], t["outcome"].astype(str), strict=True))


# --------------------------------------------------------------------------- event times


def test_constant_compute_times_give_hand_computed_update_times() -> None:
    # worker 1 is twice as slow: results at 1 (w0), 2 (w1, then w0: w1's timeout was scheduled
    # first), 3 (w0), 4 (w1's second task, started at 2 at version 2, while the master is at 4)
    rule = EveryResult(2)
    world, master = simulate(rule, cluster={"slowdown": [1.0, 2.0]}, train={"max_updates": 5})
    assert column(world, "time") == [0.0, 1.0, 2.0, 2.0, 3.0, 4.0]
    assert rule.seen == [(0, 0, 0), (1, 0, 1), (0, 1, 2), (0, 3, 3), (1, 2, 4)]
    assert column(world, "staleness_max")[1:] == [0.0, 1.0, 1.0, 0.0, 2.0]
    assert column(world, "loss") == [1.0, 0.75, 0.5, 0.25, 0.0, -0.25]
    assert master.theta.tolist() == [-0.25, 0.0] and master.version == rule.version == 5
    assert (master.status, master.message) == ("max_updates", "reached 5 updates")
    assert world.end_time == 4.0 and world.events == 5
    assert tasks(world) == [
        (0, 0.0, 1.0, "used"),
        (1, 0.0, 2.0, "used"),
        (0, 1.0, 2.0, "used"),
        (1, 2.0, 4.0, "used"),
        (0, 2.0, 3.0, "used"),
        (0, 3.0, 4.0, "unfinished"),  # no restart after the last update
    ]
    assert world.tasks.frame()["used_by"].tolist() == [1, 2, 3, 5, 4, -1]


def test_link_latency_and_bandwidth_add_to_each_transfer() -> None:
    # 2 parameters of 4 bytes over 32 bytes/s: 0.25 s on the wire, then 0.5 s of latency
    net = {"latency": 0.5, "bandwidth": 32.0}
    world, _ = simulate(EveryResult(1), cluster={"network": net}, train={"max_updates": 2})
    t = world.tasks.frame()
    assert t["received"].tolist() == [0.75, 3.25] and t["computed"].tolist() == [1.75, 4.25]
    assert column(world, "time") == [0.0, 2.5, 5.0]
    assert column(world, "bytes_up") == [0, 8, 16] and column(world, "bytes_down") == [0, 8, 16]


def test_the_shared_master_link_queues_messages() -> None:
    # both downloads want the link at 0: worker 1 waits for worker 0's (0 - 0.25), so its
    # parameters arrive at 1.0; at 2.0 worker 1's upload queues behind worker 0's (1.75 - 2.0)
    net = {"latency": 0.5, "bandwidth": 32.0, "shared_master_link": True}
    world, _ = simulate(EveryResult(2), cluster={"network": net}, train={"max_updates": 2})
    t = world.tasks.frame()
    assert t["received"].tolist()[:2] == [0.75, 1.0]
    assert t["computed"].tolist()[:2] == [1.75, 2.0]
    assert column(world, "time") == [0.0, 2.5, 2.75]
    assert tasks(world)[2] == (0, 2.5, 2.75, "unfinished")


def test_a_cancelled_task_ends_at_once_and_its_timeout_fires_for_nothing() -> None:
    # worker 1 takes 3 and is cancelled at 1, 2 and 3; its first timeout still fires at 3, ahead
    # of worker 0's, and does nothing: 4 events, 3 updates, no result from worker 1
    rule = FirstWins(2)
    world, master = simulate(rule, cluster={"slowdown": [1.0, 3.0]}, train={"max_updates": 3})
    assert [w for w, _, _ in rule.seen] == [0, 0, 0]
    assert column(world, "time") == [0.0, 1.0, 2.0, 3.0]
    assert world.events == 4 and master.status == "max_updates"
    assert tasks(world) == [
        (0, 0.0, 1.0, "used"),
        (1, 0.0, 1.0, "cancelled"),
        (0, 1.0, 2.0, "used"),
        (1, 1.0, 2.0, "cancelled"),
        (0, 2.0, 3.0, "used"),
        (1, 2.0, 3.0, "cancelled"),  # a decision cancels before it steps
    ]


def test_a_failed_worker_stops_and_restarts_when_it_recovers() -> None:
    # worker 1 fails at 1.5 (in its task started at 1) and is back at 3.5: results at 4.5, 5.5
    failure = {"worker": 1, "at": 1.5, "recover": 3.5}
    rule = EveryResult(2)
    world, master = simulate(rule, cluster={"failures": [failure]}, train={"max_time": 5.25})
    assert column(world, "time") == [0.0, 1.0, 1.0, 2.0, 3.0, 4.0, 4.5, 5.0]
    assert [w for w, _, _ in rule.seen] == [0, 1, 0, 0, 0, 1, 0]
    mine = [row for row in tasks(world) if row[0] == 1]
    assert mine == [
        (1, 0.0, 1.0, "used"),
        (1, 1.0, 1.5, "failed"),
        (1, 3.5, 4.5, "used"),
        (1, 4.5, 5.25, "unfinished"),
    ]
    assert (master.status, master.message) == ("max_time", "reached simulated time 5.25")
    assert world.end_time == 5.25


# --------------------------------------------------------------------------- stop rules


@pytest.mark.parametrize(
    ("eval_every", "update", "losses"), [(1, 1, [1.0, 0.75]), (2, 2, [1.0, NAN, 0.5])]
)
def test_the_target_stops_the_run_at_the_first_evaluation_reaching_it(
    eval_every: int, update: int, losses: list[float]
) -> None:
    # loss 0.75 after update 1 (at 1), 0.5 after update 2 (at 2); only evaluated losses count
    train = {"eval_every": eval_every, "target_loss": 0.75}
    world, master = simulate(EveryResult(2), cluster={"slowdown": [1.0, 2.0]}, train=train)
    assert master.status == "target" and master.version == update
    assert master.time_to_target == float(update) == world.end_time
    np.testing.assert_array_equal(column(world, "loss"), losses)


def test_non_finite_parameters_or_loss_stop_the_run_as_diverged() -> None:
    _, master = simulate(EveryResult(1, step=(math.nan, 0.0)), train={"eval_every": 10})
    assert master.status == "diverged"  # evaluated at once although eval_every = 10
    assert master.message == "the parameters became non-finite at update 1"
    explodes = StubProblem(lambda theta: math.inf if theta[0] < 0.4 else float(theta[0]))
    _, master = simulate(EveryResult(1, problem=explodes))
    assert (master.status, master.message) == (
        "diverged",
        "the loss became non-finite at update 3",
    )


def test_a_run_with_nothing_left_to_happen_is_stalled_at_its_last_activity() -> None:
    world, master = simulate(RestartsNobody(1))
    assert master.status == "stalled" and "no worker can make progress" in master.message
    assert master.version == 1 and world.end_time == 1.0 and world.env.now == 1.0
    # every worker gone: the end of the failure's process is still an event, the rule's check
    # comes first
    world, master = simulate(EveryResult(1), cluster={"failures": [{"worker": 0, "at": 0.5}]})
    assert master.message == "the rule can make no step with the workers left"
    assert world.end_time == 0.5 and tasks(world) == [(0, 0.0, 0.5, "failed")]


def test_a_rule_that_cannot_step_with_the_workers_left_is_stalled() -> None:
    # worker 1 fails for good at 1.5 while worker 0 still computes (next result at 2)
    failure = {"worker": 1, "at": 1.5}
    world, master = simulate(NeedsEveryone(2), cluster={"failures": [failure]})
    assert master.status == "stalled"
    assert master.message == "the rule can make no step with the workers left"
    assert master.version == 2 and world.end_time == 1.5


def test_results_without_a_step_stall_the_run() -> None:
    world, master = simulate(NeverSteps(1))
    limit = STALL_DELIVERIES  # per worker
    assert master.status == "stalled"
    assert master.message == f"{limit + 1} results arrived without a step"
    assert world.end_time == limit + 1.0 and master.version == 0
    outcomes = world.tasks.frame()["outcome"].astype(str).tolist()
    assert outcomes == ["discarded"] * (limit + 1) + ["unfinished"]


def test_an_error_of_the_rule_stops_the_run() -> None:
    world, master = simulate(FailsSecond(2))
    assert (master.status, master.message) == ("error", "DecodingError: no codeword")
    assert master.version == 1 and world.end_time == 1.0
    _, master = simulate(EveryResult(1, step=(1.0, 2.0, 3.0)))
    assert master.status == "error"
    assert master.message == "LwpdsimError: every stepped with shape (3,), not (2,)"


def test_a_lossy_network_needs_a_generator_per_worker() -> None:
    spec, train = specs(2, cluster={"network": {"loss": 0.1}})
    rule = EveryResult(2)
    master = Master(rule, rule.problem, np.zeros(2), 1.0, train, 2)
    with pytest.raises(ValueError, match="one loss generator per worker"):
        Cluster(spec, rule, master, from_spec(spec.latency), [np.random.default_rng(0)] * 2)


# --------------------------------------------------------------------------- the master alone


class Counter:
    def __init__(self) -> None:
        self.count = 0

    def update(self, n: int) -> None:
        self.count += n


def test_the_master_steps_evaluates_when_due_and_keeps_the_rule_in_step() -> None:
    _, train = specs(1, train={"lr": 0.5, "max_updates": 5, "eval_every": 2})
    rule, bar = EveryResult(1), Counter()
    master = Master(rule, rule.problem, np.array([1.0, 2.0]), train.lr, train, 1, progress=bar)
    metrics = [master.step(np.array([1.0, -1.0]), now=float(i)) for i in range(5)]
    assert [m is not None for m in metrics] == [False, True, False, True, True]  # 2, 4, last
    assert metrics[-1] == master.evaluate() and metrics[-1]["loss"] == 1.0 - 2.5
    assert master.theta.tolist() == [-1.5, 4.5] and master.version == rule.version == 5
    assert bar.count == 5 and master.status == "max_updates"


def test_the_master_checks_the_world_in_order() -> None:
    _, train = specs(2, train={"max_time": 10.0})
    master = Master(NeedsEveryone(2), StubProblem(), np.zeros(2), 1.0, train, 2)
    assert master.may_continue(10.0, 2 * STALL_DELIVERIES, {0, 1})
    assert not master.may_continue(10.5, 0, None) and master.status == "max_time"
    master.status = ""
    assert not master.may_continue(math.inf, 0, None)
    assert master.message.startswith("no worker can make progress")
    master.status = ""
    assert not master.may_continue(1.0, 0, {1}) and "workers left" in master.message
    master.status = ""
    assert not master.may_continue(1.0, 2 * STALL_DELIVERIES + 1, None)
    assert master.message == f"{2 * STALL_DELIVERIES + 1} results arrived without a step"


def test_the_master_and_the_records_do_not_use_simpy() -> None:
    sim = Path(cluster_module.__file__).parent
    for name in ("master.py", "records.py"):
        tree = ast.parse((sim / name).read_text())
        imported = {
            alias.name
            for node in ast.walk(tree)
            if isinstance(node, ast.Import | ast.ImportFrom)
            for alias in node.names
        } | {node.module for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)}
        assert "simpy" not in imported, name
