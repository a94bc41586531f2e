"""Property-based tests of the simulator's bookkeeping over random small scenarios."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import lwpdsim
from lwpdsim.results import OUTCOMES

LATENCIES = [
    {"dist": "exponential", "rate": 1.0},
    {"dist": "shifted_exponential", "shift": 0.5, "rate": 2.0},
    {"dist": "pareto", "alpha": 2.5, "scale": 0.5},
    {"dist": "bimodal", "p": 0.2, "factor": 8.0},
]


@st.composite
def scenarios(draw) -> tuple[list[dict], dict]:
    """A random small scenario as ``(schemes, over)``, the arguments of the ``tiny`` factory
    (a strategy cannot take a fixture: the test builds the raw scenario)."""
    n = draw(st.sampled_from([4, 8]))
    K = draw(st.integers(1, n))
    rule = draw(
        st.sampled_from(
            [
                {"name": "sync"},
                {"name": "ksync", "K": K},
                {"name": "kasync", "K": K},
                {"name": "kbatchasync", "K": K},
                {"name": "gc", "s": draw(st.integers(0, n - 1)), "construction": "crc"},
                {"name": "gc", "s": 1},
                {
                    "name": "lwpd",
                    "k": 4,
                    "t": 2,
                    "decoder": draw(st.sampled_from(["backproject", "group", "lstsq"])),
                },
            ]
        )
    )
    network = {
        "latency": draw(st.sampled_from([0.0, 0.05])),
        "bandwidth": draw(st.sampled_from(["inf", 2e3])),
        "shared_master_link": draw(st.booleans()),
    }
    failures = []
    if draw(st.booleans()):
        w = draw(st.integers(0, n - 1))
        at = draw(st.floats(0.0, 5.0))
        recover = draw(st.one_of(st.none(), st.floats(at + 0.1, at + 10.0)))
        failures.append(
            {"worker": w, "at": at, **({} if recover is None else {"recover": recover})}
        )
    over = {
        "seed": draw(st.integers(0, 1000)),
        "cluster": {
            "workers": n,
            "latency": draw(st.sampled_from(LATENCIES)),
            "network": network,
            "failures": failures,
        },
        "train": {"max_updates": 25, "max_time": 200.0, "eval_every": 5},
    }
    return [rule], over


@pytest.mark.slow
@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(scenarios())
def test_bookkeeping_invariants(tiny, scenario) -> None:
    schemes, over = scenario
    raw = tiny(schemes, **over)
    (res,) = lwpdsim.simulate(lwpdsim.load_scenario(raw)).values()
    tasks, upd = res.tasks, res.updates
    # every task ends with exactly one known outcome, after it started
    assert tasks["outcome"].isin(OUTCOMES).all()
    assert (tasks["end"] >= tasks["start"]).all()
    # bytes: the cluster's running counters equal the sum over messages, at the end ...
    assert res.summary["bytes_up_total"] == tasks["bytes_up"].sum()
    assert res.summary["bytes_down_total"] == tasks["bytes_down"].sum()
    # ... and at every update. A message counts when its transmission begins: not before its
    # task starts (download) or computes (upload), not after it arrived (received; delivered
    # uploads end their task). Messages at the very instant of an update may fall on either side.
    delivered = tasks["outcome"].isin(["used", "discarded"]).to_numpy()
    arrived_up = np.where(delivered, tasks["end"].to_numpy(), np.inf)
    for col, earliest, latest in (
        ("bytes_down", tasks["start"].to_numpy(), tasks["received"].fillna(np.inf).to_numpy()),
        ("bytes_up", tasks["computed"].to_numpy(), arrived_up),
    ):
        size = tasks[col].to_numpy()
        for time, total in zip(upd["time"], upd[col], strict=True):
            assert size[latest < time].sum() <= total <= size[earliest <= time].sum()
    # time and counters never go backwards
    assert (np.diff(upd["time"]) >= 0).all() and (np.diff(upd["bytes_down"]) >= 0).all()
    # used results are never from the future
    used = tasks[tasks["outcome"] == "used"]
    assert (used["staleness"] >= 0).all()
    assert (used["version"] < used["used_by"]).all()
    # a worker runs one task at a time
    for _, g in tasks.sort_values(["worker", "task"]).groupby("worker"):
        assert (g["start"].to_numpy()[1:] >= g["end"].to_numpy()[:-1] - 1e-9).all()
    # a failed worker starts nothing while it is down
    for f in raw["cluster"]["failures"]:
        up_again = f.get("recover", np.inf)
        mine = tasks[tasks["worker"] == f["worker"]]
        # (times are sums of delays: the restart may land a rounding error before `recover`)
        down = (mine["start"] > f["at"] + 1e-9) & (mine["start"] < up_again - 1e-9)
        assert not down.any()
    # K-sync uses exactly K results per update, all fresh
    scheme = raw["schemes"][0]
    if scheme["name"] == "ksync":
        assert (upd["messages_used"].iloc[1:] == scheme["K"]).all()
        assert (upd["staleness_max"].iloc[1:] == 0).all()
    assert res.status in ("max_updates", "max_time", "stalled", "target")
