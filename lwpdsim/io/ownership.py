"""Claiming an output folder: what lwpdsim may write, remove (``--force``) and reuse (``--resume``).

A command claims its folder (:func:`claim`) before it simulates anything: the path is checked
(:mod:`.target`), the folder created (or an empty one, or one it wrote, taken), locked
(:mod:`.lock`) and given a record of what lwpdsim writes there (:mod:`.journal`). Every file the
command then writes goes through the :class:`OutputFolder`, which records it, writes it
atomically, and never writes over a file lwpdsim did not write, nor through a symbolic link.

``--force`` removes exactly the recorded files and temporary files that still exist (a symbolic
link found at such a path is removed itself, never followed), then the recorded folders left
empty; whatever else the folder holds stays, byte for byte. A folder without a record is never
cleared, nor resumed; ``--resume`` takes only a folder of the same sweep.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any, TypedDict, Unpack

from ..errors import ScenarioError
from .files import ResultsFolder
from .folder import OutputFolder, contents
from .journal import MARKER, DamagedRecord, Record, read_record
from .lock import FolderLock
from .target import check_target


def _describe_identity(identity: dict[str, Any] | None) -> str:
    if not identity:
        return "a sweep"
    return f"sweep {identity.get('name')!r}"


def _same_identity(held: dict[str, Any] | None, wanted: dict[str, Any] | None) -> bool:
    """Whether a folder's recorded identity agrees with the one a command wants on every key the
    command names (a folder recorded by an older lwpdsim may name more)."""
    if held is None or wanted is None:
        return held == wanted
    return all(key in held and held[key] == value for key, value in wanted.items())


class _Situation:
    """Where a command will write: the folder owning the target (the target itself, or the
    lwpdsim folder around it) and that folder's record."""

    def __init__(self, root: Path, target: Path, record: Record | None) -> None:
        self.root, self.target, self.record = root, target, record


def _enclosing(target: Path) -> tuple[Path, Record] | None:
    """The lwpdsim folder above ``target`` that records having created it, if any."""
    for parent in target.parents:
        try:
            record = read_record(parent)
        except DamagedRecord:
            continue
        if record is not None and target.relative_to(parent).as_posix() in record.dirs:
            return parent, record
    return None


class Terms(TypedDict, total=False):
    """The terms on which a command takes its output folder (the keywords of :func:`check_out`
    and :func:`claim`): ``force``, start over, removing what lwpdsim wrote there (default false);
    ``resume``, continue in the folder of the same sweep (false); ``inputs``, the files the command
    reads, which the folder must not hold (none); ``identity``, what makes the folder this sweep's,
    for ``resume`` (none)."""

    force: bool
    resume: bool
    inputs: Iterable[str | Path]
    identity: dict[str, Any] | None


def _situation(out: str | Path, kind: ResultsFolder, terms: Terms) -> _Situation:
    if unknown := terms.keys() - Terms.__optional_keys__:
        raise TypeError(f"unexpected keyword arguments {sorted(unknown)}: see Terms")
    force, resume = terms.get("force", False), terms.get("resume", False)
    identity = terms.get("identity")
    if resume and force:
        raise ScenarioError("--force", True, "either --resume or --force, not both")
    shown = str(out)
    check_target(Path(out), inputs=terms.get("inputs", ()), whole=not kind.writes_into)
    target = Path(os.path.abspath(out))
    enclosing = _enclosing(target)
    if enclosing is not None:
        root, around = enclosing
        if around.command in kind.writes_into:
            return _Situation(root, target, around)
        raise ScenarioError(
            "--out", shown, f"a folder of its own, not one inside {root} (lwpdsim {around.command})"
        )
    if not os.path.lexists(target):
        return _Situation(target, target, None)
    try:
        record = read_record(target)
    except DamagedRecord as err:
        raise ScenarioError(
            "--out", shown, f"a folder lwpdsim can tell it wrote; its record is damaged ({err})"
        ) from None
    held = contents(target)
    if record is None:
        if not held or kind.updated:
            return _Situation(target, target, None)
        raise ScenarioError(
            "--out",
            shown,
            f"a new or empty folder, or one lwpdsim wrote: this one holds files lwpdsim has no "
            f"record of writing (no {MARKER} lists them), so it is neither written into nor "
            "cleared (use another --out)",
        )
    if record.command != kind.command and record.command not in kind.writes_into:
        raise ScenarioError(
            "--out",
            shown,
            f"{kind.what}, or a new one: this one holds the results of lwpdsim {record.command}",
        )
    if not held or kind.updated or force:
        return _Situation(target, target, record)
    if resume and kind.resumable:
        if not _same_identity(record.identity, identity):
            raise ScenarioError(
                "--out",
                shown,
                f"the folder of {_describe_identity(identity)} to resume it: it holds "
                f"{_describe_identity(record.identity)} (use another --out, or --force to start over)",
            )
        return _Situation(target, target, record)
    hint = (
        "--resume to continue the sweep in it, --force to overwrite it"
        if kind.resumable
        else "use --force to overwrite it"
    )
    raise ScenarioError("--out", shown, f"a directory that does not exist yet ({hint})")


def check_out(out: str | Path, kind: ResultsFolder, **terms: Unpack[Terms]) -> None:
    """Raise a :class:`ScenarioError` (one line, naming ``--out``) unless ``kind``'s command may
    write ``out`` on these :class:`Terms`: a new folder, an empty one, one it updates, one to
    continue (``resume``, the same sweep) or one it wrote, to start over (``force``). Reads only;
    :func:`claim` takes it."""
    _situation(out, kind, terms)


def claim(
    out: str | Path, kind: ResultsFolder, *, will_write: Iterable[str] = (), **terms: Unpack[Terms]
) -> OutputFolder:
    """Take ``out`` for ``kind``'s command on these :class:`Terms` (see the module): check it
    (:func:`check_out`), create and lock it, clear what lwpdsim wrote there if ``force``, and check
    that none of the names in ``will_write`` (relative to ``out``) is a file lwpdsim did not write.
    Use the result as a context manager (or call :meth:`OutputFolder.release`)."""
    terms = {**terms, "inputs": list(terms.get("inputs", ()))}  # read twice
    identity = terms.get("identity")
    where = _situation(out, kind, terms)
    created = False
    if not os.path.lexists(where.root):
        try:
            where.root.mkdir(parents=True)
            created = True
        except FileExistsError:
            pass  # another command made it first: the lock decides
        except OSError as err:
            raise ScenarioError(
                "--out", str(out), f"a folder lwpdsim can create ({err.strerror})"
            ) from None
    lock = FolderLock.acquire(where.root, kind.command)
    folder: OutputFolder | None = None
    try:
        where = _situation(out, kind, terms)  # again, now that nobody else can change it
        folder = OutputFolder(
            where.root, where.target, where.record, kind, lock, identity=identity, created=created
        )
        will_write = list(will_write)
        folder.check_free(will_write)
        if terms.get("force", False) and where.record is not None:
            folder.clear(conflict_field="--force")
        folder.start()
    except BaseException:
        if folder is not None:
            folder.release()
        else:
            lock.release()
            if created:
                with contextlib.suppress(OSError):
                    where.root.rmdir()
        raise
    return folder
