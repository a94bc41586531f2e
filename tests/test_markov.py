"""Markov-modulated straggling (``dist = "markov"``, lwpdsim.latency.markov).

Statistical checks use fixed seeds and a tolerance of 4 standard errors. Samples of one chain are
correlated in time, so their standard errors come from batch means: the time axis is cut into
batches much longer than the chain's correlation time 1 / (r_normal + r_slow) (8.3 s here; batches
of 1000 s), whose means are then nearly independent, and SE = std(batch means) / sqrt(batches).
A correct model misses by 4 SE with probability ~6e-5 per check; the errors looked for (a wrong
stationary law, a factor applied at the wrong time, states independent from task to task) shift
the estimates by many SE.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import scipy.linalg
import scipy.stats

import lwpdsim
from lwpdsim.analysis import data
from lwpdsim.errors import ScenarioError
from lwpdsim.latency import from_spec
from lwpdsim.latency.markov import MarkovLatency, MarkovSource
from lwpdsim.latency.sources import IidSource

BASE = {"dist": "shifted_exponential", "shift": 1.0, "rate": 1.0}  # E[B] = 2, Var B = 1
CONSTANT = {"dist": "constant", "value": 1.0}


def chain(normal: float, slow: float, factor: float = 5.0, start: str = "stationary") -> dict:
    states = [
        {"name": "normal", "factor": 1.0, "sojourn": normal},
        {"name": "slow", "factor": factor, "sojourn": slow},
    ]
    return {"dist": "markov", "base": BASE, "states": states, "start": start}


def three_states(sojourns: tuple[float, float, float], **more: object) -> dict:
    """A chain of states a, b and c (factors 1, 2 and 8) with these mean sojourns; ``more`` adds
    keys of the spec (base, start, jumps)."""
    factors = (1.0, 2.0, 8.0)
    states = [
        {"name": name, "factor": f, "sojourn": s}
        for name, f, s in zip("abc", factors, sojourns, strict=True)
    ]
    return {"dist": "markov", "states": states, **more}


def source(spec: dict, seed: int) -> MarkovSource:
    model = from_spec(spec)
    assert isinstance(model, MarkovLatency)
    rng = np.random.default_rng(seed)
    return model.source(0, rng, lambda: np.random.default_rng(seed + 1))


def batch_se(values: np.ndarray, batches: int) -> tuple[float, float]:
    """Mean and batch-means standard error of a time series cut into ``batches`` equal parts."""
    means = values[: values.size - values.size % batches].reshape(batches, -1).mean(axis=1)
    return float(means.mean()), float(means.std(ddof=1) / math.sqrt(batches))


def test_long_run_time_fractions_and_mean_task_time_match_the_stationary_law() -> None:
    # normal 50 s, slow 10 s on average: pi = (5/6, 1/6); a task started at a time independent
    # of the chain takes E[B] (5/6 + 5/6) = 10/3 on average. States read every 0.5 s over
    # 50 000 s estimate the fraction of time in each state (grid spacing << sojourns).
    src = source(chain(50.0, 10.0), seed=11)
    times = np.arange(0.0, 50_000.0, 0.5)
    pairs = [(src.next(t), src.state) for t in times]
    x = np.array([p[0] for p in pairs])
    states = np.array([p[1] for p in pairs])
    frac, se = batch_se((states == 1).astype(float), batches=50)
    assert abs(frac - 1 / 6) <= 4 * se, (frac, se)
    assert se < 0.02  # the estimate is informative: 1/6 vs, say, 1/2 would be told apart
    mean, se_x = batch_se(x, batches=50)
    assert abs(mean - 10 / 3) <= 4 * se_x, (mean, se_x)
    # slowness persists: successive tasks 0.5 s apart share their state far more often than not
    same = np.mean(states[1:] == states[:-1])
    assert same > 0.95


def test_three_states_time_fractions() -> None:
    # pi_i proportional to the mean sojourns (uniform jumps to the other states): 2:1:1
    spec = three_states((4.0, 2.0, 2.0), base=CONSTANT)
    src = source(spec, seed=5)
    times = np.arange(0.0, 20_000.0, 0.25)
    states = np.array([src.advance(t) for t in times])
    for i, p in enumerate((0.5, 0.25, 0.25)):
        frac, se = batch_se((states == i).astype(float), batches=40)
        assert abs(frac - p) <= 4 * se, (i, frac, se)
    np.testing.assert_allclose(from_spec(spec).pi, [0.5, 0.25, 0.25], rtol=1e-15)  # type: ignore[attr-defined]


def test_short_sojourns_reduce_to_the_iid_bimodal_mixture() -> None:
    # Sojourns of 5e-4 and 1e-4 s, tasks 1 s apart: the state at each start is a fresh draw of
    # pi, so the times are those of bimodal(p = 1/6, factor 5) over the same base.
    n = 20_000
    src = source(chain(5e-4, 1e-4), seed=3)
    x = np.array([src.next(float(t)) for t in range(n)])
    mix = from_spec({"dist": "bimodal", "p": 1 / 6, "factor": 5.0, "base": BASE})
    y = np.asarray(mix.sample(np.random.default_rng(4), n))
    se = math.sqrt(x.var() / n + y.var() / n)  # independent draws: plain standard errors
    assert abs(x.mean() - y.mean()) <= 4 * se
    assert abs(x.mean() - mix.mean) <= 4 * math.sqrt(mix.var / n)
    assert scipy.stats.ks_2samp(x, y).pvalue > 1e-3
    # and the states of successive tasks are independent (a lag-1 correlation within noise)
    src2 = source(chain(5e-4, 1e-4), seed=3)
    s = np.array([src2.advance(float(t)) for t in range(n)], dtype=float)
    r = np.corrcoef(s[1:], s[:-1])[0, 1]
    assert abs(r) <= 4 / math.sqrt(n)


CYCLE = [[0, 1, 0], [0, 0, 1], [1, 0, 0]]  # a -> b -> c -> a: not reversible
LINE = [[0, 1, 0], [0.5, 0, 0.5], [0, 1, 0]]  # a <-> b <-> c: reversible, not uniform


@pytest.mark.parametrize("jumps", [None, CYCLE, LINE], ids=["uniform", "cycle", "line"])
@pytest.mark.parametrize("dt", [0.3, 3.0, 40.0])
def test_the_state_dt_later_is_drawn_from_exp_q_dt(dt: float, jumps: list | None) -> None:
    # 4000 independent chains started in "a", each advanced once by dt: the frequencies of the
    # states estimate row a of exp(Q dt) (Q built here from the definition, exp by scipy),
    # SE from the binomial. Rates 1/4, 1/2, 2: lam dt = 0.6 and 6 (uniformized steps, which do
    # not use exp(Q dt)) and 80 (the transition law: spectral for uniform and line, Q's
    # eigenvectors for the cycle).
    spec = three_states((4.0, 2.0, 0.5), start="a")
    if jumps is not None:
        spec["jumps"] = jumps
    model = from_spec(spec)
    assert isinstance(model, MarkovLatency)
    rates = 1 / np.array([4.0, 2.0, 0.5])
    step = (1 - np.eye(3)) / 2 if jumps is None else np.array(jumps, dtype=float)
    q = rates[:, None] * (step - np.eye(3))
    want = scipy.linalg.expm(q * dt)[0]
    np.testing.assert_allclose(model.transition(0, dt), want, atol=1e-12)
    n = 4000
    rng = np.random.default_rng(int(dt * 10))
    got = np.bincount(
        [model.source(0, rng, lambda: rng).advance(dt) for _ in range(n)], minlength=3
    )
    se = np.sqrt(want * (1 - want) / n)
    assert np.all(np.abs(got / n - want) <= 4 * se + 1e-12), (got / n, want)


@pytest.mark.parametrize(
    "jumps, pi",
    [
        # the cycle visits each state equally often: time fractions proportional to the sojourns
        (CYCLE, [4 / 7, 2 / 7, 1 / 7]),
        # the line visits b twice as often as a or c: nu = (1/4, 1/2, 1/4), pi ~ nu * sojourn
        (LINE, [4 / 9, 4 / 9, 1 / 9]),
    ],
)
def test_a_given_jump_matrix_sets_the_time_fractions(jumps: list, pi: list) -> None:
    spec = three_states((4.0, 2.0, 1.0), base=CONSTANT, jumps=jumps)
    model = from_spec(spec)
    np.testing.assert_allclose(model.pi, pi, rtol=1e-12)  # type: ignore[attr-defined]
    assert from_spec(model.spec).spec == model.spec and model.spec["jumps"] == jumps
    src = source(spec, seed=21)
    states = np.array([src.advance(t) for t in np.arange(0.0, 20_000.0, 0.25)])
    for i, p in enumerate(pi):
        frac, se = batch_se((states == i).astype(float), batches=40)
        assert abs(frac - p) <= 4 * se, (i, frac, se)


def test_long_sojourns_do_not_look_iid() -> None:
    # The same law with sojourns of 50 and 10 s and tasks 1 s apart: far from independent, the
    # KS test of the short-sojourn case above would not be a vacuous pass.
    src = source(chain(50.0, 10.0), seed=3)
    s = np.array([src.advance(float(t)) for t in range(5000)], dtype=float)
    assert np.corrcoef(s[1:], s[:-1])[0, 1] > 0.8


def test_named_start_and_common_base_draws() -> None:
    # Start slow and stay there (sojourns far longer than the run): every time is 5 base draws,
    # and the base draws are those of the base model alone from the same generator.
    src = source(chain(1e12, 1e12, start="slow"), seed=8)
    got = [src.next(float(t)) for t in range(300)]
    base = IidSource(from_spec(BASE), np.random.default_rng(8))
    assert got == [5.0 * base.next() for _ in range(300)]


def test_time_must_not_go_back() -> None:
    src = source(chain(1.0, 1.0), seed=1)
    src.next(2.0)
    with pytest.raises(ValueError):
        src.next(1.0)


def test_in_a_run_each_task_is_its_base_draw_times_a_state_factor(tiny) -> None:
    """Common random numbers: the i-th task of worker w computes for the i-th base draw of w times
    1 or 5; in a run with long slow spells both factors occur and slow tasks come in runs."""
    n = 8

    def tasks(latency: dict) -> object:
        raw = tiny([{"name": "sync"}], cluster={"workers": n, "latency": latency})
        raw["train"]["max_updates"] = 150
        (res,) = lwpdsim.simulate(lwpdsim.load_scenario(raw)).values()
        return res

    markov, iid = tasks(chain(20.0, 10.0)), tasks(BASE)
    assert markov.status == iid.status == "max_updates"
    assert data.interval_theory(markov) is None
    assert data.theory_or_reason(markov)[1] == "compute times correlated in time (markov)"
    mt, it = markov.tasks, iid.tasks
    for w in range(n):
        a = (mt[mt.worker == w].computed - mt[mt.worker == w].received).to_numpy()
        b = (it[it.worker == w].computed - it[it.worker == w].received).to_numpy()
        ratio = a / b[: a.size]
        factor = np.where(np.isclose(ratio, 5.0, rtol=1e-9), 5.0, 1.0)
        np.testing.assert_allclose(ratio, factor, rtol=1e-9)
        if w == 0:
            assert 0 < factor.mean() < 5.0  # both states visited
            assert np.mean(factor[1:] == factor[:-1]) > 0.8  # in runs


@pytest.mark.parametrize(
    "change, field, fragment",
    [
        ({"states": [{"name": "a", "sojourn": 1.0}]}, "cluster.latency.states", "2 to"),
        ({"states": "slow"}, "cluster.latency.states", "a list"),
        (
            {"states": [{"name": "a", "sojourn": 1}, {"name": "a", "sojourn": 1}]},
            "cluster.latency.states[1].name",
            "no other state",
        ),
        (
            {"states": [{"name": "a", "sojourn": 1}, {"name": "b", "factor": 0, "sojourn": 1}]},
            "cluster.latency.states[1].factor",
            "> 0",
        ),
        (
            {"states": [{"name": "a", "sojourn": -1}, {"name": "b", "sojourn": 1}]},
            "cluster.latency.states[0].sojourn",
            "[1e-9, 1e15]",
        ),
        (
            {"states": [{"name": "a", "sojourn": 1e300}, {"name": "b", "sojourn": 1}]},
            "cluster.latency.states[0].sojourn",
            "[1e-9, 1e15]",
        ),
        (
            {"states": [{"name": "a"}, {"name": "b", "sojourn": 1}]},
            "cluster.latency.states[0].sojourn",
            "required",
        ),
        (
            {"states": [{"name": "a", "sojourn": 1, "rate": 2}, {"name": "b", "sojourn": 1}]},
            "cluster.latency.states[0].rate",
            "",
        ),
        ({"start": "fast"}, "cluster.latency.start", "'normal', 'slow'"),
        ({"base": {"dist": "replay", "file": "x.csv"}}, "cluster.latency.base.dist", "i.i.d."),
        ({"base": {"dist": "gamma", "rate": -1}}, "cluster.latency.base.rate", "> 0"),
        ({"sojourn": 3}, "cluster.latency.sojourn", "known keys"),
        ({"jumps": [[0, 1], [1, 0], [0, 0]]}, "cluster.latency.jumps", "2 rows of 2"),
        ({"jumps": [[0, 1], [0.5, 0]]}, "cluster.latency.jumps[1]", "sum to 1"),
        ({"jumps": [[0.5, 0.5], [1, 0]]}, "cluster.latency.jumps[0][0]", "0 (a jump"),
        ({"jumps": [[0, 1], [1, "x"]]}, "cluster.latency.jumps[1][1]", "[0, 1]"),
    ],
)
def test_bad_markov_tables_name_the_field(tiny, change: dict, field: str, fragment: str) -> None:
    spec = {**chain(50.0, 10.0), **change}
    with pytest.raises(ScenarioError) as info:
        lwpdsim.load_scenario(tiny([{"name": "sync"}], cluster={"latency": spec}))
    assert info.value.field == field
    assert fragment in info.value.allowed


def test_a_chain_that_cannot_reach_every_state_is_refused(tiny) -> None:
    states = [{"name": n, "sojourn": 1.0} for n in "abc"]
    spec = {"dist": "markov", "states": states, "jumps": [[0, 1, 0], [1, 0, 0], [0.5, 0.5, 0]]}
    with pytest.raises(ScenarioError) as info:
        lwpdsim.load_scenario(tiny([{"name": "sync"}], cluster={"latency": spec}))
    assert info.value.field == "cluster.latency.jumps"
    assert "every state can reach every other" in info.value.allowed


def test_without_well_conditioned_eigenvectors_the_law_comes_from_expm(monkeypatch) -> None:
    """The fallback for a chain that is not reversible and whose Q is not safely diagonalisable:
    forced here by refusing every eigenvector basis, it gives exp(Q dt) (scipy) and no gap."""
    from lwpdsim.latency import markov

    monkeypatch.setattr(markov, "_WELL_CONDITIONED", 0.0)
    spec = three_states((4.0, 2.0, 0.5), start="a")
    spec["jumps"] = CYCLE
    model = from_spec(spec)
    assert isinstance(model, MarkovLatency) and model.wvecs is None and math.isnan(model.gap)
    for dt in (0.3, 40.0):
        want = scipy.linalg.expm(model.q * dt)[1]
        np.testing.assert_allclose(model.transition(1, dt), want, atol=1e-12)
