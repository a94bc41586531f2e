"""Reading and writing results: the RunResult codec (bit for bit), the JSON form of numbers,
atomic writes and the output-folder policy shared by the commands."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import lwpdsim
from lwpdsim.errors import ScenarioError
from lwpdsim.io import (
    FIGURES_FOLDER,
    RUN_FOLDER,
    SWEEP_FOLDER,
    check_out,
    claim,
    dumps,
    json_number,
    json_ready,
    load_result,
    load_summary,
    save_result,
    save_results,
    write_text_atomic,
)
from lwpdsim.results import RunResult


@pytest.fixture(scope="module")
def results(tiny, six_rules) -> dict[str, RunResult]:
    """Every rule with evaluation (NaN accuracies: regression), a lossy network (lost tasks), and a
    diverging run (an infinite final loss)."""
    raw = tiny(
        six_rules,
        cluster={"network": {"loss": 0.05, "bandwidth": 1e5}},
        train={"max_updates": 30, "eval_every": 3, "target_loss": 1e-9},
    )
    out = lwpdsim.simulate(lwpdsim.load_scenario(raw))
    diverging = tiny([{"name": "sync"}], train={"lr": 50.0, "max_updates": 500, "eval_every": 1})
    out["diverged"] = lwpdsim.simulate(lwpdsim.load_scenario(diverging))["sync"]
    return out


def test_a_result_round_trips_bit_for_bit(
    tmp_path: Path, results: dict[str, RunResult], same_bits, same_values
) -> None:
    res = results["diverged"]
    assert res.status == "diverged" and res.summary["final_loss"] == math.inf
    assert any(r.summary["tasks_lost"] > 0 for r in results.values())
    for label, res in results.items():
        folder = save_result(res, tmp_path / label)
        assert sorted(p.name for p in folder.iterdir()) == [
            "manifest.json",
            "tasks.csv",
            "timing.json",
            "updates.csv",
        ]
        back = load_result(folder)
        assert back.label == res.label
        assert same_bits(back.updates, res.updates), label
        assert same_bits(back.tasks, res.tasks), label
        pd.testing.assert_frame_equal(back.tasks, res.tasks, check_exact=True)
        assert same_values(back.summary, res.summary), label
        assert back.config == res.config and back.manifest == res.manifest
        assert same_values(load_summary(folder), res.summary)
        # the methods the README shows go through the same codec
        res.save(tmp_path / "again")
        assert (tmp_path / "again" / "tasks.csv").read_bytes() == (
            folder / "tasks.csv"
        ).read_bytes()
        assert same_bits(RunResult.load(tmp_path / "again").tasks, res.tasks)
    nan_accuracy = results["sync"].updates["accuracy"]
    assert nan_accuracy.isna().all() and back.updates["update"].dtype == np.int64


def test_the_saved_manifest_keeps_its_format(tmp_path: Path, results: dict[str, RunResult]) -> None:
    res = results["diverged"]
    folder = save_result(res, tmp_path / "r")
    manifest = json.loads((folder / "manifest.json").read_text())
    assert list(manifest)[:4] == ["label", "status", "summary", "config"]
    assert manifest["summary"]["final_loss"] == "inf" and "wall_seconds" not in manifest["summary"]
    assert manifest["summary"]["final_accuracy"] is None  # NaN
    assert manifest["seed"] == 3 and "numpy" in manifest["versions"]
    timing = json.loads((folder / "timing.json").read_text())
    assert set(timing["wall_seconds"]) == {"total", "gradients", "evaluation", "simulation"}
    text = (folder / "manifest.json").read_text()
    assert text == json.dumps(json_ready(manifest), indent=2) + "\n"


def test_results_of_a_run_are_saved_as_lwpdsim_run_writes_them(
    tmp_path: Path, results: dict[str, RunResult], same_bits
) -> None:
    chosen = {k: results[k] for k in ("sync", "lwpd(k=4,t=2)")}
    table = save_results(chosen, tmp_path / "out")
    assert list(table.index) == list(chosen)
    assert (tmp_path / "out" / "summary.csv").read_text() == table.to_csv()
    back = lwpdsim.analysis.load_results_dir(tmp_path / "out")
    assert list(back) == list(chosen)
    assert same_bits(back["lwpd(k=4,t=2)"].tasks, chosen["lwpd(k=4,t=2)"].tasks)


def test_json_numbers_round_trip() -> None:
    value = {
        "a": math.inf,
        "b": -math.inf,
        "c": math.nan,
        "d": np.float64(0.25),
        "e": np.int64(7),
        "f": (1, np.bool_(True)),
        3: "text",
    }
    ready = json_ready(value)
    assert ready == {
        "a": "inf",
        "b": "-inf",
        "c": None,
        "d": 0.25,
        "e": 7,
        "f": [1, True],
        "3": "text",
    }
    assert type(ready["d"]) is float and type(ready["e"]) is int and type(ready["f"][1]) is bool
    assert json.loads(dumps(value)) == ready
    assert dumps({"x": [1, 2]}, indent=None) == '{"x":[1,2]}\n'
    assert json_number("inf") == math.inf and json_number("-inf") == -math.inf
    assert math.isnan(json_number(None))
    for kept in (0.5, 3, "infinity", "text", True):
        assert json_number(kept) == kept and type(json_number(kept)) is type(kept)
    for x in (math.inf, -math.inf, 1.5, -0.0, 2**60):
        back = json_number(json.loads(dumps(x)))
        assert back == x and math.copysign(1, back) == math.copysign(1, x)
    assert math.isnan(json_number(json.loads(dumps(math.nan))))


def test_atomic_writes_leave_no_temporary_file(tmp_path: Path) -> None:
    path = write_text_atomic(tmp_path / "a.txt", "first")
    write_text_atomic(path, "second ✓")
    assert path.read_text(encoding="utf-8") == "second ✓"
    assert [p.name for p in tmp_path.iterdir()] == ["a.txt"]


def test_one_output_folder_policy(tmp_path: Path) -> None:
    fresh = tmp_path / "fresh"
    for kind in (RUN_FOLDER, SWEEP_FOLDER, FIGURES_FOLDER):
        check_out(fresh, kind)
    file = tmp_path / "file"
    file.write_text("x")
    for kind in (RUN_FOLDER, SWEEP_FOLDER, FIGURES_FOLDER):
        with pytest.raises(ScenarioError, match=r"is not allowed: a directory$"):
            check_out(file, kind, force=True)
    done = tmp_path / "done"
    with claim(done, RUN_FOLDER) as folder:
        folder.write_text(done / "summary.csv", "x")
    with pytest.raises(ScenarioError, match=r"does not exist yet \(use --force to overwrite it\)"):
        check_out(done, RUN_FOLDER)
    for kind in (SWEEP_FOLDER, FIGURES_FOLDER):  # a folder of another command is never taken
        with pytest.raises(ScenarioError, match="holds the results of lwpdsim run"):
            check_out(done, kind, force=True)
    with pytest.raises(ScenarioError, match="either --resume or --force, not both"):
        check_out(done, SWEEP_FOLDER, resume=True, force=True)
    # --force clears what the same command wrote; a folder it created and left empty goes
    with claim(done, RUN_FOLDER, force=True):
        assert not (done / "summary.csv").exists()
    assert not done.exists()
