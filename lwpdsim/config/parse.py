"""Loading scenarios: read a TOML file (or take a dict), apply overrides, validate every section.

:func:`load_scenario` validates a scenario into a frozen, fully defaulted
:class:`~lwpdsim.config.scenario.Scenario`; every problem raises one :class:`ScenarioError` naming
the file, the field, the value and what is allowed. The lists of latency models, model kinds,
datasets and update rules come from the modules that implement them (imported when a scenario is
parsed, since those modules use :mod:`lwpdsim.config.validate` themselves).
"""

from __future__ import annotations

import copy
import dataclasses
import math
import re
import unicodedata
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import ScenarioError
from ..plugins import parse_plugins
from . import reading
from .failures import FAILURE_KEYS, check_process, parse_failures, parse_process, parse_racks
from .limits import check_times
from .memo import ParseMemo
from .overrides import apply_override
from .runnable import check_runnable
from .scenario import (
    DEFAULT_DIVERGENCE,
    DEFAULT_LR_SEEDS,
    LATENCY_PER,
    ClusterSpec,
    ModelSpec,
    Network,
    Scenario,
    SchemeSpec,
    Train,
)
from .schemes_table import parse_schemes
from .sizes import check_workers
from .validate import (
    as_bool,
    as_choice,
    as_float,
    as_int,
    as_list,
    as_str,
    check_keys,
    get,
    suggest,
)

if TYPE_CHECKING:
    from ..latency import LatencyModel

#: How a task's work units are counted (see docs/schemes.md): ``work`` charges each rule for the
#: fraction of a full gradient it computes, ``rows`` for the data rows it touches, ``unit`` one unit.
COST_MODELS = ("work", "rows", "unit")

#: The keys each table of a scenario may have.
TOP_KEYS = ("name", "seed", "description", "plugins", "cluster", "model", "schemes", "train")
CLUSTER_KEYS = (
    "workers",
    "latency",
    "latency_per",
    "network",
    "slowdown",
    "stragglers",
    "failures",
    "cost",
)
#: The keys of the coding-cost model (see docs/schemes.md), also in ``[cluster]``.
CODING_KEYS = ("master_flops", "charge_encoding")
#: The keys of ``[cluster.network]``, ``[model]`` and ``[train]``: the fields of what they become.
NETWORK_KEYS = tuple(f.name for f in dataclasses.fields(Network))
MODEL_KEYS = tuple(f.name for f in dataclasses.fields(ModelSpec))
TRAIN_KEYS = tuple(f.name for f in dataclasses.fields(Train))
#: What a scenario's name may be (it names a results folder).
NAME_PATTERN = r"[A-Za-z0-9][A-Za-z0-9_.-]*"
#: The latency table of a scenario that has none.
DEFAULT_LATENCY = {"dist": "shifted_exponential", "shift": 1.0, "rate": 1.0}


def load_scenario(
    source: str | Path | Mapping[str, Any],
    overrides: Sequence[str] | None = None,
) -> Scenario:
    """Load and validate a scenario from a TOML file or a dict, applying ``KEY=VALUE`` overrides.

    Beyond :func:`parse_scenario`, checks what a run would refuse once the dataset is known, and
    the memory and time the run would need (:func:`~lwpdsim.config.runnable.check_runnable`).
    Raises :class:`ScenarioError` (naming the file, field, value and what is allowed) on bad input.
    """
    if isinstance(source, Mapping):
        raw, name, base_dir, where = copy.deepcopy(dict(source)), "scenario", None, None
    else:
        path = Path(source)
        where = str(path)
        raw = reading.read_toml(path, what="scenario file")
        name, base_dir = path.stem, str(path.resolve().parent)
    try:
        for item in overrides or ():
            apply_override(raw, item)
        scenario = parse_scenario(raw, default_name=name, base_dir=base_dir, source=where)
        check_runnable(scenario)
        return scenario
    except ScenarioError as err:
        raise err.with_source(where) if where and not err.source else err from None


def name_from_stem(stem: str) -> str:
    """The name of a scenario without a ``name`` key, from its file's stem: the stem itself when it
    is a valid name (see :data:`NAME_PATTERN`), else one made of its letters and digits, accents
    dropped (``mon scénario`` gives ``mon_scenario``), or ``scenario`` when nothing is left."""
    if re.fullmatch(NAME_PATTERN, stem) and len(stem) <= NAME_LENGTH:
        return stem
    decomposed = unicodedata.normalize("NFKD", stem)  # "é" -> "e" + a combining accent
    kept = (c if c.isascii() else "" if unicodedata.combining(c) else "_" for c in decomposed)
    slug = re.sub(r"[^A-Za-z0-9_.-]+", "_", "".join(kept))
    slug = re.sub(r"^[^A-Za-z0-9]+", "", slug).rstrip("_")
    slug = slug[:NAME_LENGTH]
    return slug if slug and re.fullmatch(NAME_PATTERN, slug) else "scenario"


def read_toml(path: Path) -> dict[str, Any]:
    """Read a TOML file, turning I/O and syntax problems into a ScenarioError."""
    # a regular file of bounded size, UTF-8, bounded nesting: see lwpdsim.config.reading
    return reading.read_toml(path)


def parse_scenario(
    raw: Mapping[str, Any],
    *,
    default_name: str = "scenario",
    base_dir: str | None = None,
    source: str | None = None,
    memo: ParseMemo | None = None,
) -> Scenario:
    """Validate a raw scenario mapping into a :class:`Scenario`; without a ``name`` key it is
    named after ``default_name`` (a file's stem), made valid by :func:`name_from_stem`.

    With a ``memo`` (:class:`~lwpdsim.config.memo.ParseMemo`, for many scenarios made of the same
    tables, as a sweep's points are), each distinct table is validated once: the same scenario and
    the same errors, in the same order, as without it. The scenarios then share their sections
    (frozen dataclasses)."""
    check_keys(raw, TOP_KEYS, "")
    if memo is None:
        name = as_str(get(raw, "name", name_from_stem(default_name), ""), "name")
        _check_name(name)
    else:
        stem = memo.once_data("stem", default_name, lambda: name_from_stem(default_name))
        name = as_str(get(raw, "name", stem, ""), "name")
        memo.once_data("name", name, lambda: _check_name(name))
    seed = as_int(get(raw, "seed", 0, ""), "seed", lo=0)
    description = as_str(get(raw, "description", "", ""), "description")
    plugins = parse_plugins(raw.get("plugins", []))  # imported first: the schemes may name them
    if memo is None:
        sections = _parse_sections(raw, base_dir, None, plugins)
    else:  # a function of these tables (kept by the memo, so that their ids stay theirs)
        get_table = raw.get
        tables = (
            get_table("cluster", _ABSENT),
            get_table("model", _ABSENT),
            get_table("train", _ABSENT),
            get_table("schemes", _ABSENT),
        )
        ids = (id(tables[0]), id(tables[1]), id(tables[2]), id(tables[3]))
        key = ("sections", base_dir, *ids, plugins)  # the rules a scheme may name: plugins'
        sections = memo.by_key(key, tables, lambda: _parse_sections(raw, base_dir, memo, plugins))
    cluster, model, schemes, train = sections
    return Scenario(
        name, seed, description, cluster, model, schemes, train, source, base_dir, plugins
    )


#: What a missing table is, for keying a memo by the tables' identities.
_ABSENT = object()


def _parse_sections(
    raw: Mapping[str, Any],
    base_dir: str | None,
    memo: ParseMemo | None,
    plugins: tuple[str, ...] = (),
) -> tuple[ClusterSpec, ModelSpec, tuple[SchemeSpec, ...], Train]:
    """The cluster, model, schemes and train sections of a scenario, checked together."""
    raw_cluster, raw_model = get(raw, "cluster", {}, ""), get(raw, "model", {}, "")
    raw_train = get(raw, "train", {}, "")
    if memo is None:
        cluster, latency = _parse_cluster(raw_cluster, base_dir)
        model = _parse_model(raw_model)
        train = _parse_train(raw_train)
    else:
        # the latency trace file is found from base_dir: it is part of the cluster's context
        cluster, latency = memo.once(
            "cluster", raw_cluster, base_dir, lambda: _parse_cluster(raw_cluster, base_dir)
        )
        model = memo.once("model", raw_model, None, lambda: _parse_model(raw_model))
        train = memo.once("train", raw_train, None, lambda: _parse_train(raw_train))
    schemes = parse_schemes(get(raw, "schemes", None, ""), cluster.workers, train.lr, memo, plugins)
    if memo is None:
        check_times(cluster, schemes, train, latency)
    else:  # a function of these parsed objects only (kept by the memo, so their ids stay theirs)
        parts = (cluster, latency, train, *schemes)
        memo.by_key(
            ("times", *map(id, parts)),
            parts,
            lambda: check_times(cluster, schemes, train, latency, memo=memo),
        )
    check_process(cluster, train)
    return cluster, model, schemes, train


def _parse_cluster(raw: Any, base_dir: str | None) -> tuple[ClusterSpec, LatencyModel]:
    """The cluster, and its latency model (for :func:`~.limits.check_times`)."""
    from ..latency import from_spec

    check_keys(raw, (*CLUSTER_KEYS, *CODING_KEYS, *FAILURE_KEYS), "cluster")
    n = check_workers(as_int(get(raw, "workers", 8, "cluster"), "cluster.workers", lo=1))
    spec = get(raw, "latency", DEFAULT_LATENCY, "cluster")
    try:
        model = from_spec(spec, base_dir=Path(base_dir) if base_dir else None)
        model.check_workers(n)  # groups cover the workers; a replayed trace has one per worker
    except ScenarioError as err:
        raise err.with_prefix("cluster.latency") from None
    net = check_keys(get(raw, "network", {}, "cluster"), NETWORK_KEYS, "cluster.network")
    network = Network(
        latency=as_float(get(net, "latency", 0.0, ""), "cluster.network.latency", lo=0.0),
        bandwidth=_above(net, "bandwidth", "cluster.network", 0.0),
        itemsize=_itemsize(get(net, "itemsize", 4, "")),
        shared_master_link=as_bool(
            get(net, "shared_master_link", False, ""), "cluster.network.shared_master_link"
        ),
        loss=as_float(get(net, "loss", 0.0, ""), "cluster.network.loss", lo=0.0, hi=0.99),
        retry_after=_above(net, "retry_after", "cluster.network", 0.0),
    )
    slow_raw = get(raw, "slowdown", None, "cluster")
    if slow_raw is None:
        slowdown = (1.0,) * n
    else:
        values = as_list(slow_raw, "cluster.slowdown")
        if len(values) != n:
            raise ScenarioError(
                "cluster.slowdown", slow_raw, f"a list of {n} numbers > 0, one per worker"
            )
        slowdown = tuple(
            as_float(v, f"cluster.slowdown[{i}]", lo=0.0, lo_open=True)
            for i, v in enumerate(values)
        )
    strag = check_keys(
        get(raw, "stragglers", {}, "cluster"), ("workers", "factor"), "cluster.stragglers"
    )
    strag_workers = tuple(
        as_int(w, f"cluster.stragglers.workers[{i}]", lo=0, hi=n - 1)
        for i, w in enumerate(as_list(get(strag, "workers", [], ""), "cluster.stragglers.workers"))
    )
    if len(set(strag_workers)) != len(strag_workers):
        raise ScenarioError("cluster.stragglers.workers", list(strag_workers), "distinct workers")
    factor = as_float(get(strag, "factor", 5.0, ""), "cluster.stragglers.factor", lo=1.0)
    racks = parse_racks(get(raw, "racks", None, "cluster"), n)
    failures = parse_failures(get(raw, "failures", [], "cluster"), n, racks)
    process = parse_process(get(raw, "failure_process", None, "cluster"), racks)
    cost = as_choice(get(raw, "cost", "work", "cluster"), "cluster.cost", COST_MODELS)
    latency_per = as_choice(
        get(raw, "latency_per", "gradient", "cluster"), "cluster.latency_per", LATENCY_PER
    )
    cluster = ClusterSpec(
        workers=n,
        latency=model.spec,
        network=network,
        slowdown=slowdown,
        stragglers=strag_workers,
        straggler_factor=factor,
        failures=failures,
        cost=cost,
        latency_per=latency_per,
        **_coding_costs(raw),
        racks=racks,
        failure_process=process,
    )
    return cluster, model


def _coding_costs(raw: Mapping[str, Any]) -> dict[str, Any]:
    """``cluster.master_flops`` (operations per simulated second, > 0; default inf: the master's
    work is free) and ``cluster.charge_encoding`` (default false)."""
    return {
        "master_flops": _above(raw, "master_flops", "cluster", 0.0),
        "charge_encoding": as_bool(
            get(raw, "charge_encoding", False, "cluster"), "cluster.charge_encoding"
        ),
    }


def _above(
    table: Mapping[str, Any], key: str, section: str, lo: float, default: float = math.inf
) -> float:
    """``section.key``: a number > ``lo``, or ``"inf"``; ``default`` (inf) when absent."""
    return as_float(
        get(table, key, default, section), f"{section}.{key}", lo=lo, lo_open=True, allow_inf=True
    )


def _itemsize(value: Any) -> int:
    """Bytes per number of a message: 2, 4 or 8 (as an integer or its text)."""
    if isinstance(value, bool) or str(value) not in ("2", "4", "8"):
        raise ScenarioError("cluster.network.itemsize", value, "one of 2, 4, 8 (bytes per number)")
    return int(value)


def _parse_model(raw: Any) -> ModelSpec:
    from ..data import DATASET_TASKS, SCENARIO_DATASETS, check_regression_noise
    from ..models import MODELS

    check_keys(raw, MODEL_KEYS, "model")
    kind = as_choice(get(raw, "kind", "softmax", "model"), "model.kind", MODELS)
    dataset = as_str(get(raw, "dataset", "digits", "model"), "model.dataset")
    if dataset not in SCENARIO_DATASETS and not dataset.endswith((".npz", ".csv")):
        raise ScenarioError(
            "model.dataset",
            dataset,
            f"one of {', '.join(SCENARIO_DATASETS)}{suggest(dataset, SCENARIO_DATASETS)}, "
            "or a path to a .npz (arrays X, y) or .csv (last column the label) file",
        )
    classes = as_int(get(raw, "classes", 3, "model"), "model.classes", lo=2)
    spec = ModelSpec(
        kind=kind,
        dataset=dataset,
        hidden=as_int(get(raw, "hidden", 32, "model"), "model.hidden", lo=1),
        test_fraction=as_float(
            get(raw, "test_fraction", 0.2, "model"), "model.test_fraction", lo=0.0, hi=0.9
        ),
        samples=as_int(get(raw, "samples", 1000, "model"), "model.samples", lo=2),
        features=as_int(get(raw, "features", 20, "model"), "model.features", lo=1),
        classes=classes,
        noise=as_float(get(raw, "noise", 0.1, "model"), "model.noise", lo=0.0),
        label_noise=as_float(
            get(raw, "label_noise", 0.0, "model"), "model.label_noise", lo=0.0, hi=1.0
        ),
    )
    task = DATASET_TASKS.get(dataset)
    if task == "classification":
        task = "binary" if classes == 2 else "multiclass"
    _check_model_fits(kind, task)
    if dataset == "synthetic_regression":
        check_regression_noise(spec.noise, spec.samples, spec.features)
    if spec.label_noise > 0 and task == "regression":
        raise ScenarioError(
            "model.label_noise", spec.label_noise, "0 for a regression dataset (labels are numbers)"
        )
    return spec


def _check_model_fits(kind: str, task: str | None) -> None:
    """Reject model kinds that cannot learn the dataset's task (files are checked when loaded)."""
    from ..models import MODEL_TASKS

    if task is None:
        return
    if task not in MODEL_TASKS[kind]:
        fitting = [k for k, tasks in MODEL_TASKS.items() if task in tasks]
        raise ScenarioError(
            "model.kind", kind, f"a model for a {task} dataset: {', '.join(fitting)}"
        )


def _parse_train(raw: Any) -> Train:
    check_keys(raw, TRAIN_KEYS, "train")
    target = get(raw, "target_loss", None, "train")
    grid, seeds, select = _parse_lr_grid(raw)
    return Train(
        lr=None
        if grid
        else as_float(get(raw, "lr", 0.1, "train"), "train.lr", lo=0.0, lo_open=True),
        max_updates=as_int(get(raw, "max_updates", 100, "train"), "train.max_updates", lo=1),
        max_time=_above(raw, "max_time", "train", 0.0),
        target_loss=None if target is None else as_float(target, "train.target_loss"),
        eval_every=as_int(get(raw, "eval_every", 1, "train"), "train.eval_every", lo=1),
        divergence=_above(raw, "divergence", "train", 1.0, DEFAULT_DIVERGENCE),
        lr_grid=grid,
        lr_seeds=seeds,
        lr_select=select,
    )


def _parse_lr_grid(raw: Mapping[str, Any]) -> tuple[tuple[float, ...], int, str]:
    """``train.lr_grid`` (empty when absent), ``train.lr_seeds`` and ``train.lr_select``: the
    common step-size grid, the number of selection runs and the rule (:mod:`lwpdsim.tune`)."""
    from ..tune import MAX_SEEDS, SELECT_RULES, parse_grid

    if "lr_grid" not in raw:
        for key in ("lr_seeds", "lr_select"):
            if key in raw:
                raise ScenarioError(
                    f"train.{key}",
                    raw[key],
                    "only with train.lr_grid (the step sizes to choose from)",
                )
        return (), DEFAULT_LR_SEEDS, "final_loss"
    grid = parse_grid(raw["lr_grid"], "train.lr_grid", min_size=2)
    if "lr" in raw:
        raise ScenarioError(
            "train.lr",
            raw["lr"],
            "no shared step size beside train.lr_grid: each rule without its own lr gets one "
            "from the grid (a rule's own lr is kept; scheme.lr=... sets every rule's)",
        )
    seeds = as_int(
        get(raw, "lr_seeds", DEFAULT_LR_SEEDS, "train"), "train.lr_seeds", lo=1, hi=MAX_SEEDS
    )
    select = as_choice(
        get(raw, "lr_select", "final_loss", "train"), "train.lr_select", SELECT_RULES
    )
    return grid, seeds, select


#: The longest scenario name (it names the default results folder).
NAME_LENGTH = 100
_DEVICE_NAMES = re.compile(r"(con|prn|aux|nul|com\d|lpt\d)(\..*)?", re.I)


def _check_name(name: str) -> None:
    """A scenario name is used as a folder name, verbatim: portable and bounded."""
    if not re.fullmatch(NAME_PATTERN, name):
        raise ScenarioError(
            "name", name, "letters, digits, '_', '-' and '.' (used as a folder name)"
        )
    if len(name) > NAME_LENGTH:
        raise ScenarioError("name", name, f"at most {NAME_LENGTH} characters (a folder name)")
    if _DEVICE_NAMES.fullmatch(name):
        raise ScenarioError("name", name, "a folder name, not one Windows keeps for a device")
