"""Sweeps: grid expansion and up-front validation, executors giving identical tables, per-run folders
and resume, failing runs, figures, and the ``lwpdsim sweep`` command."""

from __future__ import annotations

import json
import math
import tomllib
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st

import lwpdsim
from lwpdsim import sweep as sw
from lwpdsim.analysis import load_results_dir
from lwpdsim.analysis.sweep_plots import (
    plot_heatmap,
    plot_metric_vs_factor,
    plot_sweep,
    replot_sweep,
)
from lwpdsim.cli import main
from lwpdsim.config import parse_value
from lwpdsim.errors import ScenarioError
from lwpdsim.sweep import execute as sweep_execute
from lwpdsim.sweep.spec import check_value, override_texts

# 2 workers counts x 2 values of t, K-async tied to n: 4 points x 2 replicates = 8 runs
GRID = """
base = "base.toml"
name = "small"
replicates = 2
[factors]
"cluster.workers" = [4, 8]
"schemes[0].t" = [2, 4]
[derived]
"schemes[2].K" = "cluster.workers // 2"
"""


@pytest.fixture
def base(tmp_path: Path, tiny_toml) -> Path:
    path = tmp_path / "base.toml"
    schemes = [{"name": "lwpd", "k": 4, "t": 2}, {"name": "gc", "s": 1}, {"name": "kasync", "K": 2}]
    path.write_text(tiny_toml("sweepbase", schemes, train={"max_updates": 12, "target_loss": 0.05}))
    return path


def write_sweep(tmp_path: Path, text: str, name: str = "grid.toml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


@pytest.fixture
def grid(tmp_path: Path, base: Path) -> Path:
    return write_sweep(tmp_path, GRID)


# --------------------------------------------------------------------------- expansion


def test_product_zip_derived_and_replicates(tmp_path: Path, base: Path) -> None:
    sweep = {
        "base": str(base),
        "replicates": 2,
        "factors": {"schemes[0].k": [2, 4]},
        "zip": [{"train.lr": [0.1, 0.05], "train.max_updates": [10, 12]}],
        "derived": {"cluster.workers": "2 * schemes[0].k"},
    }
    plan = sw.plan_sweep(sweep)
    assert [dict(p.factors) for p in plan.points] == [
        {"schemes[0].k": 2, "train.lr": 0.1, "train.max_updates": 10, "cluster.workers": 4},
        {"schemes[0].k": 2, "train.lr": 0.05, "train.max_updates": 12, "cluster.workers": 4},
        {"schemes[0].k": 4, "train.lr": 0.1, "train.max_updates": 10, "cluster.workers": 8},
        {"schemes[0].k": 4, "train.lr": 0.05, "train.max_updates": 12, "cluster.workers": 8},
    ]
    assert plan.points[1].overrides == (
        "schemes[0].k=2",
        "train.lr=0.05",
        "train.max_updates=12",
        "cluster.workers=4",
    )
    for p in plan.points:
        s = p.scenario
        assert s is not None
        assert s.cluster.workers == 2 * s.schemes[0].params["k"] == 2 * p.factors["schemes[0].k"]
        assert (s.train.lr, s.train.max_updates) == (
            p.factors["train.lr"],
            p.factors["train.max_updates"],
        )
    assert plan.factor_keys == ("schemes[0].k", "train.lr", "train.max_updates", "cluster.workers")
    assert plan.spec.axes == (("schemes[0].k",), ("train.lr", "train.max_updates"))
    # runs: point-major, replicate-minor, each with its own id
    assert [(r.point, r.replicate) for r in plan.runs] == [(i, r) for i in range(4) for r in (0, 1)]
    assert [r.run for r in plan.runs] == list(range(8))
    assert len({r.run_id for r in plan.runs}) == 8
    assert sw.expand_sweep(sweep) == list(plan.points)


def test_nested_tables_and_base_overrides(tmp_path: Path, base: Path) -> None:
    path = write_sweep(
        tmp_path,
        """
base = "base.toml"
[base_overrides]
"schemes" = [{ name = "sync" }, { name = "kasync", K = 3 }]
[base_overrides.train]
max_updates = 7
[factors.cluster]
workers = [4, 6]
""",
    )
    plan = sw.plan_sweep(path)
    assert plan.name == "grid"  # the file's stem
    assert plan.factor_keys == ("cluster.workers",)
    for point in plan.points:
        assert point.scenario is not None
        assert point.scenario.train.max_updates == 7
        assert [s.label for s in point.scenario.schemes] == ["sync", "kasync(K=3)"]


def test_invalid_points_are_reported_together(tmp_path: Path, base: Path) -> None:
    text = GRID.replace("[4, 8]", "[4, 6, 8, 10]").replace("[derived]", "[unused]")
    text = text.split("[unused]")[0]
    path = write_sweep(tmp_path, text)
    with pytest.raises(sw.InvalidPointsError) as info:
        sw.plan_sweep(path)
    err = info.value
    assert [p.index for p in err.points] == [
        2,
        3,
        6,
        7,
    ]  # n = 6 and n = 10 are no multiples of k = 4
    assert err.total == 8
    message = str(err)
    assert message.startswith(f"{path}: 4 of 8 grid points are invalid")
    for index, n in ((2, 6), (3, 6), (6, 10), (7, 10)):
        assert f"point {index} (cluster.workers={n}, schemes[0].t=" in message
    assert message.count("cluster.workers = ") == 4  # each point's own reason
    assert isinstance(err, ScenarioError)

    plan = sw.plan_sweep(path, skip_invalid=True)
    assert [p.index for p in plan.points] == [0, 1, 4, 5]
    assert [p.index for p in plan.skipped] == [2, 3, 6, 7]
    assert all("a multiple of k = 4" in (p.error or "") for p in plan.skipped)
    # the file's own setting works too
    path.write_text("skip_invalid = true\n" + text)
    assert len(sw.plan_sweep(path).points) == 4


def test_points_giving_the_same_scenario_are_invalid(tmp_path: Path, base: Path) -> None:
    sweep = {"base": str(base), "factors": {"description": ["a", "b"]}}
    with pytest.raises(sw.InvalidPointsError, match="the same resolved scenario as point 0"):
        sw.plan_sweep(sweep)


@pytest.mark.parametrize(
    ("text", "field", "hint"),
    [
        ("replicas = 2", "replicas", "did you mean 'replicates'?"),
        (
            '[factors]\n"cluster.wrkers" = [4, 8]',
            "factors.cluster.wrkers",
            "did you mean 'workers'?",
        ),
        ('[factors]\n"scheme.kk" = [2, 4]', "factors.scheme.kk", "did you mean 'k'?"),
        ('[factors]\n"cluster.workers" = 4', "factors.cluster.workers", "a non-empty list"),
        ('[factors]\n"cluster.workers" = []', "factors.cluster.workers", "a non-empty list"),
        ('[[zip]]\n"train.lr" = [0.1, 0.2]\n"train.max_updates" = [5]', "zip[0]", "equal length"),
        (
            '[factors]\n"train.lr" = [0.1]\n[[zip]]\n"train.lr" = [0.2]',
            "zip[0].train.lr",
            "also in factors",
        ),
        (
            '[factors]\n"schemes[0].k" = [4]\n[derived]\n"cluster.workers" = "2 * schemes[0].kk"',
            "derived.cluster.workers",
            "did you mean 'schemes[0].k'?",
        ),
        (
            '[factors]\n"schemes[0].k" = [4]\n[derived]\n"cluster.workers" = "__import__(\'os\')"',
            "derived.cluster.workers",
            "is not allowed",
        ),
        ("replicates = 0", "replicates", ">= 1"),
        ('name = "bad name"', "name", "used as a folder name"),
    ],
)
def test_bad_sweep_files_name_the_field(
    tmp_path: Path, base: Path, text: str, field: str, hint: str
) -> None:
    path = write_sweep(tmp_path, 'base = "base.toml"\n' + text)
    with pytest.raises(ScenarioError) as info:
        sw.plan_sweep(path)
    assert info.value.field == field
    assert hint in str(info.value)
    assert str(info.value).startswith(str(path))


def test_missing_base_is_an_error(tmp_path: Path) -> None:
    path = write_sweep(tmp_path, 'base = "nowhere.toml"')
    with pytest.raises(ScenarioError, match="an existing scenario file"):
        sw.load_sweep(path)
    path.write_text("replicates = 2")
    with pytest.raises(ScenarioError, match="base = None is not allowed: this key is required"):
        sw.load_sweep(path)


def test_expressions_are_arithmetic_only() -> None:
    values = {"scheme.k": 3, "schemes[0].s": 2, "cluster.latency.rate": 0.5}
    assert sw.evaluate_expression("2 * scheme.k + 1", values) == 7
    assert sw.evaluate_expression("(schemes[0].s ** 3) // 3 - -1", values) == 3
    assert sw.evaluate_expression("1 / cluster.latency.rate % 3", values) == 2.0
    for text in ("abs(scheme.k)", "scheme.k if 1 else 2", "'a' * 3", "scheme.k < 2", "[1][0]"):
        with pytest.raises(ValueError, match=r"not allowed|not a number"):
            sw.evaluate_expression(text, values)
    with pytest.raises(ValueError, match="division by zero"):
        sw.evaluate_expression("scheme.k / 0", values)
    with pytest.raises(ValueError, match="too large"):
        sw.evaluate_expression("10 ** 10 ** 10", values)


@given(
    st.recursive(
        st.integers(-(10**12), 10**12)
        | st.floats(allow_nan=False)
        | st.booleans()
        | st.text(st.characters(exclude_categories=("Cs", "Cc")), max_size=8),
        lambda inner: (
            st.lists(inner, max_size=3)
            | st.dictionaries(st.from_regex(r"[a-z]{1,4}", fullmatch=True), inner, max_size=3)
        ),
        max_leaves=6,
    )
)
def test_factor_values_become_overrides_that_read_back(value: Any) -> None:
    check_value(value, "x")
    assert parse_value(sw.value_text(value)) == value


@pytest.mark.parametrize(
    ("value", "allowed"),
    [
        (math.nan, "a number, not nan"),
        ([1, None], "a number, string, boolean, list or table"),
        ([math.nan, None], "a number, not nan"),
        ((1, 2), "a value that TOML can write and read back"),
        ({1: 2}, "a value that TOML can write and read back"),
        (np.float64(0.5), "a value that TOML can write and read back"),
        (np.int64(3), "a number, string, boolean, list or table"),
    ],
)
def test_factor_values_a_scenario_file_cannot_hold_are_refused(value: Any, allowed: str) -> None:
    with pytest.raises(ScenarioError) as info:
        check_value(value, "factors.x")
    assert info.value.field == "factors.x" and info.value.allowed == allowed


@pytest.mark.parametrize("inline", [False, True])
def test_points_apply_values_as_the_same_overrides_in_text_would(
    tmp_path: Path, base: Path, inline: bool
) -> None:
    nkt = Path(__file__).resolve().parent.parent / "scenarios" / "sweeps" / "nkt.toml"
    sweep = {
        "base": {"name": "sweepbase", **tomllib.loads(base.read_text())} if inline else str(base),
        "base_overrides": {
            "train.max_updates": 7,
            "schemes": [{"name": "lwpd", "k": 4, "t": 2}, {"name": "kasync", "K": 2}],
        },
        "factors": {"cluster.workers": [4, 8], "model.dataset": ["synthetic_regression"]},
        "zip": [{"train.lr": [0.5, 0.25], "train.max_time": [math.inf, 20.0]}],
        "derived": {"schemes[1].K": "cluster.workers // 2"},
    }
    for source in (sweep, nkt) if not inline else (sweep,):
        plan = sw.plan_sweep(source)
        spec = plan.spec
        base_source = {"name": spec.name, **spec.base} if inline else spec.base
        assert len(plan.points) == (4 if source is sweep else 6)
        ids = {(t.point, t.replicate): t.run_id for t in plan.runs}
        for point in plan.points:
            texts = [*override_texts(spec.base_overrides), *point.overrides]
            scenario = lwpdsim.load_scenario(base_source, overrides=texts)
            assert point.scenario == scenario
            assert point.scenario.to_dict() == scenario.to_dict()
            for r in range(spec.replicates):  # so the run ids are those of the text path
                assert ids[(point.index, r)] == sw.run_id(scenario, r)
    points = sw.plan_sweep(sweep).points
    assert [p.scenario.train.max_time for p in points if p.scenario] == [math.inf, 20.0] * 2
    assert points[1].overrides[-2:] == ("train.max_time=20.0", "schemes[1].K=2")


def test_run_ids_depend_on_the_numbers_only(base: Path) -> None:
    a = lwpdsim.load_scenario(base)
    b = lwpdsim.load_scenario(base, overrides=['name="other"', 'description="x"'])
    c = lwpdsim.load_scenario(base, overrides=["train.lr=0.2"])
    assert sw.run_id(a, 0) == sw.run_id(b, 0)
    assert len({sw.run_id(a, 0), sw.run_id(a, 1), sw.run_id(c, 0)}) == 3


# --------------------------------------------------------------------------- running


def read_table(out: Path) -> pd.DataFrame:
    return pd.read_csv(out / "runs.csv", keep_default_na=False, na_values=[""])


def test_a_point_gives_the_same_numbers_in_any_grid(tmp_path: Path, base: Path) -> None:
    small = {"base": str(base), "replicates": 2, "factors": {"cluster.workers": [8]}}
    large = {"base": str(base), "replicates": 2, "factors": {"cluster.workers": [4, 8]}}
    a = lwpdsim.run_sweep(small, executor="serial", out=tmp_path / "a", plots=False)
    b = lwpdsim.run_sweep(large, executor="serial", out=tmp_path / "b", plots=False)
    b = b[b["cluster.workers"] == 8].drop(columns="point").reset_index(drop=True)
    pd.testing.assert_frame_equal(a.drop(columns="point"), b, check_exact=True)
    assert a["status"].eq("ok").all()


def test_executors_give_identical_tables(tmp_path: Path, grid: Path) -> None:
    from distributed import Client, LocalCluster

    outs = {}
    outs["serial"] = tmp_path / "serial"
    lwpdsim.run_sweep(grid, executor="serial", out=outs["serial"])
    outs["processes"] = tmp_path / "processes"
    lwpdsim.run_sweep(grid, executor="processes", max_workers=2, out=outs["processes"])
    outs["dask"] = tmp_path / "dask"
    with (
        LocalCluster(
            n_workers=2, threads_per_worker=1, processes=False, dashboard_address=None
        ) as cluster,
        Client(cluster) as client,
    ):
        lwpdsim.run_sweep(grid, executor=client, out=outs["dask"])

    reference = read_table(outs["serial"])
    assert len(reference) == 8 * 3  # 8 runs x 3 schemes
    assert reference["status"].eq("ok").all()
    assert list(reference.columns[:6]) == [
        "point",
        "replicate",
        "run_id",
        "cluster.workers",
        "schemes[0].t",
        "schemes[2].K",
    ]
    assert reference["schemes[2].K"].tolist() == [2] * 12 + [4] * 12
    figures = sorted(p.name for p in outs["serial"].glob("*.png"))
    assert figures == [
        "time_to_target_heatmap_cluster.workers_schemes_0_.t.png",
        "time_to_target_vs_cluster.workers.png",
        "time_to_target_vs_schemes_0_.t.png",
    ]
    for name in ("processes", "dask"):
        pd.testing.assert_frame_equal(read_table(outs[name]), reference, check_exact=True)
        assert (outs[name] / "runs.csv").read_bytes() == (outs["serial"] / "runs.csv").read_bytes()
        for fig in figures:  # the figures are byte-identical too
            assert (outs[name] / fig).read_bytes() == (outs["serial"] / fig).read_bytes()
        assert sorted(p.name for p in (outs[name] / "runs").iterdir()) == sorted(
            p.name for p in (outs["serial"] / "runs").iterdir()
        )


def test_dask_local_cluster(tmp_path: Path, grid: Path) -> None:
    serial = lwpdsim.run_sweep(grid, executor="serial", out=tmp_path / "s", plots=False)
    dask = lwpdsim.run_sweep(grid, executor="dask", out=tmp_path / "d", max_workers=2, plots=False)
    pd.testing.assert_frame_equal(dask, serial, check_exact=True)


def test_run_folders_hold_one_rule_each_summaries_and_curves(tmp_path: Path, grid: Path) -> None:
    out = tmp_path / "out"
    table = lwpdsim.run_sweep(grid, executor="serial", out=out, plots=False)
    first = table.iloc[0]
    folder = out / "runs" / first.result_id
    record = sw.read_record(folder)
    assert record["status"] == "ok" and record["error"] is None
    assert record["run_id"] == first.result_id and record["scheme"] == "lwpd(k=4,t=2)"
    assert record["replicate"] == 0 and record["run_index"] == 0
    assert [r["label"] for r in record["rules"]] == ["lwpd(k=4,t=2)"]
    assert [r["folder"] for r in record["rules"]] == ["lwpd_k=4_t=2"]
    outcome = sw.load_run(folder)
    assert outcome.ok and list(outcome.results) == ["lwpd(k=4,t=2)"]
    stored = outcome.results["lwpd(k=4,t=2)"]
    assert stored.config["scenario"]["cluster"]["workers"] == 4
    # the curves and tasks are the ones simulate() gives for the rule in its point's full scenario
    manifest = json.loads((out / "sweep.json").read_text())
    overrides = manifest["points"][0]["overrides"]
    scenario = lwpdsim.load_scenario(grid.parent / "base.toml", overrides=overrides)
    direct = lwpdsim.simulate(scenario, run_index=0)["lwpd(k=4,t=2)"]
    pd.testing.assert_frame_equal(stored.updates, direct.updates, check_exact=True)
    pd.testing.assert_frame_equal(stored.tasks, direct.tasks, check_exact=True)
    assert first.final_loss == direct.summary["final_loss"]
    # the folder is what `lwpdsim run` writes, so `lwpdsim plot` reads it
    assert list(load_results_dir(folder)) == ["lwpd(k=4,t=2)"]
    assert manifest["complete"] is True and manifest["runs"] == 8
    # 24 rows; GC and K-async (K = n/2) do not depend on t: 8 + 4 + 4 rule runs
    assert manifest["rows"] == 24 and manifest["rule_runs"] == 16
    assert manifest["axes"] == [["cluster.workers"], ["schemes[0].t"]]
    assert sorted(p.name for p in (out / "runs").iterdir()) == sorted(set(table["result_id"]))


def test_interrupted_sweep_resumes_without_recomputing(tmp_path: Path, grid: Path) -> None:
    out = tmp_path / "out"
    seen: list[str] = []

    def stop_after_two(record: dict[str, Any]) -> None:
        seen.append(record["run_id"])
        if len(seen) == 2:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        lwpdsim.run_sweep(grid, executor="serial", out=out, on_run=stop_after_two)
    files = {p.parent.name: p.stat().st_mtime_ns for p in (out / "runs").glob("*/run.json")}
    assert sorted(files) == sorted(seen)
    assert sorted(p.name for p in (out / "runs").iterdir()) == sorted(seen)  # no half-written run
    partial = read_table(out)  # written on the way out: the rows of the finished rule runs
    assert sorted(set(partial["result_id"])) == sorted(seen)
    assert len(partial) == partial.drop_duplicates("result_id")["shared"].sum()
    assert json.loads((out / "sweep.json").read_text())["complete"] is False

    with pytest.raises(ScenarioError, match="--resume"):  # an existing directory is refused
        lwpdsim.run_sweep(grid, executor="serial", out=out)

    computed: list[str] = []
    resumed = lwpdsim.run_sweep(
        grid, executor="serial", out=out, resume=True, on_run=lambda r: computed.append(r["run_id"])
    )
    assert len(computed) == 14 and not set(computed) & set(seen)
    assert {
        p.parent.name: p.stat().st_mtime_ns
        for p in (out / "runs").glob("*/run.json")
        if p.parent.name in files
    } == files

    fresh = lwpdsim.run_sweep(grid, executor="serial", out=tmp_path / "fresh")
    pd.testing.assert_frame_equal(resumed, fresh, check_exact=True)
    assert (out / "runs.csv").read_bytes() == (tmp_path / "fresh" / "runs.csv").read_bytes()

    again: list[str] = []  # nothing left to do
    lwpdsim.run_sweep(
        grid, executor="serial", out=out, resume=True, on_run=lambda r: again.append(r)
    )
    assert again == []
    lwpdsim.run_sweep(
        grid, executor="serial", out=out, force=True, on_run=lambda r: again.append(r)
    )
    assert len(again) == 16


def test_a_failing_run_is_recorded_and_the_sweep_goes_on(
    tmp_path: Path, grid: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = sweep_execute.simulate

    def flaky(scenario: Any, *, run_index: int | None = None, **kw: Any) -> Any:
        if scenario.cluster.workers == 8 and run_index == 1:
            raise RuntimeError("boom")
        return real(scenario, run_index=run_index, **kw)

    monkeypatch.setattr(sweep_execute, "simulate", flaky)
    out = tmp_path / "out"
    report = sw.execute_sweep(grid, sw.SweepOptions(executor="serial", out=out))
    table = report.table
    failed = table[table["status"] == "failed"]
    # n = 8, replicate 1: LWPD at 2 points, GC and K-async (shared by both points) fail
    assert len(report.failed_runs) == 4 and report.computed == 16
    assert sorted(set(failed["point"])) == [2, 3] and set(failed["replicate"]) == {1}
    assert failed["error"].eq("RuntimeError: boom").all()
    assert failed["final_loss"].isna().all()
    assert table.loc[table["status"] == "ok", "final_loss"].notna().all()
    assert len(table) == 24  # failed runs keep their rows
    record = sw.read_record(out / "runs" / report.failed_runs[0])
    assert record["status"] == "failed" and "boom" in record["traceback"]
    assert record["error"] == "RuntimeError: boom" and record["rules"] == []
    assert len(report.figures) == 3  # drawn from the runs that worked

    # resume runs the failed ones again, and only those
    monkeypatch.setattr(sweep_execute, "simulate", real)
    redo: list[str] = []
    table = lwpdsim.run_sweep(grid, executor="serial", out=out, resume=True, on_run=redo.append)
    assert sorted(r["run_id"] for r in redo) == sorted(report.failed_runs)
    assert table["status"].eq("ok").all()


def test_skipped_points_are_listed_in_the_output(tmp_path: Path, base: Path) -> None:
    text = GRID.replace("[4, 8]", "[4, 6]")
    path = write_sweep(tmp_path, text)
    out = tmp_path / "out"
    table = lwpdsim.run_sweep(path, executor="serial", out=out, skip_invalid=True, plots=False)
    assert sorted(set(table["point"])) == [0, 1]
    manifest = json.loads((out / "sweep.json").read_text())
    assert [s["point"] for s in manifest["skipped"]] == [2, 3]
    assert "a multiple of k = 4" in manifest["skipped"][0]["error"]


def test_bad_executor_arguments(tmp_path: Path, grid: Path) -> None:
    with pytest.raises(ScenarioError, match="one of auto, serial, processes, dask"):
        lwpdsim.run_sweep(grid, executor="threads", out=tmp_path / "a")
    with pytest.raises(ScenarioError, match="only with --executor dask"):
        lwpdsim.run_sweep(grid, executor="serial", scheduler="tcp://x:1", out=tmp_path / "b")
    with pytest.raises(ScenarioError, match="either --resume or --force"):
        lwpdsim.run_sweep(grid, executor="serial", out=tmp_path / "c", resume=True, force=True)
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "notes.txt").write_text("keep me")
    with pytest.raises(ScenarioError, match="has no record of writing"):
        lwpdsim.run_sweep(grid, executor="serial", out=tmp_path / "mine", force=True)
    assert (tmp_path / "mine" / "notes.txt").exists()


# --------------------------------------------------------------------------- figures


def synthetic_table(missed: bool = False) -> pd.DataFrame:
    rng = np.random.default_rng(0)
    rows = []
    for n in (4, 8):
        for t in (2, 4):
            for r in range(3):
                for label, rule in ((f"lwpd(k=4,t={t})", "lwpd"), ("gc(s=1)", "gc")):
                    ttt = n * t + rng.random()
                    if missed and (label == "gc(s=1)" or r == 0):
                        ttt = math.nan
                    row = {"replicate": r, "n": n, "t": t, "scheme": label, "rule": rule}
                    row |= {"status": "ok", "time_to_target": ttt, "final_loss": rng.random()}
                    rows.append(row)
    return pd.DataFrame(rows)


def test_figures_survive_missed_targets_and_are_byte_stable(tmp_path: Path) -> None:
    table = synthetic_table(missed=True)
    for sub in ("a", "b"):
        (tmp_path / sub).mkdir()
        paths = plot_sweep(table, [["n"], ["t"]], tmp_path / sub, title="synthetic")
        assert [p.name for p in paths] == [
            "time_to_target_vs_n.png",
            "time_to_target_vs_t.png",
            "time_to_target_heatmap_n_t.png",
        ]
    for name in ("time_to_target_vs_n.png", "time_to_target_heatmap_n_t.png"):
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes()
    # no target reached anywhere: the figures show the final loss
    table["time_to_target"] = math.nan
    paths = plot_sweep(table, [["n"], ["t"]], tmp_path / "a")
    assert paths[0].name == "final_loss_vs_n.png"


def test_figures_are_redrawn_identically_from_runs_csv(tmp_path: Path, grid: Path) -> None:
    out = tmp_path / "out"
    lwpdsim.run_sweep(grid, executor="serial", out=out)
    before = {p.name: p.read_bytes() for p in out.glob("*.png")}
    for path in out.glob("*.png"):
        path.unlink()
    redrawn = replot_sweep(out)
    assert sorted(p.name for p in redrawn) == sorted(before)
    assert {p.name: p.read_bytes() for p in redrawn} == before


def test_metric_vs_factor_draws_mean_and_ci_per_scheme() -> None:
    table = synthetic_table()
    fig = plot_metric_vs_factor(table, "t", factors=["n", "t"])
    labels = [text.get_text() for text in fig.legends[0].get_texts()]
    assert labels[:2] == ["lwpd(k=4)", "gc(s=1)"]  # the plotted parameter leaves the label
    fig = plot_heatmap(table, "n", "t")
    assert [ax.get_title() for ax in fig.axes if ax.get_visible()][:2] == ["lwpd(k=4)", "gc(s=1)"]


# --------------------------------------------------------------------------- command line


def test_cli_sweep_writes_table_and_figures(tmp_path: Path, grid: Path, capsys) -> None:
    out = tmp_path / "out"
    assert main(["sweep", str(grid), "--executor", "serial", "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "16 rule runs for 24 rows (8 shared" in printed
    assert "16 rule runs computed, 0 reused" in printed
    assert len(read_table(out)) == 24
    assert len(list(out.glob("*.png"))) == 3
    assert main(["sweep", str(grid), "--executor", "serial", "--out", str(out)]) == 2
    assert "--resume" in capsys.readouterr().err
    assert main(["sweep", str(grid), "--executor", "serial", "--out", str(out), "--resume"]) == 0
    assert "0 rule runs computed, 16 reused" in capsys.readouterr().out
    # a rule run's folder is a results directory of its own: `lwpdsim plot` redraws it
    run = out / "runs" / read_table(out)["result_id"].iloc[0]
    assert main(["plot", str(run)]) == 0
    assert "lwpd(k=4,t=2)" in capsys.readouterr().out and (run / "loss_vs_time.png").exists()


def test_cli_bad_sweep_exits_2_with_one_message(tmp_path: Path, base: Path, capsys) -> None:
    bad = write_sweep(
        tmp_path, 'base = "base.toml"\n[factors]\n"cluster.wrkers" = [4]\n', "bad.toml"
    )
    assert main(["sweep", str(bad), "--executor", "serial", "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err
    assert "bad.toml" in err and "factors.cluster.wrkers" in err and "did you mean" in err
    assert not (tmp_path / "o").exists()
    grid = write_sweep(tmp_path, GRID)
    code = main(["sweep", str(grid), "--executor", "serial", "--scheduler", "tcp://h:1"])
    assert code == 2
    assert "only with --executor dask" in capsys.readouterr().err


def test_cli_reports_failed_runs_and_exits_1(
    tmp_path: Path, grid: Path, monkeypatch: pytest.MonkeyPatch, capsys
) -> None:
    def broken(*args: Any, **kw: Any) -> Any:
        raise RuntimeError("no luck")

    monkeypatch.setattr(sweep_execute, "simulate", broken)
    out = tmp_path / "out"
    assert main(["sweep", str(grid), "--executor", "serial", "--out", str(out), "--quiet"]) == 1
    err = capsys.readouterr().err
    assert err.count("RuntimeError: no luck") == 16  # one line per failed rule run
    assert err.count("gc(s=1), and 1 more rows) failed") == 4  # GC's serve both values of t
    assert str(out / "runs") in err and "run.json" in err


def test_shipped_sweeps_are_valid() -> None:
    root = Path(__file__).resolve().parent.parent / "scenarios" / "sweeps"
    files = sorted(root.glob("*.toml"))
    assert len(files) >= 3
    for path in files:
        assert sw.is_sweep_file(path)
        plan = sw.plan_sweep(path)
        assert plan.runs and len(plan.runs) <= 64
