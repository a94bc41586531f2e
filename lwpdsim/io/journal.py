"""The record of what lwpdsim wrote in an output folder: the file ``.lwpdsim-written.jsonl``.

Its first line says which command owns the folder (and, for a sweep, which sweep); every other
line names one path, relative to the folder, that lwpdsim wrote: a file (``f``, with the
temporary name it was written under, ``t``), a folder it created (``d``) or a staging folder of
its own (``s``). A path is recorded before it is written, so a command killed midway leaves no
file of its own unrecorded. Lines are appended as files are written; a torn last line (a crash
or a full disk) is ignored, and the record is rewritten compactly (only paths that exist) each
time a command claims the folder.
"""

from __future__ import annotations

import contextlib
import json
import os
import stat
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

from .files import OutputError, write_text_atomic

MARKER = ".lwpdsim-written.jsonl"
FORMAT = "lwpdsim-written/1"
_KINDS = ("f", "t", "d", "s")


class DamagedRecord(ValueError):
    """The record of a folder cannot be read: nothing in that folder is provably lwpdsim's."""


def clean_relative(value: Any) -> str | None:
    """``value`` as a relative path strictly inside a folder (posix, no ``.``/``..`` parts, no
    empty part), or None if it is not one."""
    if not isinstance(value, str) or not value or "\x00" in value or "\\" in value:
        return None
    path = PurePosixPath(value)
    if path.is_absolute() or any(part in ("", ".", "..") for part in value.split("/")):
        return None
    return path.as_posix()


@dataclass
class Record:
    """What a folder's record says: its owner, and every path lwpdsim wrote there."""

    command: str
    identity: dict[str, Any] | None = None
    created: bool = False  # lwpdsim created the folder itself
    paths: dict[str, set[str]] = field(default_factory=lambda: {k: set() for k in _KINDS})

    @property
    def files(self) -> set[str]:
        return self.paths["f"]

    @property
    def dirs(self) -> set[str]:
        return self.paths["d"]

    def add(self, entry: dict[str, Any]) -> None:
        for kind in _KINDS:
            rel = clean_relative(entry.get(kind))
            if rel is not None:
                self.paths[kind].add(rel)

    def header(self) -> dict[str, Any]:
        return {
            "format": FORMAT,
            "command": self.command,
            "identity": self.identity,
            "created": self.created,
        }


def read_record(folder: Path) -> Record | None:
    """The record of ``folder``; None if it has none. Raises :class:`DamagedRecord` if the
    record is there but unreadable (not a regular file, or no header)."""
    path = folder / MARKER
    try:
        info = os.lstat(path)
    except FileNotFoundError:
        return None
    except OSError as err:
        raise DamagedRecord(f"{path}: {err.strerror}") from None
    if not stat.S_ISREG(info.st_mode):
        raise DamagedRecord(f"{path} is not a regular file")
    try:
        with open(path, encoding="utf-8", errors="replace") as lines:
            header = _line(lines.readline())
            if header is None or header.get("format") != FORMAT:
                raise DamagedRecord(f"{path} has no lwpdsim header")
            if not isinstance(header.get("command"), str):
                raise DamagedRecord(f"{path} names no command")
            identity = header.get("identity")
            record = Record(
                header["command"],
                identity if isinstance(identity, dict) else None,
                header.get("created") is True,
            )
            for text in lines:
                entry = _line(text)
                if entry is not None:
                    record.add(entry)
    except OSError as err:
        raise DamagedRecord(f"{path}: {err.strerror}") from None
    return record


def _line(text: str) -> dict[str, Any] | None:
    try:
        value = json.loads(text)
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


class Journal:
    """Appends to a folder's record (opened by :meth:`start`, which rewrites it compactly)."""

    def __init__(self, folder: Path, record: Record) -> None:
        self.path = folder / MARKER
        self.record = record
        self._torn = False

    def start(self, exists: Iterable[tuple[str, str]]) -> None:
        """Rewrite the record: its header, then the ``(kind, path)`` entries given."""
        lines = [json.dumps(self.record.header())]
        lines += [json.dumps({kind: rel}) for kind, rel in sorted(exists)]
        write_text_atomic(self.path, "\n".join(lines) + "\n")

    def add(self, kind: str, rel: str, **extra: str) -> None:
        """Record ``rel`` (and ``extra`` paths, e.g. ``t``) before it is written."""
        entry = {kind: rel, **extra}
        text = ("\n" if self._torn else "") + json.dumps(entry) + "\n"
        try:
            flags = getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0)
            fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | flags)
            try:
                written = os.write(fd, text.encode("utf-8"))
            finally:
                os.close(fd)
        except OSError as err:
            self._torn = True
            raise OutputError(self.path, err.strerror or str(err)) from None
        self._torn = written != len(text.encode("utf-8"))
        if self._torn:
            raise OutputError(self.path, "short write (is the disk full?)")
        self.record.add(entry)

    def remove(self) -> None:
        with contextlib.suppress(OSError):
            self.path.unlink()
