"""The committed reference figures rebuild within the tolerance docs/architecture.md states
("Reproducibility"): runs at a chosen step size agree with the committed CSVs in the 8 significant
digits they keep (a relative 1e-7, allowing for the rounding) on any machine, every choice is far enough from its runner-up that such differences cannot change
it, and a small spec rebuilt here matches its committed files."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from lwpdsim.figures import build_figures, load_spec
from lwpdsim.sim import simulate
from lwpdsim.tune import TIE, choose, final_loss, grid_score

ROOT = Path(__file__).resolve().parent.parent
REFERENCE = ROOT / "results" / "figures"
SPECS = {p.stem: p for d in ("paper", "lecture") for p in (ROOT / "scenarios" / d).glob("*.toml")}
#: The stated cross-machine tolerance for runs at a chosen (stable) step size: the figure CSVs keep
#: 8 significant digits ("%.8g"), whose rounding is at most 5e-8 relative.
RTOL = 1e-7


def _manifest(name: str) -> dict:
    return json.loads((REFERENCE / f"{name}.json").read_text(encoding="utf-8"))


def _compare_specs() -> list[str]:
    names = []
    for path in sorted(REFERENCE.glob("*.json")):
        m = json.loads(path.read_text(encoding="utf-8"))
        if m.get("kind") == "compare":
            names.append(m["name"])
    return names


@pytest.mark.parametrize("name", _compare_specs())
def test_every_committed_choice_is_robust_to_rounding(name: str) -> None:
    # The choice recomputed from the committed runs is the one recorded, and its mean final loss
    # beats the runner-up's by far more than the tolerance: no rounding change can flip it.
    manifest = _manifest(name)
    runs = pd.read_csv(REFERENCE / f"{name}_runs.csv")
    for row in manifest["results"]:
        rule = runs[runs["scheme"] == row["scheme"]]
        grid = sorted(rule["lr"].unique())
        scores = [
            grid_score(rule.loc[rule["lr"] == lr, "final_loss"].fillna(math.inf), manifest["seeds"])
            for lr in grid
        ]
        assert choose(grid, scores) == row["lr"], row["scheme"]
        # every score is clearly inside the tie band of the lowest or clearly outside it (an
        # exact tie, e.g. runs that never moved, is decided by the stated rule on any machine)
        best = min(scores)
        edge = best + TIE * abs(best)
        for score in scores:
            if score != best and math.isfinite(score):
                assert abs(score - edge) > 1e3 * RTOL * abs(best), (row["scheme"], best, score)


@pytest.mark.slow
@pytest.mark.parametrize("name", ["paper_softmax_shiftexp", "lecture_staleness"])
def test_chosen_runs_rebuild_within_the_stated_tolerance(name: str) -> None:
    manifest = _manifest(name)
    runs = pd.read_csv(REFERENCE / f"{name}_runs.csv")
    chosen = {row["scheme"]: float(row["lr"]) for row in manifest["results"]}
    spec = load_spec(ROOT / manifest["source"])  # the spec the reference was built from
    compared = 0
    for task in spec.plan.runs:
        lr = float(task.factors["scheme.lr"])
        if task.replicate != 0 or lr not in chosen.values():
            continue
        results = simulate(task.scenario, run_index=task.replicate)
        for label, res in results.items():
            if chosen.get(label) != lr:
                continue
            row = runs[(runs["scheme"] == label) & (runs["lr"] == lr) & (runs["seed"] == 0)]
            assert len(row) == 1
            row = row.iloc[0]
            assert final_loss(res) == pytest.approx(row["final_loss"], rel=RTOL, abs=0)
            assert res.summary["sim_time"] == pytest.approx(row["sim_time"], rel=RTOL)
            assert res.summary["updates"] == row["updates"]
            compared += 1
    assert compared == len(chosen)  # every rule's chosen run was rebuilt


@pytest.mark.slow
def test_a_small_spec_rebuilds_to_its_committed_files(tmp_path: Path) -> None:
    out = tmp_path / "fig"
    build_figures([SPECS["6_rules"]], out=out, jobs=1)
    name = load_spec(SPECS["6_rules"]).name
    committed = sorted(REFERENCE.glob(f"{name}_*.csv"))
    assert committed
    for path in committed:
        mine = pd.read_csv(out / path.name)
        ref = pd.read_csv(path)
        assert list(mine.columns) == list(ref.columns) and len(mine) == len(ref), path.name
        for column in ref.columns:
            if ref[column].dtype.kind in "fi":
                np.testing.assert_allclose(
                    mine[column].to_numpy(float), ref[column].to_numpy(float), rtol=RTOL
                )
            else:
                assert mine[column].equals(ref[column]), (path.name, column)
