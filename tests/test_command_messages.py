"""The command line says what it did in the user's terms: --quiet prints nothing, messages name
the option the user gave, `figures` reports progress and takes --set, and a simulate() result
saved with lwpdsim.save_run reads back as a run folder."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import lwpdsim
from lwpdsim.analysis import load_results_dir
from lwpdsim.cli import main

ROOT = Path(__file__).resolve().parent.parent
SWEEP = """
name = "msgsweep"
base = "scenario.toml"
replicates = 1
[factors]
"cluster.workers" = [2, 4]
"""


@pytest.fixture
def scenario(tmp_path: Path, tiny_toml) -> Path:
    f = tmp_path / "scenario.toml"
    schemes = [{"name": "sync"}, {"name": "kasync", "K": 2}]
    f.write_text(tiny_toml("msgtiny", schemes, train={"max_updates": 8}))
    return f


def test_quiet_prints_nothing_on_success(scenario: Path, tmp_path: Path, capsys) -> None:
    assert main(["run", str(scenario), "--out", str(tmp_path / "r"), "--quiet"]) == 0
    assert capsys.readouterr() == ("", "")
    sweep = tmp_path / "sweep.toml"
    sweep.write_text(SWEEP)
    args = ["sweep", str(sweep), "--executor", "serial", "--out", str(tmp_path / "s"), "--quiet"]
    assert main(args) == 0
    assert capsys.readouterr() == ("", "")
    # without --quiet both say where the results went
    assert main(["run", str(scenario), "--out", str(tmp_path / "r2")]) == 0
    assert "results written to" in capsys.readouterr().out


def test_default_output_folder_is_not_called_out(
    scenario: Path, tmp_path: Path, monkeypatch, capsys
) -> None:
    monkeypatch.chdir(tmp_path)
    taken = tmp_path / "results" / "msgtiny"
    taken.mkdir(parents=True)
    (taken / "notes.txt").write_text("mine")
    assert main(["run", str(scenario), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: the default output folder (no --out given) = ")
    assert "--out =" not in err and err.count("\n") == 1
    assert (taken / "notes.txt").read_text() == "mine"
    # given explicitly, the option is named as given
    assert main(["run", str(scenario), "--out", str(taken), "--quiet"]) == 2
    assert capsys.readouterr().err.startswith("error: --out = ")


def test_a_missing_file_is_named_by_its_argument(tmp_path: Path, capsys) -> None:
    missing = tmp_path / "nonexist.toml"
    assert main(["run", str(missing)]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"error: FILE = {str(missing)!r} is not allowed")
    assert "(file)" not in err and " = ''" not in err


def test_figures_progress_set_and_quiet(tmp_path: Path, monkeypatch, capsys) -> None:
    monkeypatch.chdir(ROOT)  # the default spec folders
    out = tmp_path / "fig"
    base = ["figures", "--quick", "--only", "lecture_waiting", "--out", str(out), "--jobs", "1"]
    assert main([*base, "--set", "train.eval_every=7"]) == 0
    printed = capsys.readouterr().out
    runs = [line for line in printed.splitlines() if "runs done" in line]
    assert runs and runs[-1].strip().endswith("2/2 runs done")  # progress without a terminal
    manifest = json.loads((out / "lecture_waiting.json").read_text())
    assert manifest["overrides"] == ["train.eval_every=7"]
    assert manifest["scenario"]["train"]["eval_every"] == 7
    index = (out / "README.md").read_text()
    assert "`train.eval_every=7`" in index
    assert "This quick build ran 1 seed" in index
    # the spec's own factor cannot be set; the error names --set
    assert main([*base, "--set", "cluster.workers=3"]) == 2
    assert capsys.readouterr().err.count("--set = 'cluster.workers=3'") == 1
    assert main([*base, "--quiet"]) == 0
    assert capsys.readouterr() == ("", "")
    # rebuilt without --set: the record says so
    assert json.loads((out / "lecture_waiting.json").read_text())["overrides"] == []


def test_save_run_round_trip(scenario: Path, tmp_path: Path, capsys) -> None:
    results = lwpdsim.simulate(lwpdsim.load_scenario(scenario))
    out = tmp_path / "saved"
    table = lwpdsim.save_run(results, out)
    assert list(table.index) == list(results)
    back = load_results_dir(out)
    assert list(back) == list(results)
    for label, res in results.items():
        assert back[label].updates.equals(res.updates)
        assert back[label].tasks.equals(res.tasks)
    assert main(["plot", str(out)]) == 0
    assert "figures written" in capsys.readouterr().out
    # an existing folder lwpdsim wrote is replaced only with force; a foreign one never
    with pytest.raises(lwpdsim.ScenarioError, match="--force"):
        lwpdsim.save_run(results, out)
    lwpdsim.save_run(results, out, force=True)
    foreign = tmp_path / "foreign"
    foreign.mkdir()
    (foreign / "thesis.tex").write_text("precious")
    with pytest.raises(lwpdsim.ScenarioError):
        lwpdsim.save_run(results, foreign, force=True)
    assert (foreign / "thesis.tex").read_text() == "precious"
