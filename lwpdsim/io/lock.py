"""The lock of an output folder: one lwpdsim command writes a folder at a time.

The lock is the file ``.lwpdsim.lock`` in the folder, holding the pid, host and start time of the
command that took it, and locked with ``flock`` while that command runs (the system releases it
when the process dies). A second command is refused at once. A lock left behind by a command that
crashed is taken over: nobody holds its ``flock`` and the process it names is gone (on this
host); a lock of another host is never taken over (it cannot be checked from here).
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import socket
import stat
import time
from pathlib import Path
from typing import Any

from ..errors import ScenarioError

try:  # pragma: no cover - always there on Linux and macOS
    import fcntl
except ImportError:  # pragma: no cover - Windows: the pid alone tells a stale lock
    fcntl = None  # type: ignore[assignment]

LOCK_NAME = ".lwpdsim.lock"
_OPEN_FLAGS = (
    os.O_RDWR
    | os.O_CREAT
    | getattr(os, "O_NOFOLLOW", 0)
    | getattr(os, "O_CLOEXEC", 0)
    | getattr(os, "O_NONBLOCK", 0)
)


def _process_start(pid: int) -> str | None:
    """When process ``pid`` started (clock ticks since boot, Linux), to tell a reused pid."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return stat.rsplit(")", 1)[-1].split()[19]


def _alive(pid: int) -> bool:
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    except OSError:
        return False
    return True


def _holder(text: str) -> dict[str, Any] | None:
    """What a lock file says: a JSON object with ``pid`` (and ``host``, ``started``), or a bare
    pid; None when it says nothing usable."""
    text = text.strip()
    if text.isdigit():
        return {"pid": int(text), "host": socket.gethostname()}
    try:
        info = json.loads(text)
    except ValueError:
        return None
    if not isinstance(info, dict) or not isinstance(info.get("pid"), int):
        return None
    return info


def _still_held(info: dict[str, Any] | None) -> bool:
    """Whether the command a lock file names may still be running."""
    if info is None:
        return False
    if info.get("host", socket.gethostname()) != socket.gethostname():
        return True
    pid = int(info["pid"])
    if not _alive(pid):
        return False
    started = info.get("started")
    return started is None or _process_start(pid) in (None, started)


def _describe(info: dict[str, Any] | None) -> str:
    if info is None:
        return "another lwpdsim command"
    command = f"lwpdsim {info['command']}" if isinstance(info.get("command"), str) else "lwpdsim"
    return f"{command} (pid {info['pid']} on {info.get('host', 'this host')})"


class FolderLock:
    """A held lock on a folder (see the module); :meth:`release` it when done."""

    def __init__(self, path: Path, fd: int) -> None:
        self.path = path
        self._fd: int | None = fd

    @classmethod
    def acquire(cls, folder: Path, command: str) -> FolderLock:
        """Lock ``folder`` for ``command``; raise a :class:`ScenarioError` naming ``--out`` when
        another command holds it."""
        path = folder / LOCK_NAME
        for _attempt in range(5):
            try:
                fd = os.open(path, _OPEN_FLAGS, 0o644)
            except OSError as err:
                raise ScenarioError(
                    "--out", str(folder), f"a folder lwpdsim can lock ({path}: {err.strerror})"
                ) from None
            try:
                if not stat.S_ISREG(os.fstat(fd).st_mode):
                    raise ScenarioError(
                        "--out", str(folder), f"a folder lwpdsim can lock ({path} is not a file)"
                    )
                if not cls._flock(fd):
                    raise cls._held(folder, path, _holder(cls._read(fd)))
                if not cls._same_file(fd, path):  # removed by its holder meanwhile: try again
                    os.close(fd)
                    continue
                info = _holder(cls._read(fd))
                if _still_held(info):
                    raise cls._held(folder, path, info)
                cls._write(fd, command)
            except OSError as err:
                with contextlib.suppress(OSError):
                    os.close(fd)
                raise ScenarioError(
                    "--out", str(folder), f"a folder lwpdsim can write ({path}: {err.strerror})"
                ) from None
            except BaseException:
                with contextlib.suppress(OSError):
                    os.close(fd)
                raise
            return cls(path, fd)
        raise ScenarioError(
            "--out", str(folder), f"a folder lwpdsim can lock ({path} keeps changing)"
        )

    @staticmethod
    def _flock(fd: int) -> bool:
        """Take the ``flock``; False if another process holds it."""
        if fcntl is None:  # pragma: no cover - Windows
            return True
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as err:
            # held by another process; any other error: no flock here, the pid alone tells
            return err.errno not in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES)
        return True

    @staticmethod
    def _same_file(fd: int, path: Path) -> bool:
        try:
            return os.fstat(fd).st_ino == os.lstat(path).st_ino
        except OSError:
            return False

    @staticmethod
    def _read(fd: int) -> str:
        os.lseek(fd, 0, os.SEEK_SET)
        return os.read(fd, 4096).decode("utf-8", "replace")

    @staticmethod
    def _write(fd: int, command: str) -> None:
        info = {
            "pid": os.getpid(),
            "host": socket.gethostname(),
            "started": _process_start(os.getpid()),
            "command": command,
            "time": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        }
        os.ftruncate(fd, 0)
        os.lseek(fd, 0, os.SEEK_SET)
        os.write(fd, (json.dumps(info) + "\n").encode("utf-8"))

    @staticmethod
    def _held(folder: Path, path: Path, info: dict[str, Any] | None) -> ScenarioError:
        return ScenarioError(
            "--out",
            str(folder),
            f"a folder no other command is writing: {_describe(info)} holds {path} "
            "(delete that file if no such command is running)",
        )

    def release(self) -> None:
        """Remove the lock file and let go of the lock (nothing if already released)."""
        if self._fd is None:
            return
        with contextlib.suppress(OSError):
            if self._same_file(self._fd, self.path):
                self.path.unlink()
        with contextlib.suppress(OSError):
            os.close(self._fd)
        self._fd = None
