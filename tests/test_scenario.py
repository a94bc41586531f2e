"""Scenario loading, defaults, overrides and field-named errors."""

from __future__ import annotations

import math
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from lwpdsim.config import ClusterSpec, load_scenario, set_value
from lwpdsim.config.validate import HINT_AFTER_LIST, suggest
from lwpdsim.errors import ScenarioError

SCENARIOS = Path(__file__).resolve().parent.parent / "scenarios"

MINIMAL = """
name = "quickstart"
seed = 7
[cluster]
workers = 8
latency = { dist = "shifted_exponential", shift = 1.0, rate = 1.0 }
network = { latency = 0.0, bandwidth = "inf", itemsize = 4 }
[model]
kind = "softmax"
dataset = "digits"
[[schemes]]
name = "lwpd"
k = 4
t = 2
[train]
lr = 0.5
max_updates = 300
"""


def base() -> dict:
    return {
        "name": "t",
        "seed": 1,
        "cluster": {"workers": 8},
        "model": {"kind": "softmax", "dataset": "digits"},
        "schemes": [{"name": "sync"}, {"name": "ksync", "K": 6}],
        "train": {"lr": 0.5, "max_updates": 10},
    }


def with_(path: str, value: object) -> dict:
    raw = base()
    node = raw
    *parents, last = path.split(".")
    for p in parents:
        node = node[int(p)] if isinstance(node, list) else node.setdefault(p, {})
    node[last] = value
    return raw


def test_minimal_schema_is_accepted_and_defaulted(tmp_path: Path) -> None:
    f = tmp_path / "q.toml"
    f.write_text(MINIMAL)
    sc = load_scenario(f)
    assert sc.name == "quickstart" and sc.seed == 7
    assert sc.cluster.workers == 8
    assert sc.cluster.network.bandwidth == math.inf
    assert sc.cluster.latency["dist"] == "shifted_exponential"
    (lwpd,) = sc.schemes
    assert lwpd.params == {"k": 4, "t": 2, "decoder": "backproject", "update_every": 1}
    assert lwpd.lr == 0.5  # inherited from train.lr
    assert sc.train.max_updates == 300 and sc.train.target_loss is None
    assert sc.cluster.worker_slowdown() == (1.0,) * 8
    # frozen
    with pytest.raises(AttributeError):
        sc.seed = 3  # type: ignore[misc]


def test_to_dict_round_trips() -> None:
    sc = load_scenario(base())
    again = load_scenario(sc.to_dict())
    assert again == sc


def test_every_shipped_scenario_validates() -> None:
    # scenarios proper: sweep files and figure specs (a top-level `base`) are checked elsewhere
    files = [
        f for f in sorted(SCENARIOS.rglob("*.toml")) if "base" not in tomllib.loads(f.read_text())
    ]
    assert files, "no scenarios shipped"
    for f in files:
        load_scenario(f)


def test_overrides_apply_with_validation() -> None:
    sc = load_scenario(base(), overrides=["scheme.K=3", "cluster.workers=12", "train.lr=0.05"])
    assert sc.schemes[1].params["K"] == 3
    assert sc.cluster.workers == 12
    assert all(s.lr == 0.05 for s in sc.schemes)
    sc = load_scenario(base(), overrides=["schemes[0].lr=0.2", "model.dataset=wine"])
    assert sc.schemes[0].lr == 0.2 and sc.schemes[1].lr == 0.5
    assert sc.model.dataset == "wine"
    sc = load_scenario(
        base(), overrides=["cluster.latency.dist=exponential", "cluster.latency.rate=2"]
    )
    assert sc.cluster.latency["rate"] == 2.0
    with pytest.raises(ScenarioError) as e:
        load_scenario(base(), overrides=["scheme.K=30"])
    assert e.value.field == "schemes[1].K" and "1 to 8" in str(e.value)
    with pytest.raises(ScenarioError) as e:
        load_scenario(base(), overrides=["scheme.kk=3"])
    assert "did you mean 'k'" in str(e.value) or "did you mean 'K'" in str(e.value)
    with pytest.raises(ScenarioError) as e:
        load_scenario(base(), overrides=["train.lr"])
    assert "KEY=VALUE" in str(e.value)


def test_labels_default_unique_and_duplicates_rejected() -> None:
    sc = load_scenario(base())
    assert [s.label for s in sc.schemes] == ["sync", "ksync(K=6)"]
    raw = base()
    raw["schemes"] = [{"name": "ksync", "K": 2}, {"name": "ksync", "K": 2}]
    with pytest.raises(ScenarioError) as e:
        load_scenario(raw)
    assert e.value.field == "schemes[1].label"


# (path, value, expected field, a fragment of the allowed text)
BAD = [
    ("naem", "x", "naem", "did you mean 'name'"),
    ("seed", -1, "seed", ">= 0"),
    ("seed", 1.5, "seed", "integer"),
    ("cluster.workers", 0, "cluster.workers", ">= 1"),
    ("cluster.workers", "8", "cluster.workers", "integer"),
    ("cluster.wokers", 8, "cluster.wokers", "did you mean 'workers'"),
    ("cluster.latency", {"dist": "exponential", "rate": -1.0}, "cluster.latency.rate", ">"),
    ("cluster.latency", {"dist": "exponential", "rate": math.nan}, "cluster.latency.rate", ""),
    ("cluster.latency", {"dist": "expo"}, "cluster.latency.dist", "exponential"),
    ("cluster.network", {"bandwidth": -5}, "cluster.network.bandwidth", "> 0"),
    ("cluster.network", {"itemsize": 3}, "cluster.network.itemsize", "2, 4, 8"),
    ("cluster.network", {"latency": math.nan}, "cluster.network.latency", ">= 0"),
    ("cluster.network", {"loss": 1.0}, "cluster.network.loss", "<= 0.99"),
    ("cluster.network", {"retry_after": 0}, "cluster.network.retry_after", "> 0"),
    (
        "cluster.network",
        {"shared_master_link": "yes"},
        "cluster.network.shared_master_link",
        "true or false",
    ),
    ("cluster.slowdown", [1.0, 2.0], "cluster.slowdown", "8 numbers"),
    ("cluster.slowdown", [1.0] * 7 + [-2.0], "cluster.slowdown[7]", "> 0"),
    ("cluster.stragglers", {"workers": [9]}, "cluster.stragglers.workers[0]", "0 to 7"),
    ("cluster.stragglers", {"workers": [1], "factor": 0.5}, "cluster.stragglers.factor", ">= 1"),
    ("cluster.failures", [{"worker": 1}], "cluster.failures[0].at", "required"),
    (
        "cluster.failures",
        [{"worker": 1, "at": 5, "recover": 2}],
        "cluster.failures[0].recover",
        "> 5",
    ),
    ("cluster.cost", "flops", "cluster.cost", "work, rows, unit"),
    ("model.kind", "svm", "model.kind", "softmax"),
    ("model.kind", "least_squares", "model.kind", "softmax"),
    ("model.dataset", "digitz", "model.dataset", "did you mean 'digits'"),
    ("model.test_fraction", 1.0, "model.test_fraction", "<= 0.9"),
    ("model.hidden", 0, "model.hidden", ">= 1"),
    ("model.label_noise", 1.5, "model.label_noise", "<= 1"),
    ("train.lr", 0, "train.lr", "> 0"),
    ("train.lr", "fast", "train.lr", "number"),
    ("train.max_updates", 0, "train.max_updates", ">= 1"),
    ("train.max_time", -1, "train.max_time", "> 0"),
    ("train.eval_every", 0, "train.eval_every", ">= 1"),
    ("train.speed", 1, "train.speed", "known keys"),
    ("schemes", [], "schemes", "at least one"),
    ("schemes.1.K", 9, "schemes[1].K", "1 to 8"),
    ("schemes.1.K", 0, "schemes[1].K", "1 to 8"),
    ("schemes.1.k", 4, "schemes[1].k", "did you mean 'K'"),
    ("schemes.1.name", "kasnyc", "schemes[1].name", "did you mean 'kasync'"),
    ("schemes", [{"name": "gc", "s": 2}], "schemes[0].s", "crc"),
    ("schemes", [{"name": "gc", "s": 8}], "schemes[0].s", "0 to 7"),
    ("schemes", [{"name": "gc"}], "schemes[0].s", "required"),
    ("schemes", [{"name": "lwpd", "k": 3}], "schemes[0].t", ""),
    ("schemes", [{"name": "lwpd", "k": 4, "t": 3}], "schemes[0].t", "power of two"),
    ("schemes", [{"name": "lwpd", "k": 16, "t": 2}], "cluster.workers", "multiple"),
    (
        "schemes",
        [{"name": "lwpd", "k": 4, "decoder": "magic"}],
        "schemes[0].decoder",
        "backproject",
    ),
    ("schemes", [{"K": 3}], "schemes[0].name", "required"),
]


@pytest.mark.parametrize(("path", "value", "field", "fragment"), BAD)
def test_bad_input_names_the_field(path: str, value: object, field: str, fragment: str) -> None:
    with pytest.raises(ScenarioError) as e:
        load_scenario(with_(path, value))
    assert e.value.field == field, str(e.value)
    assert fragment in str(e.value)
    assert field in str(e.value)


def test_errors_name_the_file(tmp_path: Path) -> None:
    f = tmp_path / "broken.toml"
    f.write_text(MINIMAL.replace("workers = 8", "workers = 7"))
    with pytest.raises(ScenarioError) as e:
        load_scenario(f)
    assert str(f) in str(e.value) and "cluster.workers" in str(e.value)
    f.write_text("name = [unclosed")
    with pytest.raises(ScenarioError) as e:
        load_scenario(f)
    assert "TOML" in str(e.value) and str(f) in str(e.value)
    with pytest.raises(ScenarioError) as e:
        load_scenario(tmp_path / "missing.toml")
    assert "missing.toml" in str(e.value)


def test_cluster_spec_is_the_resolved_cluster_table() -> None:
    sc = load_scenario(base())
    assert isinstance(sc.cluster, ClusterSpec)
    assert sc.cluster.worker_slowdown() == (1.0,) * 8


def test_set_value_sets_a_value_without_reading_text() -> None:
    raw = base()
    set_value(raw, "cluster.slowdown", [1.0] * 7 + [3.0])
    set_value(raw, "scheme.lr", 0.25)
    sc = load_scenario(raw)
    assert sc.cluster.slowdown[-1] == 3.0 and {s.lr for s in sc.schemes} == {0.25}
    raw = base()
    set_value(raw, "cluster.workers", "8")  # a string stays a string: not read as TOML
    with pytest.raises(ScenarioError) as e:
        load_scenario(raw)
    assert e.value.field == "cluster.workers" and e.value.value == "8"
    with pytest.raises(ScenarioError) as e:
        set_value(base(), "scheme.lrr", 3)
    assert e.value.field == "scheme.lrr" and "did you mean 'lr'" in e.value.allowed
    with pytest.raises(ScenarioError) as e:
        set_value(base(), "cluster..workers", 3)
    assert e.value.value == "cluster..workers=3"  # errors quote KEY=VALUE by default


def test_suggest_is_the_one_did_you_mean_hint() -> None:
    assert suggest("wokers", ["workers", "latency"]) == " (did you mean 'workers'?)"
    assert suggest("WORKERS", ["workers"]) == " (did you mean 'workers'?)"
    assert suggest("WORKERS", ["workers"], ignore_case=False) == ""
    assert suggest("qqqq", ["workers"]) == ""
    assert suggest("sh", ["rate", "shift"]) == ""  # too short to be close ...
    hint = suggest("sh", ["rate", "shift"], hint=HINT_AFTER_LIST, abbreviations=True)
    assert hint == "; did you mean 'shift'?"  # ... but it abbreviates 'shift'
    assert suggest(3, ["3x"]) == " (did you mean '3x'?)"  # a non-string is compared as text


@pytest.mark.slow
def test_every_module_imports_first_without_a_cycle() -> None:
    """config.validate is used by the latency models, datasets, model kinds and rules, and the
    config parser uses them: whichever module is imported first, no import cycle breaks."""
    code = """
import importlib, pathlib, sys, types
root = pathlib.Path(sys.argv[1])
names = sorted(".".join(p.relative_to(root.parent).with_suffix("").parts) for p in root.rglob("*.py"))
for name in (n.removesuffix(".__init__") for n in names):
    for key in [k for k in sys.modules if k.split(".")[0] == "lwpdsim"]:
        del sys.modules[key]
    package = types.ModuleType("lwpdsim")
    package.__path__ = [str(root)]
    sys.modules["lwpdsim"] = package  # lwpdsim/__init__ does not run: `name` is imported first
    importlib.import_module(name)
"""
    root = Path(__file__).resolve().parent.parent / "lwpdsim"
    proc = subprocess.run(
        [sys.executable, "-c", code, str(root)], capture_output=True, text=True, timeout=300
    )
    assert proc.returncode == 0, proc.stderr
