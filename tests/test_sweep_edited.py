"""Editing a sweep, then ``--resume``: the runs still in the sweep are reused, the new ones run, and
the records that no longer belong to it are reported, kept on disk and left out of the table."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pandas as pd
import pytest

from lwpdsim.cli import main
from lwpdsim.io import MARKER

SWEEP = """
base = "base.toml"
name = "grid"
[factors]
"train.lr" = {lrs}
"""


@pytest.fixture
def base(tiny_toml: Callable[..., str]) -> str:
    """The base scenario: sync and K-async (K = 2) on 40 rows, 6 updates."""
    schemes = [{"name": "sync"}, {"name": "kasync", "K": 2}]
    return tiny_toml("edited", schemes, model={"samples": 40}, train={"max_updates": 6})


def _sweep(folder: Path, base: str, lrs: str, *more: str) -> list[str]:
    """Write the base scenario and the sweep file with these step sizes and run ``lwpdsim sweep``
    on it (serially, into ``folder/out``); return the rule run ids of ``runs.csv``, in order (one
    per point and rule here: every rule depends on ``train.lr``, so nothing is shared)."""
    (folder / "base.toml").write_text(base, encoding="utf-8")
    grid = folder / "grid.toml"
    grid.write_text(SWEEP.format(lrs=lrs), encoding="utf-8")
    out = folder / "out"
    assert main(["sweep", str(grid), "--executor", "serial", "--out", str(out), *more]) == 0
    table = pd.read_csv(out / "runs.csv", dtype={"run_id": str, "result_id": str})
    return list(table["result_id"].drop_duplicates())


def _records(out: Path) -> dict[str, bytes]:
    """Every rule run's record, by id (one computed again gets a new one: its wall-clock time)."""
    return {p.parent.name: p.read_bytes() for p in (out / "runs").glob("*/run.json")}


def test_resume_after_editing_the_grid_reports_the_runs_left_over(
    tmp_path: Path, base: str, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "out"
    first = _sweep(tmp_path, base, "[0.1, 0.2, 0.3]")
    assert len(first) == 6  # 3 points x 2 rules
    before = _records(out)
    capsys.readouterr()

    # 0.1 leaves the grid, 0.4 joins it: two points' rule runs are reused, one point's computed,
    # one point's left over
    second = _sweep(tmp_path, base, "[0.2, 0.3, 0.4]", "--resume")
    std = capsys.readouterr()
    assert second[:4] == first[2:] and not set(second[4:]) & set(first)
    assert "2 rule runs computed, 4 reused" in std.out
    warnings = [line for line in std.err.splitlines() if line.startswith("warning:")]
    assert len(warnings) == 1 and "Traceback" not in std.err, std.err
    assert "2 earlier runs " in warnings[0] and str(out / "runs") in warnings[0]
    assert min(first[:2]) in warnings[0]

    after = _records(out)
    assert {k: after[k] for k in first} == before  # reused ones untouched, the left-over ones kept
    assert set(after) == {*first, *second[4:]}
    table = pd.read_csv(out / "runs.csv", dtype={"run_id": str, "result_id": str})
    assert set(table["result_id"]) == set(second)
    assert sorted(table["train.lr"].unique()) == [0.2, 0.3, 0.4]
    manifest = json.loads((out / "sweep.json").read_text())
    assert manifest["stale_runs"] == sorted(first[:2]) and manifest["runs"] == 3

    # back to the first grid: the kept records are reused, and now 0.4's are the ones left over
    third = _sweep(tmp_path, base, "[0.1, 0.2, 0.3]", "--resume")
    std = capsys.readouterr()
    assert third == first and "0 rule runs computed, 6 reused" in std.out
    assert min(second[4:]) in std.err
    assert json.loads((out / "sweep.json").read_text())["stale_runs"] == sorted(second[4:])
    assert _records(out) == after

    # --force starts over: what lwpdsim wrote goes, the left-over record with it
    _sweep(tmp_path, base, "[0.1, 0.2, 0.3]", "--force")
    assert set(_records(out)) == set(first)


def test_resume_takes_a_folder_whose_record_names_more_than_the_sweeps_name(
    tmp_path: Path, base: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """A folder written before the identity was the name alone (it also named the runs and a hash
    of the grid) is still the same sweep's; one named for another sweep is not."""
    out = tmp_path / "out"
    first = _sweep(tmp_path, base, "[0.1, 0.2]")
    marker = out / MARKER
    lines = marker.read_text().splitlines()
    header = json.loads(lines[0])
    assert header["identity"] == {"name": "grid"}
    header["identity"] = {"name": "grid", "runs": 2, "grid": "0123456789abcdef"}
    marker.write_text("\n".join([json.dumps(header), *lines[1:]]) + "\n")
    capsys.readouterr()
    assert _sweep(tmp_path, base, "[0.1, 0.2]", "--resume") == first
    assert "0 rule runs computed, 4 reused" in capsys.readouterr().out
    header["identity"] = {"name": "other", "runs": 2}
    marker.write_text("\n".join([json.dumps(header), *lines[1:]]) + "\n")
    grid = str(tmp_path / "grid.toml")
    assert main(["sweep", grid, "--executor", "serial", "--out", str(out), "--resume"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "'other'" in err and "'grid'" in err
