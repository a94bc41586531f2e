"""Each rule's decisions, called directly with hand-made results (no cluster, no SimPy).

Every step is checked against numpy ground truth computed here from the model's gradient of row
ranges: the partition gradients, the full gradient, and LWPD's partial derivatives.
"""

from __future__ import annotations

import itertools
from typing import Any

import numpy as np
import pytest

from lwpdsim.codes import gradient_coding
from lwpdsim.codes import lwpd as lwpd_code
from lwpdsim.data import load_dataset, partition
from lwpdsim.latency import from_spec
from lwpdsim.models import make_model
from lwpdsim.problem import Problem
from lwpdsim.schemes import REGISTRY, Scheme
from lwpdsim.schemes.base import Decision, Result
from lwpdsim.schemes.theory import IntervalTheory

N_WORKERS = 8
ROWS = 50  # not a multiple of 8: partitions of 7 and 6 rows


@pytest.fixture
def problem() -> Problem:
    """A fresh problem per test (its gradient cache is keyed by version, not by theta)."""
    data = load_dataset(
        "synthetic_regression",
        np.random.default_rng(0),
        samples=ROWS,
        features=4,  # 5 parameters: LWPD's two parameter blocks need padding
        test_fraction=0.0,
    )
    return Problem(make_model("least_squares", data), data)


def thetas(problem: Problem, count: int = 3) -> list[np.ndarray]:
    rng = np.random.default_rng(11)
    return [rng.standard_normal(problem.n_params) for _ in range(count)]


def grad(problem: Problem, theta: np.ndarray, rows: slice) -> np.ndarray:
    """Ground truth: the model's gradient of ``rows``, normalised by all rows."""
    X, y = problem.data.X_train, problem.data.y_train
    return problem.model.gradient(theta, X[rows], y[rows], total_rows=problem.n_rows)


def full(problem: Problem, theta: np.ndarray) -> np.ndarray:
    return grad(problem, theta, slice(0, problem.n_rows))


def make(name: str, problem: Problem, n: int = N_WORKERS, **raw: Any) -> Scheme:
    cls = REGISTRY[name]
    return cls(cls.resolve_params(raw, n, name), n, problem, rng=np.random.default_rng(5))


class Feeder:
    """Hand-made results for one rule: ``send(worker, version)`` delivers one and returns the
    rule's decision; ``theta[v]`` are the parameters of version v."""

    def __init__(self, scheme: Scheme, theta: list[np.ndarray]) -> None:
        self.scheme, self.theta, self.tasks = scheme, theta, itertools.count()

    def result(self, worker: int, version: int) -> Result:
        s = self.scheme
        return Result(worker, next(self.tasks), version, s.compute, self.theta[version])

    def send(self, worker: int, version: int = 0) -> tuple[Result, Decision]:
        r = self.result(worker, version)
        return r, self.scheme.on_result(r)


def assert_no_step(d: Decision) -> None:
    assert d.step is None and not d.used and not d.cancel


def partition_estimate(
    problem: Problem, n: int, theta_of: list[tuple[int, np.ndarray]]
) -> np.ndarray:
    """n_rows / rows covered times the sum of the partition gradients (worker, theta)."""
    parts = partition(problem.n_rows, n)
    total = sum(grad(problem, th, parts[w]) for w, th in theta_of)
    rows = sum(parts[w].stop - parts[w].start for w, _ in theta_of)
    return total * (problem.n_rows / rows)


# --------------------------------------------------------------------------- waiting rules


def test_sync_steps_with_the_full_gradient_once_all_are_in(problem: Problem) -> None:
    th = thetas(problem)
    f = Feeder(make("sync", problem), th)
    order = [3, 0, 7, 1, 6, 2, 5]
    for w in order:
        assert_no_step(f.send(w)[1])
    dup, d = f.send(0)  # a second result of worker 0 at this version counts once
    assert d.discarded == [dup] and d.step is None
    last, d = f.send(4)
    np.testing.assert_allclose(d.step, full(problem, th[0]), rtol=1e-12, atol=1e-15)
    assert sorted(r.worker for r in d.used) == list(range(N_WORKERS)) and last in d.used
    assert list(d.cancel) == [] and list(d.restart) == list(range(N_WORKERS))


def test_ksync_steps_at_the_kth_distinct_result_and_cancels_the_rest(problem: Problem) -> None:
    th = thetas(problem)
    s = make("ksync", problem, K=3)
    f = Feeder(s, th)
    assert_no_step(f.send(5)[1])
    assert_no_step(f.send(2)[1])
    dup, d = f.send(5)
    assert d.discarded == [dup] and d.step is None
    _, d = f.send(7)
    expect = partition_estimate(problem, N_WORKERS, [(5, th[0]), (2, th[0]), (7, th[0])])
    np.testing.assert_allclose(d.step, expect, rtol=1e-12)
    assert [r.worker for r in d.used] == [5, 2, 7]
    assert sorted(d.cancel) == [0, 1, 3, 4, 6] and list(d.restart) == list(range(N_WORKERS))
    # the cluster moves to version 1: a late result of version 0 is discarded, not counted
    s.version = 1
    late, d = f.send(0, version=0)
    assert d.discarded == [late] and d.step is None
    for w in (1, 4):
        assert_no_step(f.send(w, version=1)[1])
    _, d = f.send(0, version=1)
    expect = partition_estimate(problem, N_WORKERS, [(1, th[1]), (4, th[1]), (0, th[1])])
    np.testing.assert_allclose(d.step, expect, rtol=1e-12)
    assert sorted(d.cancel) == [2, 3, 5, 6, 7]


def test_ksync_with_all_k_is_sync_and_recovery_skips_workers_already_in(problem: Problem) -> None:
    th = thetas(problem)
    s = make("ksync", problem, K=N_WORKERS)
    f = Feeder(s, th)
    f.send(1)
    assert list(s.on_recover(1).restart) == []  # its fresh result is in: no second task
    assert list(s.on_recover(2).restart) == [2]
    for w in range(2, N_WORKERS):
        f.send(w)
    _, d = f.send(0)
    np.testing.assert_allclose(d.step, full(problem, th[0]), rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize(("construction", "n", "s"), [("frc", 6, 2), ("crc", 6, 2), ("crc", 5, 1)])
def test_gc_decodes_the_exact_gradient_from_any_n_minus_s(
    problem: Problem, construction: str, n: int, s: int
) -> None:
    theta = thetas(problem)[:1]
    truth = full(problem, theta[0])
    rng = np.random.default_rng(n * 10 + s)
    for chosen in itertools.combinations(range(n), n - s):
        alive = [int(w) for w in rng.permutation(chosen)]  # in a random order of arrival
        rule = make("gc", problem, n=n, s=s, construction=construction)
        f = Feeder(rule, theta)
        for w in alive[:-1]:
            assert_no_step(f.send(w)[1])
        _, d = f.send(alive[-1])
        np.testing.assert_allclose(d.step, truth, rtol=1e-9, atol=1e-12)
        assert sorted(r.worker for r in d.used) == sorted(alive)
        assert sorted(d.cancel) == sorted(set(range(n)) - set(alive))
        assert list(d.restart) == list(range(n))


# --------------------------------------------------------------------------- rules that never cancel


def test_kasync_steps_after_k_distinct_workers_stale_ones_included(problem: Problem) -> None:
    th = thetas(problem)
    s = make("kasync", problem, K=3)
    f = Feeder(s, th)
    for w in (0, 1):
        _, d = f.send(w)
        assert_no_step(d)
        assert list(d.restart) == []  # a returned worker waits
    _, d = f.send(2)
    expect = partition_estimate(problem, N_WORKERS, [(0, th[0]), (1, th[0]), (2, th[0])])
    np.testing.assert_allclose(d.step, expect, rtol=1e-12)
    assert list(d.restart) == [0, 1, 2] and list(d.cancel) == [] and not d.discarded
    s.version = 1
    # workers 5 and 6 still computed at version 0: their stale results count all the same
    assert_no_step(f.send(5, version=0)[1])
    assert_no_step(f.send(0, version=1)[1])
    assert list(s.on_recover(0).restart) == []  # buffered: restarting it would count it twice
    assert list(s.on_recover(3).restart) == [3]
    _, d = f.send(6, version=0)
    expect = partition_estimate(problem, N_WORKERS, [(5, th[0]), (0, th[1]), (6, th[0])])
    np.testing.assert_allclose(d.step, expect, rtol=1e-12)
    assert [r.version for r in d.used] == [0, 1, 0]
    assert list(d.restart) == [5, 0, 6]
    assert s.pending() == []


def test_kbatchasync_steps_every_k_results_and_restarts_each_at_once(problem: Problem) -> None:
    th = thetas(problem)
    s = make("kbatchasync", problem, K=3)
    f = Feeder(s, th)
    r1, d = f.send(1)
    assert_no_step(d)
    assert list(d.restart) == [1]
    _, d = f.send(1, version=1)  # the same worker again: K counts results, not workers
    assert_no_step(d)
    assert list(d.restart) == [1]
    assert s.pending()[0] is r1
    _, d = f.send(6, version=0)
    expect = partition_estimate(problem, N_WORKERS, [(1, th[0]), (1, th[1]), (6, th[0])])
    np.testing.assert_allclose(d.step, expect, rtol=1e-12)
    assert list(d.restart) == [6] and list(d.cancel) == [] and len(d.used) == 3
    assert s.pending() == []


# --------------------------------------------------------------------------- LWPD


def partials(problem: Problem, theta: np.ndarray, k: int, t: int) -> np.ndarray:
    """Ground truth: the k partial derivatives, row j = (data block j // t, parameter block
    j % t), each zero-padded to L = ceil(params / t); shape (k, L)."""
    p = problem.n_params
    L = -(-p // t)
    blocks = partition(problem.n_rows, k // t)
    out = np.zeros((k, L))
    for j in range(k):
        g = grad(problem, theta, blocks[j // t])
        piece = g[(j % t) * L : (j % t + 1) * L]
        out[j, : piece.size] = piece
    return out


def as_step(slots: np.ndarray, t: int, p: int) -> np.ndarray:
    """A (k, L) array of partials summed over data blocks, as a parameter vector."""
    return slots.reshape(-1, t, slots.shape[1]).sum(axis=0).reshape(-1)[:p]


def test_lwpd_backproject_folds_in_each_codeword_as_it_arrives(problem: Problem) -> None:
    th = thetas(problem)
    k, t = 4, 2
    f = Feeder(make("lwpd", problem, k=k, t=t), th)
    C = lwpd_code.code_matrix(N_WORKERS, k, t)
    P = partials(problem, th[0], k, t)
    steps = []
    for w in (6, 1, 3, 0, 7, 2, 5, 4):
        r, d = f.send(w)
        # one codeword c_w @ P, back-projected with scale k: k * c_w^T (c_w @ P)
        expect = as_step(k * np.outer(C[w], C[w] @ P), t, problem.n_params)
        np.testing.assert_allclose(d.step, expect, rtol=1e-12, atol=1e-15)
        assert d.used == [r] and list(d.restart) == [w] and list(d.cancel) == []
        steps.append(d.step)
    # C^T C = (n/k) I: the mean of the n single-codeword steps is the exact full gradient
    np.testing.assert_allclose(np.mean(steps, axis=0), full(problem, th[0]), rtol=1e-12, atol=1e-15)


def test_lwpd_backproject_of_every_codeword_is_the_full_gradient(problem: Problem) -> None:
    th = thetas(problem)
    f = Feeder(make("lwpd", problem, k=4, t=2, update_every=N_WORKERS), th)
    for w in range(N_WORKERS - 1):
        _, d = f.send(w)
        assert d.step is None and list(d.restart) == [w]
    _, d = f.send(N_WORKERS - 1)
    np.testing.assert_allclose(d.step, full(problem, th[0]), rtol=1e-12)
    assert len(d.used) == N_WORKERS


def test_lwpd_group_steps_on_each_complete_run(problem: Problem) -> None:
    th = thetas(problem)
    k, t = 4, 2
    s = make("lwpd", problem, k=k, t=t, decoder="group")
    f = Feeder(s, th)
    P = partials(problem, th[0], k, t)
    run = lwpd_code.runs(N_WORKERS, k, t)[3]  # round 1, run 1: workers 6 and 7
    first, d = f.send(run.workers[0])
    assert d.step is None
    again, d = f.send(run.workers[0])  # a newer codeword replaces the older one
    assert d.discarded == [first] and d.step is None
    _, d = f.send(run.workers[1])
    # the run's t partials, exactly, scaled by k/t (the chance a random run covers a partial)
    slots = np.zeros_like(P)
    slots[list(run.coords)] = P[list(run.coords)]
    expect = as_step(slots * (k / t), t, problem.n_params)
    np.testing.assert_allclose(d.step, expect, rtol=1e-12, atol=1e-15)
    assert again in d.used and first not in d.used and len(d.used) == t
    assert not s.can_progress(set()) and s.can_progress(set(run.workers))


def test_lwpd_lstsq_is_exact_once_the_codewords_span_every_partial(problem: Problem) -> None:
    th = thetas(problem)
    k, t = 4, 2
    f = Feeder(make("lwpd", problem, k=k, t=t, decoder="lstsq"), th)
    C = lwpd_code.code_matrix(N_WORKERS, k, t)
    order = [0, 2, 5, 7, 1]
    for i, w in enumerate(order):
        _, d = f.send(w)
        assert d.step is not None and list(d.restart) == [w]
        if np.linalg.matrix_rank(C[order[: i + 1]]) == k:
            np.testing.assert_allclose(d.step, full(problem, th[0]), rtol=1e-10)
    assert np.linalg.matrix_rank(C[order]) == k


# --------------------------------------------------------------------------- what analysis reads


@pytest.mark.parametrize("construction", ["frc", "crc"])
@pytest.mark.parametrize("cost", ["work", "rows", "unit"])
def test_gc_charges_the_partitions_in_each_row_of_its_code(construction: str, cost: str) -> None:
    n, s = 6, 2
    B = gradient_coding.encoding_matrix(n, s, construction, rng=np.random.default_rng(3))
    units = REGISTRY["gc"].task_units({"s": s, "construction": construction}, n, cost)
    expect = [1.0] * n if cost == "unit" else [float(c) for c in np.count_nonzero(B, axis=1)]
    assert units == expect


def test_live_units_are_the_class_task_units(problem: Problem) -> None:
    rules = {"sync": {}, "ksync": {"K": 3}, "gc": {"s": 1}, "lwpd": {"k": 4, "t": 2}}
    for name, raw in rules.items():
        for cost in ("work", "rows", "unit"):
            cls = REGISTRY[name]
            params = cls.resolve_params(raw, N_WORKERS, name)
            live = cls(params, N_WORKERS, problem, cost=cost)
            expect = cls.task_units(params, N_WORKERS, cost)
            assert [live.units(w) for w in range(N_WORKERS)] == expect
    lwpd = REGISTRY["lwpd"].task_units({"k": 8, "t": 2}, 16, "rows")
    assert lwpd != [lwpd[0]] * 16  # rows: shifted runs touch one or two data blocks


def test_each_rule_states_its_interval_theory() -> None:
    expo, shifted = from_spec({"dist": "exponential"}), from_spec({"dist": "shifted_exponential"})
    n = 8
    cases = {
        ("sync", (), expo): 8,
        ("ksync", (("K", 5),), shifted): 5,
        ("gc", (("s", 3),), shifted): 5,
        ("kasync", (("K", 3),), expo): 3,
    }
    for (name, params, model), j in cases.items():
        th = REGISTRY[name].interval_theory(dict(params), n, model, 2.0)
        assert isinstance(th, IntervalTheory) and th.has_cdf and (th.rule, th.j) == (name, j)
    assert REGISTRY["kasync"].interval_theory({"K": 3}, n, shifted, 1.0) == (
        "K-async needs exponential times"
    )
    kb = REGISTRY["kbatchasync"].interval_theory({"K": 4}, n, expo, 1.0)
    assert isinstance(kb, IntervalTheory) and not kb.has_cdf and kb.mean == 4 * expo.mean / n
    lw = REGISTRY["lwpd"].interval_theory({"k": 4, "update_every": 3}, n, expo, 2.0)
    assert isinstance(lw, IntervalTheory) and lw.mean == 3 * 2.0 * expo.mean / n
    assert REGISTRY["lwpd"].interval_theory({"k": 4, "decoder": "group"}, n, expo, 2.0) == (
        "decoder group"
    )


def test_every_rule_with_a_colour_has_its_own() -> None:
    """Figures tell rules apart by colour: no two registered rules share one, and none takes a
    spare colour that rules without a colour of their own are given."""
    from lwpdsim.analysis.style import SPARE_COLORS

    colors = [cls.color.lower() for cls in REGISTRY.values() if cls.color]
    assert len(colors) == len(set(colors))
    assert not set(colors) & {c.lower() for c in SPARE_COLORS}
