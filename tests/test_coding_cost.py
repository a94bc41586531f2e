"""The coding-cost model: operation counts of the rules and models, the master's busy time
(``cluster.master_flops``) and the charge for a worker's encoding (``cluster.charge_encoding``).

Expectations are worked out here from the scenario and the run's own tables (the compute durations
in the tasks table), so they hold whatever the latency draws mean."""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

import lwpdsim
from lwpdsim import flops
from lwpdsim.analysis.data import theory_or_reason
from lwpdsim.cli import main
from lwpdsim.codes import gradient_coding as gc_code
from lwpdsim.errors import ScenarioError
from lwpdsim.latency import from_spec
from lwpdsim.models import MLP, LeastSquares, Softmax
from lwpdsim.problem import Problem
from lwpdsim.schemes import REGISTRY, Scheme
from lwpdsim.schemes.base import Decision, Result
from lwpdsim.sim.cluster import Cluster
from lwpdsim.sim.master import Master

FEATURES = 4  # least squares: d = 5 parameters (odd, so LWPD's last parameter block is short)
D = FEATURES + 1


def raw(schemes: list[dict[str, Any]], workers: int = 4, **cluster: Any) -> dict[str, Any]:
    return {
        "name": "coding",
        "seed": 5,
        "cluster": {
            "workers": workers,
            "latency": {"dist": "constant", "value": 1.0},
            **cluster,
        },
        "model": {
            "kind": "least_squares",
            "dataset": "synthetic_regression",
            "samples": 40,
            "features": FEATURES,
            "test_fraction": 0.0,
        },
        "schemes": schemes,
        "train": {"lr": 0.05, "max_updates": 6, "eval_every": 1_000_000},
    }


def run(scenario: dict[str, Any]) -> lwpdsim.RunResult:
    (res,) = lwpdsim.simulate(lwpdsim.load_scenario(scenario)).values()
    return res


def durations(res: lwpdsim.RunResult) -> np.ndarray:
    t = res.tasks.dropna(subset=["computed"])
    return (t["computed"] - t["received"]).to_numpy()


# --------------------------------------------------------------------------- counts


def test_least_squares_gradient_flops_by_hand() -> None:
    # 3 rows, 2 features: X w (3 x (2 mult + 1 add)) + b (3) = 12; out - y = 3;
    # D @ X (2 x (3 mult + 2 add)) = 10 and sum(D) = 2; division by the row count: 3 parameters
    assert LeastSquares(2).gradient_flops(3) == 12 + 3 + 12 + 3


def test_softmax_gradient_flops_by_hand() -> None:
    # 2 rows, 3 features, 2 classes: X P^T: 2 x 2 entries of 3 mult + 2 add = 20, + bias 4;
    # log-softmax and exp: shift 4, exp 4, row sums 2, log 2, shift 4, exp 4, -1 at labels 2 = 22;
    # D^T X: 2 x 3 entries of 2 mult + 1 add = 18, column sums 2; division: 8 parameters
    assert Softmax(3, 2).gradient_flops(2) == 24 + 22 + 20 + 8


def test_linear_gradient_flops_are_proportional_to_the_rows() -> None:
    # the products and sums lose p o + o flops against r (2p - 1) o and r - 1 per output, and
    # the division adds o (p + 1) back: exactly proportional
    for m in (Softmax(10, 4), LeastSquares(7)):
        assert m.gradient_flops(2000) == 2 * m.gradient_flops(1000)


def test_mlp_gradient_flops_by_hand() -> None:
    # one row, one feature, one tanh unit, regression: forward X W1^T, + b1, tanh, A W2^T, + b2
    # (5); out - y (1); D^T A (1); D W2, 1 - A A (2), times (1); Z^T X (1); one-row sums are 0;
    # division by the row count: 4 parameters
    assert MLP(1, 1, 0).gradient_flops(1) == 5 + 1 + 1 + 4 + 1 + 4


def test_gc_decoding_ops_by_hand() -> None:
    # 3 of 4 rows: lstsq of a 4 x 3 system (4*4*9 + 8*27 = 360, then U^T 1: 3*7, /sigma: 3,
    # V: 3*5) = 399; singular values of 3 x 4: 4*4*9 - 36 = 108, ||a|| 6, 3 scalars = 117;
    # residual a B_F (4 x 5) - 1 (4), its norm 8, 2 scalars = 34; the tolerance 2
    assert gc_code.decoding_ops(4, 3) == 399 + 117 + 34 + 2
    # cubic: doubling n (k = n - s = n/2 + 1) multiplies it by close to 8
    ratio = gc_code.decoding_ops(256, 129) / gc_code.decoding_ops(128, 65)
    assert 7.5 < ratio < 8.5


@pytest.fixture
def tiny_problem(least_squares_problem: Callable[[int, int], Problem]) -> Callable[..., Problem]:
    """The factory ``tiny_problem(features=FEATURES, rows=40)`` of fresh small problems."""

    def tiny(features: int = FEATURES, rows: int = 40) -> Problem:
        return least_squares_problem(rows, features)

    return tiny


def make(name: str, problem: Problem, n: int, **params: Any) -> Scheme:
    cls = REGISTRY[name]
    return cls(cls.resolve_params(params, n, name), n, problem, rng=np.random.default_rng(2))


def feed(rule: Scheme, workers: list[int], version: int = 0) -> list[Decision]:
    theta = np.zeros(rule.problem.n_params)
    out = []
    for i, w in enumerate(workers):
        out.append(rule.on_result(Result(w, 1000 * version + i, version, rule.compute, theta)))
    return out


@pytest.mark.parametrize("construction", ["frc", "crc"])
def test_gc_master_ops_combine_in_proportion_to_d_and_solve_once_per_set(
    construction: str, tiny_problem: Callable[..., Problem]
) -> None:
    n, s = 6, 2
    firsts, seconds = [], []
    for features in (4, 19):  # d = 5 and 20
        rule = make("gc", tiny_problem(features), n, s=s, construction=construction)
        first = feed(rule, [0, 1, 2, 3], version=0)[-1]
        rule.version = 1
        second = feed(rule, [0, 1, 2, 3], version=1)[-1]  # the same arrived set: no new solve
        firsts.append(first.ops)
        seconds.append(second.ops)
        assert first.step is not None and second.step is not None
        assert second.ops == (2 * (n - s) - 1) * (features + 1)  # a @ messages
    assert seconds[1] / seconds[0] == 20 / 5
    solve = [f - c for f, c in zip(firsts, seconds, strict=True)]
    assert solve[0] == solve[1] == gc_code.decoding_ops(n, n - s)  # independent of d


def test_gc_encode_ops_count_what_the_worker_computes(tiny_problem: Callable[..., Problem]) -> None:
    n, s = 6, 2
    for construction in ("frc", "crc"):
        rule = make("gc", tiny_problem(), n, s=s, construction=construction)
        assert isinstance(rule, REGISTRY["gc"])
        live = [  # a multiplication per coefficient other than 1, an addition per extra term
            (sum(c != 1.0 for _, c in terms) + len(terms) - 1) * D for terms in rule.terms
        ]
        assert type(rule).encode_ops(rule.p, n, D) == live
    assert live == [2 * s * D] * n  # CRC: s multiplications and s additions of d numbers


def test_lwpd_encode_ops_and_decoder_ops(tiny_problem: Callable[..., Problem]) -> None:
    n, k, t = 8, 4, 2
    L = math.ceil(D / t)  # 3: parameter blocks of 3 and 2 numbers
    assert REGISTRY["lwpd"].encode_ops({"k": k, "t": t}, n, D) == [2.0 * D] * n
    for every in (1, 3):
        rule = make("lwpd", tiny_problem(), n, k=k, t=t, update_every=every)
        d = feed(rule, list(range(every)))[-1]
        # C[rows]^T m: k x L entries of `every` mult and every - 1 add; scaling k L; two data
        # blocks summed into the t parameter blocks: t L
        assert d.ops == k * L * (2 * every - 1) + k * L + t * L
    rule = make("lwpd", tiny_problem(), n, k=k, t=t, decoder="lstsq")
    d = feed(rule, [0, 1, 5])[-1]
    assert d.ops == flops.lstsq(3, k, L) + t * L
    rule = make("lwpd", tiny_problem(), n, k=k, t=t, decoder="group")
    run_done = feed(rule, [0, 1])[-1]  # workers 0 and 1 form a run: decoded and stepped
    group = t * t * (2 * t - 1) + 5 * t * t + t * L * (2 * t - 1)
    assert run_done.step is not None and run_done.ops == group + k * L + t * L


def test_sync_and_k_rules_sum_the_messages_they_use(tiny_problem: Callable[..., Problem]) -> None:
    n = 8
    sync = feed(make("sync", tiny_problem(), n), list(range(n)))
    assert [d.ops for d in sync[:-1]] == [0.0] * (n - 1)
    assert sync[-1].ops == (n - 1) * D  # all in: no rescaling
    kasync = feed(make("kasync", tiny_problem(), n, K=3), [4, 1, 6])[-1]
    assert kasync.ops == 2 * D + D  # two additions and the rescaling by n_rows / rows


# --------------------------------------------------------------------------- the master's time


def test_gc_round_exceeds_its_compute_by_exactly_the_decoding_time() -> None:
    F = 100.0
    res = run(raw([{"name": "gc", "s": 1}], master_flops=F))
    free = run(raw([{"name": "gc", "s": 1}]))
    times = res.updates["time"].to_numpy()
    t = res.tasks
    # all four tasks of a round end together; workers 0-2 arrive first (worker order), decode
    # ({0, 1} and {2, 3} are the FRC groups), and worker 3's result waits for the busy master
    ops = [2 * 3 - 1.0] * 6  # a @ messages: 3 mult + 2 add per number, per D numbers
    ops = [o * D for o in ops]
    ops[0] += gc_code.decoding_ops(4, 3)  # the set {0, 1, 2} is solved once, then cached
    assert gc_code.decoding_ops(4, 3) == 552
    for i in range(1, 7):
        used = t[t["used_by"] == i]
        compute = float((used["computed"] - used["received"]).max())
        assert times[i] - times[i - 1] == pytest.approx(compute + ops[i - 1] / F, abs=1e-12)
        started = t[t["start"] == times[i]]  # the new parameters leave when decoding is done
        assert len(started) == (4 if i < 6 else 0)
    late = t[(t["worker"] == 3) & (t["version"] < 5)]
    assert set(late["outcome"].astype(str)) == {"discarded"}  # arrived, then found stale
    gaps = np.diff(free.updates["time"].to_numpy())
    assert np.allclose(np.diff(times) - gaps, np.array(ops) / F, atol=1e-12)


def test_sync_and_ksync_update_times_shift_by_their_summing_time() -> None:
    # exponential draws: the i-th task of every worker draws the same X with and without the
    # master's cost, so update i comes i * (ops of a step) / F later
    F = 7.0
    for rule, step_ops in (({"name": "sync"}, 7 * D), ({"name": "ksync", "K": 3}, 3 * D)):
        base = raw([rule], workers=8, latency={"dist": "exponential", "rate": 1.5})
        slow = raw([rule], workers=8, latency={"dist": "exponential", "rate": 1.5})
        slow["cluster"]["master_flops"] = F
        a = run(base).updates["time"].to_numpy()
        b = run(slow).updates["time"].to_numpy()
        expect = a + np.arange(a.size) * step_ops / F
        np.testing.assert_allclose(b, expect, rtol=1e-12, atol=1e-12)


class Costly(Scheme):
    """Steps on every result with a fixed cost; restarts the worker."""

    name = "costly"

    def __init__(self, n: int, ops: float, problem: Any) -> None:
        super().__init__({}, n, problem)
        self.cost = ops
        self.order: list[int] = []  # tasks in the order the rule saw them

    def compute(self, worker: int, version: int, theta: np.ndarray) -> np.ndarray:
        return np.array([0.25, 0.0])

    def on_result(self, result: Result) -> Decision:
        self.order.append(result.task)
        return Decision(step=result.message, used=[result], restart=[result.worker], ops=self.cost)


class StubProblem:
    n_params = 2

    def evaluate(self, theta: np.ndarray) -> dict[str, float]:
        nan = math.nan
        return {"loss": float(theta[0]), "accuracy": nan, "test_loss": nan, "test_accuracy": nan}


def stub_run(
    ops: float, master_flops: float, updates: int = 12, **cluster: Any
) -> tuple[Cluster, Costly]:
    cluster = {"slowdown": [1.0, 1.3, 1.7], **cluster}
    n = len(cluster["slowdown"])
    rule = Costly(n, ops, StubProblem())
    sc = lwpdsim.load_scenario(
        raw([{"name": "sync"}], workers=n, master_flops=master_flops, **cluster)
    )
    train = dataclasses.replace(sc.train, lr=1.0, max_updates=updates, eval_every=1)
    master = Master(rule, rule.problem, np.array([1.0, 0.0]), 1.0, train, n)
    rngs = [np.random.default_rng(w) for w in range(n)]
    world = Cluster(sc.cluster, rule, master, from_spec(sc.cluster.latency), rngs)
    world.run()
    return world, rule


def test_results_wait_for_the_busy_master_first_come_first_served() -> None:
    world, rule = stub_run(ops=60.0, master_flops=100.0)  # 0.6 s a decision
    t = world.tasks.frame()
    times = world.updates.frame()["time"].to_numpy()
    assert rule.order == sorted(rule.order, key=lambda task: (t["end"][task], task))  # FIFO
    free = 0.0
    for i, task in enumerate(rule.order, start=1):
        free = max(float(t["end"][task]), free) + 0.6  # one at a time, in arrival order
        assert times[i] == pytest.approx(free, abs=1e-12)
        assert int(t["used_by"][task]) == i
    assert world.master_work is not None and world.master_work.busy == pytest.approx(0.6 * 12)
    restarts = t[t["task"] >= 3]  # a worker gets its new task when its decision is done
    assert set(restarts["start"]).issubset(set(times))
    ends = t["end"].to_numpy()[rule.order]
    assert np.sum(times[1:] - 0.6 > ends + 1e-9) >= 4  # these arrived while the master was busy


def test_a_worker_that_recovers_while_the_master_is_busy_waits_for_it() -> None:
    # two workers; worker 1 fails before its first result and recovers while the master works on
    # worker 0's: it gets parameters when the master is free, not when it recovers
    probe, _ = stub_run(ops=60.0, master_flops=100.0, updates=1, slowdown=[1.0, 1.0])
    arrival = float(probe.tasks.frame()["end"][0])
    free = arrival + 0.6
    failure = {"worker": 1, "at": arrival / 2, "recover": arrival + 0.3}
    world, _ = stub_run(60.0, 100.0, 2, slowdown=[1.0, 1.0], failures=[failure])
    t = world.tasks.frame()
    mine = t[t["worker"] == 1]
    assert mine["outcome"].astype(str).tolist()[0] == "failed"
    assert mine["start"].tolist()[1] == pytest.approx(free, abs=1e-12)
    assert world.updates.frame()["time"].tolist()[1] == pytest.approx(free, abs=1e-12)


def test_decisions_that_cost_nothing_take_effect_at_once() -> None:
    fast, _ = stub_run(ops=0.0, master_flops=1.0)
    default, _ = stub_run(ops=0.0, master_flops=math.inf)
    assert default.master_work is None and fast.master_work is not None
    assert fast.updates.frame().equals(default.updates.frame())
    assert fast.tasks.frame().equals(default.tasks.frame())


# --------------------------------------------------------------------------- encoding


@pytest.mark.parametrize(
    "rule",
    [
        {"name": "gc", "s": 1},
        {"name": "gc", "s": 1, "construction": "crc"},
        {"name": "lwpd", "k": 4, "t": 2},
    ],
)
def test_encoding_adds_its_share_of_a_gradient_to_every_task(
    rule: dict[str, Any], tiny_problem: Callable[..., Problem]
) -> None:
    n, rows = 8, 40
    charged = run(raw([rule], workers=n, charge_encoding=True))
    plain = run(raw([rule], workers=n))
    cls = REGISTRY[rule["name"]]
    params = cls.resolve_params({k: v for k, v in rule.items() if k != "name"}, n, "scheme")
    units = cls.task_units(params, n, "work")[0]
    encode = cls.encode_ops(params, n, D)[0]
    # one full least-squares gradient over 40 rows of 4 features, counted by hand
    full = rows * (2 * FEATURES - 1) + rows + rows + FEATURES * (2 * rows - 1) + rows - 1 + D
    assert full == tiny_problem(FEATURES, rows).gradient_flops
    ratio = (units + encode / full * n) / units
    assert ratio > 1.0
    np.testing.assert_allclose(durations(charged), durations(plain) * ratio, rtol=1e-12)


def test_rules_that_encode_nothing_are_not_charged() -> None:
    for rule in ({"name": "sync"}, {"name": "kasync", "K": 2}):
        charged = run(raw([rule], charge_encoding=True))
        plain = run(raw([rule]))
        assert charged.tasks.equals(plain.tasks) and charged.updates.equals(plain.updates)


# --------------------------------------------------------------------------- configuration


def test_defaults_change_nothing_and_stay_out_of_the_resolved_scenario() -> None:
    rules = [{"name": "gc", "s": 1}, {"name": "lwpd", "k": 4, "t": 2}]
    default = lwpdsim.load_scenario(raw(rules))
    explicit = lwpdsim.load_scenario(raw(rules, master_flops="inf", charge_encoding=False))
    assert default.cluster.master_flops == math.inf and default.cluster.charge_encoding is False
    assert default == explicit
    cluster = default.to_dict()["cluster"]
    assert "master_flops" not in cluster and "charge_encoding" not in cluster
    set_ = lwpdsim.load_scenario(raw(rules, master_flops=1e9, charge_encoding=True))
    assert set_.to_dict()["cluster"]["master_flops"] == 1e9
    assert lwpdsim.load_scenario(set_.to_dict()) == set_
    a, b = lwpdsim.simulate(default), lwpdsim.simulate(explicit)
    for label in a:
        assert a[label].tasks.equals(b[label].tasks) and a[label].updates.equals(b[label].updates)


@pytest.mark.parametrize(
    ("cluster", "field"),
    [
        ({"master_flops": 0}, "cluster.master_flops"),
        ({"master_flops": -5.0}, "cluster.master_flops"),
        ({"master_flops": "fast"}, "cluster.master_flops"),
        ({"charge_encoding": "yes"}, "cluster.charge_encoding"),
    ],
)
def test_bad_coding_keys_name_their_field(cluster: dict[str, Any], field: str) -> None:
    with pytest.raises(ScenarioError) as err:
        lwpdsim.load_scenario(raw([{"name": "sync"}], **cluster))
    assert err.value.field == field


def test_a_bad_master_speed_is_one_line_on_the_command_line(tmp_path: Any, capsys: Any) -> None:
    path = tmp_path / "bad.toml"
    path.write_text(
        '[cluster]\nworkers = 4\nmaster_flops = -1\n[[schemes]]\nname = "sync"\n', "utf-8"
    )
    assert main(["validate", str(path)]) == 2
    err = capsys.readouterr().err.strip()
    assert "cluster.master_flops" in err and len(err.splitlines()) == 1


def test_theory_is_withheld_when_coding_work_is_charged() -> None:
    for extra in ({"master_flops": 1e6}, {"charge_encoding": True}):
        res = run(raw([{"name": "sync"}], latency={"dist": "exponential", "rate": 1.0}, **extra))
        assert theory_or_reason(res) == (None, "coding work charged")
    res = run(raw([{"name": "sync"}], latency={"dist": "exponential", "rate": 1.0}))
    assert theory_or_reason(res)[0] is not None
