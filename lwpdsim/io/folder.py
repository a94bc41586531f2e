"""A claimed output folder (:func:`~lwpdsim.io.ownership.claim`): every write recorded first
(:mod:`.journal`) and atomic, never over a file lwpdsim did not write nor through a symbolic link;
staging folders for files other libraries write; and removal of exactly what lwpdsim wrote."""

from __future__ import annotations

import contextlib
import itertools
import os
import stat
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from ..errors import ScenarioError
from .files import OutputError, ResultsFolder, temporary_name, writing
from .journal import MARKER, Journal, Record
from .lock import LOCK_NAME, FolderLock

_STAGE_PREFIX = ".lwpdsim-stage."
_counter = itertools.count()


def _internal(name: str) -> bool:
    """Files of lwpdsim's own bookkeeping in a folder (the record, its temporary copy, the lock)."""
    return name in (MARKER, LOCK_NAME) or (name.startswith(f".{MARKER}.") and name.endswith(".tmp"))


def contents(folder: Path) -> list[str]:
    """What ``folder`` holds besides lwpdsim's bookkeeping."""
    try:
        return [name for name in os.listdir(folder) if not _internal(name)]
    except OSError:
        return []


def _lstat(path: Path) -> os.stat_result | None:
    try:
        return os.lstat(path)
    except OSError:
        return None


class OutputFolder:
    """A claimed output folder: writes (recorded, atomic), staging, removals, release."""

    def __init__(
        self,
        root: Path,
        target: Path,
        old: Record | None,
        kind: ResultsFolder,
        lock: FolderLock,
        *,
        identity: dict[str, Any] | None,
        created: bool,
    ) -> None:
        self.root, self.path = root, target
        command = old.command if old is not None and kind.updated else kind.command
        record = Record(
            command,
            identity if identity is not None else (old.identity if old else None),
            created or (old is not None and old.created),
        )
        if old is not None:
            record.paths = old.paths
        self.journal = Journal(self.root, record)
        self._lock: FolderLock | None = lock
        self._stages: set[Path] = set()

    @property
    def record(self) -> Record:
        return self.journal.record

    # ------------------------------------------------------------------ paths

    def rel(self, path: str | Path) -> str:
        """``path`` relative to the folder's root; an :class:`OutputError` if it is outside."""
        full = Path(os.path.abspath(path))
        try:
            rel = full.relative_to(self.root)
        except ValueError:
            raise OutputError(path, f"outside the output folder {self.root}") from None
        if not rel.parts:
            raise OutputError(path, "the output folder itself")
        return rel.as_posix()

    def owns(self, path: str | Path) -> bool:
        """Whether lwpdsim recorded writing ``path`` (a file or a folder it created)."""
        rel = self.rel(path)
        return rel in self.record.files or rel in self.record.dirs

    def _staged(self, full: Path) -> bool:
        return any(stage in full.parents for stage in self._stages)

    def _real_parents(self, rel: str, *, create: bool) -> None:
        """Make sure every folder above ``rel`` (below the root) is a real folder, creating the
        missing ones (recorded) if ``create``; never through a symbolic link."""
        path = self.root
        for part in Path(rel).parts[:-1]:
            path = path / part
            info = _lstat(path)
            if info is None and create:
                self.journal.add("d", self.rel(path))
                with writing(path):
                    path.mkdir()
            elif info is None or not stat.S_ISDIR(info.st_mode):
                raise OutputError(path, "not a folder (a symbolic link or a file is in the way)")

    def _free(self, full: Path, rel: str) -> str | None:
        """Why ``full`` may not be written as a file, or None."""
        info = _lstat(full)
        if info is None:
            return None
        if rel not in self.record.files:
            return "it exists and lwpdsim did not write it (move it away)"
        if stat.S_ISDIR(info.st_mode):
            return "a folder is in the way"
        return None

    def check_free(self, names: Iterable[str]) -> None:
        """Raise a :class:`ScenarioError` if a name (relative to the target folder) exists and
        is not lwpdsim's, so a command stops before it simulates rather than after."""
        for name in names:
            full = self.path / name
            info = _lstat(full)
            if info is None:
                continue
            rel = self.rel(full)
            if rel in self.record.dirs:
                problem = None if stat.S_ISDIR(info.st_mode) else "it is no longer a folder"
            elif rel in self.record.files:
                problem = "a folder is in its place" if stat.S_ISDIR(info.st_mode) else None
            else:
                problem = "lwpdsim did not write it"
            if problem is not None:
                raise ScenarioError(
                    "--out",
                    str(self.path),
                    f"a folder where lwpdsim can write {name}: {full} is in the way, {problem} "
                    "(move it away, or use another --out)",
                )

    # ------------------------------------------------------------------ writing

    def mkdir(self, path: str | Path) -> Path:
        """Create folder ``path`` (and those above it) inside the root, recording each."""
        full = Path(os.path.abspath(path))
        if full == self.root or self._staged(full):
            with writing(full):
                full.mkdir(parents=True, exist_ok=True)
            return Path(path)
        rel = self.rel(full)
        self._real_parents(rel + "/x", create=True)
        return Path(path)

    def write_bytes(self, path: str | Path, data: bytes) -> Path:
        """Write ``data`` to ``path`` atomically, recorded first; raise an :class:`OutputError`
        if a file lwpdsim did not write is there, or if writing fails."""
        full = Path(os.path.abspath(path))
        if self._staged(full):  # a staging folder is lwpdsim's alone: recorded as a whole
            with writing(full):
                full.parent.mkdir(parents=True, exist_ok=True)
            return self._replace(full, data)
        rel = self.rel(full)
        self._real_parents(rel, create=True)
        why = self._free(full, rel)
        if why is not None:
            raise OutputError(full, why)
        self.journal.add("f", rel, t=self.rel(temporary_name(full)))
        return self._replace(full, data)

    def write_text(self, path: str | Path, text: str) -> Path:
        return self.write_bytes(path, text.encode("utf-8"))

    @staticmethod
    def _replace(full: Path, data: bytes) -> Path:
        tmp = temporary_name(full)
        try:
            with writing(full):
                tmp.write_bytes(data)
                os.replace(tmp, full)
        finally:
            with contextlib.suppress(OSError):
                tmp.unlink(missing_ok=True)
        return full

    @contextlib.contextmanager
    def stage(self, near: str | Path) -> Iterator[Path]:
        """A new staging folder in ``near`` (inside the root): other libraries write files there
        (matplotlib, pandas), which :meth:`adopt` or :meth:`commit` move into place; whatever is
        left is removed on the way out."""
        near = Path(os.path.abspath(near))
        self.mkdir(near)
        stage = near / f"{_STAGE_PREFIX}{os.getpid()}.{next(_counter)}"
        self.journal.add("s", self.rel(stage))
        with writing(stage):
            stage.mkdir()
        self._stages.add(stage)
        try:
            yield stage
        finally:
            self._stages.discard(stage)
            _remove_tree(stage)

    def adopt(self, staged: str | Path, path: str | Path) -> Path:
        """Move the staged file ``staged`` to ``path`` (recorded; atomic)."""
        full = Path(os.path.abspath(path))
        rel = self.rel(full)
        self._real_parents(rel, create=True)
        why = self._free(full, rel)
        if why is not None:
            raise OutputError(full, why)
        self.journal.add("f", rel)
        with writing(full):
            os.replace(staged, full)
        return full

    def commit(self, staged: Path, path: str | Path) -> Path:
        """Move the staging folder ``staged`` (filled by this command) to the folder ``path``,
        replacing what lwpdsim wrote there before; an :class:`OutputError` if anything else is
        in it."""
        full = Path(os.path.abspath(path))
        rel = self.rel(full)
        self._real_parents(rel, create=True)
        if _lstat(full) is not None:
            problem = self._foreign(full)
            if problem is not None:
                raise OutputError(full, f"{problem} (move it away)")
            self.clear(rel)
            if _lstat(full) is not None:  # a folder lwpdsim found there, now empty
                with writing(full):
                    full.rmdir()
        for dirpath, dirnames, filenames in os.walk(staged):
            inner = Path(dirpath).relative_to(staged)
            self.journal.add("d", (Path(rel) / inner).as_posix())
            for name in filenames:
                self.journal.add("f", (Path(rel) / inner / name).as_posix())
            dirnames[:] = [d for d in dirnames if not os.path.islink(os.path.join(dirpath, d))]
        with writing(full):
            os.replace(staged, full)
        self._stages.discard(staged)
        return full

    # ------------------------------------------------------------------ removing

    def _foreign(self, full: Path) -> str | None:
        """What, in or at ``full``, lwpdsim did not write (None if nothing)."""
        info = _lstat(full)
        if info is None:
            return None
        rel = self.rel(full)
        paths = self.record.paths
        if rel in paths["s"]:
            return None
        if stat.S_ISLNK(info.st_mode):
            return None if rel in paths["f"] or rel in paths["t"] else f"{full} is a link"
        if not stat.S_ISDIR(info.st_mode):
            mine = rel in paths["f"] or rel in paths["t"]
            return None if mine else f"lwpdsim did not write {full}"
        if rel not in paths["d"] and rel not in paths["f"]:
            return f"lwpdsim did not create the folder {full}"
        for name in sorted(os.listdir(full)):
            problem = self._foreign(full / name)
            if problem is not None:
                return problem
        return None

    def check_replaceable(self, path: str | Path) -> None:
        """Raise a :class:`ScenarioError` if ``path`` holds anything lwpdsim did not write, so
        that a command stops before it simulates what it could not store there."""
        problem = self._foreign(Path(os.path.abspath(path)))
        if problem is not None:
            raise ScenarioError(
                "--out",
                str(self.path),
                f"a folder where lwpdsim can replace {path}: {problem} (move it away)",
            )

    def remove(self, path: str | Path) -> bool:
        """Remove the file ``path`` if lwpdsim wrote it (a link there is removed, not followed);
        return whether it did."""
        full = Path(os.path.abspath(path))
        rel = self.rel(full)
        info = _lstat(full)
        if rel not in self.record.files or info is None or stat.S_ISDIR(info.st_mode):
            return False
        if self._parents_problem(rel, {}) is not None:
            return False
        with writing(full):
            full.unlink()
        return True

    def clear(self, under: str | None = None, *, conflict_field: str | None = None) -> None:
        """Remove what lwpdsim wrote (under the relative path ``under``, or everywhere): the
        recorded files, temporary files and staging folders, then the recorded folders left
        empty. Checks everything before removing anything: a recorded path now holding a folder
        with other files, or reached through a symbolic link, stops it (a
        :class:`ScenarioError` naming ``conflict_field``, else an :class:`OutputError`)."""
        paths = self.record.paths
        seen: dict[Path, str | None] = {}

        def inside(rel: str) -> bool:
            return under is None or rel == under or rel.startswith(under + "/")

        def refuse(full: Path, problem: str) -> None:
            message = f"{full} is {problem}, so lwpdsim removes nothing (move it away)"
            if conflict_field is None:
                raise OutputError(full, message)
            raise ScenarioError(conflict_field, str(self.path), message)

        doomed: list[Path] = []
        emptied: list[Path] = []
        for kind in ("f", "t", "s"):
            for rel in sorted(r for r in paths[kind] if inside(r) and _named_as_kind(kind, r)):
                full = self.root / rel
                problem = self._parents_problem(rel, seen)
                if problem == "missing":
                    continue
                if problem is not None:
                    refuse(full, problem)
                info = _lstat(full)
                if info is None:
                    continue
                if stat.S_ISDIR(info.st_mode) and kind != "s":
                    if os.listdir(full):
                        refuse(full, "now a folder with files in it")
                    emptied.append(full)
                else:
                    doomed.append(full)
        for full in doomed:
            with writing(full):
                if stat.S_ISDIR(os.lstat(full).st_mode):
                    _remove_tree(full)
                else:
                    full.unlink()
        for full in emptied:
            with contextlib.suppress(OSError):
                full.rmdir()
        for rel in sorted((r for r in paths["d"] if inside(r)), key=len, reverse=True):
            full = self.root / rel
            info = _lstat(full)
            if self._parents_problem(rel, {}) is None and info and stat.S_ISDIR(info.st_mode):
                with contextlib.suppress(OSError):
                    full.rmdir()
        for kind in paths:
            paths[kind] = {
                r for r in paths[kind] if not inside(r) or os.path.lexists(self.root / r)
            }

    def _parents_problem(self, rel: str, seen: dict[Path, str | None]) -> str | None:
        """None if every folder above ``rel`` (below the root) is a real folder, ``"missing"``
        if one is missing, else what is wrong (``seen`` caches the answers)."""
        path = self.root
        for part in Path(rel).parts[:-1]:
            path = path / part
            if path not in seen:
                info = _lstat(path)
                if info is None:
                    seen[path] = "missing"
                elif stat.S_ISDIR(info.st_mode):
                    seen[path] = None
                else:
                    seen[path] = f"reached through {path}, which is not a folder (a symbolic link?)"
            if seen[path] is not None:
                return seen[path]
        return None

    # ------------------------------------------------------------------ life cycle

    def start(self) -> None:
        """Remove the temporary files and staging folders a command that died left (the folder
        is locked: nobody is writing them), then rewrite the record: the header, and only the
        recorded paths that exist."""
        for kind in ("t", "s"):
            for rel in self.record.paths[kind]:
                if not _named_as_kind(kind, rel):
                    continue
                full = self.root / rel
                info = _lstat(full)
                if info is None or self._parents_problem(rel, {}) is not None:
                    continue
                with contextlib.suppress(OSError):
                    _remove_tree(full) if stat.S_ISDIR(info.st_mode) else full.unlink()
        try:
            self._rewrite_record()
        except OutputError as err:
            raise ScenarioError(
                "--out", str(self.path), f"a folder lwpdsim can write ({err})"
            ) from None

    def _rewrite_record(self) -> None:
        """Rewrite the record compactly: its header and the paths that exist, sorted (so the
        record of a folder rebuilt with the same files reads the same)."""
        entries = [
            (kind, rel)
            for kind, rels in self.record.paths.items()
            for rel in rels
            if os.path.lexists(self.root / rel)
        ]
        for kind in self.record.paths:
            self.record.paths[kind] = {rel for k, rel in entries if k == kind}
        self.journal.start(entries)

    def release(self) -> None:
        """Let go of the folder: remove staging folders left, and, when nothing lwpdsim wrote
        is left in it, the record too (and the folder, if lwpdsim created it and it is empty)."""
        if self._lock is None:
            return
        for stage in list(self._stages):
            _remove_tree(stage)
        self._stages.clear()
        files = self.record.files
        if not any(os.path.lexists(self.root / rel) for rel in files):
            for rel in sorted(self.record.dirs, key=len, reverse=True):
                info = _lstat(self.root / rel)
                if info and stat.S_ISDIR(info.st_mode) and not self._parents_problem(rel, {}):
                    with contextlib.suppress(OSError):
                        (self.root / rel).rmdir()
            if not contents(self.root):
                self.journal.remove()
                self._lock.release()
                if self.record.created:
                    with contextlib.suppress(OSError):
                        self.root.rmdir()
        else:  # what lwpdsim wrote stays: so does its record, compacted as at the next claim
            with contextlib.suppress(OutputError):
                self._rewrite_record()
        self._lock.release()
        self._lock = None

    def __enter__(self) -> OutputFolder:
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


def _named_as_kind(kind: str, rel: str) -> bool:
    """Whether a recorded temporary file (``t``) or staging folder (``s``) has the name lwpdsim
    gives such paths (``.NAME.PID.THREAD.tmp``, ``.lwpdsim-stage.*``): an entry of another name
    in a damaged or edited record is never removed as scratch. Recorded files (``f``) pass."""
    name = Path(rel).name
    if kind == "t":
        return name.startswith(".") and name.endswith(".tmp")
    if kind == "s":
        return name.startswith(_STAGE_PREFIX)
    return True


def _remove_tree(path: Path) -> None:
    """Remove a staging folder of lwpdsim's and what is in it, never following a link."""
    info = _lstat(path)
    if info is None or not stat.S_ISDIR(info.st_mode):
        return
    for dirpath, dirnames, filenames in os.walk(path, topdown=False):
        for name in filenames + [d for d in dirnames if os.path.islink(os.path.join(dirpath, d))]:
            with contextlib.suppress(OSError):
                os.unlink(os.path.join(dirpath, name))
        for name in dirnames:
            with contextlib.suppress(OSError):
                os.rmdir(os.path.join(dirpath, name))
    with contextlib.suppress(OSError):
        os.rmdir(path)
