"""Figure specs: the TOML schema, parsing and validation of one spec, and finding and choosing the
specs of a build.

A spec is shaped like a sweep file: a base scenario (a file or an inline ``[base]`` table),
``base_overrides``, and what to run; :func:`load_spec` turns it into a :class:`FigureSpec` whose
:attr:`~FigureSpec.plan` is a :class:`~lwpdsim.sweep.SweepPlan` over the step-size grid (kind
``compare``) or the cluster sizes (kind ``intervals``), validated like a sweep before anything runs.
A ``target_loss`` (kinds ``compare`` and ``intervals``) is measured on runs that go on to their
budget: the base scenario sets none.
Loading a spec reads no dataset and writes no file.
"""

from __future__ import annotations

import itertools
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from ..config import Scenario, read_toml
from ..config.overrides import parse_value, split_item
from ..config.validate import (
    as_bool,
    as_choice,
    as_float,
    as_int,
    as_list,
    as_str,
    check_keys,
    suggest,
)
from ..errors import ScenarioError
from ..sweep import SweepPlan, load_sweep, plan_sweep, resolve_scenario
from ..tune import SELECT_RULES, parse_grid

KINDS = ("compare", "timeline", "intervals")
#: The curve kinds of a compare spec (its ``curves`` key): the loss against simulated time, updates
#: or cumulative bytes sent up; ``decode_error``, each step's decoding error against simulated
#: time, for the rules whose entry measures it (``decode_error``, docs/schemes.md).
CURVE_AXES = ("time", "update", "bytes", "decode_error")
SPEC_KEYS = (
    "name",
    "kind",
    "title",
    "description",
    "fixed",
    "changed",
    "base",
    "base_overrides",
    "derived",
    "seeds",
    "lr_grid",
    "select",
    "target_loss",
    "curves",
    "split_lwpd",
    "by",
    "window",
    "workers",
    "cdf_workers",
    "quick",
)
#: Keys that only some kinds accept.
KIND_KEYS = {
    "lr_grid": ("compare",),
    "select": ("compare",),
    "target_loss": ("compare", "intervals"),
    "curves": ("compare",),
    "split_lwpd": ("compare",),
    "by": ("compare",),
    "window": ("timeline",),
    "workers": ("intervals",),
    "cdf_workers": ("intervals",),
    "derived": ("intervals",),
}
QUICK_KEYS = ("seeds", "lr_grid", "base_overrides", "workers")
#: Where specs are looked for (relative to the working directory), in this order.
DEFAULT_SPEC_DIRS = (Path("scenarios") / "paper", Path("scenarios") / "lecture")
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]*")


@dataclass(frozen=True)
class FigureSpec:
    """A parsed, validated figure spec; :attr:`plan` holds every run it needs."""

    name: str
    kind: str
    title: str
    description: str
    fixed: str
    changed: str  # what was changed after a first look at results, and why
    source: str
    section: str  # the folder the spec lives in (paper, lecture, ...)
    seeds: int
    lr_grid: tuple[float, ...]
    select: str
    target_loss: float | None
    curves: tuple[str, ...]
    split_lwpd: bool
    window: float | None
    workers: tuple[int, ...]
    cdf_workers: int | None
    quick: bool
    plan: SweepPlan = field(repr=False, compare=False)
    overrides: tuple[str, ...] = ()  # the command line's --set KEY=VALUE items
    order: int = 0  # position among all specs (the index lists them in this order)
    by: str | None = None  # labels end in " <by>=<number>": a figure against that number

    def by_value(self, label: str) -> tuple[str, float]:
        """A label's group and number, for a spec with :attr:`by` ("qsgd K=2": ("qsgd", 2.0))."""
        match = re.fullmatch(rf"(.+) {re.escape(self.by or '')}=(\S+)", label)
        if self.by is None or match is None:
            raise ValueError(f"{label!r} does not end in ' {self.by}=<number>'")
        return match.group(1), float(match.group(2))

    @property
    def scenario(self) -> Scenario:
        """The resolved scenario of the first grid point (for the record and the index)."""
        return self.plan.runs[0].scenario


def _path_text(path: Path) -> str:
    try:
        return str(path.resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(path)


def load_spec(
    path: str | Path, *, quick: bool = False, overrides: Sequence[str] = ()
) -> FigureSpec:
    """Read and validate a figure spec; ``quick`` applies its ``[quick]`` table (fewer seeds, a
    shorter grid, a shorter run) and ``overrides`` (``KEY=VALUE``, as ``lwpdsim run --set``) set
    keys of its base scenario after its own ``base_overrides``. Raises :class:`ScenarioError`
    naming the file and the field."""
    path = Path(path)
    raw = read_toml(path)
    try:
        return _parse_spec(raw, path, quick, tuple(overrides))
    except ScenarioError as err:
        if err.source and err.source != str(path):
            allowed = f"{err.allowed} (in the base scenario {err.source})"
            raise ScenarioError(err.field, err.value, allowed, source=str(path)) from None
        raise err.with_source(str(path)) from None


def _number_list(value: Any, where: str, *, integer: bool = False) -> tuple[Any, ...]:
    items = as_list(value, where)
    if not items:
        raise ScenarioError(where, value, "a non-empty list of numbers")
    if integer:
        out: tuple[Any, ...] = tuple(as_int(v, f"{where}[{i}]", lo=1) for i, v in enumerate(items))
    else:
        out = tuple(as_float(v, f"{where}[{i}]", lo=0.0, lo_open=True) for i, v in enumerate(items))
    if any(b <= a for a, b in itertools.pairwise(out)):
        raise ScenarioError(where, value, "numbers in increasing order, each once")
    return out


def _parse_spec(
    raw: Mapping[str, Any], path: Path, quick: bool, overrides: tuple[str, ...] = ()
) -> FigureSpec:
    check_keys(raw, SPEC_KEYS, "")
    name = as_str(raw.get("name", path.stem), "name")
    if not _NAME.fullmatch(name):
        raise ScenarioError("name", name, "letters, digits, '_' and '-' (used in file names)")
    kind = as_choice(raw.get("kind", "compare"), "kind", KINDS)
    for key, kinds in KIND_KEYS.items():
        if key in raw and kind not in kinds:
            raise ScenarioError(key, raw[key], f"only for kind = {' or '.join(kinds)}")
    if "title" not in raw:
        raise ScenarioError("title", None, "this key is required: a short title for the figures")
    title = as_str(raw["title"], "title")
    description = as_str(raw.get("description", ""), "description")
    fixed = as_str(raw.get("fixed", ""), "fixed")
    changed = as_str(raw.get("changed", ""), "changed")
    table = dict(raw)
    q = check_keys(raw.get("quick", {}), QUICK_KEYS, "quick")
    if quick:
        for key, value in q.items():
            if key == "base_overrides":
                if not isinstance(value, Mapping):
                    raise ScenarioError(
                        "quick.base_overrides", value, "a table of KEY = value pairs"
                    )
                base_overrides = raw.get("base_overrides", {})
                if not isinstance(base_overrides, Mapping):
                    raise ScenarioError(
                        "base_overrides", base_overrides, "a table of KEY = value pairs"
                    )
                table["base_overrides"] = {**base_overrides, **value}  # the quick values win
            else:
                table[key] = value
        if "seeds" not in q and kind == "compare":
            table["seeds"] = 2
    if overrides:
        table["base_overrides"] = _with_overrides(table.get("base_overrides", {}), overrides, kind)
    seeds = as_int(table.get("seeds", 1), "seeds", lo=2 if kind == "compare" else 1)
    if kind == "timeline" and seeds != 1:
        raise ScenarioError("seeds", seeds, "1: a timeline shows one run")
    lr_grid: tuple[float, ...] = ()
    if kind == "compare":
        if "lr_grid" not in table:
            raise ScenarioError(
                "lr_grid", None, "this key is required: the common step-size grid, e.g. [0.1, 0.5]"
            )
        lr_grid = parse_grid(table["lr_grid"], "lr_grid")
    select = as_choice(table.get("select", "final_loss"), "select", SELECT_RULES)
    target = table.get("target_loss")
    target_loss = None if target is None else as_float(target, "target_loss")
    curves = tuple(
        as_choice(c, f"curves[{i}]", CURVE_AXES)
        for i, c in enumerate(as_list(table.get("curves", ["time"]), "curves"))
    )
    if kind == "compare" and not curves:
        raise ScenarioError("curves", [], f"a non-empty list of {', '.join(CURVE_AXES)}")
    split_lwpd = as_bool(table.get("split_lwpd", True), "split_lwpd")
    window = table.get("window")
    window = None if window is None else as_float(window, "window", lo=0.0, lo_open=True)
    workers: tuple[int, ...] = ()
    cdf_workers = None
    if kind == "intervals":
        if "workers" not in table:
            raise ScenarioError("workers", None, "this key is required: e.g. [2, 4, 8, 16]")
        workers = _number_list(table["workers"], "workers", integer=True)
        cdf_workers = as_int(table.get("cdf_workers", workers[len(workers) // 2]), "cdf_workers")
        if cdf_workers not in workers:
            raise ScenarioError("cdf_workers", cdf_workers, f"one of workers = {list(workers)}")
    plan = _plan(table, name, kind, path, seeds, lr_grid, workers)
    if "decode_error" in curves and not any(s.decode_error for s in plan.runs[0].scenario.schemes):
        raise ScenarioError(
            "curves",
            list(curves),
            "a decode_error curve needs a rule entry that measures it (decode_error = true)",
        )
    by = _by(raw.get("by"), plan)
    if kind == "compare" or target_loss is not None:
        for task in plan.runs:
            if task.scenario.train.target_loss is not None:
                raise ScenarioError(
                    "base.train.target_loss",
                    task.scenario.train.target_loss,
                    "unset: runs go on to the end of the time budget; give the figure's target "
                    "as target_loss at the top of the spec",
                )
    return FigureSpec(
        name=name,
        kind=kind,
        title=title,
        description=description,
        fixed=fixed,
        changed=changed,
        source=_path_text(path),
        section=path.resolve().parent.name,
        seeds=seeds,
        lr_grid=lr_grid,
        select=select,
        target_loss=target_loss,
        curves=curves,
        split_lwpd=split_lwpd,
        window=window,
        workers=workers,
        cdf_workers=cdf_workers,
        quick=quick,
        overrides=overrides,
        plan=plan,
        by=by,
    )


def _by(value: Any, plan: SweepPlan) -> str | None:
    """The ``by`` key: a name every scheme label ends with as `` <name>=<number>``."""
    if value is None:
        return None
    by = as_str(value, "by")
    if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_.]*", by):
        raise ScenarioError("by", by, "a name of letters, digits, '_' and '.', e.g. K")
    for scheme in plan.runs[0].scenario.schemes:
        match = re.fullmatch(rf"(.+) {re.escape(by)}=(\S+)", scheme.label)
        try:
            number = float(match.group(2)) if match else None
        except ValueError:
            number = None
        if number is None or not math.isfinite(number):
            raise ScenarioError(
                "by", by, f"scheme labels ending in ' {by}=<number>'; {scheme.label!r} does not"
            )
    return by


#: The key each kind varies (a ``--set`` of it would be overwritten by every run).
VARIED_KEY = {"compare": "scheme.lr", "intervals": "cluster.workers"}


def _with_overrides(base_overrides: Any, overrides: tuple[str, ...], kind: str) -> dict[str, Any]:
    """The spec's ``base_overrides`` followed by the command line's ``--set KEY=VALUE`` items."""
    if not isinstance(base_overrides, Mapping):
        raise ScenarioError("base_overrides", base_overrides, "a table of KEY = value pairs")
    merged = dict(base_overrides)
    for item in overrides:
        split = split_item(item)  # as `lwpdsim run --set` splits it (a label may hold a "=")
        if split is None:
            raise ScenarioError("--set", item, "KEY=VALUE, e.g. train.max_time=50")
        key, text = split[0].strip(), split[1]
        if key == VARIED_KEY.get(kind) or (kind == "compare" and key.endswith(".lr")):
            raise ScenarioError("--set", item, f"a key this {kind} spec does not vary")
        merged[key] = parse_value(text)
    return merged


def _plan(
    table: Mapping[str, Any],
    name: str,
    kind: str,
    path: Path,
    seeds: int,
    lr_grid: Sequence[float],
    workers: Sequence[int],
) -> SweepPlan:
    """The runs of a spec, as a sweep over the step-size grid (or the cluster sizes)."""
    if "base" not in table:
        raise ScenarioError(
            "base", None, "this key is required: a scenario file or an inline [base] table"
        )
    base = table["base"]
    if isinstance(base, Mapping):
        base = _absolute_dataset(base, path.resolve().parent)
    else:
        text = as_str(base, "base")
        file = (path.resolve().parent / text).resolve()
        if not file.is_file():
            raise ScenarioError("base", text, f"an existing scenario file; {file} is not one")
        base = str(file)
    sweep: dict[str, Any] = {
        "name": name,
        "base": base,
        "replicates": seeds,
        "base_overrides": table.get("base_overrides", {}),
    }
    if kind == "compare":
        sweep["factors"] = {"scheme.lr": list(lr_grid)}
    elif kind == "intervals":
        sweep["factors"] = {"cluster.workers": list(workers)}
        sweep["derived"] = table.get("derived", {})
    parsed = load_sweep(sweep)
    resolve_scenario(parsed)  # one error, field named
    return plan_sweep(parsed)


def _absolute_dataset(base: Mapping[str, Any], folder: Path) -> dict[str, Any]:
    """An inline base whose relative files (a dataset file, and the ``file`` of any latency
    table in ``cluster.latency``, nested ones included) are made absolute (relative to the spec)."""
    base = dict(base)
    model = base.get("model")
    if isinstance(model, Mapping):
        dataset = model.get("dataset")
        if (
            isinstance(dataset, str)
            and dataset.endswith((".npz", ".csv"))
            and not Path(dataset).is_absolute()
        ):
            base["model"] = {**model, "dataset": str((folder / dataset).resolve())}
    cluster = base.get("cluster")
    if isinstance(cluster, Mapping) and "latency" in cluster:
        base["cluster"] = {**cluster, "latency": _absolute_files(cluster["latency"], folder)}
    return base


def _absolute_files(table: Any, folder: Path) -> Any:
    """``table`` (a latency table, or a list of them) with every relative ``file`` string made
    absolute against ``folder``; anything else is returned as it is (validation comes later)."""
    if isinstance(table, list):
        return [_absolute_files(t, folder) for t in table]
    if not isinstance(table, Mapping):
        return table
    out = {k: _absolute_files(v, folder) for k, v in table.items()}
    file = table.get("file")
    if isinstance(file, str) and file.strip() and not Path(file).expanduser().is_absolute():
        out["file"] = str((folder / file).resolve())
    return out


def find_specs(paths: Sequence[str | Path] | None = None) -> list[Path]:
    """Spec files: the given files, and the ``*.toml`` files of the given folders (default
    :data:`DEFAULT_SPEC_DIRS`), in order."""
    given = [Path(p) for p in paths] if paths else [d for d in DEFAULT_SPEC_DIRS if d.is_dir()]
    if not given:
        raise ScenarioError(
            "--specs",
            None,
            "folders of figure specs; none of "
            + ", ".join(str(d) for d in DEFAULT_SPEC_DIRS)
            + " exists here (run from the repository root, or pass --specs)",
        )
    files: list[Path] = []
    for p in given:
        if p.is_dir():
            files += sorted(p.glob("*.toml"))
        elif p.is_file():
            files.append(p)
        else:
            raise ScenarioError("--specs", str(p), "an existing spec file or folder of specs")
    return files


def select_specs(
    paths: Sequence[Path],
    only: Sequence[str] | None = None,
    *,
    quick: bool = False,
    overrides: Sequence[str] = (),
) -> list[FigureSpec]:
    """Load every spec (all are validated), keeping those named in ``only`` (all by default);
    ``overrides`` go to the specs kept (see :func:`load_spec`)."""
    specs = [replace(load_spec(p, quick=quick), order=i) for i, p in enumerate(paths)]
    if overrides:
        kept = [i for i, s in enumerate(specs) if not only or s.name in only]
        for i in kept:
            specs[i] = replace(load_spec(paths[i], quick=quick, overrides=overrides), order=i)
    names = [s.name for s in specs]
    for i, name in enumerate(names):
        if names.index(name) != i:
            raise ScenarioError("name", name, f"a name used by one spec only ({specs[i].source})")
    if not only:
        return specs
    for name in only:
        if name not in names:
            raise ScenarioError(
                "--only", name, f"a spec name{suggest(name, names)}: {', '.join(names)}"
            )
    return [s for s in specs if s.name in only]
