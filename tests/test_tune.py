"""Step sizes chosen from a common grid (``train.lr_grid``, lwpdsim.tune): the rule, its seeds,
its edges, its records, and the same choice in ``lwpdsim run`` and ``lwpdsim figures``."""

from __future__ import annotations

import dataclasses
import json
import math
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import pandas as pd
import pytest

import lwpdsim
from lwpdsim import tune
from lwpdsim.cli import main
from lwpdsim.config import load_scenario, parse_scenario
from lwpdsim.figures.index import _results_lines
from lwpdsim.figures.tables import chosen_edges, chosen_lr, lr_grid_table
from lwpdsim.figures.write import lr_edge_warnings
from lwpdsim.models import make_model
from lwpdsim.rng import Streams
from lwpdsim.sim import run_scheme
from lwpdsim.sim.run import build_dataset

GRID = [0.02, 0.05, 0.1, 0.2]


def _result(final: float, status: str = "max_updates") -> Any:
    return SimpleNamespace(summary={"final_loss": final, "status": status}, status=status)


def _tuned(tiny: Any, grid: list[float] = GRID, seeds: int = 2, **train: Any) -> dict[str, Any]:
    """A tiny scenario whose sync gets its step size from ``grid``; K-sync keeps lr = 0.05."""
    raw = tiny([{"name": "sync"}, {"name": "ksync", "K": 6, "lr": 0.05}])
    del raw["train"]["lr"]
    raw["train"].update(lr_grid=grid, lr_seeds=seeds, max_updates=60, **train)
    return raw


# --------------------------------------------------------------------------- the rule alone


def test_the_choice_is_the_argmin_of_the_mean_final_loss_ties_to_the_smaller_step() -> None:
    grid = [0.1, 0.3, 1.0, 3.0]
    finals = {  # per step size, one run per seed: (final loss, status)
        0.1: [(0.9, "max_time"), (0.7, "max_time"), (0.8, "target")],
        0.3: [(0.5, "max_time"), (0.3, "max_time"), (0.4, "max_time")],
        1.0: [(0.2, "max_time"), (0.6, "max_time"), (0.4, "max_time")],  # ties 0.3's mean
        3.0: [(0.01, "max_time"), (0.01, "diverged"), (0.01, "max_time")],  # diverged: +inf
    }
    expected = {0.1: 0.8, 0.3: 0.4, 1.0: 0.4, 3.0: math.inf}  # computed by hand
    scores = {lr: [tune.run_score(_result(f, s)) for f, s in runs] for lr, runs in finals.items()}
    choice = tune.choice_of("r", grid, scores, seeds=3)
    assert choice.scores == pytest.approx([expected[lr] for lr in grid])
    assert choice.scores[1] == choice.scores[2]  # an exact tie
    assert choice.lr == 0.3 and choice.edge is None and choice.warnings() == []


def test_scores_within_the_tie_band_go_to_the_smaller_step() -> None:
    # step sizes that all converge give final losses differing only in the last digits: they
    # tie (TIE = 0.1% of the lowest) and the smallest of them is chosen, whichever rounding wins
    grid = [0.2, 0.5, 1.0, 2.0]
    best = 0.24267812
    inside = best * (1 + 0.5 * tune.TIE)  # within the band: ties
    outside = best * (1 + 2 * tune.TIE)  # outside it: a real difference
    assert tune.choose(grid, [outside, inside, best, math.inf]) == 0.5
    assert tune.choose(grid, [outside, outside, best, inside]) == 1.0
    assert tune.choose(grid, [math.inf, math.nan, math.inf, math.inf]) == 0.2
    # a negative lowest score (a loss can be any real for some models): the band is |best| wide
    assert tune.choose([0.1, 0.2], [-1.0 + 0.5e-3, -1.0]) == 0.1
    assert tune.choose([0.1, 0.2], [-1.0 + 2e-3, -1.0]) == 0.2


@pytest.mark.parametrize(
    ("result", "score"),
    [
        (_result(0.5), 0.5),
        (_result(0.5, "error"), math.inf),
        (_result(0.5, "diverged"), math.inf),
        (_result(math.nan), math.inf),
        (_result(math.inf, "max_time"), math.inf),
    ],
)
def test_a_run_that_diverged_or_failed_scores_inf(result: Any, score: float) -> None:
    assert tune.run_score(result) == score


def test_a_missing_seed_counts_as_a_failed_run() -> None:
    assert tune.grid_score([0.1, 0.2], seeds=2) == pytest.approx(0.15)
    assert tune.grid_score([0.1], seeds=2) == math.inf  # one seed's run failed: no result
    assert math.isnan(tune.grid_score([], seeds=2))
    # an all-NaN grid still chooses (the smallest step size), and says that nothing worked
    choice = tune.choice_of("r", [0.5, 1.0], {}, seeds=2)
    assert choice.lr == 0.5 and "diverged or failed" in choice.warnings()[0]


def test_edges_of_the_grid() -> None:
    grid = (0.2, 0.5, 1.0, 2.0)
    assert [tune.edge(grid, lr) for lr in grid] == ["bottom", None, None, "top"]
    text = tune.edge_warning("lwpd", 2.0, grid)
    assert text == (
        "lr = 2 for lwpd is the top of lr_grid [0.2 .. 2]; the best step size may lie beyond it"
    )
    assert "bottom" in tune.edge_warning("sync", 0.2, grid) and "below" in tune.edge_warning(
        "sync", 0.2, grid
    )
    assert tune.edge_warning("sync", 0.5, grid) is None
    at_top = tune.choice_of("lwpd", grid, {lr: [1.0 / lr] for lr in grid}, seeds=1)
    assert at_top.lr == 2.0 and at_top.edge == "top" and at_top.warnings() == [text]
    fixed = tune.LrChoice("gc", 2.0, tuned=False)
    assert fixed.edge is None and fixed.warnings() == []


def test_selection_seeds_differ_from_every_measured_runs_and_from_each_other() -> None:
    def draws(streams: Streams) -> tuple[float, ...]:
        return tuple(
            streams.generator(name, 0).random() for name in ("latency", "data", "model_init")
        )

    seed = 7
    measured = {draws(Streams.from_seed(seed, r)) for r in (None, 0, 1, 2, 3)}
    selection = [draws(tune.selection_streams(seed, r, j)) for r in (None, 1) for j in range(4)]
    assert len(set(selection)) == 8  # every selection run has its own draws
    assert not measured & set(selection)  # and none is a measured run's (fresh data)
    assert draws(tune.selection_streams(seed, None, 0)) == draws(tune.selection_streams(seed, 0, 0))
    assert draws(tune.selection_streams(seed + 1, 0, 0)) != draws(
        tune.selection_streams(seed, 0, 0)
    )


# --------------------------------------------------------------------------- scenarios


@pytest.mark.parametrize(
    ("train", "field"),
    [
        ({"lr_grid": []}, "train.lr_grid"),
        ({"lr_grid": [0.5]}, "train.lr_grid"),
        ({"lr_grid": [0.0, 0.5]}, "train.lr_grid[0]"),
        ({"lr_grid": [0.5, -1.0]}, "train.lr_grid[1]"),
        ({"lr_grid": 0.5}, "train.lr_grid"),
        ({"lr_grid": "0.1, 0.5"}, "train.lr_grid"),
        ({"lr_grid": [0.5, 0.1]}, "train.lr_grid"),
        ({"lr_grid": [0.1, "fast"]}, "train.lr_grid[1]"),
        ({"lr_grid": [float(i + 1) for i in range(tune.MAX_GRID + 1)]}, "train.lr_grid"),
        ({"lr_grid": [0.1, 0.5], "lr": 0.5}, "train.lr"),
        ({"lr_grid": [0.1, 0.5], "lr_seeds": 0}, "train.lr_seeds"),
        ({"lr_grid": [0.1, 0.5], "lr_seeds": tune.MAX_SEEDS + 1}, "train.lr_seeds"),
        ({"lr_grid": [0.1, 0.5], "lr_select": "best"}, "train.lr_select"),
        ({"lr_seeds": 3}, "train.lr_seeds"),
    ],
)
def test_a_bad_grid_is_one_line_and_exit_2_naming_the_field(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], train: dict[str, Any], field: str
) -> None:
    lines = ['name = "bad"', "[train]", "max_updates = 5"]
    lines += [f"{k} = {json.dumps(v)}" for k, v in train.items()]
    lines += ["[[schemes]]", 'name = "sync"']
    path = tmp_path / "bad.toml"
    path.write_text("\n".join(lines) + "\n")
    assert main(["run", str(path), "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "Traceback" not in err
    assert f"{field} = " in err
    assert not (tmp_path / "out").exists()


def test_a_grid_scenario_round_trips_and_changes_the_run_id(tiny: Any) -> None:
    from lwpdsim.sweep import run_id

    scenario = parse_scenario(_tuned(tiny))
    assert scenario.train.lr is None and scenario.train.lr_grid == tuple(GRID)
    assert [s.lr for s in scenario.schemes] == [None, 0.05]  # the own lr is fixed, not tuned
    raw = scenario.to_dict()
    assert "lr" not in raw["train"] and "lr" not in raw["schemes"][0]
    assert parse_scenario(raw) == scenario
    plain = parse_scenario(tiny([{"name": "sync"}]))
    assert not {"lr_grid", "lr_seeds", "lr_select"} & set(plain.to_dict()["train"])
    other = parse_scenario(_tuned(tiny, seeds=3))
    assert run_id(scenario, 0) != run_id(other, 0)


# --------------------------------------------------------------------------- simulate


@pytest.fixture(scope="module")
def tuned_run(tiny: Any) -> tuple[Any, dict[str, Any]]:
    """A tiny scenario (sync tuned on 2 selection seeds, K-sync fixed) run as replicate 1."""
    scenario = parse_scenario(_tuned(tiny, target_loss=1e-9))
    return scenario, lwpdsim.simulate(scenario, run_index=1)


def test_the_recorded_scores_are_the_selection_runs_final_losses(
    tuned_run: tuple[Any, dict[str, Any]],
) -> None:
    scenario, results = tuned_run
    rec = results["sync"].manifest["lr_selection"]
    assert rec["tuned"] and rec["grid"] == GRID and rec["select"] == "final_loss"
    assert rec["selection_seeds"]["spawn_keys"] == [[1, tune.SELECTION_KEY, j] for j in (0, 1)]
    # recompute every score from runs made here: the scenario's run at each step size on the
    # selection streams, to the end of the budget (the target is left out)
    spec = scenario.schemes[0]
    selection = dataclasses.replace(
        scenario, train=dataclasses.replace(scenario.train, target_loss=None)
    )
    finals: dict[float, list[float]] = {lr: [] for lr in GRID}
    for j in range(2):
        streams = tune.selection_streams(scenario.seed, 1, j)
        data = build_dataset(scenario, streams)
        model = make_model(scenario.model.kind, data)
        for lr in GRID:
            res = run_scheme(selection, dataclasses.replace(spec, lr=lr), model, data, streams)
            assert res.status == "max_updates"
            finals[lr].append(res.summary["final_loss"])
    means = [float(np.mean(finals[lr])) for lr in GRID]
    assert rec["scores"] == pytest.approx(means, rel=1e-12)
    assert rec["lr"] == GRID[int(np.argmin(means))]
    assert results["sync"].summary["lr"] == rec["lr"]
    assert results["sync"].summary["lr_at_edge"] == (rec["lr"] in (GRID[0], GRID[-1]))


def test_the_measured_run_is_a_plain_run_at_the_chosen_step_size(
    tuned_run: tuple[Any, dict[str, Any]], tiny: Any
) -> None:
    _, results = tuned_run
    lr = results["sync"].summary["lr"]
    raw = tiny([{"name": "sync", "lr": lr}, {"name": "ksync", "K": 6, "lr": 0.05}])
    raw["train"].update(max_updates=60, target_loss=1e-9)
    plain = lwpdsim.simulate(parse_scenario(raw), run_index=1)
    for label in ("sync", "ksync(K=6)"):
        pd.testing.assert_frame_equal(results[label].updates, plain[label].updates)
    fixed = results["ksync(K=6)"]
    assert fixed.manifest["lr_selection"]["tuned"] is False and fixed.summary["lr"] == 0.05
    assert "lr_at_edge" not in fixed.summary
    # the resolved scenario records the step sizes the rules ran at
    lrs = {s["label"]: s["lr"] for s in results["sync"].config["scenario"]["schemes"]}
    assert lrs == {"sync": lr, "ksync(K=6)": 0.05}
    assert list(lwpdsim.results.summary_table(results)["lr"]) == [lr, 0.05]


def test_figures_and_run_choose_the_same_step_size_from_the_same_runs() -> None:
    rng = np.random.default_rng(5)
    grid = (0.1, 0.2, 0.5, 1.0, 2.0)
    for case in range(40):
        seeds = int(rng.integers(1, 4))
        # coarse values make ties common; some runs diverge
        finals = rng.choice([0.1, 0.2, 0.3, math.inf], size=(len(grid), seeds), p=[0.3] * 3 + [0.1])
        rows = [
            {"scheme": "r", "rule": "sync", "lr": lr, "seed": s, "final_loss": finals[i, s]}
            for i, lr in enumerate(grid)
            for s in range(seeds)
        ]
        table = lr_grid_table(pd.DataFrame(rows), SimpleNamespace(lr_grid=grid))
        by_lr = {lr: list(finals[i]) for i, lr in enumerate(grid)}
        choice = tune.choice_of("r", grid, by_lr, seeds=seeds)
        means = finals.mean(axis=1)  # inf when a seed diverged
        expected = min(zip(means, grid, strict=True))[1]  # the lowest mean, then the smaller lr
        assert choice.lr == expected and chosen_lr(table) == {"r": expected}, case
        assert chosen_edges(table) == ({"r": choice.edge} if choice.edge else {}), case


def test_edges_reach_the_figure_table_the_manifest_and_the_index() -> None:
    grid = (0.2, 0.5, 1.0, 2.0)
    rows = [
        {"scheme": label, "rule": "sync", "lr": lr, "seed": 0, "final_loss": loss(lr)}
        for label, loss in (("up", lambda lr: 1 / lr), ("mid", lambda lr: abs(lr - 0.5)))
        for lr in grid
    ]
    table = lr_grid_table(pd.DataFrame(rows), SimpleNamespace(lr_grid=grid))
    assert chosen_edges(table) == {"up": "top"}
    assert table.loc[table["chosen"], "edge"].tolist() == ["top", ""]
    results = [
        {"scheme": "up", "lr": 2.0, "lr_edge": "top"},
        {"scheme": "mid", "lr": 0.5, "lr_edge": ""},
    ]
    warnings = lr_edge_warnings("spec", grid, results)
    assert warnings == [
        "spec: lr = 2 for up is the top of the lr_grid [0.2 .. 2]; the best step size may lie "
        "beyond it"
    ]
    numbers = dict.fromkeys(
        [
            "final_loss_mean",
            "final_loss_lo",
            "final_loss_hi",
            "time_to_target_mean",
            "time_to_target_lo95",
            "time_to_target_hi95",
            "bytes_to_target_mean",
            "bytes_to_target_lo95",
            "bytes_to_target_hi95",
        ],
        1.0,
    )
    lines = _results_lines(
        {
            "target_loss": 0.3,
            "results": [{**r, **numbers, "reached": 1, "seeds": 1} for r in results],
        }
    )
    assert any("| up | 2 (top edge of the grid) |" in line for line in lines)
    assert any("| mid | 0.5 |" in line for line in lines)


# --------------------------------------------------------------------------- the command line


def test_run_prints_the_step_sizes_records_them_and_warns_at_an_edge(
    tiny: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    raw = _tuned(tiny, grid=[1e-4, 2e-4], seeds=1)  # steps too small: the largest is best
    path = _write_toml(raw, tmp_path / "grid.toml")
    out = tmp_path / "out"
    assert main(["run", str(path), "--out", str(out)]) == 0
    captured = capsys.readouterr()
    assert "train.lr_grid = [0.0001, 0.0002]" in captured.out  # the plan, before the runs
    header = next(line for line in captured.out.splitlines() if "t_target" in line)
    assert header.split()[:2] == ["status", "lr"]
    assert captured.err.strip() == (
        "warning: lr = 0.0002 for sync is the top of lr_grid [0.0001 .. 0.0002]; the best step "
        "size may lie beyond it"
    )
    summary = pd.read_csv(out / "summary.csv", index_col="scheme")
    assert summary.loc["sync", "lr"] == 2e-4 and summary.loc["ksync(K=6)", "lr"] == 0.05
    manifest = json.loads((out / "sync" / "manifest.json").read_text())
    assert (
        manifest["lr_selection"]["edge"] == "top" and len(manifest["lr_selection"]["scores"]) == 2
    )


def _toml(value: Any) -> str:
    if isinstance(value, dict):
        return "{ " + ", ".join(f"{k} = {_toml(v)}" for k, v in value.items()) + " }"
    return json.dumps(value)


def _write_toml(raw: dict[str, Any], path: Path) -> Path:
    """A raw scenario (scalars, tables of values, the schemes) as a TOML file."""
    lines = [f"{k} = {_toml(v)}" for k, v in raw.items() if not isinstance(v, dict | list)]
    for table in ("cluster", "model", "train"):
        lines.append(f"[{table}]")
        lines += [f"{k} = {_toml(v)}" for k, v in raw[table].items()]
    for scheme in raw["schemes"]:
        lines.append("[[schemes]]")
        lines += [f"{k} = {_toml(v)}" for k, v in scheme.items()]
    path.write_text("\n".join(lines) + "\n")
    return path


def test_a_sweep_tunes_every_run_and_records_the_choice(
    tiny: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    base = _write_toml(_tuned(tiny, seeds=1), tmp_path / "base.toml")
    sweep = tmp_path / "sweep.toml"
    sweep.write_text(f'base = "{base}"\nreplicates = 2\n[factors]\n"cluster.workers" = [6, 8]\n')
    out = tmp_path / "sw"
    assert main(["sweep", str(sweep), "--executor", "serial", "--out", str(out)]) == 0
    text = capsys.readouterr().out
    assert f"{4 * len(GRID)} selection runs of a rule in all" in text  # 4 runs x 4 lr x 1 seed
    table = pd.read_csv(out / "runs.csv")
    sync = table[table["scheme"] == "sync"]
    assert set(sync["lr"]) <= set(GRID) and sync["lr_at_edge"].notna().all()
    assert (table.loc[table["scheme"] == "ksync(K=6)", "lr"] == 0.05).all()
    scenario = load_scenario(base, overrides=["cluster.workers=8"])
    again = lwpdsim.simulate(scenario, run_index=1)["sync"].summary["lr"]
    row = sync[(sync["cluster.workers"] == 8) & (sync["replicate"] == 1)]
    assert float(row["lr"].iloc[0]) == again
    record = json.loads((out / "runs" / row["result_id"].iloc[0] / "run.json").read_text())
    assert [r["lr"] for r in record["rules"]] == [again]  # a rule run holds one rule


@pytest.mark.slow
def test_what_the_readme_and_tutorial_say_about_the_quick_start() -> None:
    quickstart = Path(__file__).resolve().parent.parent / "scenarios" / "quickstart.toml"
    tuned = lwpdsim.simulate(load_scenario(quickstart))
    lr = {label: res.summary["lr"] for label, res in tuned.items()}
    grid = load_scenario(quickstart).train.lr_grid
    assert all(grid[0] < v < grid[-1] for v in lr.values()), lr  # every choice inside the grid
    lwpd, fresh = lr["lwpd(k=4,t=2)"], [lr["sync"], lr["ksync(K=6)"], lr["gc(s=1)"]]
    assert lwpd == 0.5 and lr["kbatchasync(K=4)"] == 2.0  # the tutorial's numbers
    assert all(5 <= v <= 10 and 10 <= v / lwpd <= 20 for v in fresh), lr
    t = {label: res.summary["time_to_target"] for label, res in tuned.items()}
    assert max(t, key=t.get) == "lwpd(k=4,t=2)" and 1.5 < t["sync"] / t["kbatchasync(K=4)"] < 2.5
    # one shared step size: K-batch-async and LWPD first, sync five times K-batch-async's time
    shared = lwpdsim.simulate(
        load_scenario(quickstart, overrides=["scheme.lr=0.5", "train.max_time=120"])
    )
    t = {label: res.summary["time_to_target"] for label, res in shared.items()}
    assert sorted(t, key=t.get)[:2] == ["kbatchasync(K=4)", "lwpd(k=4,t=2)"]
    assert 4.5 < t["sync"] / t["kbatchasync(K=4)"] < 5.5
    assert all(res.summary["lr"] == 0.5 for res in shared.values())
