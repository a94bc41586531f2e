"""No process a sweep starts outlives its main process: after ``kill -9``, SIGTERM or an exception
in the main process, every worker, the forkserver and the resource tracker are gone within seconds;
Ctrl-C still writes the table of the finished runs.

Each case runs ``lwpdsim`` in a subprocess in its own session, records its process tree from /proc
while it runs, ends the main process and waits for every recorded process to go. A failing case
kills whatever is left (its process group, then every recorded process).
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pandas as pd
import pytest

from lwpdsim.sweep import execute

ROOT = Path(__file__).resolve().parents[1]
GONE_WITHIN = 10.0  # seconds every recorded process has after the main process ended
START_WITHIN = 180.0  # seconds a busy machine may take to start the sweep and finish one run

GRID = """
base = "base.toml"
name = "slow"
replicates = 20
[factors]
"cluster.workers" = [4]
"""
FIGURE_SPEC = """
name = "slowfig"
title = "slow"
seeds = 10
lr_grid = [0.005, 0.01]
select = "final_loss"
target_loss = 0.0
curves = ["update"]
[base]
seed = 5
[base.cluster]
workers = 4
[base.model]
kind = "least_squares"
dataset = "synthetic_regression"
samples = 60
features = 3
[base.train]
max_updates = 3000
[[base.schemes]]
name = "sync"
"""


# --------------------------------------------------------------------------- the process tree


def _stat(pid: int) -> tuple[int, str, str] | None:
    """(parent pid, state, start time) of a process, None when there is none."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = text.rsplit(")", 1)[1].split()
    return int(fields[1]), fields[0], fields[19]


def _descendants(root: int) -> dict[int, str]:
    """Every process below ``root`` (children, recursively): pid -> start time."""
    parents: dict[int, list[tuple[int, str]]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and (stat := _stat(int(entry.name))) is not None:
            parents.setdefault(stat[0], []).append((int(entry.name), stat[2]))
    found: dict[int, str] = {}
    todo = [root]
    while todo:
        for pid, started in parents.get(todo.pop(), []):
            if pid not in found:
                found[pid] = started
                todo.append(pid)
    return found


def _alive(pid: int, started: str) -> bool:
    """The process that started at ``started`` still runs (a zombie has ended)."""
    stat = _stat(pid)
    return stat is not None and stat[2] == started and stat[1] not in "ZX"


def _left(seen: dict[int, str]) -> dict[int, str]:
    return {pid: started for pid, started in seen.items() if _alive(pid, started)}


class Tree:
    """A ``lwpdsim`` command in its own session, and every process seen below it."""

    def __init__(self, args: list[str], cwd: Path) -> None:
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
        self.err_path = cwd / "stderr.txt"
        with open(self.err_path, "w") as err:
            self.proc = subprocess.Popen(
                [sys.executable, *args],
                cwd=cwd,
                env=env,
                stdout=subprocess.DEVNULL,
                stderr=err,
                start_new_session=True,
            )
        self.seen: dict[int, str] = {}

    def poll(self) -> int | None:
        """Record the processes below the main one; its exit code once it has ended."""
        if self.proc.poll() is None:
            self.seen.update(_descendants(self.proc.pid))
        return self.proc.poll()

    def wait_for(self, ready: Callable[[], bool], what: str) -> None:
        """Poll until ``ready()`` (while recording the tree); fail if the main process ends."""
        deadline = time.monotonic() + START_WITHIN
        while time.monotonic() < deadline:
            if self.poll() is not None:
                pytest.fail(f"ended ({self.proc.returncode}) before {what}: {self.stderr()}")
            if ready():
                self.poll()
                return
            time.sleep(0.1)
        pytest.fail(f"no {what} within {START_WITHIN} s")

    def end(self, sig: int, *, group: bool = False) -> int:
        (os.killpg if group else os.kill)(self.proc.pid, sig)
        return self.proc.wait(60)

    def assert_all_gone(self) -> None:
        deadline = time.monotonic() + GONE_WITHIN
        while _left(self.seen) and time.monotonic() < deadline:
            time.sleep(0.1)
        left = _left(self.seen)
        assert not left, (
            f"still running {GONE_WITHIN} s after the main process: {self.describe(left)}"
        )

    def describe(self, pids: dict[int, str]) -> list[str]:
        out = []
        for pid in pids:
            with contextlib.suppress(OSError):
                cmd = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ")
                out.append(f"{pid}: {cmd[:100].decode(errors='replace')}")
        return out

    def stderr(self) -> str:
        return self.err_path.read_text()

    def kill_all(self) -> None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.proc.pid, signal.SIGKILL)
        for pid in _left(self.seen):
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.proc.wait(10)


@contextlib.contextmanager
def lwpdsim(args: list[str], cwd: Path) -> Iterator[Tree]:
    tree = Tree(args, cwd)
    try:
        yield tree
    finally:
        tree.kill_all()


@pytest.fixture
def grid(tmp_path: Path, tiny_toml) -> Path:
    # runs of a second or more each (3000 synchronous updates), far more than finish before the kill
    train = {"lr": 0.01, "max_updates": 3000, "target_loss": 0.0}
    (tmp_path / "base.toml").write_text(tiny_toml("slowbase", [{"name": "sync"}], train=train))
    path = tmp_path / "grid.toml"
    path.write_text(GRID)
    return path


def finished(out: Path) -> set[str]:
    """Run ids of the runs stored in a sweep's folder (a run's folder is renamed into place)."""
    runs = out / "runs"
    return (
        {p.name for p in runs.iterdir() if not p.name.startswith(".")} if runs.is_dir() else set()
    )


def sweep_args(grid: Path, out: Path, executor: str) -> list[str]:
    return [
        *("-m", "lwpdsim.cli", "sweep", str(grid), "--executor", executor),
        *("--max-workers", "2", "--out", str(out), "--quiet"),
    ]


def start_sweep(tree: Tree, out: Path) -> None:
    """Wait until one run has finished and the pool's processes are there (main process, at least
    2 workers): the sweep is in full swing."""
    tree.wait_for(lambda: bool(finished(out)) and len(tree.seen) >= 2, "a finished run")


# --------------------------------------------------------------------------- the cases


# lwpdsim installs no SIGTERM handler, so SIGTERM ends the main process as abruptly as SIGKILL
# (no finally block, no atexit): each executor meets one of the two, and each signal one executor.
@pytest.mark.slow
@pytest.mark.parametrize(
    ("executor", "sig"),
    [("processes", signal.SIGKILL), ("dask", signal.SIGTERM)],
    ids=["processes-kill-9", "dask-sigterm"],
)
def test_a_killed_sweep_leaves_no_process(
    tmp_path: Path, grid: Path, executor: str, sig: int
) -> None:
    out = tmp_path / "out"
    with lwpdsim(sweep_args(grid, out, executor), tmp_path) as tree:
        start_sweep(tree, out)
        assert tree.end(sig) == -sig
        assert len(tree.seen) >= 2, tree.describe(tree.seen)  # at least the two workers
        tree.assert_all_gone()
    assert len(finished(out)) < 20  # the sweep was stopped midway


@pytest.mark.slow
def test_a_killed_figures_build_leaves_no_process(tmp_path: Path) -> None:
    spec = tmp_path / "slowfig.toml"
    spec.write_text(FIGURE_SPEC)
    out = tmp_path / "figs"
    args = ["-m", "lwpdsim.cli", "figures", "--specs", str(spec), "--jobs", "2"]
    with lwpdsim([*args, "--out", str(out), "--quiet"], tmp_path) as tree:
        # the workers are the forkserver's children, the main process's grandchildren
        def pool_ready() -> bool:
            parents = [stat[0] for pid in tree.seen if (stat := _stat(pid)) is not None]
            return sum(parent != tree.proc.pid for parent in parents) >= 2

        tree.wait_for(pool_ready, "two pool workers")
        time.sleep(1.0)  # the workers are in their first runs
        tree.poll()
        assert tree.end(signal.SIGKILL) == -signal.SIGKILL
        tree.assert_all_gone()


@pytest.mark.slow
@pytest.mark.parametrize("executor", ["processes", "dask"])
def test_ctrl_c_writes_the_table_of_finished_runs_and_leaves_no_process(
    tmp_path: Path, grid: Path, executor: str
) -> None:
    out = tmp_path / "out"
    with lwpdsim(sweep_args(grid, out, executor), tmp_path) as tree:
        start_sweep(tree, out)
        # a terminal's Ctrl-C reaches the whole foreground process group
        assert tree.end(signal.SIGINT, group=True) == 130
        tree.assert_all_gone()
        err = tree.stderr()
    assert "Traceback" not in err, err  # the whole stderr when it fails
    assert "continue with --resume" in err and err.rstrip().endswith("interrupted")
    table = pd.read_csv(out / "runs.csv")
    done = finished(out)
    assert 1 <= len(done) < 20
    assert set(table["run_id"]) == done and set(table["status"]) == {"ok"}
    assert json.loads((out / "sweep.json").read_text())["complete"] is False


@pytest.mark.slow
@pytest.mark.parametrize("executor", ["processes", "dask"])
def test_an_exception_in_the_main_process_stops_the_pool(
    tmp_path: Path, grid: Path, executor: str
) -> None:
    out = tmp_path / "out"
    script = (
        "from lwpdsim.sweep import run_sweep\n"
        "def boom(record):\n"
        "    raise RuntimeError('boom after one run')\n"
        f"run_sweep({str(grid)!r}, executor={executor!r}, max_workers=2, out={str(out)!r},"
        " on_run=boom, plots=False)\n"
    )
    with lwpdsim(["-c", script], tmp_path) as tree:
        deadline = time.monotonic() + START_WITHIN
        while tree.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        assert tree.proc.returncode == 1, tree.stderr()
        assert "RuntimeError: boom after one run" in tree.stderr()
        assert len(finished(out)) == 1
        assert len(tree.seen) >= 2, tree.describe(tree.seen)
        tree.assert_all_gone()


def test_sigterm_is_left_to_its_default_action() -> None:
    # what lets one signal stand for the other above: lwpdsim handles neither
    code = (
        "import signal, lwpdsim.cli, lwpdsim.sweep.execute\n"
        "print(signal.getsignal(signal.SIGTERM) is signal.SIG_DFL)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "True", out.stderr


def test_a_pool_worker_exits_when_the_pipe_from_its_parent_closes() -> None:
    import multiprocessing

    context = execute._process_context() or multiprocessing.get_context()
    alive_r, alive_w = context.Pipe(duplex=False)
    worker = context.Process(target=execute._exit_when_closed, args=(alive_r,), daemon=True)
    worker.start()
    try:
        worker.join(1.0)
        assert worker.is_alive()  # the write end is open: it waits
        alive_w.close()
        worker.join(GONE_WITHIN)
        assert worker.exitcode == 1
    finally:
        if worker.is_alive():
            worker.kill()
        alive_r.close()


# A worker ended in the middle of sending a result leaves half a message in the pool's result pipe:
# the pool's manager thread then waited for the rest forever, and the interpreter's exit with it.
MID_SEND = """
import time
from pathlib import Path
from lwpdsim.sweep import execute

with execute._process_pool(1) as pool:
    pool.submit(int).result()  # the worker is up
    wchan = Path(f"/proc/{next(iter(pool._processes))}/wchan")
    future = pool.submit(bytes, 50_000_000)  # a 50 MB result: hundreds of pipe-fulls
    deadline = time.monotonic() + 30
    state = ""
    while "pipe_write" not in state and not future.done() and time.monotonic() < deadline:
        state = wchan.read_text()
    raise SystemExit("mid-send" if "pipe_write" in state else "missed")
"""


@pytest.mark.slow
def test_stopping_a_worker_in_the_middle_of_sending_a_result_does_not_hang(
    tmp_path: Path,
) -> None:
    with lwpdsim(["-c", MID_SEND], tmp_path) as tree:
        deadline = time.monotonic() + 60
        while tree.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        err = tree.stderr()
        if tree.proc.returncode is not None and "missed" in err:
            pytest.skip("could not catch the worker in the middle of sending its result")
        assert tree.proc.returncode == 1, f"still running 60 s after its pool was stopped: {err}"
        assert err.strip().splitlines()[-1] == "mid-send"
        tree.assert_all_gone()


def test_closed_connection_reports_are_dropped_and_others_kept() -> None:
    # Closing the cluster under an interrupted sweep cuts off pending gathers; Tornado logs each
    # as "Exception in callback" with a traceback. Only those records are dropped.
    import logging

    from lwpdsim.sweep.daskpool import _closed_connection

    class StreamClosedError(OSError):
        pass

    class CommClosedError(OSError):
        pass

    def record(exc: BaseException) -> logging.LogRecord:
        try:
            raise exc
        except BaseException as err:
            return logging.LogRecord(
                "tornado.application",
                logging.ERROR,
                "x",
                1,
                "m",
                (),
                (type(err), err, err.__traceback__),
            )

    cut = CommClosedError("stream is closed")
    cut.__cause__ = StreamClosedError()
    assert _closed_connection(record(cut))
    wrapped = RuntimeError("gather failed")
    wrapped.__context__ = cut
    assert _closed_connection(record(wrapped))
    assert not _closed_connection(record(ValueError("a real error")))
    plain = logging.LogRecord("tornado.application", logging.ERROR, "x", 1, "m", (), None)
    assert not _closed_connection(plain)
    # installed on Tornado's logger, the filter drops exactly those records
    from lwpdsim.sweep.daskpool import _drop_closed_connection_reports

    _drop_closed_connection_reports()
    _drop_closed_connection_reports()  # once only
    log = logging.getLogger("tornado.application")
    assert len(log.filters) == len(set(map(id, log.filters)))
    assert not log.filter(record(cut)) and not log.filter(record(wrapped))
    assert log.filter(record(ValueError("a real error"))) and log.filter(plain)
