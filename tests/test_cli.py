"""The command line: exit codes, messages without tracebacks, results on disk."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from lwpdsim.analysis import load_results_dir
from lwpdsim.cli import main

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def scenario(tmp_path: Path, tiny_toml) -> Path:
    f = tmp_path / "tiny.toml"
    schemes = [{"name": "sync"}, {"name": "lwpd", "k": 4, "t": 2}]
    f.write_text(tiny_toml("clitiny", schemes, train={"max_updates": 15}))
    return f


def test_run_writes_results_and_refuses_to_overwrite(
    scenario: Path, tmp_path: Path, capsys
) -> None:
    out = tmp_path / "out"
    assert main(["run", str(scenario), "--out", str(out), "--quiet"]) == 0
    assert capsys.readouterr() == ("", "")  # --quiet: nothing printed on success
    table = pd.read_csv(out / "summary.csv", index_col=0)
    assert list(table.index) == ["sync", "lwpd(k=4,t=2)"]
    assert (out / "loss_vs_time.png").stat().st_size > 1000
    for sub in ("sync", "lwpd_k=4_t=2"):
        for name in ("updates.csv", "tasks.csv", "manifest.json"):
            assert (out / sub / name).exists()
    # refuse without --force, keep what is there
    assert main(["run", str(scenario), "--out", str(out), "--quiet"]) == 2
    assert "--force" in capsys.readouterr().err
    assert main(["run", str(scenario), "--out", str(out), "--quiet", "--force"]) == 0
    # --force never wipes a folder lwpdsim did not write
    foreign = tmp_path / "foreign"
    foreign.mkdir()
    (foreign / "thesis.tex").write_text("precious")
    assert main(["run", str(scenario), "--out", str(foreign), "--force", "--quiet"]) == 2
    assert "has no record of writing" in capsys.readouterr().err
    assert (foreign / "thesis.tex").exists()
    # an empty folder may be used with --force; a file never
    (tmp_path / "empty").mkdir()
    assert main(["run", str(scenario), "--out", str(tmp_path / "empty"), "--force", "--quiet"]) == 0
    assert (tmp_path / "empty" / "summary.csv").exists()
    capsys.readouterr()
    assert main(["run", str(scenario), "--out", str(foreign / "thesis.tex"), "--quiet"]) == 2
    assert "is not allowed: a directory\n" in capsys.readouterr().err


def test_run_says_where_the_wall_time_went(scenario: Path, tmp_path: Path, capsys) -> None:
    assert main(["run", str(scenario), "--out", str(tmp_path / "out")]) == 0
    line = next(x for x in capsys.readouterr().out.splitlines() if x.startswith("wall time"))
    seconds = [float(x) for x in re.findall(r"([0-9.]+) s\b", line)]
    total, gradients, evaluation, simulation = seconds
    assert total > 0 and min(gradients, evaluation, simulation) >= 0
    assert gradients + evaluation + simulation == pytest.approx(total, abs=0.02)
    runs = load_results_dir(tmp_path / "out")
    evaluations = sum(r.summary["gradient_evaluations"] for r in runs.values())
    assert f"({evaluations:,} evaluations)" in line and evaluations > 0


def test_run_default_directory_is_results_name(scenario: Path, tmp_path: Path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    assert main(["run", str(scenario), "--quiet", "--set", "train.max_updates=3"]) == 0
    assert (tmp_path / "results" / "clitiny" / "summary.csv").exists()


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (["--set", "scheme.K=3"], "scheme.K"),
        (["--set", "cluster.workers=3"], "cluster.workers"),
        (["--set", "train.lr=-1"], "train.lr"),
        (["--set", "nonsense"], "KEY=VALUE"),
    ],
)
def test_bad_input_exits_2_with_one_message(scenario: Path, args, fragment, capsys) -> None:
    assert main(["run", str(scenario), "--quiet", *args]) == 2
    err = capsys.readouterr().err
    assert fragment in err and str(scenario) in err
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1


def test_validate(scenario: Path, tmp_path: Path, capsys) -> None:
    assert main(["validate", str(scenario)]) == 0
    bad = tmp_path / "bad.toml"
    bad.write_text(scenario.read_text().replace("k = 4", "k = 3"))
    assert main(["validate", str(scenario), str(bad)]) == 2
    captured = capsys.readouterr()
    assert "ok:" in captured.out and "bad.toml" in captured.err
    assert main(["validate", str(tmp_path / "missing.toml")]) == 2


def test_codes_prints_the_published_example(capsys) -> None:
    assert main(["codes", "lwpd", "--n", "8", "--k", "4", "--t", "2"]) == 0
    out = capsys.readouterr().out
    assert "worker 7:  -0.7071        .        .   0.7071" in out
    assert "min_rows_always_full_rank" in out
    assert main(["codes", "gc", "--n", "8", "--s", "2", "--construction", "crc"]) == 0
    assert "stragglers_tolerated  2" in capsys.readouterr().out
    assert main(["codes", "lwpd", "--n", "6", "--k", "4"]) == 2
    assert "--n" in capsys.readouterr().err


def test_console_script_has_no_traceback_on_bad_file(tmp_path: Path) -> None:
    bad = tmp_path / "broken.toml"
    bad.write_text("name = = 3")
    proc = subprocess.run(
        [sys.executable, "-m", "lwpdsim.cli", "run", str(bad)],
        capture_output=True,
        text=True,
        cwd=tmp_path,
    )
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr and "broken.toml" in proc.stderr


def test_validate_checks_sweep_files(tmp_path: Path, capsys) -> None:
    sweeps = sorted((ROOT / "scenarios" / "sweeps").glob("*.toml"))
    assert sweeps
    assert main(["validate", *map(str, sweeps)]) == 0
    assert "grid points" in capsys.readouterr().out
    bad = tmp_path / "bad_sweep.toml"
    bad.write_text(
        f'base = "{ROOT / "scenarios" / "quickstart.toml"}"\n[factors]\n"cluster.workers" = [8, 7]\n'
    )
    assert main(["validate", str(bad)]) == 2
    err = capsys.readouterr().err
    assert "cluster.workers" in err and "Traceback" not in err


def test_same_scenario_and_seed_give_identical_files(scenario: Path, tmp_path: Path) -> None:
    a, b = tmp_path / "a", tmp_path / "b"
    assert main(["run", str(scenario), "--out", str(a), "--quiet"]) == 0
    assert main(["run", str(scenario), "--out", str(b), "--quiet"]) == 0
    files = sorted(p.relative_to(a) for p in a.rglob("*") if p.is_file())
    assert files == sorted(p.relative_to(b) for p in b.rglob("*") if p.is_file())
    compared = [f for f in files if f.name != "timing.json"]  # wall-clock seconds differ by nature
    assert any(f.suffix == ".png" for f in compared) and any(
        f.name == "manifest.json" for f in compared
    )
    for f in compared:
        assert (a / f).read_bytes() == (b / f).read_bytes(), f


def test_version_is_the_installed_packages(capsys) -> None:
    from importlib import metadata

    with pytest.raises(SystemExit) as exit_info:
        main(["--version"])
    assert exit_info.value.code == 0
    assert capsys.readouterr().out.strip() == f"lwpdsim {metadata.version('lwpdsim')}"
