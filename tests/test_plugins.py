"""Rules from outside the package (lwpdsim.plugins, docs/plugins.md): the docs' walkthrough run as
written (the package written from the page, installed, run by ``lwpdsim run``), the scenario key
and ``--plugin`` without installing, in worker processes too, and the one-line errors."""

from __future__ import annotations

import importlib.util
import json
import os
import re
import shutil
import subprocess
import sys
import tomllib
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest

from lwpdsim import plugins
from lwpdsim.analysis.saved import check_manifest
from lwpdsim.cli import main
from lwpdsim.config import load_scenario
from lwpdsim.sim import simulate
from lwpdsim.sweep.plan import run_id

ROOT = Path(__file__).resolve().parent.parent
DOC = ROOT / "docs" / "plugins.md"
FILE = re.compile(r"<!-- file: (?P<path>\S+) -->\n```\w*\n(?P<body>.*?)```\n", re.S)
LABEL = "firstk_subset(K=2,S=4)"
MODULE = "firstk_rule.rules"


def write_doc_files(folder: Path) -> None:
    """Every file docs/plugins.md shows (a ``<!-- file: PATH -->`` before its block)."""
    found = FILE.findall(DOC.read_text(encoding="utf-8"))
    assert {p for p, _ in found} >= {"firstk-rule/pyproject.toml", "firstk.toml"}
    for path, body in found:
        (folder / path).parent.mkdir(parents=True, exist_ok=True)
        (folder / path).write_text(body, encoding="utf-8")


def install_by_hand(pkg: Path, site: Path) -> None:
    """What an installer leaves in site-packages that lwpdsim reads: the package and a
    ``.dist-info`` with ``METADATA`` and ``entry_points.txt`` made from the pyproject's tables
    (what ``pip install`` writes; used where no offline build backend is available)."""
    project = tomllib.loads((pkg / "pyproject.toml").read_text())["project"]
    shutil.copytree(pkg / "firstk_rule", site / "firstk_rule")
    info = site / f"{project['name'].replace('-', '_')}-{project['version']}.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(
        f"Metadata-Version: 2.1\nName: {project['name']}\nVersion: {project['version']}\n"
    )
    groups = project["entry-points"]
    text = "".join(
        f"[{group}]\n" + "".join(f"{k} = {v}\n" for k, v in entries.items())
        for group, entries in groups.items()
    )
    (info / "entry_points.txt").write_text(text)


def offline_backend() -> bool:
    """Whether setuptools can build a wheel here without the network (it needs ``wheel`` below
    version 70.1)."""
    try:
        import setuptools
    except ImportError:  # e.g. a Python 3.12 virtual environment: not installed by default
        return False
    major, minor = (int(x) for x in setuptools.__version__.split(".")[:2])
    return (major, minor) >= (70, 1) or importlib.util.find_spec("wheel") is not None


def cli(args: list[str], cwd: Path, path: list[Path]) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(map(str, [*path, ROOT]))}
    return subprocess.run(
        [sys.executable, "-m", "lwpdsim.cli", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


def check_rule_ran(out: Path) -> dict[str, object]:
    """The rule's row in summary.csv, each of its 60 updates using K = 2 results; its manifest."""
    summary = pd.read_csv(out / "summary.csv").set_index("scheme")
    assert list(summary.index) == [LABEL, "ksync(K=2)"]
    assert summary.loc[LABEL, "status"] == "max_updates"
    assert summary.loc[LABEL, "updates"] == 60
    folder = out / "firstk_subset_K=2_S=4"
    updates = pd.read_csv(folder / "updates.csv")
    assert (updates["messages_used"].iloc[1:] == 2).all() and len(updates) == 61
    tasks = pd.read_csv(folder / "tasks.csv")
    assert (tasks["outcome"] == "discarded").any()  # results outside the subset were dropped
    assert updates["loss"].iloc[-1] < updates["loss"].iloc[0]
    return dict(json.loads((folder / "manifest.json").read_text()))


@pytest.fixture
def fresh(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """This test's plugin registry and entry points, and its modules forgotten afterwards."""
    monkeypatch.setattr(plugins, "_MODULES", {})
    monkeypatch.setattr(plugins, "_LOADED", {})
    plugins._entry_points.cache_clear()
    plugins._distributions.cache_clear()
    before = set(sys.modules)
    yield
    for name in set(sys.modules) - before:
        if not name.startswith("lwpdsim"):
            del sys.modules[name]
    plugins._entry_points.cache_clear()
    plugins._distributions.cache_clear()


@pytest.mark.slow
def test_docs_walkthrough_installed(tmp_path: Path) -> None:
    """docs/plugins.md's package installed with pip (the test extras bring ``wheel``, so
    setuptools builds offline), or, where it cannot build offline, installed as pip would lay
    it out (the package and its .dist-info with the entry point), then run by ``lwpdsim run``."""
    write_doc_files(tmp_path)
    site = tmp_path / "site"
    if offline_backend():
        pip = [sys.executable, "-m", "pip", "install", "--no-deps", "--no-build-isolation"]
        pip += ["--no-index", "--target", str(site), str(tmp_path / "firstk-rule")]
        subprocess.run(pip, check=True, capture_output=True, timeout=300)
    else:
        site.mkdir()
        install_by_hand(tmp_path / "firstk-rule", site)
    done = cli(["run", "firstk.toml", "--out", "out", "--quiet"], tmp_path, [site])
    assert done.returncode == 0, done.stderr
    manifest = check_rule_ran(tmp_path / "out")
    source = manifest["rule_source"]
    assert isinstance(source, dict)
    assert source["distribution"] == "firstk-rule" and source["version"] == "0.1.0"
    assert source["module"] == MODULE and source["class"] == "FirstKOfSubset"
    config = manifest["config"]
    assert isinstance(config, dict) and "plugins" not in config["scenario"]  # found installed


def test_scenario_key_without_installing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], fresh: None
) -> None:
    write_doc_files(tmp_path)
    monkeypatch.syspath_prepend(str(tmp_path / "firstk-rule"))
    scenario = tmp_path / "firstk.toml"
    # not installed, not named: the rule is unknown, and the error lists the built-in rules
    assert main(["validate", str(scenario)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "schemes[0].name = 'firstk_subset'" in err and "ksync" in err
    keyed = load_scenario(scenario, overrides=[f'plugins=["{MODULE}"]'])
    assert keyed.plugins == (MODULE,) and keyed.schemes[0].params == {"K": 2, "S": 4}
    results = simulate(keyed)
    res = results[LABEL]
    assert res.summary["updates"] == 60 and (res.updates["messages_used"].iloc[1:] == 2).all()
    assert res.config["scenario"]["plugins"] == [MODULE]
    assert res.manifest["rule_source"]["module"] == MODULE
    assert "distribution" not in res.manifest["rule_source"]  # on the path, not installed
    assert "rule_source" not in results["ksync(K=2)"].manifest  # built in
    # a saved run is checked for `lwpdsim plot` without importing the plugin it names
    res.save(tmp_path / "rule")
    monkeypatch.setattr(plugins, "_LOADED", {})
    monkeypatch.setattr(plugins, "_MODULES", {})
    for name in [m for m in sys.modules if m.startswith("firstk_rule")]:
        del sys.modules[name]
    check_manifest(tmp_path / "rule")
    assert MODULE not in sys.modules
    # scheme.KEY reaches a plugin rule's own keys
    both = [f'plugins=["{MODULE}"]', "scheme.S=5"]
    assert load_scenario(scenario, overrides=both).schemes[0].params == {"K": 2, "S": 5}
    # the list is part of a sweep's run ids; absent, nothing changes
    bare = {"schemes": [{"name": "ksync", "K": 2}], "cluster": {"workers": 4}}
    assert "plugins" not in load_scenario(bare).to_dict()
    with_key = load_scenario({**bare, "plugins": [MODULE]})
    assert run_id(with_key, 0) != run_id(load_scenario(bare), 0)


@pytest.mark.slow
def test_plugin_option_reaches_sweep_workers(tmp_path: Path) -> None:
    """A process-pool sweep: its worker (forkserver, preloading only lwpdsim) imports the module
    that ``--plugin`` added to each point's scenario."""
    write_doc_files(tmp_path)
    (tmp_path / "s.toml").write_text(
        'base = "firstk.toml"\nrecords = "summary"\n[base_overrides]\n"train.max_updates" = 10\n'
        '[factors]\n"schemes[firstk_subset].S" = [3, 4]\n'
    )
    args = ["sweep", "s.toml", "--executor", "processes", "--max-workers", "1", "--out", "sw"]
    done = cli([*args, "--quiet", "--plugin", MODULE], tmp_path, [tmp_path / "firstk-rule"])
    assert done.returncode == 0, done.stderr
    runs = pd.read_csv(tmp_path / "sw" / "runs.csv")
    ours = runs[runs["scheme"].str.startswith("firstk_subset")]
    assert len(ours) == 2 and (ours["status"] == "ok").all() and (ours["updates"] == 10).all()


MODULES = {
    "pl_boom": "raise RuntimeError('boom at import')\n",
    "pl_empty": "from lwpdsim.schemes.sync import Sync\n",  # imported, not defined: no rule
    "pl_shadow": "from lwpdsim.schemes.sync import Sync\nclass Mine(Sync):\n    name = 'sync'\n",
    "pl_twice": "from lwpdsim.schemes.sync import Sync\n"
    "class A(Sync):\n    name = 'twin'\nclass B(Sync):\n    name = 'twin'\n",
    "pl_ok": "from lwpdsim.schemes.sync import Sync\nclass Mine(Sync):\n    name = 'mine'\n"
    "class NotAScheme:\n    name = 'x'\n",
}


@pytest.mark.parametrize(
    ("plugins_list", "field", "words"),
    [
        (["pl_ok", "../rules.py"], "plugins[1]", "dotted name"),
        (["pl_ok", "pl_ok"], "plugins[1]", "not named before"),
        (["no_such_module_xyz"], "plugins[0]", "ModuleNotFoundError"),
        (["pl_boom"], "plugins[0]", "RuntimeError: boom at import"),
        (["pl_empty"], "plugins[0]", "at least one"),
        (["pl_shadow"], "plugins[0]", "shadow a built-in"),
        (["pl_twice"], "plugins[0]", "distinct names"),
        ("pl_ok", "plugins", "a list"),
    ],
)
def test_bad_plugin_modules_one_line(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    fresh: None,
    plugins_list: object,
    field: str,
    words: str,
) -> None:
    for name, text in MODULES.items():
        (tmp_path / f"{name}.py").write_text(text)
    monkeypatch.syspath_prepend(str(tmp_path))
    path = tmp_path / "s.toml"
    path.write_text(
        f"plugins = {json.dumps(plugins_list)}\n[[schemes]]\nname = 'sync'\n[cluster]\nworkers = 2\n"
    )
    assert main(["validate", str(path)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and f"{field} = " in err and words in err, err


def test_plugin_option_errors_and_registration(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], fresh: None
) -> None:
    for name, text in MODULES.items():
        (tmp_path / f"{name}.py").write_text(text)
    monkeypatch.syspath_prepend(str(tmp_path))
    path = tmp_path / "s.toml"
    path.write_text("[[schemes]]\nname = 'mine'\n[cluster]\nworkers = 2\n")
    assert main(["validate", str(path), "--plugin", "pl/ok"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "--plugin = 'pl/ok'" in err
    assert main(["validate", str(path), "--plugin", "pl_boom"]) == 2
    assert "--plugin = 'pl_boom'" in capsys.readouterr().err
    assert main(["validate", str(path), "--plugin", "pl_ok"]) == 0
    # only the subclass defined in the module with its own name: not NotAScheme, not Sync
    assert list(plugins.module_rules("pl_ok", "x")) == ["mine"]
    assert plugins.rule_class("mine") is sys.modules["pl_ok"].Mine
    # the option lasts while its command runs: afterwards a scenario must name the module
    assert main(["validate", str(path)]) == 2
    assert "schemes[0].name = 'mine'" in capsys.readouterr().err


ENTRY_POINTS = {
    "broken": "no_such_module_xyz.rules:Rule",
    "notascheme": "ep_mod:NotAScheme",
    "misnamed": "ep_mod:Misnamed",
    "good": "ep_mod:Good",
}
EP_MODULE = (
    "from lwpdsim.schemes.sync import Sync\nclass NotAScheme:\n    name = 'notascheme'\n"
    "class Misnamed(Sync):\n    name = 'other'\nclass Good(Sync):\n    name = 'good'\n"
)


def fake_distribution(site: Path, name: str, entries: dict[str, str]) -> None:
    info = site / f"{name}-1.0.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: 1.0\n")
    lines = "".join(f"{k} = {v}\n" for k, v in entries.items())
    (info / "entry_points.txt").write_text(f"[{plugins.ENTRY_POINT_GROUP}]\n{lines}")


@pytest.mark.parametrize(
    ("rule", "words"),
    [
        ("broken", "ModuleNotFoundError"),
        ("notascheme", "Scheme subclass (it is type)"),
        ("misnamed", "Misnamed.name is 'other'"),
        ("good", ""),
    ],
)
def test_entry_point_errors_one_line(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    fresh: None,
    rule: str,
    words: str,
) -> None:
    fake_distribution(tmp_path, "ep_dist", ENTRY_POINTS)
    (tmp_path / "ep_mod.py").write_text(EP_MODULE)
    monkeypatch.syspath_prepend(str(tmp_path))
    path = tmp_path / "s.toml"
    path.write_text(f"[[schemes]]\nname = '{rule}'\n[cluster]\nworkers = 2\n")
    code = main(["validate", str(path)])
    err = capsys.readouterr().err
    if not words:
        assert code == 0 and "ep_mod" in sys.modules  # loaded because named
        return
    assert code == 2 and err.count("\n") == 1, err
    assert f"entry point {rule} (lwpdsim.schemes, distribution ep_dist 1.0)" in err and words in err


def test_entry_points_lazy_and_never_shadowing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], fresh: None
) -> None:
    fake_distribution(tmp_path, "ep_dist", ENTRY_POINTS)
    (tmp_path / "ep_mod.py").write_text(EP_MODULE)
    monkeypatch.syspath_prepend(str(tmp_path))
    path = tmp_path / "s.toml"
    path.write_text("[[schemes]]\nname = 'sync'\n[cluster]\nworkers = 2\n")
    assert main(["validate", str(path)]) == 0
    assert "ep_mod" not in sys.modules  # built-in rules only: no entry point loaded
    # a name nothing provides lists the installed rules, still without loading any
    path.write_text("[[schemes]]\nname = 'nosuch'\n[cluster]\nworkers = 2\n")
    assert main(["validate", str(path)]) == 2
    assert "good" in capsys.readouterr().err and "ep_mod" not in sys.modules
    # an installed entry point named like a built-in rule is refused
    fake_distribution(tmp_path, "shadow_dist", {"ksync": "ep_mod:Good"})
    plugins._entry_points.cache_clear()
    assert main(["validate", str(path)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "entry point ksync" in err and "built in" in err
