"""Files of results: atomic writes, and the one policy for a command's output folder (``--out``).

Every command that writes results (``run``, ``sweep``, ``figures``) describes its folder with a
:class:`ResultsFolder`; :func:`check_out` and :func:`prepare_out` then decide, the same way for all,
whether an existing folder is refused, continued (``--resume``), written into, or cleared
(``--force``, only for a folder that command wrote, or an empty one).
"""

from __future__ import annotations

import os
import shutil
import threading
from dataclasses import dataclass
from pathlib import Path

from ..errors import ScenarioError


def write_bytes_atomic(path: str | Path, data: bytes) -> Path:
    """Write ``data`` to ``path`` through a temporary file in the same folder, so that a reader
    (or an interrupted writer) never sees half a file."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    try:
        tmp.write_bytes(data)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return path


def write_text_atomic(path: str | Path, text: str) -> Path:
    """Write ``text`` (UTF-8) to ``path`` atomically (see :func:`write_bytes_atomic`)."""
    return write_bytes_atomic(path, text.encode("utf-8"))


@dataclass(frozen=True)
class ResultsFolder:
    """What a command's output folder is, for the policy of :func:`check_out`."""

    marker: str  # a file every folder written by this command holds
    what: str  # the kind of folder, as messages name it
    resumable: bool = False  # --resume continues the work in an existing folder
    updated: bool = False  # an existing folder is written into (never refused nor cleared)


#: ``lwpdsim run``: a summary and one folder per rule.
RUN_FOLDER = ResultsFolder("summary.csv", "an lwpdsim results directory")
#: ``lwpdsim sweep``: the sweep's manifest, its table and one folder per run.
SWEEP_FOLDER = ResultsFolder("sweep.json", "a sweep results directory", resumable=True)
#: ``lwpdsim figures``: reference figures, added to (or replacing) those already there.
FIGURES_FOLDER = ResultsFolder("README.md", "a figures directory", updated=True)


def check_out(
    out: str | Path, kind: ResultsFolder, *, force: bool = False, resume: bool = False
) -> None:
    """Raise a :class:`ScenarioError` unless ``out`` may receive ``kind``'s results: a folder that
    does not exist yet, one to continue (``resume``, if ``kind`` is resumable), one that ``kind``
    updates, or (with ``force``) one written by the same command, or an empty one, to start over."""
    out = Path(out)
    if resume and force:
        raise ScenarioError("--force", True, "either --resume or --force, not both")
    if out.exists() and not out.is_dir():
        raise ScenarioError("--out", str(out), "a directory")
    if not out.exists() or kind.updated or (resume and kind.resumable):
        return
    if not force:
        hint = (
            "--resume to continue the sweep in it, --force to overwrite it"
            if kind.resumable
            else "use --force to overwrite it"
        )
        raise ScenarioError("--out", str(out), f"a directory that does not exist yet ({hint})")
    if any(out.iterdir()) and not (out / kind.marker).exists():
        raise ScenarioError(
            "--out", str(out), f"{kind.what} (one with {kind.marker}) or an empty one"
        )


def prepare_out(
    out: str | Path, kind: ResultsFolder, *, force: bool = False, resume: bool = False
) -> Path:
    """Check ``out`` (:func:`check_out`) and clear it when ``force`` says to start over; the caller
    creates it when it has something to write (so a run that fails first leaves no folder)."""
    out = Path(out)
    check_out(out, kind, force=force, resume=resume)
    if force and out.exists() and not kind.updated:
        shutil.rmtree(out)
    return out
