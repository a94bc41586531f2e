"""Sweep files: schemes addressed by name in keys, categorical factors' figures, and the metrics
a sweep plots (its tables, not its pixels)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from lwpdsim import sweep as sw
from lwpdsim.cli import main
from lwpdsim.config import load_scenario, set_value
from lwpdsim.errors import ScenarioError

SCHEMES: list[dict[str, Any]] = [
    {"name": "lwpd", "k": 4, "t": 2},
    {"name": "gc", "s": 1, "label": "coded"},
    {"name": "kasync", "K": 2},
    {"name": "kasync", "K": 3, "label": "async3"},
]


@pytest.fixture
def base(tmp_path: Path, tiny_toml) -> Path:
    path = tmp_path / "base.toml"
    path.write_text(tiny_toml("named", SCHEMES, train={"max_updates": 8, "target_loss": 0.05}))
    return path


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "sweep.toml"
    path.write_text('base = "base.toml"\n' + text)
    return path


# --------------------------------------------------------------------------- names in keys


@pytest.mark.parametrize(
    ("key", "index"),
    [
        ("schemes[lwpd].k", 0),
        ("schemes[coded].s", 1),
        ("schemes[gc].s", 1),
        ("schemes[async3].K", 3),
    ],
)
def test_a_name_sets_the_scheme_an_index_would(key: str, index: int) -> None:
    raw = {"schemes": [dict(s) for s in SCHEMES]}
    by_index = {"schemes": [dict(s) for s in SCHEMES]}
    set_value(raw, key, 8)
    set_value(by_index, f"schemes[{index}].{key.rsplit('.', 1)[1]}", 8)
    assert raw == by_index


@pytest.mark.parametrize(
    ("key", "says"),
    [
        ("schemes[kasync].K", "schemes[2] and schemes[3] answer to 'kasync'"),  # two rules
        ("schemes[lwdp].k", "no scheme has the label or rule 'lwdp'"),
        ("cluster[lwpd].workers", "an index, e.g. [0]"),
    ],
)
def test_ambiguous_or_unknown_names_are_one_line_errors(base: Path, key: str, says: str) -> None:
    with pytest.raises(ScenarioError) as info:
        load_scenario(base, overrides=[f"{key}=3"])
    text = str(info.value)
    assert "\n" not in text and says in text
    assert key.split(".")[0] in text  # the field
    if key.startswith("schemes"):
        assert "labels: coded, async3; rule names: lwpd, gc, kasync" in text


def test_set_by_name_on_the_command_line(base: Path, tmp_path: Path, capsys) -> None:
    sc = load_scenario(base, overrides=["schemes[lwpd].t=4", "schemes[async3].label=a.b=c"])
    assert sc.schemes[0].params["t"] == 4 and sc.schemes[3].label == "a.b=c"
    sc = load_scenario(base, overrides=["schemes[async3].label=a.b=c", "schemes[a.b=c].K=1"])
    assert sc.schemes[3].params["K"] == 1  # a label with '.' and '=' in brackets
    assert main(["run", str(base), "--set", "schemes[nope].k=8", "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "schemes[nope]" in err


def test_sweep_factors_and_derived_keys_by_name(tmp_path: Path, base: Path) -> None:
    path = write(
        tmp_path,
        '[factors]\n"schemes[lwpd].t" = [2, 4]\n"cluster.workers" = [4, 8]\n'
        '[derived]\n"schemes[async3].K" = "cluster.workers // 2"\n'
        '"schemes[coded].s" = "schemes[lwpd].t - 1"\n',
    )
    plan = sw.plan_sweep(path)
    assert len(plan.points) == 4
    for point in plan.points:
        lwpd, gc, _, k3 = point.scenario.schemes
        assert lwpd.params["t"] == point.factors["schemes[lwpd].t"]
        assert k3.params["K"] == point.factors["cluster.workers"] // 2
        assert gc.params["s"] == lwpd.params["t"] - 1
    assert "schemes[lwpd].t=4" in plan.points[-1].overrides


def test_sweep_with_an_unknown_name_says_so_once(tmp_path: Path, base: Path) -> None:
    path = write(tmp_path, '[factors]\n"schemes[kasync].K" = [1, 2]\n')
    with pytest.raises(ScenarioError) as info:
        sw.plan_sweep(path)
    text = str(info.value)
    assert "factors.schemes[kasync].K" in text and "answer to 'kasync'" in text
    assert "\n" not in text
