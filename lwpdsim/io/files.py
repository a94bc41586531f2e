"""Writing files: atomic writes, the error a failed write raises, the kinds of output folder the
commands write (:class:`ResultsFolder`), and the plain :class:`Writer` of the Python API.

The commands write through a claimed output folder (:mod:`.ownership`), which records every file
it writes; the Python API (``RunResult.save``, ``save_results``, ``draw_run``) writes where it is
told through :data:`PLAIN`, which only makes every write atomic.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from ..errors import LwpdsimError


class OutputError(LwpdsimError):
    """Writing a result failed (a full disk, a folder that cannot be written, a file lwpdsim did
    not write in the way): one line naming the path; the command exits with status 1."""

    def __init__(self, path: str | Path, reason: str) -> None:
        self.path = str(path)
        self.reason = reason
        super().__init__(f"cannot write {self.path}: {reason}")


def temporary_name(path: Path) -> Path:
    """The hidden name a file is written under before it is renamed to ``path``."""
    return path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")


def write_bytes_atomic(path: str | Path, data: bytes) -> Path:
    """Write ``data`` to ``path`` through a temporary file in the same folder, so that a reader
    (or an interrupted writer) never sees half a file. Raises :class:`OutputError`."""
    path = Path(path)
    tmp = temporary_name(path)
    try:
        tmp.write_bytes(data)
        os.replace(tmp, path)
    except OSError as err:
        raise OutputError(err.filename or path, err.strerror or str(err)) from None
    finally:
        with contextlib.suppress(OSError):
            tmp.unlink(missing_ok=True)
    return path


def write_text_atomic(path: str | Path, text: str) -> Path:
    """Write ``text`` (UTF-8) to ``path`` atomically (see :func:`write_bytes_atomic`)."""
    return write_bytes_atomic(path, text.encode("utf-8"))


@contextlib.contextmanager
def writing(path: str | Path) -> Iterator[None]:
    """Turn an ``OSError`` raised while writing under ``path`` into an :class:`OutputError`."""
    try:
        yield
    except OSError as err:
        raise OutputError(err.filename or path, err.strerror or str(err)) from None


class Writer(Protocol):
    """Where results are written: every write is atomic; a claimed folder also records it."""

    def write_bytes(self, path: Path, data: bytes) -> Path: ...

    def write_text(self, path: Path, text: str) -> Path: ...

    def mkdir(self, path: Path) -> Path: ...

    def stage(self, near: Path) -> contextlib.AbstractContextManager[Path]: ...

    def adopt(self, staged: Path, path: Path) -> Path: ...


class PlainWriter:
    """Atomic writes anywhere (the Python API): folders are created, files replaced."""

    def write_bytes(self, path: Path, data: bytes) -> Path:
        self.mkdir(Path(path).parent)
        return write_bytes_atomic(path, data)

    def write_text(self, path: Path, text: str) -> Path:
        return self.write_bytes(path, text.encode("utf-8"))

    def mkdir(self, path: Path) -> Path:
        with writing(path):
            Path(path).mkdir(parents=True, exist_ok=True)
        return Path(path)

    @contextlib.contextmanager
    def stage(self, near: Path) -> Iterator[Path]:
        """A fresh hidden folder in ``near`` for files written by other libraries, moved into
        place by :meth:`adopt`; removed with what is left in it on the way out."""
        self.mkdir(near)
        with writing(near):
            tmp = Path(tempfile.mkdtemp(prefix=".lwpdsim-stage.", dir=near))
        try:
            yield tmp
        finally:
            shutil.rmtree(tmp, ignore_errors=True)

    def adopt(self, staged: Path, path: Path) -> Path:
        with writing(path):
            os.replace(staged, path)
        return Path(path)


#: The writer of the Python API.
PLAIN = PlainWriter()


@dataclass(frozen=True)
class ResultsFolder:
    """What a command's output folder is, for the policy of :mod:`.ownership`."""

    command: str  # the command that writes it, as its record of written files names it
    what: str  # the kind of folder, as messages name it
    resumable: bool = False  # --resume continues the work in an existing folder
    updated: bool = False  # files are added to an existing folder (never cleared)
    #: commands whose folders this one also writes into (``plot`` draws into them all)
    writes_into: tuple[str, ...] = ()


#: ``lwpdsim run``: a summary and one folder per rule.
RUN_FOLDER = ResultsFolder("run", "the results folder of an lwpdsim run")
#: ``lwpdsim sweep``: the sweep's manifest, its table and one folder per run.
SWEEP_FOLDER = ResultsFolder("sweep", "the results folder of an lwpdsim sweep", resumable=True)
#: ``lwpdsim figures``: reference figures, added to (or replacing) those it wrote before.
FIGURES_FOLDER = ResultsFolder("figures", "an lwpdsim figures folder", updated=True)
#: ``lwpdsim plot``: figures added to a run's or a sweep's folder, or to a folder of their own.
PLOT_FOLDER = ResultsFolder(
    "plot", "a folder of figures", updated=True, writes_into=("run", "sweep", "plot")
)
