"""Planning a sweep: its grid of points, each point's scenario, the runs (point x replicate) and
the rule runs that serve them.

A point's scenario is the base scenario with the base overrides and then the point's factor values
applied as values (:func:`lwpdsim.config.set_value`), never through text, and validated (from
tables shared between the points, each validated once: :mod:`.resolve`). Every point is resolved
before anything runs: invalid points are reported together in one :class:`InvalidPointsError` (or
skipped). A run's id is a short hash of its resolved scenario (name
and description left out) and its replicate, so the same point gives the same runs in any grid.

A rule's result depends only on the scenario without the other rules, its own scheme entry and
the replicate (every random stream is made afresh for each rule, and step sizes are chosen per
rule). So the unit that is simulated and stored is a *rule run* (:class:`RuleRun`): a point's
scenario reduced to one scheme entry, and a replicate, with the id :func:`run_id` gives that
reduced scenario. Points that differ only in other rules' settings share it: the plan lists each
rule run once, and each run names the rule run serving each of its rules.
"""

from __future__ import annotations

import dataclasses
import functools
import gc
import hashlib
import itertools
import json
import weakref
from collections import Counter
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any, ParamSpec, TypeVar

from ..config import Scenario
from ..config.scenario import section_data
from ..errors import ScenarioError
from ..io.jsonable import json_ready
from .expr import ExpressionError
from .resolve import PointResolver, SweepBase
from .spec import SweepSpec, check_size, load_sweep, override_texts

P = ParamSpec("P")
R = TypeVar("R")
#: Scenario fields that do not change a run's numbers, so they are left out of its id.
_NOT_HASHED = ("name", "description")
#: What a scenario error says when a varied key itself does not exist.
_KEY_PROBLEMS = ("unknown key", "not a key of", "an index from", "a parameter of one of")


@dataclass(frozen=True)
class SweepPoint:
    """One grid point: its factor values, the overrides they make, and the resolved scenario (or
    the reason it is invalid)."""

    index: int
    factors: Mapping[str, Any]
    overrides: tuple[str, ...]  # the factor values as ``KEY=VALUE`` text, for records
    scenario: Scenario | None = None
    error: str | None = None

    @property
    def valid(self) -> bool:
        return self.error is None

    def describe(self) -> str:
        """The factor values as ``key=value`` text."""
        return ", ".join(override_texts(self.factors)) or "base"


@dataclass(frozen=True)
class RunTask:
    """What a worker needs to run one (grid point, replicate) pair; picklable."""

    run: int  # position in the sweep's run order
    run_id: str
    point: int
    replicate: int
    factors: Mapping[str, Any]
    overrides: tuple[str, ...]
    scenario: Scenario
    #: the id of the rule run (:class:`RuleRun`) serving each rule of ``scenario``, in its order
    result_ids: tuple[str, ...] = ()


@dataclass(frozen=True)
class RuleRun:
    """One rule's run, what a sweep simulates and stores (``runs/<run_id>/``); picklable.

    ``scenario`` is a point's scenario reduced to the one scheme entry, so
    ``simulate(scenario, run_index=replicate)`` (:func:`~.execute.execute_run`) gives the rule's
    result inside the full scenario. ``run`` is its position in :attr:`SweepPlan.rule_runs`,
    ``point`` the first grid point it serves."""

    run: int
    run_id: str
    replicate: int
    point: int
    scenario: Scenario

    @property
    def label(self) -> str:
        """The label of its rule."""
        return self.scenario.schemes[0].label


@dataclass(frozen=True)
class SweepPlan:
    """A sweep expanded and validated: its valid points, the skipped ones, every run (point x
    replicate) and every distinct rule run, each once, in the order the runs first need them."""

    spec: SweepSpec
    points: tuple[SweepPoint, ...]
    skipped: tuple[SweepPoint, ...]
    runs: tuple[RunTask, ...]
    rule_runs: tuple[RuleRun, ...] = field(default=())

    @cached_property
    def rows(self) -> int:
        """How many rows the sweep's table has: one per (point, replicate, rule)."""
        return sum(len(task.scenario.schemes) for task in self.runs)

    @cached_property
    def shared(self) -> Counter[str]:
        """How many rows of the table each rule run serves, by rule run id."""
        return Counter(rid for task in self.runs for rid in task.result_ids)

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def factor_keys(self) -> tuple[str, ...]:
        return self.spec.factor_keys

    def default_out(self) -> Path:
        """``results/sweeps/<name>/``."""
        return Path("results") / "sweeps" / self.name


class InvalidPointsError(ScenarioError):
    """Some grid points of a sweep give invalid scenarios; ``points`` lists them all."""

    def __init__(self, points: Sequence[SweepPoint], total: int, *, source: str | None) -> None:
        self.points = tuple(points)
        self.total = total
        allowed = "a valid scenario at every grid point (or skip_invalid = true / --skip-invalid)"
        super().__init__("factors", f"{len(points)} of {total} points", allowed, source=source)

    def _text(self) -> str:
        where = f"{self.source}: " if self.source else ""
        lines = [
            f"{where}{len(self.points)} of {self.total} grid points are invalid "
            "(set skip_invalid = true or pass --skip-invalid to run the others):"
        ]
        lines += [f"  point {p.index} ({p.describe()}): {p.error}" for p in self.points]
        return "\n".join(lines)


def _pausing_gc(func: Callable[P, R]) -> Callable[P, R]:
    """``func`` run with the cyclic garbage collector paused (as it was, after). A plan makes
    some ten objects per grid point that live as long as it does and hold no cycles; the collector
    would walk them again and again (a third of the time of a 10^5-point plan)."""

    @functools.wraps(func)
    def paused(*args: P.args, **kwargs: P.kwargs) -> R:
        enabled = gc.isenabled()
        gc.disable()
        try:
            return func(*args, **kwargs)
        finally:
            if enabled:
                gc.enable()

    return paused


@_pausing_gc
def plan_sweep(
    source: str | Path | Mapping[str, Any] | SweepSpec, *, skip_invalid: bool | None = None
) -> SweepPlan:
    """Expand a sweep into grid points and runs, validating every point's scenario first.

    Invalid points raise one :class:`InvalidPointsError` listing them all, unless ``skip_invalid``
    (default: the sweep file's ``skip_invalid``), in which case they are left out and listed in
    :attr:`SweepPlan.skipped`. Points resolving to the same scenario as an earlier one are invalid.
    """
    spec = source if isinstance(source, SweepSpec) else load_sweep(source)
    check_size(spec)
    skip = spec.skip_invalid if skip_invalid is None else skip_invalid
    resolver = PointResolver(spec, SweepBase.of(spec))
    valid: list[SweepPoint] = []
    invalid: list[SweepPoint] = []
    seen: dict[str, int] = {}
    digests: list[str] = []  # of the valid points
    key_errors: list[ScenarioError | None] = []
    for index, values in enumerate(_grid(spec)):
        point, err = _resolve_point(spec, resolver, index, values)
        if point.scenario is not None:
            digest = _config_digest(point.scenario)
            if digest in seen:
                point = SweepPoint(
                    index,
                    point.factors,
                    point.overrides,
                    error=f"the same resolved scenario as point {seen[digest]} (a factor has no effect?)",
                )
            else:
                seen[digest] = index
                digests.append(digest)
        if point.valid:
            valid.append(point)
        else:
            invalid.append(point)
            key_errors.append(None if err is None else _key_error(spec, err))
    del resolver  # its tables and memo: the scenarios keep what they need
    if not valid and key_errors and all(key_errors):
        fields = {e.field for e in key_errors if e is not None}
        if len(fields) == 1:  # a misspelt key fails every point: say so once
            raise key_errors[0]  # type: ignore[misc]
    total = len(valid) + len(invalid)
    if invalid and not skip:
        raise InvalidPointsError(invalid, total, source=spec.source)
    runs: list[RunTask] = []
    for point, digest in zip(valid, digests, strict=True):
        assert point.scenario is not None
        for r in range(spec.replicates):
            runs.append(
                RunTask(
                    run=len(runs),
                    run_id=_run_id(digest, r),
                    point=point.index,
                    replicate=r,
                    factors=point.factors,
                    overrides=point.overrides,
                    scenario=point.scenario,
                )
            )
    runs, rule_runs = _rule_runs(runs)
    return SweepPlan(spec, tuple(valid), tuple(invalid), tuple(runs), tuple(rule_runs))


def rule_scenario(scenario: Scenario, index: int) -> Scenario:
    """``scenario`` reduced to its scheme entry ``index`` (what a rule's result depends on)."""
    return dataclasses.replace(scenario, schemes=(scenario.schemes[index],))


def _rule_runs(runs: Sequence[RunTask]) -> tuple[list[RunTask], list[RuleRun]]:
    """The runs with the id of the rule run serving each rule, and the distinct rule runs in the
    order the runs first need them."""
    units: dict[str, RuleRun] = {}
    out: list[RunTask] = []
    # by point: its scenario reduced to each rule, and that reduced scenario's config digest
    reduced: dict[int, list[tuple[Scenario, str]]] = {}
    for task in runs:
        if task.point not in reduced:
            ones = [rule_scenario(task.scenario, i) for i in range(len(task.scenario.schemes))]
            reduced[task.point] = [(one, _config_digest(one)) for one in ones]
        ids = []
        for one, digest in reduced[task.point]:
            rid = _run_id(digest, task.replicate)
            if rid not in units:
                units[rid] = RuleRun(len(units), rid, task.replicate, task.point, one)
            ids.append(rid)
        out.append(dataclasses.replace(task, result_ids=tuple(ids)))
    return out, list(units.values())


def expand_sweep(
    source: str | Path | Mapping[str, Any] | SweepSpec, *, skip_invalid: bool | None = None
) -> list[SweepPoint]:
    """The valid grid points of a sweep (see :func:`plan_sweep`; raises on invalid points unless
    they are skipped)."""
    return list(plan_sweep(source, skip_invalid=skip_invalid).points)


def resolve_scenario(spec: SweepSpec, values: Mapping[str, Any] | None = None) -> Scenario:
    """The scenario of ``spec``'s base with its base overrides and then ``values`` (key -> value)
    applied; raises :class:`ScenarioError` (naming the base file) if it is invalid."""
    values = dict(values or {})
    return PointResolver(spec, SweepBase.of(spec)).scenario(values, override_texts(values))


def run_id(scenario: Scenario, replicate: int) -> str:
    """A run's id: 12 hex digits of the sha256 of its resolved scenario (without name and
    description, which change no number) and its replicate."""
    return _run_id(_config_digest(scenario), replicate)


def _run_id(digest: str, replicate: int) -> str:
    # json.dumps({"config": digest, "replicate": replicate}) of a hex digest, written directly
    text = f'{{"config": "{digest}", "replicate": {int(replicate)}}}'
    return hashlib.sha256(text.encode()).hexdigest()[:12]


def _grid(spec: SweepSpec) -> Iterator[dict[str, Any]]:
    """Factor values of each grid point, in order (the last axis varies fastest)."""
    axes: list[list[dict[str, Any]]] = [
        [{key: value} for value in values] for key, values in spec.factors.items()
    ]
    for table in spec.zips:
        keys = list(table)
        axes.append(
            [dict(zip(keys, row, strict=True)) for row in zip(*table.values(), strict=True)]
        )
    for combo in itertools.product(*axes):
        values: dict[str, Any] = {}
        for part in combo:
            values.update(part)
        yield values


def _resolve_point(
    spec: SweepSpec, resolver: PointResolver, index: int, values: dict[str, Any]
) -> tuple[SweepPoint, ScenarioError | None]:
    values = dict(values)
    for key, text in spec.derived.items():
        try:
            values[key] = resolver.derive(key, text, values)
        except ExpressionError as err:
            error = ScenarioError(f"derived.{key}", text, str(err), source=spec.source)
            return SweepPoint(index, values, (), error=f"derived.{key}: {err}"), error
    overrides = override_texts(values)
    try:
        scenario = resolver.scenario(values, overrides)
    except ScenarioError as err:
        return SweepPoint(index, values, overrides, error=_short(err)), err
    return SweepPoint(index, values, overrides, scenario=scenario), None


def _short(err: ScenarioError) -> str:
    return f"{err.field} = {err.value!r} is not allowed: {err.allowed}"


def _key_error(spec: SweepSpec, err: ScenarioError) -> ScenarioError | None:
    """A sweep-file error when ``err`` says a varied key itself does not exist, or is a derived
    key's expression that cannot be computed."""
    if err.field.startswith("derived.") and err.field[len("derived.") :] in spec.derived:
        return err
    if not any(text in err.allowed for text in _KEY_PROBLEMS):
        return None
    sections = {k: "factors" for k in spec.factors}
    sections |= {k: f"zip[{i}]" for i, z in enumerate(spec.zips) for k in z}
    sections |= {k: "derived" for k in spec.derived}
    for key, section in sections.items():
        if key == err.field or key.startswith((f"{err.field}.", f"{err.field}[")):
            return ScenarioError(f"{section}.{key}", key, err.allowed, source=spec.source)
    return None


def _config_digest(scenario: Scenario) -> str:
    """The sha256 of the scenario's data (:meth:`~lwpdsim.config.Scenario.to_dict`) without name
    and description, as compact JSON with sorted keys. Written from each section's JSON, made
    once per section object (:func:`_section_json`): the same text as dumping the whole."""
    s = scenario
    schemes = ",".join(_section_json(spec) for spec in s.schemes)
    seed = str(s.seed) if type(s.seed) is int else _dumps(json_ready(s.seed))
    # a scenario's plugin modules (absent when none): importing one may change any rule's run
    plugins = f'"plugins":{_dumps(list(s.plugins))},' if s.plugins else ""
    text = (
        f'{{"cluster":{_section_json(s.cluster)},"model":{_section_json(s.model)},{plugins}'
        f'"schemes":[{schemes}],"seed":{seed},"train":{_section_json(s.train)}}}'
    )
    return hashlib.sha256(text.encode()).hexdigest()


_dumps = functools.partial(json.dumps, sort_keys=True, separators=(",", ":"), allow_nan=False)
#: The JSON of live section objects by id: (a weak reference to the object, its JSON); an entry
#: goes when its object does, so this holds no more than the sections alive.
_SECTION_JSON: dict[int, tuple[weakref.ref[Any], str]] = {}


def _section_json(section: Any) -> str:
    """``section``'s part of a scenario's JSON (:func:`~lwpdsim.config.scenario.section_data`),
    made once while the (frozen) object lives."""
    key = id(section)
    hit = _SECTION_JSON.get(key)
    if hit is not None and hit[0]() is section:
        return hit[1]
    text = _dumps(section_data(section))
    try:
        ref = weakref.ref(section, functools.partial(_forget, key))
    except TypeError:  # a section type without weak references: not kept
        return text
    _SECTION_JSON[key] = (ref, text)
    return text


def _forget(key: int, ref: weakref.ref[Any]) -> None:
    hit = _SECTION_JSON.get(key)
    if hit is not None and hit[0] is ref:
        del _SECTION_JSON[key]
