"""lwpdsim removes and overwrites only what it wrote: --force, --resume, the folder lock, names
made from labels, and writes that fail. Every case checks the exit status, that stderr is one line
naming the field or path without a traceback, and, where files could be lost, that every file the
user put there is still there byte for byte."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

import lwpdsim
from lwpdsim.cli import main
from lwpdsim.io import FIGURES_FOLDER, LOCK_NAME, MARKER, RUN_FOLDER, claim
from lwpdsim.results import safe_name
from lwpdsim.sweep import execute as sweep_execute

ROOT = Path(__file__).resolve().parent.parent

SCENARIO = """
name = "safety"
seed = 5
[cluster]
workers = 4
[model]
kind = "least_squares"
dataset = "synthetic_regression"
samples = 40
features = 3
[train]
lr = 0.1
max_updates = 6
[[schemes]]
name = "sync"
{first}
[[schemes]]
name = "kasync"
K = 2
{second}
"""

SWEEP = """
base = "base.toml"
name = "{name}"
[factors]
"train.lr" = {lrs}
"""


def scenario_file(folder: Path, first: str = "", second: str = "", name: str = "s.toml") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text(SCENARIO.format(first=first, second=second), encoding="utf-8")
    return path


def sweep_file(folder: Path, name: str = "grid", lrs: str = "[0.1, 0.2]") -> Path:
    scenario_file(folder, name="base.toml")
    path = folder / f"{name[:40]}.toml"
    path.write_text(SWEEP.format(name=name, lrs=lrs), encoding="utf-8")
    return path


def one_line(capsys: pytest.CaptureFixture[str], *needles: str) -> str:
    """The one line on stderr, which names every needle and has no traceback."""
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err, err
    for needle in needles:
        assert needle in err, (needle, err)
    return err


def snapshot(folder: Path, names: list[str]) -> dict[str, bytes]:
    return {name: (folder / name).read_bytes() for name in names}


def plant(folder: Path, files: dict[str, bytes]) -> dict[str, bytes]:
    """Put the user's files in ``folder``; return them, to compare afterwards."""
    for name, data in files.items():
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_bytes(data)
    return files


def intact(folder: Path, files: dict[str, bytes]) -> None:
    for name, data in files.items():
        assert (folder / name).read_bytes() == data, name


@pytest.fixture
def no_simulation(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make any simulation fail the test: the cases below must stop before simulating."""

    def fail(*_args: Any, **_kw: Any) -> Any:
        raise AssertionError("simulated although the output folder was refused")

    monkeypatch.setattr(lwpdsim.sim, "simulate", fail)
    monkeypatch.setattr(sweep_execute, "simulate", fail)


def run(*args: str) -> int:
    return main(["run", *args, "--quiet"])


def sweep(*args: str) -> int:
    return main(["sweep", *args, "--executor", "serial", "--quiet"])


# --------------------------------------------------------------------------- --force


def test_force_on_a_run_folder_keeps_the_users_files(tmp_path: Path, capsys) -> None:
    spec = scenario_file(tmp_path / "in")
    out = tmp_path / "out"
    assert run(str(spec), "--out", str(out)) == 0
    mine = plant(out, {"thesis.tex": b"\\chapter{precious}", "sync/notes.md": b"my notes\x00"})
    before = snapshot(out, ["summary.csv"])
    assert run(str(spec), "--out", str(out), "--force") == 0
    intact(out, mine)
    assert snapshot(out, ["summary.csv"]) == before  # rewritten, the same numbers
    assert (out / "sync" / "manifest.json").is_file()
    capsys.readouterr()


def test_force_on_a_sweep_folder_keeps_the_users_files(tmp_path: Path, capsys) -> None:
    grid = sweep_file(tmp_path / "in")
    out = tmp_path / "out"
    assert sweep(str(grid), "--out", str(out)) == 0
    run_id = sorted(p.name for p in (out / "runs").iterdir())[0]
    mine = plant(out, {"notebook.ipynb": b'{"cells": []}', f"runs/{run_id}/mine.txt": b"x"})
    assert sweep(str(grid), "--out", str(out), "--force") == 2  # a run folder holds a user file
    one_line(capsys, "--out", "mine.txt")
    intact(out, mine)
    (out / "runs" / run_id / "mine.txt").unlink()
    del mine[f"runs/{run_id}/mine.txt"]
    assert sweep(str(grid), "--out", str(out), "--force") == 0
    intact(out, mine)
    assert len(pd.read_csv(out / "runs.csv")) == 4


def test_the_record_is_compact_after_a_command(tmp_path: Path, capsys) -> None:
    # what a command leaves is its record of the files that exist, sorted: no staging folders or
    # temporary files, and the same bytes after a rebuild with the same files
    spec = scenario_file(tmp_path / "in")
    out = tmp_path / "out"
    assert run(str(spec), "--out", str(out)) == 0
    first = (out / MARKER).read_bytes()
    entries = [json.loads(line) for line in first.decode().splitlines()[1:]]
    assert entries and all(set(e) <= {"f", "d"} for e in entries)
    assert all((out / next(iter(e.values()))).exists() for e in entries)
    assert entries == sorted(entries, key=lambda e: (next(iter(e)), next(iter(e.values()))))
    assert run(str(spec), "--out", str(out), "--force") == 0
    assert (out / MARKER).read_bytes() == first
    capsys.readouterr()


def test_force_refuses_a_folder_lwpdsim_has_no_record_of(tmp_path: Path, capsys) -> None:
    spec = scenario_file(tmp_path / "in")
    out = tmp_path / "out"
    mine = plant(out, {"summary.csv": b"scheme\nmine\n", "thesis.tex": b"t"})
    assert run(str(spec), "--out", str(out), "--force") == 2
    one_line(capsys, "--out", str(out), "no record")
    intact(out, mine)
    assert sorted(os.listdir(out)) == ["summary.csv", "thesis.tex"]


def test_force_only_clears_a_folder_of_the_same_command(tmp_path: Path, capsys) -> None:
    spec = scenario_file(tmp_path / "in")
    grid = sweep_file(tmp_path / "in")
    out = tmp_path / "out"
    assert sweep(str(grid), "--out", str(out)) == 0
    before = snapshot(out, ["runs.csv", "sweep.json"])
    assert run(str(spec), "--out", str(out), "--force") == 2
    one_line(capsys, "--out", "lwpdsim sweep")
    intact(out, before)


@pytest.mark.parametrize("where", ["cwd", "home", "root", "parent"])
def test_force_refuses_the_current_home_and_root_folders(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys, no_simulation, where: str
) -> None:
    spec = scenario_file(tmp_path / "in")
    work = tmp_path / "work" / "deeper"
    mine = plant(work, {"data.csv": b"1,2\n"})
    monkeypatch.chdir(work)
    monkeypatch.setenv("HOME", str(tmp_path / "work"))
    out = {"cwd": ".", "home": str(tmp_path / "work"), "root": "/", "parent": ".."}[where]
    assert run(str(spec), "--out", out, "--force") == 2
    one_line(capsys, "--out", repr(out))
    intact(work, mine)


def test_force_refuses_the_folder_holding_the_scenario(tmp_path: Path, capsys) -> None:
    folder = tmp_path / "project"
    spec = scenario_file(folder)
    before = snapshot(folder, ["s.toml"])
    for out in (folder, tmp_path):  # the folder itself, and any folder above it
        assert run(str(spec), "--out", str(out), "--force") == 2
        one_line(capsys, "--out", "s.toml")
    intact(folder, before)


def test_a_symlink_as_out_gets_one_line(tmp_path: Path, capsys) -> None:
    spec = scenario_file(tmp_path / "in")
    real = tmp_path / "real"
    mine = plant(real, {"keep.txt": b"keep"})
    link = tmp_path / "link"
    link.symlink_to(real, target_is_directory=True)
    for flags in ([], ["--force"]):
        assert run(str(spec), "--out", str(link), *flags) == 2
        one_line(capsys, "--out", "symbolic link")
    intact(real, mine)


def test_force_never_follows_a_symlink_inside_the_folder(tmp_path: Path, capsys) -> None:
    spec = scenario_file(tmp_path / "in")
    out = tmp_path / "out"
    outside = plant(tmp_path / "outside", {"precious.txt": b"p", "summary.csv": b"s"})
    assert run(str(spec), "--out", str(out)) == 0
    # a link where lwpdsim wrote a file, and one it never wrote: both point outside
    (out / "summary.csv").unlink()
    (out / "summary.csv").symlink_to(tmp_path / "outside" / "summary.csv")
    (out / "elsewhere").symlink_to(tmp_path / "outside", target_is_directory=True)
    assert run(str(spec), "--out", str(out), "--force") == 0
    intact(tmp_path / "outside", outside)
    assert (out / "elsewhere").is_symlink() and not (out / "summary.csv").is_symlink()
    # a rule folder replaced by a link to a folder outside: nothing removed, one line
    os.rename(out / "sync", tmp_path / "moved")
    (out / "sync").symlink_to(tmp_path / "outside", target_is_directory=True)
    before = {p.name for p in out.iterdir()}
    assert run(str(spec), "--out", str(out), "--force") == 2
    one_line(capsys, "--out", str(out / "sync"))
    intact(tmp_path / "outside", outside)
    assert {p.name for p in out.iterdir()} == before


def test_a_folder_half_written_by_a_killed_command_is_cleared_by_force(
    tmp_path: Path, capsys
) -> None:
    spec = scenario_file(tmp_path / "in")
    out = tmp_path / "out"
    killed = f"""
import os, signal
from lwpdsim.io import RUN_FOLDER, claim
folder = claim({str(out)!r}, RUN_FOLDER)
folder.write_text(folder.path / "sync" / "updates.csv", "update\\n1\\n")
folder.journal.add("f", "summary.csv", t=".summary.csv.1.2.tmp")
(folder.path / ".summary.csv.1.2.tmp").write_text("half a fi")
os.kill(os.getpid(), signal.SIGKILL)
"""
    proc = subprocess.run([sys.executable, "-c", killed], env=os.environ, timeout=120)
    assert proc.returncode == -signal.SIGKILL
    assert (out / LOCK_NAME).exists() and (out / ".summary.csv.1.2.tmp").exists()
    mine = plant(out, {"thesis.tex": b"t"})
    assert run(str(spec), "--out", str(out)) == 2  # not without --force
    one_line(capsys, "--force")
    assert run(str(spec), "--out", str(out), "--force") == 0  # the stale lock is taken over
    intact(out, mine)
    assert not (out / ".summary.csv.1.2.tmp").exists() and not (out / LOCK_NAME).exists()
    assert pd.read_csv(out / "sync" / "updates.csv")["update"].iloc[-1] == 6


# --------------------------------------------------------------------------- labels and names


@pytest.mark.parametrize(
    ("first", "second"),
    [("..", "."), ("α", "β"), ("NUL", "con.txt"), ("summary.csv", "timeline.png"), (".x", "y.")],
)
def test_labels_get_their_own_folder_inside_out(
    tmp_path: Path, capsys, first: str, second: str
) -> None:
    spec = scenario_file(
        tmp_path / "in", f"label = {json.dumps(first)}", f"label = {json.dumps(second)}"
    )
    out = tmp_path / "box" / "out"
    assert run(str(spec), "--out", str(out)) == 0
    assert sorted(os.listdir(tmp_path / "box")) == ["out"]  # nothing beside --out
    folders = {safe_name(first), safe_name(second)}
    assert len(folders) == 2
    for folder in folders:
        assert (out / folder).is_dir() and not folder.startswith(".")
    # plot shows each rule with its own numbers
    loaded = lwpdsim.analysis.load_results_dir(out)
    fresh = lwpdsim.simulate(lwpdsim.load_scenario(spec))
    assert list(loaded) == [first, second]
    for label in (first, second):
        assert loaded[label].label == label
        pd.testing.assert_frame_equal(loaded[label].updates, fresh[label].updates)
    assert main(["plot", str(out)]) == 0
    capsys.readouterr()


@pytest.mark.parametrize(
    ("first", "second", "needle"),
    [
        ("a/b", "a_b", "schemes[1].label"),
        ("A", "a", "schemes[1].label"),
        ("x" * 300, "b", "schemes[0].label"),
        ("", "b", "schemes[0].label"),
        ("tab\\there", "b", "schemes[0].label"),
    ],
)
def test_labels_that_cannot_get_a_folder_of_their_own_are_refused(
    tmp_path: Path, capsys, no_simulation, first: str, second: str, needle: str
) -> None:
    spec = scenario_file(tmp_path / "in", f'label = "{first}"', f'label = "{second}"')
    out = tmp_path / "out"
    assert run(str(spec), "--out", str(out)) == 2
    one_line(capsys, needle, "s.toml")
    assert not out.exists()


@pytest.mark.filterwarnings("ignore:constrained_layout not applied")
def test_a_long_label_gets_a_bounded_folder(tmp_path: Path, capsys) -> None:
    label = "é" * 90
    spec = scenario_file(tmp_path / "in", f'label = "{label}"')
    out = tmp_path / "out"
    assert run(str(spec), "--out", str(out)) == 0
    folder = safe_name(label)
    assert len(folder) <= 120 and (out / folder / "manifest.json").is_file()
    capsys.readouterr()


@pytest.mark.parametrize("name", ["..", "x" * 300, "NUL", "a/b", ""])
def test_bad_scenario_names_are_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys, no_simulation, name: str
) -> None:
    spec = scenario_file(tmp_path / "in")
    spec.write_text(spec.read_text().replace('name = "safety"', f"name = {json.dumps(name)}"))
    monkeypatch.chdir(tmp_path)
    assert run(str(spec)) == 2  # the default --out is results/<name>/
    one_line(capsys, "name", "s.toml")
    assert not (tmp_path / "results").exists()


def test_a_sweep_or_spec_name_too_long_for_a_file_name_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys, no_simulation
) -> None:
    grid = sweep_file(tmp_path / "in", name="s" * 260)
    monkeypatch.chdir(tmp_path)
    assert sweep(str(grid)) == 2  # results/sweeps/<name>/
    one_line(capsys, "--out", "255 bytes")
    assert not (tmp_path / "results" / "sweeps").exists() or not os.listdir(
        tmp_path / "results" / "sweeps"
    )
    source = (ROOT / "scenarios" / "lecture" / "1_waiting.toml").read_text()
    spec = tmp_path / "spec.toml"
    spec.write_text(source.replace('name = "lecture_waiting"', f'name = "{"f" * 150}"'))
    assert main(["figures", "--specs", str(spec), "--out", str(tmp_path / "f"), "--quiet"]) == 2
    one_line(capsys, "name", "spec.toml")
    assert not (tmp_path / "f").exists()


# --------------------------------------------------------------------------- --resume


def test_resume_refuses_a_folder_that_is_no_sweeps(tmp_path: Path, capsys, no_simulation) -> None:
    grid = sweep_file(tmp_path / "in")
    out = tmp_path / "out"
    mine = plant(out, {"runs.csv": b"my,table\n1,2\n", "runs/x/run.json": b"{}"})
    assert sweep(str(grid), "--out", str(out), "--resume") == 2
    one_line(capsys, "--out", str(out))
    intact(out, mine)
    assert not (out / MARKER).exists()


def test_resume_refuses_another_sweeps_folder(tmp_path: Path, capsys) -> None:
    nine = sweep_file(tmp_path / "in", name="nine", lrs="[0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8]")
    five = sweep_file(tmp_path / "in", name="five", lrs="[0.1, 0.2, 0.3, 0.4]")
    out = tmp_path / "out"
    assert sweep(str(nine), "--out", str(out)) == 0
    before = snapshot(out, ["runs.csv", "sweep.json"])
    assert len(before["runs.csv"].splitlines()) == 17  # 8 runs x 2 rules + header
    assert sweep(str(five), "--out", str(out), "--resume") == 2
    one_line(capsys, "--out", "'nine'", "'five'")
    intact(out, before)
    # the same name with another grid is the same sweep, edited: tests/test_sweep_edited.py


def _finished_sweep(tmp_path: Path) -> tuple[Path, Path, list[str]]:
    grid = sweep_file(tmp_path / "in", lrs="[0.1, 0.2, 0.3]")
    out = tmp_path / "out"
    assert sweep(str(grid), "--out", str(out)) == 0
    return grid, out, sorted(p.name for p in (out / "runs").iterdir())


def _resume(grid: Path, out: Path, capsys) -> tuple[list[str], str]:
    computed: list[str] = []
    table = lwpdsim.run_sweep(
        grid,
        executor="serial",
        out=out,
        resume=True,
        on_run=lambda r: computed.append(r["run_id"]),
        log=lambda text: print(f"warning: {text}", file=sys.stderr),
        plots=False,
    )
    assert table["status"].eq("ok").all() and len(table) == 6
    return computed, capsys.readouterr().err


def test_resume_recomputes_runs_of_another_version_and_says_how_many(
    tmp_path: Path, capsys
) -> None:
    grid, out, ids = _finished_sweep(tmp_path)
    capsys.readouterr()
    for run_id, package in zip(ids[:2], ("numpy", "lwpdsim"), strict=True):
        path = out / "runs" / run_id / "run.json"
        record = json.loads(path.read_text())
        record["versions"][package] = "0.0.1"
        path.write_text(json.dumps(record))
    computed, err = _resume(grid, out, capsys)
    assert sorted(computed) == ids[:2]
    assert err.count("\n") == 1 and "Traceback" not in err
    assert "2 finished runs" in err and "another version" in err and "0.0.1" in err


DAMAGE = {
    "empty list": lambda p: p.write_text("[]"),
    "null": lambda p: p.write_text("null"),
    "a directory": lambda p: (p.unlink(), p.mkdir()),
    "missing keys": lambda p: p.write_text(json.dumps({"run_id": p.parent.name, "status": "ok"})),
    "ok without results": lambda p: p.write_text(
        json.dumps({**json.loads(p.read_text()), "rules": []})
    ),
    "a rule folder outside": lambda p: p.write_text(
        json.dumps(
            {
                **json.loads(p.read_text()),
                "rules": [{**r, "folder": "../../.."} for r in json.loads(p.read_text())["rules"]],
            }
        )
    ),
    "truncated": lambda p: p.write_text(p.read_text()[:40]),
}


@pytest.mark.parametrize("damage", list(DAMAGE))
def test_resume_recomputes_damaged_records_with_a_message(
    tmp_path: Path, capsys, damage: str
) -> None:
    grid, out, ids = _finished_sweep(tmp_path)
    capsys.readouterr()
    DAMAGE[damage](out / "runs" / ids[1] / "run.json")
    computed, err = _resume(grid, out, capsys)
    assert computed == [ids[1]]
    assert err.count("\n") == 1 and "Traceback" not in err
    assert "1 runs" in err and "damaged" in err and ids[1] in err
    assert json.loads((out / "runs" / ids[1] / "run.json").read_text())["status"] == "ok"


def test_resume_stops_before_running_if_a_run_to_redo_holds_a_user_file(
    tmp_path: Path, capsys, monkeypatch: pytest.MonkeyPatch
) -> None:
    grid, out, ids = _finished_sweep(tmp_path)
    (out / "runs" / ids[0] / "run.json").write_text("[]")
    mine = plant(out, {f"runs/{ids[0]}/analysis.txt": b"mine"})
    capsys.readouterr()
    monkeypatch.setattr(sweep_execute, "simulate", lambda *a, **k: pytest.fail("simulated"))
    assert sweep(str(grid), "--out", str(out), "--resume") == 2
    err = capsys.readouterr().err.splitlines()
    assert err[-1].startswith("error: --out") and "analysis.txt" in err[-1]
    assert not any("Traceback" in line for line in err)
    intact(out, mine)


# --------------------------------------------------------------------------- the lock


def test_a_held_lock_refuses_a_second_command_at_once(tmp_path: Path, capsys) -> None:
    spec = scenario_file(tmp_path / "in")
    out = tmp_path / "out"
    holder = f"""
import sys, time
from lwpdsim.io import RUN_FOLDER, claim
folder = claim({str(out)!r}, RUN_FOLDER)
print("claimed", flush=True)
sys.stdin.read()
folder.release()
"""
    proc = subprocess.Popen(
        [sys.executable, "-c", holder], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    try:
        assert proc.stdout is not None and proc.stdout.readline().strip() == "claimed"
        started = time.perf_counter()
        for flags in ([], ["--force"]):
            assert run(str(spec), "--out", str(out), *flags) == 2
            one_line(capsys, "--out", f"pid {proc.pid}", LOCK_NAME)
        assert time.perf_counter() - started < 10
        assert sorted(os.listdir(out)) == sorted([LOCK_NAME, MARKER])
    finally:
        proc.communicate("", timeout=60)
    assert not out.exists()  # the holder wrote nothing: its folder went with it


def test_a_lock_naming_a_live_process_refuses(tmp_path: Path, capsys, no_simulation) -> None:
    spec = scenario_file(tmp_path / "in")
    out = tmp_path / "out"
    out.mkdir()
    (out / LOCK_NAME).write_text(json.dumps({"pid": os.getpid(), "host": os.uname().nodename}))
    assert run(str(spec), "--out", str(out)) == 2
    one_line(capsys, "--out", LOCK_NAME)


def test_a_stale_lock_is_taken_over(tmp_path: Path, capsys) -> None:
    spec = scenario_file(tmp_path / "in")
    out = tmp_path / "out"
    dead = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        text=True,
        capture_output=True,
        check=True,
    )
    out.mkdir()
    (out / LOCK_NAME).write_text(json.dumps({"pid": int(dead.stdout), "host": os.uname().nodename}))
    assert run(str(spec), "--out", str(out)) == 0
    assert (out / "summary.csv").is_file() and not (out / LOCK_NAME).exists()
    capsys.readouterr()


# --------------------------------------------------------------------------- failing writes


@pytest.mark.parametrize(
    "where", ["/dev/null/sub", "file/sub", "x" * 300, "ro/sub", "/proc/lwpdsim/sub"]
)
def test_an_impossible_out_is_refused_before_simulating(
    tmp_path: Path, capsys, no_simulation, where: str
) -> None:
    spec = scenario_file(tmp_path / "in")
    (tmp_path / "file").write_text("a file")
    (tmp_path / "ro").mkdir(mode=0o500)
    if where == "ro/sub" and os.access(tmp_path / "ro", os.W_OK):
        pytest.skip("running as a user who may write anywhere (see /proc/lwpdsim/sub)")
    if where.startswith("/proc") and not Path("/proc/self").exists():
        pytest.skip("no /proc here")
    out = where if where.startswith("/") else str(tmp_path / where)
    assert run(str(spec), "--out", out) == 2
    one_line(capsys, "--out", out[:40])
    grid = sweep_file(tmp_path / "in")
    assert sweep(str(grid), "--out", out) == 2
    one_line(capsys, "--out", out[:40])


def test_a_write_that_fails_exits_1_naming_the_path(
    tmp_path: Path, capsys, monkeypatch: pytest.MonkeyPatch
) -> None:
    spec = scenario_file(tmp_path / "in")
    out = tmp_path / "out"
    real = Path.write_bytes

    def full_disk(self: Path, data: bytes) -> int:
        if self.name.startswith(".tasks.csv"):
            raise OSError(28, "No space left on device", str(self))
        return real(self, data)

    monkeypatch.setattr(Path, "write_bytes", full_disk)
    assert run(str(spec), "--out", str(out)) == 1
    err = one_line(capsys, "cannot write", "tasks.csv", "No space left")
    assert str(out) in err
    monkeypatch.setattr(Path, "write_bytes", real)
    for path in out.rglob("*"):  # no half-written file left under its own name
        assert not path.name.endswith(".tmp"), path
    assert run(str(spec), "--out", str(out), "--force") == 0  # and cleared by --force
    capsys.readouterr()


def test_a_sweep_that_fails_to_write_keeps_its_finished_runs_resumable(
    tmp_path: Path, capsys, monkeypatch: pytest.MonkeyPatch
) -> None:
    grid = sweep_file(tmp_path / "in", lrs="[0.1, 0.2, 0.3]")
    out = tmp_path / "out"
    real = Path.write_bytes
    calls = {"run.json": 0}

    def full_disk(self: Path, data: bytes) -> int:
        if self.name.startswith(".run.json"):
            calls["run.json"] += 1
            if calls["run.json"] == 3:
                raise OSError(28, "No space left on device", str(self))
        return real(self, data)

    monkeypatch.setattr(Path, "write_bytes", full_disk)
    assert sweep(str(grid), "--out", str(out)) == 1
    one_line(capsys, "cannot write", "run.json")
    monkeypatch.setattr(Path, "write_bytes", real)
    assert len(list((out / "runs").iterdir())) == 2  # the third never appeared, half-written
    computed: list[str] = []
    lwpdsim.run_sweep(
        grid, executor="serial", out=out, resume=True, on_run=computed.append, plots=False
    )
    assert len(computed) == 3 * 2 - 2  # 3 points x 2 rules (each depends on lr), 2 were kept


# --------------------------------------------------------------------------- figures


def test_figures_never_write_over_or_remove_a_users_file(
    tmp_path: Path, capsys, no_simulation
) -> None:
    out = tmp_path / "figs"
    mine = plant(out, {"README.md": b"# my project\n"})
    spec = ROOT / "scenarios" / "lecture"
    assert main(["figures", "--specs", str(spec), "--quick", "--out", str(out), "--quiet"]) == 2
    one_line(capsys, "--out", "README.md")
    intact(out, mine)
    assert sorted(os.listdir(out)) == ["README.md"]
    # a folder of lwpdsim run is not a figures folder
    with claim(tmp_path / "run", RUN_FOLDER) as folder:
        folder.write_text(folder.path / "summary.csv", "x")
    assert main(["figures", "--specs", str(spec), "--out", str(tmp_path / "run"), "--quiet"]) == 2
    one_line(capsys, "--out", "lwpdsim run")
    with claim(tmp_path / "f2", FIGURES_FOLDER) as folder:
        assert folder.path == tmp_path / "f2"


def test_plot_adds_figures_but_never_over_a_users_file(tmp_path: Path, capsys) -> None:
    spec = scenario_file(tmp_path / "in")
    out = tmp_path / "out"
    assert run(str(spec), "--out", str(out)) == 0
    elsewhere = tmp_path / "elsewhere"
    mine = plant(elsewhere, {"update_intervals.png": b"my own figure", "notes.txt": b"n"})
    assert main(["plot", str(out), "--out", str(elsewhere)]) == 2
    one_line(capsys, "--out", "update_intervals.png")
    intact(elsewhere, mine)
    assert sorted(os.listdir(elsewhere)) == sorted(mine)
    (elsewhere / "update_intervals.png").unlink()
    del mine["update_intervals.png"]
    assert main(["plot", str(out), "--out", str(elsewhere)]) == 0
    intact(elsewhere, mine)
    assert (elsewhere / "update_intervals.png").stat().st_size > 1000
    capsys.readouterr()


def test_a_record_never_makes_lwpdsim_remove_outside_the_folder(tmp_path: Path, capsys) -> None:
    spec = scenario_file(tmp_path / "in")
    out = tmp_path / "box" / "out"
    assert run(str(spec), "--out", str(out)) == 0
    outside = plant(tmp_path / "box", {"outside.txt": b"o"})
    outside.update(plant(tmp_path, {"top.txt": b"t"}))
    with open(out / MARKER, "a", encoding="utf-8") as record:  # paths no lwpdsim writes
        for path in ("../outside.txt", str(tmp_path / "top.txt"), "sync/../../outside.txt", "."):
            record.write(json.dumps({"f": path}) + "\n")
    assert run(str(spec), "--out", str(out), "--force") == 0
    intact(tmp_path / "box", {"outside.txt": b"o"})
    intact(tmp_path, {"top.txt": b"t"})
    # a record that is not lwpdsim's (no header) proves nothing: the folder is refused
    mine = plant(out, {"thesis.tex": b"t"})
    (out / MARKER).write_text('{"f": "thesis.tex"}\n')
    assert run(str(spec), "--out", str(out), "--force") == 2
    one_line(capsys, "--out", "damaged")
    intact(out, mine)
    capsys.readouterr()


def test_a_record_never_makes_a_users_folder_or_file_scratch(tmp_path: Path, capsys) -> None:
    # an edited record that calls a user's folder a staging folder ("s") or a user's file a
    # temporary file ("t") does not get them removed, neither at the next claim nor by --force
    spec = scenario_file(tmp_path / "in")
    out = tmp_path / "out"
    assert run(str(spec), "--out", str(out)) == 0
    mine = plant(out, {"notes/a.md": b"precious", "draft.txt": b"draft"})
    with open(out / MARKER, "a", encoding="utf-8") as record:
        record.write(json.dumps({"s": "notes"}) + "\n" + json.dumps({"t": "draft.txt"}) + "\n")
    assert run(str(spec), "--out", str(out), "--force") == 0
    intact(out, mine)
    capsys.readouterr()


def test_different_labels_never_share_a_folder() -> None:
    labels = ["α", "β", "..", ".", "", "_", "NUL", "nul", "a" * 150, "a" * 151, "x/y", "x.png"]
    labels += [chr(c) for c in range(0x400, 0x480)]
    folders = [safe_name(label) for label in labels]
    assert len(set(folders)) == len(labels)
    for folder in folders:
        assert folder and len(folder) <= 120 and "/" not in folder and "\\" not in folder
        assert not folder.startswith((".", "_")) and not folder.endswith(".png")
        assert folder.split(".")[0].lower() not in ("nul", "con", "prn", "aux")
    # readable labels keep their names; those that would collide are refused when read
    assert safe_name("lwpd(k=4,t=2)") == "lwpd_k=4_t=2" == safe_name("lwpd k=4 t=2")
