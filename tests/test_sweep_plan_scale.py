"""Big sweep plans: each point resolved from shared tables, each distinct table validated once.

The plan must equal, point for point, what resolving every point from scratch gives: the reference
below deep-copies the base, applies the overrides with ``set_value``, parses, checks runnability
and hashes the scenario's data, as a reader of the docs would. The grids mix valid and invalid
points, schemes named by label or rule, derived keys, zips, file bases whose dataset and latency
trace are found from the base's folder, and rules whose validity depends on the cluster factor.
"""

from __future__ import annotations

import copy
import hashlib
import itertools
import json
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from lwpdsim.config import parse as parse_module
from lwpdsim.config import parse_scenario, read_toml, schemes_table, set_value
from lwpdsim.config.memo import ParseMemo, frozen
from lwpdsim.config.overrides import override_target
from lwpdsim.config.runnable import check_runnable
from lwpdsim.errors import ScenarioError
from lwpdsim.sweep import expr
from lwpdsim.sweep.plan import (
    InvalidPointsError,
    SweepPoint,
    plan_sweep,
    resolve_scenario,
    run_id,
)
from lwpdsim.sweep.spec import SweepSpec, load_sweep, override_texts, value_text

QUICKSTART = str(Path(__file__).resolve().parents[1] / "scenarios" / "quickstart.toml")
THREE_RULES = [
    {"name": "lwpd", "k": 4, "t": 2, "lr": 0.5},
    {"name": "gc", "s": 1, "lr": 0.5},
    {"name": "kasync", "K": 2, "lr": 0.5},
]


def _digest(scenario: Any) -> str:
    data = {k: v for k, v in scenario.to_dict().items() if k not in ("name", "description")}
    text = json.dumps(data, sort_keys=True, separators=(",", ":"), allow_nan=False)
    return hashlib.sha256(text.encode()).hexdigest()


def _run_id(digest: str, replicate: int) -> str:
    text = json.dumps({"config": digest, "replicate": replicate})
    return hashlib.sha256(text.encode()).hexdigest()[:12]


def _reference_scenario(spec: SweepSpec, values: dict[str, Any]) -> Any:
    """One point from scratch: raises the ScenarioError of its first problem."""
    if isinstance(spec.base, Path):
        raw, name = read_toml(spec.base), spec.base.stem
        where, folder = str(spec.base), str(spec.base.resolve().parent)
    else:
        raw, name, where, folder = {"name": spec.name, **spec.base}, "scenario", None, None
    raw = copy.deepcopy(raw)
    try:
        for key, value in (*spec.base_overrides.items(), *values.items()):
            set_value(raw, key, copy.deepcopy(value), f"{key}={value_text(value)}")
        scenario = parse_scenario(raw, default_name=name, base_dir=folder, source=where)
        check_runnable(scenario, missing_file_ok=True)
    except ScenarioError as err:
        raise err.with_source(where) if where and not err.source else err from None
    return scenario


def _reference(spec: SweepSpec) -> tuple[list[SweepPoint], list[SweepPoint], list[tuple]]:
    """Every grid point resolved from scratch: valid points, invalid ones, runs."""
    axes = [[{k: v} for v in values] for k, values in spec.factors.items()]
    axes += [
        [dict(zip(z, row, strict=True)) for row in zip(*z.values(), strict=True)] for z in spec.zips
    ]
    valid, invalid, runs, seen = [], [], [], {}
    for index, combo in enumerate(itertools.product(*axes)):
        values = {k: v for part in combo for k, v in part.items()}
        problem = None
        for key, text in spec.derived.items():
            try:
                values[key] = expr.evaluate_expression(text, values)
            except expr.ExpressionError as err:
                problem = f"derived.{key}: {err}"
                break
        if problem is not None:
            invalid.append(SweepPoint(index, values, (), error=problem))
            continue
        texts = override_texts(values)
        try:
            scenario = _reference_scenario(spec, values)
        except ScenarioError as err:
            error = f"{err.field} = {err.value!r} is not allowed: {err.allowed}"
            invalid.append(SweepPoint(index, values, texts, error=error))
            continue
        digest = _digest(scenario)
        if digest in seen:
            error = f"the same resolved scenario as point {seen[digest]} (a factor has no effect?)"
            invalid.append(SweepPoint(index, values, texts, error=error))
            continue
        seen[digest] = index
        valid.append(SweepPoint(index, values, texts, scenario=scenario))
        runs += [(index, r, _run_id(digest, r)) for r in range(spec.replicates)]
    return valid, invalid, runs


def _check_equal(source: dict[str, Any] | Path) -> tuple[int, int]:
    """The plan of ``source`` equals the reference, with and without skip_invalid."""
    spec = load_sweep(source)
    valid, invalid, runs = _reference(spec)
    plan = plan_sweep(spec, skip_invalid=True)
    assert [(p.index, p.factors, p.overrides, p.error) for p in plan.skipped] == [
        (p.index, p.factors, p.overrides, p.error) for p in invalid
    ]
    assert [(p.index, p.factors, p.overrides) for p in plan.points] == [
        (p.index, p.factors, p.overrides) for p in valid
    ]
    for got, want in zip(plan.points, valid, strict=True):
        assert got.scenario == want.scenario
        assert got.scenario.to_dict() == want.scenario.to_dict()
        assert (got.scenario.source, got.scenario.base_dir) == (
            want.scenario.source,
            want.scenario.base_dir,
        )
        assert got.scenario.name == want.scenario.name
    assert [(t.point, t.replicate, t.run_id) for t in plan.runs] == runs
    assert [t.run_id for t in plan.runs] == [run_id(t.scenario, t.replicate) for t in plan.runs]
    if invalid:
        with pytest.raises(InvalidPointsError) as caught:
            plan_sweep(spec, skip_invalid=False)
        total = len(valid) + len(invalid)
        assert str(caught.value) == str(InvalidPointsError(invalid, total, source=spec.source))
    return len(valid), len(invalid)


def test_rules_whose_validity_depends_on_the_cluster_by_label_and_index() -> None:
    # lwpd needs t | k and k fitting n, gc's frc needs s + 1 | n: validity changes with n
    counts = _check_equal(
        {
            "base": QUICKSTART,
            "name": "nkt",
            "replicates": 2,
            "base_overrides": {"schemes": THREE_RULES, "train.max_updates": 50},
            "factors": {
                "cluster.workers": [3, 4, 6, 8],
                "schemes[lwpd].k": [2, 3, 4, 8],
                "schemes[0].t": [2, 4],
                "schemes[gc].s": [0, 1, 3],
                "seed": [0, 1],
            },
        }
    )
    assert counts[0] > 10 and counts[1] > 10  # both kinds of point are compared


def test_derived_keys_zips_and_point_dependent_errors() -> None:
    counts = _check_equal(
        {
            "base": QUICKSTART,
            "name": "derived",
            "factors": {"cluster.workers": [2, 4, 5, 8, 12], "cluster.network.loss": [0.0, 0.5]},
            "zip": [
                {
                    "cluster.latency.rate": [0.1, 0.5, -1.0],
                    "train.lr_grid": [[0.1, 1.0], [1.0], [0.5, 0.2]],
                }
            ],
            "derived": {
                "schemes[lwpd].k": "cluster.workers // 2",
                "schemes[ksync].K": "cluster.workers - 1",
                "train.max_time": "10 / (cluster.workers - 5)",
            },
        }
    )
    assert counts[0] > 0 and counts[1] > counts[0]


def test_top_level_values_of_every_type_labels_and_stragglers() -> None:
    # 1, 1.0, True and "1" are different values (only the first is a valid seed); two
    # descriptions give the same scenario (duplicates); a straggler must be one of n workers
    counts = _check_equal(
        {
            "base": {
                "seed": 3,
                "cluster": {"workers": 4, "latency": {"dist": "constant", "value": 1.0}},
                "model": {"dataset": "synthetic_regression", "kind": "least_squares"},
                "train": {"lr": 0.1, "max_updates": 20},
                "schemes": [{"name": "sync"}, {"name": "gc", "s": 1}, {"name": "ksync", "K": 2}],
            },
            "name": "inline",
            "factors": {
                "cluster.workers": [2, 4, 8],
                "cluster.stragglers.workers": [[0], [5]],
                "seed": [1, 1.0, True, "1"],
                "description": ["a", "b"],
                "schemes[1].label": ["coded", "sync"],
                "scheme.K": [1, 3],
                "model.samples": [5, 200],
            },
        }
    )
    assert counts[0] > 0 and counts[1] > counts[0]


def test_a_file_base_whose_data_and_trace_are_next_to_it(tmp_path: Path) -> None:
    folder = tmp_path / "scenarios"
    folder.mkdir()
    (folder / "rows.csv").write_text("".join(f"{i},{i % 3},{i % 2}\n" for i in range(12)))
    (folder / "trace.csv").write_text("".join(f"{1 + i / 10}\n" for i in range(30)))
    (folder / "base.toml").write_text(
        'seed = 1\n[cluster]\nworkers = 2\nlatency = {dist = "empirical", file = "trace.csv"}\n'
        '[model]\nkind = "logistic"\ndataset = "rows.csv"\n[train]\nlr = 0.1\nmax_updates = 5\n'
        '[[schemes]]\nname = "sync"\n[[schemes]]\nname = "kasync"\nK = 1\n'
    )
    (tmp_path / "sweep.toml").write_text(
        'base = "scenarios/base.toml"\n[factors]\n"cluster.workers" = [1, 2, 8, 16]\n'
        '"model.dataset" = ["rows.csv", "later.csv", "digits"]\n'
        '"cluster.latency.scale" = [1.0, 2.0, 1e308]\n"schemes[kasync].K" = [1, 3]\n'
    )
    counts = _check_equal(tmp_path / "sweep.toml")
    assert counts[0] > 0 and counts[1] > 0


class _Table(dict):  # type: ignore[type-arg]
    """A table of another type than dict: no memo key, so its points are resolved from scratch."""


def test_values_without_a_key_are_resolved_from_scratch() -> None:
    _check_equal(
        {
            "base": QUICKSTART,
            "name": "odd",
            "base_overrides": {"schemes": THREE_RULES},
            "factors": {
                "cluster.latency": [
                    _Table(dist="constant", value=1.0),
                    {"dist": "constant", "value": 1.0},
                    {"dist": "constant", "value": -1.0},
                ],
                "cluster.workers": [4, 6],
            },
        }
    )


def test_misspelt_keys_say_so_once_as_before() -> None:
    spec = {"base": QUICKSTART, "name": "typo", "factors": {"cluster.wrkers": [1, 2]}}
    with pytest.raises(ScenarioError) as caught:
        plan_sweep(spec)
    assert caught.value.field == "factors.cluster.wrkers"
    with pytest.raises(ScenarioError) as caught:
        _reference_scenario(load_sweep(spec), {"cluster.wrkers": 1})
    assert caught.value.field == "cluster.wrkers"


def test_resolve_scenario_and_one_rule_run_ids_match_the_reference() -> None:
    spec = load_sweep({"base": QUICKSTART, "name": "one", "factors": {"seed": [1]}})
    for values in ({"cluster.workers": 4}, {"schemes[lwpd].k": 8}, {"schemes[gc].s": 2}):
        try:
            want = _reference_scenario(spec, values)
        except ScenarioError as err:
            with pytest.raises(ScenarioError) as caught:
                resolve_scenario(spec, values)
            assert str(caught.value) == str(err)
            continue
        got = resolve_scenario(spec, values)
        assert got == want
        for r in (0, 3):
            for rule in got.schemes:  # a run of one rule, as sharing rule runs hashes it
                one = replace(got, schemes=(rule,))
                assert run_id(one, r) == _run_id(_digest(one), r)


def test_frozen_keys_tell_apart_what_validation_tells_apart() -> None:
    keys = [frozen(v) for v in (1, 1.0, True, "1", 0.0, -0.0, [1], (1,), {"a": 1, "b": 2})]
    keys.append(frozen({"b": 2, "a": 1}))  # key order shows in error messages
    assert len(set(keys)) == len(keys)
    assert frozen({"x": [1.5, None]}) == frozen({"x": [1.5, None]})


def test_each_distinct_scheme_table_is_validated_once(monkeypatch: pytest.MonkeyPatch) -> None:
    # a 10^4-point grid: 2 clusters x 4 kasync tables x 1250 seeds; the distinct (scheme table,
    # number of workers) pairs are lwpd and gc at 2 sizes and kasync at 4 K's x 2 sizes = 12
    calls = {"scheme": 0, "cluster": 0, "train": 0}

    def counting(name: str, module: Any, attr: str) -> None:
        real = getattr(module, attr)

        def wrapper(*args: Any) -> Any:
            calls[name] += 1
            return real(*args)

        monkeypatch.setattr(module, attr, wrapper)

    counting("scheme", schemes_table, "parse_scheme")
    counting("cluster", parse_module, "_parse_cluster")
    counting("train", parse_module, "_parse_train")
    spec = {
        "base": QUICKSTART,
        "name": "many",
        "base_overrides": {"schemes": THREE_RULES},
        "factors": {
            "cluster.workers": [4, 8],
            "schemes[2].K": [1, 2, 3, 4],
            "seed": list(range(1250)),
        },
    }
    plan = plan_sweep(spec)
    assert len(plan.points) == 10_000
    assert calls == {"scheme": 12, "cluster": 2, "train": 1}
    assert len({id(p.scenario.cluster) for p in plan.points}) == 2  # sections are shared


def test_a_memo_gives_fresh_errors_each_time() -> None:
    memo = ParseMemo()
    raw = {"cluster": {"workers": 0}, "schemes": [{"name": "sync"}]}
    errors = []
    for _ in range(3):
        with pytest.raises(ScenarioError) as caught:
            parse_scenario(raw, memo=memo)
        errors.append(caught.value)
    assert len({id(e) for e in errors}) == 3
    assert {str(e) for e in errors} == {str(errors[0])}
    assert memo.computed == 4  # the stem, the name, the sections and the cluster: each once


@pytest.mark.parametrize(
    "key",
    [
        "cluster.workers",
        "cluster.latency.rate",
        "schemes[1].K",
        "schemes[gc].s",
        "scheme.K",
        "seed",
        "new.table.key",
        "train",
        "model.kind",
    ],
)
def test_an_override_changes_its_target_table_only(key: str) -> None:
    raw = read_toml(Path(QUICKSTART))
    before = copy.deepcopy(raw)
    set_value(raw, key, 5)
    changed = {k for k in {*raw, *before} if raw.get(k) != before.get(k)}
    assert changed == {override_target(key)}


@pytest.mark.parametrize("key", ["", "a..b", "1x.y", "cluster.", "x[1"])
def test_keys_without_a_target_are_refused_whatever_the_scenario(key: str) -> None:
    assert override_target(key) is None
    for raw in ({}, read_toml(Path(QUICKSTART))):
        with pytest.raises(ScenarioError):
            set_value(raw, key, 1)
