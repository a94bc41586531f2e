"""Sharing rule runs between the points of a sweep: a rule's result inside a scenario is its result
in the scenario reduced to that rule, so a sweep simulates each distinct (rule with everything its
result depends on, replicate) once; the table keeps every row, marked as shared."""

from __future__ import annotations

import dataclasses
import itertools
import json
import math
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

import lwpdsim
from lwpdsim import sweep as sw
from lwpdsim.config import parse_scenario
from lwpdsim.io.files import SWEEP_FOLDER
from lwpdsim.io.ownership import claim
from lwpdsim.sweep.table import METRIC_COLUMNS, point_summary

WORKERS, KS, TS, REPLICATES = (4, 8), (2, 4), (2, 4), 2
#: An n-k-t grid like scenarios/sweeps/nkt.toml: GC depends on n only, K-async on n (K = n/2).
NKT = f"""
base = "base.toml"
name = "nkt"
replicates = {REPLICATES}
skip_invalid = true
[factors]
"cluster.workers" = {list(WORKERS)}
"schemes[0].k" = {list(KS)}
"schemes[0].t" = {list(TS)}
[derived]
"schemes[2].K" = "cluster.workers // 2"
"""


def _valid_points() -> list[tuple[int, int, int]]:
    """(n, k, t) of the grid's valid points, worked out here: t must divide k."""
    return [(n, k, t) for n, k, t in itertools.product(WORKERS, KS, TS) if k % t == 0]


@pytest.fixture(scope="module")
def grid(tmp_path_factory: pytest.TempPathFactory, tiny_toml: Callable[..., str]) -> Path:
    folder = tmp_path_factory.mktemp("share")
    schemes = [{"name": "lwpd", "k": 4, "t": 2}, {"name": "gc", "s": 1}, {"name": "kasync", "K": 2}]
    text = tiny_toml("nktbase", schemes, train={"max_updates": 10, "target_loss": 0.05})
    (folder / "base.toml").write_text(text)
    (folder / "nkt.toml").write_text(NKT)
    return folder / "nkt.toml"


@pytest.fixture(scope="module")
def fresh(grid: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, sw.SweepReport]:
    """The grid run once, serially, into a fresh folder."""
    out = tmp_path_factory.mktemp("fresh") / "out"
    options = sw.SweepOptions(executor="serial", out=out, plots=False)
    return out, sw.execute_sweep(grid, options)


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b):
        return True
    return bool(a == b)


# --------------------------------------------------------------------------- the premise


@pytest.mark.parametrize("lr_grid", [False, True])
def test_a_rules_result_is_its_result_in_the_scenario_reduced_to_it(
    tiny: Callable[..., dict[str, Any]], six_rules: list[dict[str, Any]], lr_grid: bool
) -> None:
    train = {"max_updates": 25, "target_loss": 0.3}
    if lr_grid:  # each rule chooses its step size from the grid on its own selection runs
        train |= {"lr_grid": [0.02, 0.05, 0.1], "lr_seeds": 2}
    schemes = [dict(s) for s in six_rules]
    schemes[1]["lr"] = 0.04  # one rule keeps its own lr
    raw = tiny(schemes, train=train)
    if lr_grid:
        del raw["train"]["lr"]
    scenario = parse_scenario(raw)
    full = lwpdsim.simulate(scenario, run_index=1)
    assert len(full) == 6
    for spec in scenario.schemes:
        alone = lwpdsim.simulate(dataclasses.replace(scenario, schemes=(spec,)), run_index=1)
        assert list(alone) == [spec.label]
        one, whole = alone[spec.label], full[spec.label]
        pd.testing.assert_frame_equal(one.updates, whole.updates, check_exact=True)
        pd.testing.assert_frame_equal(one.tasks, whole.tasks, check_exact=True)
        mine = {k: v for k, v in one.summary.items() if k != "wall_seconds"}
        theirs = {k: v for k, v in whole.summary.items() if k != "wall_seconds"}
        assert mine.keys() == theirs.keys()
        assert all(_same(mine[k], theirs[k]) for k in mine), spec.label
        assert one.manifest.get("lr_selection") == whole.manifest.get("lr_selection")
    if lr_grid:  # not a vacuous check: the rules did not all get the same step size
        assert len({res.summary["lr"] for res in full.values()}) > 1


# --------------------------------------------------------------------------- sharing


def test_each_distinct_rule_run_is_simulated_once(grid: Path, fresh: Any) -> None:
    out, report = fresh
    points = _valid_points()
    distinct = set()
    for n, k, t in points:
        distinct |= {("lwpd", n, k, t), ("gc", n), ("kasync", n, n // 2)}
    rows = len(points) * REPLICATES * 3
    assert report.computed == report.rule_runs == len(distinct) * REPLICATES == 20
    assert report.rows == rows == 36 and report.shared == rows - report.computed
    for task in report.plan.runs:  # a rule run's id is that of the point's scenario reduced to it
        reduced = [dataclasses.replace(task.scenario, schemes=(s,)) for s in task.scenario.schemes]
        assert list(task.result_ids) == [sw.run_id(one, task.replicate) for one in reduced]
    table = report.table
    assert len(table) == rows and table["status"].eq("ok").all()
    assert table["result_id"].nunique() == report.computed
    assert len(list((out / "runs").iterdir())) == report.computed
    manifest = json.loads((out / "sweep.json").read_text())
    assert (manifest["rows"], manifest["rule_runs"]) == (rows, report.computed)
    assert (manifest["rule_runs_computed"], manifest["rule_runs_reused"]) == (20, 0)
    # shared: how many rows show the same result; GC's at n is every point with that n
    per_n = Counter(n for n, _, _ in points)
    for row in table.to_dict("records"):
        expected = per_n[row["cluster.workers"]] if row["rule"] in ("gc", "kasync") else 1
        assert row["shared"] == expected, row
    assert table.groupby("result_id").size().eq(table.groupby("result_id")["shared"].first()).all()


def test_the_table_is_the_one_of_simulating_every_point_whole(grid: Path, fresh: Any) -> None:
    out, report = fresh
    table = report.table
    manifest = json.loads((out / "sweep.json").read_text())
    for entry in manifest["points"][:3]:  # three points sharing GC's and K-async's results at n = 4
        scenario = lwpdsim.load_scenario(grid.parent / "base.toml", overrides=entry["overrides"])
        for r in range(REPLICATES):
            results = lwpdsim.simulate(scenario, run_index=r)
            rows = table[(table["point"] == entry["point"]) & (table["replicate"] == r)]
            assert list(rows["scheme"]) == list(results)
            for row, res in zip(rows.to_dict("records"), results.values(), strict=True):
                for column in METRIC_COLUMNS:
                    if column in res.summary:
                        assert _same(row[column], float(res.summary[column])), (column, row)
    # each point's summary is over its own replicates: a shared result is not counted twice
    summary = point_summary(table, report.plan.factor_keys)
    assert len(summary) == len(_valid_points()) * 3
    assert summary["runs"].eq(REPLICATES).all() and summary["failed"].eq(0).all()


def test_resume_after_an_interruption_reuses_rule_runs(
    grid: Path, fresh: Any, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    seen: list[str] = []

    def stop_after_five(record: dict[str, Any]) -> None:
        seen.append(record["run_id"])
        if len(seen) == 5:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        lwpdsim.run_sweep(grid, executor="serial", out=out, on_run=stop_after_five, plots=False)
    partial = pd.read_csv(out / "runs.csv", dtype={"run_id": str, "result_id": str})
    assert set(partial["result_id"]) == set(seen)  # every row those five serve, and only them
    assert len(partial) == partial.groupby("result_id")["shared"].first().sum()
    again: list[str] = []
    report = sw.execute_sweep(
        grid,
        sw.SweepOptions(
            executor="serial",
            out=out,
            resume=True,
            plots=False,
            on_run=lambda r: again.append(r["run_id"]),
        ),
    )
    assert report.reused == 5 and report.computed == len(again) == 15
    assert not set(again) & set(seen)
    pd.testing.assert_frame_equal(report.table, fresh[1].table, check_exact=True)


def test_editing_away_a_level_keeps_the_shared_rule_runs_and_reports_the_stale_ones(
    grid: Path, fresh: Any, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    first = sw.execute_sweep(grid, sw.SweepOptions(executor="serial", out=out, plots=False))
    table = first.table
    gone = table[(table["schemes[0].t"] == 4) & (table["rule"] == "lwpd")]["result_id"]
    assert gone.nunique() == len(WORKERS) * REPLICATES  # (n, k=4, t=4) at each n
    edited = grid.parent / "edited.toml"
    edited.write_text(NKT.replace(f'"schemes[0].t" = {list(TS)}', '"schemes[0].t" = [2]'))
    said: list[str] = []
    report = sw.execute_sweep(
        edited,
        sw.SweepOptions(executor="serial", out=out, resume=True, plots=False, log=said.append),
    )
    # GC and K-async served the t = 4 points too: they stay in use, only LWPD's runs go stale
    assert report.computed == 0 and report.reused == report.rule_runs == 20 - 4
    assert report.stale == sorted(set(gone))
    assert len(said) == 1 and f"{len(set(gone))} earlier runs" in said[0]
    assert len(report.table) == len(table) - 2 * REPLICATES * 3
    kept = table[table["schemes[0].t"] == 2].drop(columns=["point", "shared"])
    now = report.table.drop(columns=["point", "shared"])
    pd.testing.assert_frame_equal(now.reset_index(drop=True), kept.reset_index(drop=True))


def test_a_rule_run_of_another_format_is_run_again(grid: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    first = lwpdsim.run_sweep(grid, executor="serial", out=out, plots=False)
    rid = first["result_id"].iloc[1]  # GC at n = 4, replicate 0: shared by three rows
    path = out / "runs" / rid / "run.json"
    record = json.loads(path.read_text())
    path.write_text(json.dumps(record | {"format": "lwpdsim-sweep-run/2"}))
    # a folder of the old layout (a whole point's run), as an earlier version wrote it
    terms: Any = {"resume": True, "force": False, "inputs": [], "identity": {"name": "nkt"}}
    with claim(out, SWEEP_FOLDER, **terms) as folder, folder.stage(out / "runs") as tmp:
        old = {"format": "lwpdsim-sweep-run/2", "run_id": "0123456789ab", "status": "ok"}
        folder.write_text(tmp / "run.json", json.dumps(old))
        folder.commit(tmp, out / "runs" / "0123456789ab")
    said: list[str] = []
    again: list[str] = []
    table = lwpdsim.run_sweep(
        grid,
        executor="serial",
        out=out,
        resume=True,
        plots=False,
        log=said.append,
        on_run=lambda r: again.append(r["run_id"]),
    )
    assert again == [rid] and len(said) == 2, said
    assert "1 earlier run " in said[0] and "0123456789ab: format lwpdsim-sweep-run/2" in said[0]
    assert f"run {rid}: format lwpdsim-sweep-run/2" in said[1]
    pd.testing.assert_frame_equal(table, first, check_exact=True)
    assert json.loads((out / "sweep.json").read_text())["stale_runs"] == ["0123456789ab"]


def test_a_failed_rule_run_fails_only_the_rows_it_serves(
    grid: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = sw.execute.simulate

    def no_gc_at_8(scenario: Any, *, run_index: int | None = None, **kw: Any) -> Any:
        if scenario.cluster.workers == 8 and any(s.name == "gc" for s in scenario.schemes):
            raise RuntimeError("boom")
        return real(scenario, run_index=run_index, **kw)

    monkeypatch.setattr(sw.execute, "simulate", no_gc_at_8)
    report = sw.execute_sweep(
        grid, sw.SweepOptions(executor="serial", out=tmp_path / "out", plots=False)
    )
    table = report.table
    failed = table[table["status"] == "failed"]
    assert len(report.failed_runs) == REPLICATES  # GC at n = 8, one per replicate
    assert set(failed["rule"]) == {"gc"} and set(failed["cluster.workers"]) == {8}
    assert len(failed) == sum(n == 8 for n, _, _ in _valid_points()) * REPLICATES
    assert failed["error"].eq("RuntimeError: boom").all()
    assert table.loc[table["status"] == "ok", "final_loss"].notna().all()
