"""``cluster.latency_per``: what one latency draw X is the compute time of.

``"gradient"`` (the default): X is one worker's time for a full-batch gradient, and a task of u
work units (1 unit = 1/n of a gradient) takes (u/n)·X. ``"unit"``: X is one unit's time and the
task takes u·X. A saved configuration without the key was written when only ``"unit"`` existed.
"""

from __future__ import annotations

import copy
import json
import math
from pathlib import Path

import numpy as np
import pytest

import lwpdsim
from lwpdsim.analysis import data
from lwpdsim.errors import ScenarioError


def run(tiny, schemes: list[dict], **cluster) -> dict[str, lwpdsim.RunResult]:
    raw = tiny(schemes, cluster=cluster, train={"max_updates": 30})
    return lwpdsim.simulate(lwpdsim.load_scenario(raw))


def sync_gap(tiny, n: int, latency_per: str) -> float:
    """Sync's mean time between updates on n workers when a full gradient takes 16 s (constant)."""
    latency = {"dist": "constant", "value": 16.0}
    (res,) = run(
        tiny, [{"name": "sync"}], workers=n, latency=latency, latency_per=latency_per
    ).values()
    return float(np.diff(res.updates["time"].to_numpy()).mean())


def test_the_default_is_gradient(tiny) -> None:
    raw = tiny([{"name": "sync"}])
    assert "latency_per" not in raw["cluster"]
    assert lwpdsim.load_scenario(raw).cluster.latency_per == "gradient"


def test_sync_gap_halves_when_n_doubles_at_a_fixed_gradient_time(tiny) -> None:
    # Strong scaling: the data is cut into n shares, each 1/n of the full gradient's 16 s.
    gaps = {n: sync_gap(tiny, n, "gradient") for n in (2, 4, 8)}
    assert gaps == pytest.approx({2: 8.0, 4: 4.0, 8: 2.0}, rel=1e-12)


def test_unit_keeps_a_tasks_time_whatever_n(tiny) -> None:
    # Weak scaling (the old meaning): every task takes X, however many workers share the data.
    assert {n: sync_gap(tiny, n, "unit") for n in (2, 4, 8)} == pytest.approx(
        {2: 16.0, 4: 16.0, 8: 16.0}, rel=1e-12
    )


def test_gradient_scales_every_task_by_its_share_of_the_same_draw(tiny, six_rules) -> None:
    """Same scenario under both values: every task of every rule computes for exactly 1/n of its
    "unit" time, from the same draw (so rules still compare on one stream), and, with free links,
    the whole run is the same run with its clock divided by n."""
    n = 8
    common = {"workers": n, "latency": {"dist": "shifted_exponential", "shift": 0.5, "rate": 2.0}}
    grad = run(tiny, six_rules, **common, latency_per="gradient")
    unit = run(tiny, six_rules, **common, latency_per="unit")
    for label in unit:
        tu, tg = unit[label].tasks, grad[label].tasks
        assert len(tu) == len(tg) and (tu["units"] == tg["units"]).all()
        compute_u = (tu["computed"] - tu["received"]).to_numpy()
        compute_g = (tg["computed"] - tg["received"]).to_numpy()
        done = np.isfinite(compute_u)
        assert done.sum() > 0 and (np.isfinite(compute_g) == done).all()
        np.testing.assert_allclose(compute_g[done], compute_u[done] / n, rtol=1e-12)
        # each rule scales the same draw by its own units (GC 2, LWPD 4): only the 1/n differs
        np.testing.assert_allclose(
            unit[label].updates["time"].to_numpy() / n,
            grad[label].updates["time"].to_numpy(),
            rtol=1e-12,
        )
        np.testing.assert_array_equal(
            unit[label].updates["loss"].to_numpy(), grad[label].updates["loss"].to_numpy()
        )


def test_to_dict_always_writes_the_key_and_loads_back(tiny) -> None:
    for per in ("gradient", "unit"):
        raw = tiny([{"name": "sync"}], cluster={"latency_per": per})
        sc = lwpdsim.load_scenario(raw)
        written = sc.to_dict()
        assert written["cluster"]["latency_per"] == per
        assert lwpdsim.load_scenario(written) == sc


def test_a_bad_value_names_the_field(tiny) -> None:
    with pytest.raises(ScenarioError) as err:
        lwpdsim.load_scenario(tiny([{"name": "sync"}], cluster={"latency_per": "task"}))
    assert err.value.field == "cluster.latency_per"
    assert "gradient" in str(err.value) and "unit" in str(err.value)


def test_check_times_charges_the_share(tiny) -> None:
    """A GC task of 2 units under a latency whose largest draw is 1e308: two draws overflow a
    float, a quarter of one (2/8 of a full gradient) does not."""
    raw = tiny([{"name": "gc", "s": 1}], cluster={"latency": {"dist": "constant", "value": 1e308}})
    raw["train"]["max_time"] = 10.0
    lwpdsim.load_scenario(raw)  # "gradient": 0.25e308 s per task is a float
    raw["cluster"]["latency_per"] = "unit"
    with pytest.raises(ScenarioError) as err:
        lwpdsim.load_scenario(raw)
    assert "overflows" in str(err.value)


# --------------------------------------------------------------------------- saved configurations


@pytest.fixture(scope="module")
def gradient_runs(tiny) -> dict[str, lwpdsim.RunResult]:
    schemes = [{"name": "sync"}, {"name": "gc", "s": 1}, {"name": "kbatchasync", "K": 2}]
    return run(tiny, schemes, latency={"dist": "exponential", "rate": 0.5})


def without_key(config: dict) -> dict:
    old = copy.deepcopy(config)
    del old["scenario"]["cluster"]["latency_per"]
    return old


def test_theory_follows_the_recorded_value(gradient_runs) -> None:
    n, mean_x = 8, 2.0
    sync = data.interval_theory(gradient_runs["sync"])
    gc = data.interval_theory(gradient_runs["gc(s=1)"])
    kb = data.interval_theory(gradient_runs["kbatchasync(K=2)"])
    assert sync is not None and gc is not None and kb is not None
    h = lwpdsim.latency.harmonic
    assert sync.mean == pytest.approx(h(n) * mean_x / n, rel=1e-9)  # H_n / (n mu)
    # ((s+1)/n)(H_n - H_s)/mu
    assert gc.mean == pytest.approx(2 / n * (h(n) - h(1)) * mean_x, rel=1e-9)
    assert kb.mean == pytest.approx(2 * mean_x / n**2, rel=1e-9)  # K / (n^2 mu)


def test_a_config_without_the_key_is_read_as_unit(gradient_runs) -> None:
    """Figures of a run saved before the key existed keep their theory: X was one unit's time."""
    for label, res in gradient_runs.items():
        now = data.interval_theory(res.config)
        before = data.interval_theory(without_key(res.config))
        assert now is not None and before is not None
        assert before.mean == pytest.approx(now.mean * 8, rel=1e-12), label


def test_a_saved_run_without_the_key_is_read_as_unit(gradient_runs, tmp_path: Path) -> None:
    res = gradient_runs["sync"]
    folder = res.save(tmp_path / "sync")
    manifest = folder / "manifest.json"
    record = json.loads(manifest.read_text())
    record["config"] = without_key(record["config"])
    manifest.write_text(json.dumps(record))
    old = lwpdsim.RunResult.load(folder)
    theory = data.interval_theory(old)
    expected = data.interval_theory(res)
    assert theory is not None and expected is not None
    assert math.isclose(theory.mean, 8 * expected.mean, rel_tol=1e-12)
