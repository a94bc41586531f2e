"""Update rules from outside the package: modules a scenario or the command line names, and the
entry points of installed distributions.

A scenario resolves a rule's name against, in this order:

1. the built-in rules (:data:`lwpdsim.schemes.REGISTRY`);
2. the rules of the modules its top-level ``plugins`` key names (dotted module names, never file
   paths), to which ``--plugin MODULE`` on the command line adds: importing a module registers
   every :class:`~lwpdsim.schemes.base.Scheme` subclass defined in it (not imported into it) that
   sets its own non-empty ``name``;
3. the entry points of group :data:`ENTRY_POINT_GROUP` of installed distributions
   (``myrule = "mypkg.rules:MyRule"``), each loaded only when a scenario names a rule that is not
   found before (listing the rules reads only the entry points' names).

A plugin rule may not take a built-in rule's name, nor one another module or entry point has
taken; an entry point's name must be its class's ``name``. Every problem is one
:class:`~lwpdsim.errors.ScenarioError` naming the module or entry point. Importing a module runs
its code: a scenario naming plugins is code, to be trusted as such.
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import hashlib
import importlib
import inspect
import keyword
import re
from collections.abc import Iterator, Mapping, Sequence
from importlib import metadata
from typing import TYPE_CHECKING, Any

from .errors import ScenarioError

if TYPE_CHECKING:
    from .schemes.base import Scheme

#: The entry-point group an installed distribution declares its rules in.
ENTRY_POINT_GROUP = "lwpdsim.schemes"
#: The top-level scenario key naming the modules to import (a list of dotted names).
SCENARIO_KEY = "plugins"
#: The command-line option adding a module to every scenario the command loads.
CLI_OPTION = "--plugin"
#: What a rule's name may be (it appears in labels, folders and sweep keys such as
#: ``schemes[NAME].K``).
NAME_PATTERN = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")

_MODULES: dict[str, dict[str, type[Scheme]]] = {}  # an imported plugin module -> its rules
_LOADED: dict[str, type[Scheme]] = {}  # every plugin rule loaded in this process, by name
_cli_modules: tuple[str, ...] = ()  # the modules of --plugin while a command runs


def check_module_name(value: Any, field: str) -> str:
    """``value`` if it is a module's dotted name (identifiers joined by dots), else a
    :class:`ScenarioError` naming ``field``."""
    if not isinstance(value, str) or not all(
        part.isidentifier() and not keyword.iskeyword(part) for part in value.split(".")
    ):
        raise ScenarioError(
            field,
            value,
            "a module's dotted name such as mypkg.rules (identifiers joined by dots, importable "
            "from the Python path; not a file path)",
        )
    return value


def parse_plugins(raw: Any, field: str = SCENARIO_KEY) -> tuple[str, ...]:
    """A scenario's ``plugins`` list, checked and imported (its rules registered), followed by
    the modules of ``--plugin`` not in it."""
    from .config.validate import as_list

    names = [check_module_name(v, f"{field}[{i}]") for i, v in enumerate(as_list(raw, field))]
    for i, name in enumerate(names):
        if names.index(name) != i:
            raise ScenarioError(f"{field}[{i}]", name, "a module not named before in the list")
    modules = tuple(dict.fromkeys([*names, *_cli_modules]))
    import_plugins(modules, field)
    return modules


def import_plugins(modules: Sequence[str], field: str = SCENARIO_KEY) -> dict[str, type[Scheme]]:
    """Import ``modules`` (once per process) and return the rules they define, by name; an error
    names ``field[i]``."""
    rules: dict[str, type[Scheme]] = {}
    for i, module in enumerate(modules):
        rules |= module_rules(module, f"{field}[{i}]")
    return rules


def module_rules(module: str, field: str) -> dict[str, type[Scheme]]:
    """The rules ``module`` defines (imported and registered on first call); an error names
    ``field``."""
    if module in _MODULES:
        return _MODULES[module]
    from .schemes.base import Scheme

    check_module_name(module, field)
    try:
        mod = importlib.import_module(module)
    except KeyboardInterrupt:
        raise
    except BaseException as err:  # a module's own code may raise (or sys.exit) anything: one line
        raise ScenarioError(
            field, module, f"an importable module (importing it raised {_one_line(err)})"
        ) from None
    found: dict[str, type[Scheme]] = {}
    for obj in vars(mod).values():
        if (
            isinstance(obj, type)
            and issubclass(obj, Scheme)
            and obj.__module__ == mod.__name__
            and vars(obj).get("name")
        ):
            where = f"{module}.{obj.__qualname__}"
            _check_name(obj, where, field, module)
            if obj.name in found:
                other = found[obj.name].__qualname__
                raise ScenarioError(
                    field,
                    module,
                    f"a module whose rules have distinct names ({other} and "
                    f"{obj.__qualname__} are both {obj.name!r})",
                )
            found[obj.name] = obj
    if not found:
        raise ScenarioError(
            field,
            module,
            "a module that defines at least one lwpdsim.schemes.base.Scheme subclass with its own "
            "non-empty name (rules imported into it from elsewhere do not count)",
        )
    for name, cls in found.items():
        _register(name, cls, field, module)
    _MODULES[module] = found
    return found


def _check_name(cls: type[Scheme], where: str, field: str, value: str) -> None:
    """A plugin rule's name is a plain name and not a built-in rule's."""
    from .schemes import REGISTRY

    name = cls.name
    if not isinstance(name, str) or not NAME_PATTERN.fullmatch(name):
        raise ScenarioError(
            field, value, f"rules named by letters, digits and _ ({where}.name is {name!r})"
        )
    if name in REGISTRY:
        raise ScenarioError(
            field,
            value,
            f"rules that do not shadow a built-in rule ({where}.name is {name!r}, built in; "
            "choose another name)",
        )


def _register(name: str, cls: type[Scheme], field: str, value: str) -> None:
    """Record ``cls`` as the plugin rule ``name`` of this process, refusing a second class under
    a name already taken (by another module or by an installed entry point)."""
    other = _LOADED.get(name)
    if other is not None and other is not cls:
        raise ScenarioError(
            field,
            value,
            f"rules whose names are free: {name!r} is already {_path(other)}",
        )
    points = _entry_points().get(name, [])
    if points and points[0].value.replace(":", ".") != _path(cls):
        raise ScenarioError(
            field,
            value,
            f"rules whose names are free: {name!r} is the entry point {points[0].value} of "
            f"{_dist(points[0])}",
        )
    _LOADED[name] = cls


def _path(cls: type) -> str:
    return f"{cls.__module__}.{cls.__qualname__}"


# ----------------------------------------------------------------- entry points


@functools.cache
def _entry_points() -> dict[str, list[metadata.EntryPoint]]:
    """The entry points of :data:`ENTRY_POINT_GROUP` by name, read once per process (names only,
    nothing imported). A name that is a built-in rule's is refused here."""
    from .schemes import REGISTRY

    out: dict[str, list[metadata.EntryPoint]] = {}
    for ep in metadata.entry_points(group=ENTRY_POINT_GROUP):
        if ep.name in REGISTRY:
            raise ScenarioError(
                _ep_field(ep),
                ep.value,
                f"an entry point whose name is no built-in rule's ({ep.name!r} is built in): "
                f"rename it or uninstall {_dist(ep)}",
            )
        same = out.setdefault(ep.name, [])
        if all(e.value != ep.value for e in same):  # one distribution seen twice on the path
            same.append(ep)
    return out


def _dist(ep: metadata.EntryPoint) -> str:
    dist = ep.dist
    return (
        f"distribution {dist.name} {dist.version}"
        if dist is not None
        else "an unknown distribution"
    )


def _ep_field(ep: metadata.EntryPoint) -> str:
    return f"entry point {ep.name} ({ENTRY_POINT_GROUP}, {_dist(ep)})"


def entry_point_rule(name: str) -> type[Scheme] | None:
    """The rule an installed entry point named ``name`` declares (loaded on first use), or None
    when none does."""
    from .schemes.base import Scheme

    points = _entry_points().get(name)
    if not points:
        return None
    if name in _LOADED:
        return _LOADED[name]
    ep = points[0]
    field = _ep_field(ep)
    if len(points) > 1:
        others = ", ".join(f"{e.value} ({_dist(e)})" for e in points[1:])
        raise ScenarioError(field, ep.value, f"one entry point per rule name (also {others})")
    try:
        obj = ep.load()
    except KeyboardInterrupt:
        raise
    except BaseException as err:  # a plugin's own code may raise (or sys.exit) anything: one line
        raise ScenarioError(
            field, ep.value, f"an importable object (loading it raised {_one_line(err)})"
        ) from None
    if not (isinstance(obj, type) and issubclass(obj, Scheme)):
        raise ScenarioError(
            field, ep.value, f"a lwpdsim.schemes.base.Scheme subclass (it is {type(obj).__name__})"
        )
    if obj.name != name:
        raise ScenarioError(
            field,
            ep.value,
            f"a class whose name is the entry point's ({obj.__qualname__}.name is {obj.name!r}, "
            f"the entry point {name!r})",
        )
    _check_name(obj, obj.__qualname__, field, ep.value)
    _register(name, obj, field, ep.value)
    return obj


def entry_point_names() -> list[str]:
    """The rule names installed distributions declare (nothing imported)."""
    return list(_entry_points())


# ----------------------------------------------------------------- lookups


def scenario_rule(name: str, plugins: Sequence[str], field: str) -> type[Scheme]:
    """The rule a scenario with ``plugins`` means by ``name`` (built in, from one of its modules,
    or an installed entry point); an unknown name is refused naming ``field`` and every rule."""
    from .config.validate import as_choice
    from .schemes import REGISTRY

    if isinstance(name, str) and name in REGISTRY:
        return REGISTRY[name]
    own = import_plugins(plugins)
    if isinstance(name, str) and name in own:
        return own[name]
    found = entry_point_rule(name) if isinstance(name, str) else None
    if found is not None:
        return found
    as_choice(name, field, rule_names(plugins))  # raises, listing them
    raise AssertionError(name)  # pragma: no cover - as_choice refused it


def rule_names(plugins: Sequence[str] = ()) -> list[str]:
    """Every rule a scenario with ``plugins`` may name: built in, its modules', installed."""
    from .schemes import REGISTRY

    return list(dict.fromkeys([*REGISTRY, *import_plugins(plugins), *entry_point_names()]))


def rule_class(name: str) -> type[Scheme] | None:
    """The rule ``name`` in this process: built in, from a plugin module imported already, or an
    installed entry point (loaded now); None when there is none."""
    from .schemes import REGISTRY

    if name in REGISTRY:
        return REGISTRY[name]
    if name in _LOADED:
        return _LOADED[name]
    return entry_point_rule(name)


def get_rule(name: str) -> type[Scheme]:
    """:func:`rule_class`, refusing a name no rule has (as a scenario's validation would)."""
    cls = rule_class(name)
    if cls is None:
        from .config.validate import as_choice

        as_choice(name, "schemes.name", rule_names())  # raises, listing them
        raise AssertionError(name)  # pragma: no cover - as_choice refused it
    return cls


def loaded_rule(name: str) -> type[Scheme] | None:
    """The rule ``name`` if built in or loaded in this process already; never imports anything
    (for analysis of saved runs, which never runs code a saved file names)."""
    from .schemes import REGISTRY

    return REGISTRY.get(name) or _LOADED.get(name)


def rule_source(cls: type[Scheme]) -> dict[str, Any] | None:
    """What a run's manifest records of a plugin rule's code (None for a built-in rule): its
    module and class, the installed distribution and version providing it (when one does), and
    the sha256 of its module's source file."""
    from .schemes import REGISTRY

    if REGISTRY.get(cls.name) is cls:
        return None
    record: dict[str, Any] = {"module": cls.__module__, "class": cls.__qualname__}
    declared = [
        ep.dist
        for ep in _entry_points().get(cls.name, [])
        if ep.value.replace(":", ".") == _path(cls) and ep.dist is not None
    ]
    if declared:  # the distribution whose entry point declares it
        record["distribution"], record["version"] = declared[0].name, declared[0].version
    else:  # the one that installed its top-level package, if any did
        dists = _distributions().get(cls.__module__.split(".", 1)[0], [])
        if dists:
            record["distribution"], record["version"] = dists[0], metadata.version(dists[0])
    with contextlib.suppress(OSError, TypeError):
        path = inspect.getsourcefile(cls)
        if path is not None:
            with open(path, "rb") as f:
                record["sha256"] = hashlib.sha256(f.read()).hexdigest()
    return record


@functools.cache
def _distributions() -> Mapping[str, list[str]]:
    return metadata.packages_distributions()


def _one_line(err: BaseException) -> str:
    text = " ".join(str(err).split())
    return f"{type(err).__name__}: {text}" if text else type(err).__name__


# ----------------------------------------------------------------- the command line


def add_option(parser: argparse.ArgumentParser) -> None:
    """``--plugin MODULE``, repeatable, on a command that loads scenarios."""
    parser.add_argument(
        CLI_OPTION,
        action="append",
        default=[],
        dest="plugin",
        metavar="MODULE",
        help="import MODULE's update rules (a dotted module name; repeatable; runs its code) "
        "and add it to every scenario's plugins",
    )


@contextlib.contextmanager
def cli_plugins(args: argparse.Namespace) -> Iterator[None]:
    """While a command runs, the modules of ``--plugin`` are imported and added to the
    ``plugins`` of every scenario it loads (so runs record them and worker processes import
    them)."""
    global _cli_modules
    modules = tuple(dict.fromkeys(getattr(args, "plugin", None) or ()))
    for module in modules:
        module_rules(module, CLI_OPTION)
    previous, _cli_modules = _cli_modules, modules
    try:
        yield
    finally:
        _cli_modules = previous
