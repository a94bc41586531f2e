"""Checks on an output folder's path, made before anything runs: it is not a symbolic link nor a
file, not a folder that must never be written as a whole (``/``, the home folder, the current
folder or one of its parents), not a folder holding the command's own input files, and it can be
created (its nearest existing parent is a writable folder, every name fits the file system)."""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

from ..errors import ScenarioError

#: Room kept in a path for what lwpdsim writes inside an output folder (names of rule folders,
#: figures and temporary files are bounded well below this).
INNER_ROOM = 320


def _real(path: Path) -> Path:
    return Path(os.path.realpath(path))


def _limits(existing: Path) -> tuple[int, int]:
    """The longest file name (bytes) and path the file system of ``existing`` takes."""
    try:
        name_max = os.pathconf(existing, "PC_NAME_MAX")
        path_max = os.pathconf(existing, "PC_PATH_MAX")
    except (OSError, ValueError, AttributeError):  # pragma: no cover - no pathconf
        return 255, 4096
    return (name_max if name_max > 0 else 255), (path_max if path_max > 0 else 4096)


def _nearest_existing(path: Path) -> Path:
    for candidate in (path, *path.parents):
        if os.path.lexists(candidate):
            return candidate
    return Path(path.anchor or "/")  # pragma: no cover - the root always exists


def never_written(real: Path) -> str | None:
    """Why ``real`` (a resolved path) is a folder no command may take as a whole, or None."""
    if real == Path(real.anchor):
        return "the root of the file system"
    try:
        home: Path | None = _real(Path.home())
    except (OSError, RuntimeError, KeyError):  # no home folder known
        home = None
    if real == home:
        return "your home folder"
    try:
        cwd = _real(Path.cwd())
    except OSError:  # the current folder was removed: nothing of it to protect
        return None
    if real == cwd:
        return "the current folder"
    if real in cwd.parents:
        return "a parent of the current folder"
    return None


def check_target(
    out: Path,
    *,
    inputs: Iterable[str | Path] = (),
    whole: bool = True,
    field: str = "--out",
) -> None:
    """Raise a :class:`ScenarioError` naming ``field`` unless ``out`` can be an output folder.

    ``whole``: the command may clear the folder (run, sweep, figures), so ``/``, the home folder
    and the current folder (or its parents) are refused. ``inputs``: the command's input files,
    which the folder must not hold.
    """
    shown = str(out)
    if os.path.islink(out):
        raise ScenarioError(
            field, shown, f"a folder, not a symbolic link (it points to {os.path.realpath(out)})"
        )
    if os.path.lexists(out) and not out.is_dir():
        raise ScenarioError(field, shown, "a directory")
    real = _real(out)
    if whole:
        why = never_written(real)
        if why is not None:
            raise ScenarioError(
                field, shown, f"a folder of its own for the results, not {why} ({real})"
            )
    for given in inputs:
        source = _real(Path(given))
        if real in source.parents:
            raise ScenarioError(
                field, shown, f"a folder that does not hold {given}, an input of this command"
            )
    existing = _nearest_existing(Path(os.path.abspath(out)))
    if not existing.is_dir():
        raise ScenarioError(field, shown, f"a folder that can be created ({existing} is not one)")
    if not os.access(existing, os.W_OK | os.X_OK):
        raise ScenarioError(field, shown, f"a folder lwpdsim can write ({existing} is read-only)")
    name_max, path_max = _limits(existing)
    for part in Path(os.path.abspath(out)).relative_to(existing).parts:
        if len(os.fsencode(part)) > name_max:
            raise ScenarioError(
                field, shown, f"a path whose names have at most {name_max} bytes ({part[:40]}...)"
            )
    if len(os.fsencode(str(real))) + INNER_ROOM > path_max:
        raise ScenarioError(
            field,
            shown,
            f"a path shorter than {path_max - INNER_ROOM} bytes (it has {len(str(real))})",
        )
