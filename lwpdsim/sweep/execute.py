"""Running a sweep's runs: one run in a worker, and the executors that spread runs over workers.

:func:`run_tasks` is the in-memory entry point: it runs :class:`~.plan.RunTask` objects serially,
on a process pool, on Dask (a local cluster or one at a scheduler's address), or on an
``Executor`` / ``distributed.Client`` of the caller's, and yields ``(task, RunOutcome)`` as runs
finish. A run's numbers depend only on its task, never on the executor.
"""

from __future__ import annotations

import contextlib
import os
import sys
import threading
import time
import traceback
from collections.abc import Callable, Generator, Iterator, Sequence
from concurrent.futures import Executor, Future, as_completed
from dataclasses import dataclass, field
from typing import Any

from threadpoolctl import threadpool_limits

from ..errors import ScenarioError
from ..results import RunResult
from ..sim import simulate
from .plan import RunTask

EXECUTORS = ("serial", "processes", "dask")


@dataclass
class RunOutcome:
    """How one run ended: ``status`` "ok" with every rule's :class:`RunResult` by label, or
    "failed" with the error and its traceback (and no results); and its wall-clock seconds."""

    status: str
    results: dict[str, RunResult] = field(default_factory=dict)
    error: str | None = None
    traceback: str | None = None
    wall_seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return self.status == "ok"


def run_tasks(
    tasks: Sequence[RunTask],
    *,
    executor: str | Executor | Any = "serial",
    scheduler: str | None = None,
    max_workers: int | None = None,
) -> Generator[tuple[RunTask, RunOutcome], None, None]:
    """Run ``tasks`` and yield ``(task, outcome)`` as each run finishes (in task order when serial).

    ``executor``: ``"serial"`` (here), ``"processes"`` (a pool of ``max_workers`` processes,
    default the CPU count), ``"dask"`` (a local cluster of ``max_workers`` one-thread processes, or
    the cluster at ``scheduler``), or an ``Executor`` / ``distributed.Client`` (left running). A
    failing run yields a "failed" outcome; nothing is raised for it. Closing the iterator early
    (``contextlib.closing``) stops the runs under way.
    """
    check_executor(executor, scheduler)
    if not tasks:
        return
    with _open_executor(executor, scheduler, max_workers, len(tasks)) as pool:
        yield from _outcomes(pool, tasks)


def check_executor(executor: str | Executor | Any, scheduler: str | None) -> None:
    """Raise a :class:`ScenarioError` for an unknown executor name, or a scheduler without Dask."""
    if isinstance(executor, str) and executor not in EXECUTORS:
        raise ScenarioError("--executor", executor, f"one of {', '.join(EXECUTORS)}")
    if scheduler and executor != "dask":
        raise ScenarioError("--scheduler", scheduler, "only with --executor dask")
    if scheduler is not None:
        scheduler_address(scheduler)


def execute_run(task: RunTask) -> RunOutcome:
    """Run one (grid point, replicate): ``simulate(task.scenario, run_index=task.replicate)``.

    Never raises on a failing run: the outcome then has ``status = "failed"``, the error and its
    traceback. A top-level function, so process pools and Dask workers can import it.
    """
    started = time.perf_counter()
    try:
        with _one_blas_thread():
            results = simulate(task.scenario, run_index=task.replicate)
    except Exception as err:
        return RunOutcome(
            "failed",
            error=f"{type(err).__name__}: {err}",
            traceback=traceback.format_exc(),
            wall_seconds=time.perf_counter() - started,
        )
    return RunOutcome("ok", results, wall_seconds=time.perf_counter() - started)


@contextlib.contextmanager
def progress_bar(
    total: int, *, desc: str, initial: int = 0, enabled: bool = True
) -> Iterator[Callable[[RunOutcome], None]]:
    """A progress bar on stderr over ``total`` runs (``initial`` of them already done), with the
    counts of finished and failed runs; yields the function to call with each new outcome."""
    if not enabled:
        yield lambda _outcome: None
        return
    from tqdm.auto import tqdm

    bar = tqdm(
        total=total, initial=initial, desc=desc, unit="run", file=sys.stderr, dynamic_ncols=True
    )
    counts = {"done": initial, "failed": 0}
    bar.set_postfix(counts)

    def tick(outcome: RunOutcome) -> None:
        counts["done" if outcome.ok else "failed"] += 1
        bar.set_postfix(counts, refresh=False)
        bar.update(1)

    try:
        yield tick
    finally:
        bar.close()


# --------------------------------------------------------------------------- BLAS threads


class _Shared:
    """A process-wide change made by the first of overlapping users and undone by the last.

    ``change()`` makes the change and returns what undoes it. Two users in threads of one process
    (an in-process Dask cluster, sweeps started from several threads) could otherwise undo each
    other's change midway."""

    def __init__(self, change: Callable[[], Callable[[], object]]) -> None:
        self._change = change
        self._lock = threading.Lock()
        self._users = 0
        self._undo: Callable[[], object] | None = None

    @contextlib.contextmanager
    def held(self) -> Iterator[None]:
        with self._lock:
            if self._users == 0:
                self._undo = self._change()
            self._users += 1
        try:
            yield
        finally:
            with self._lock:
                self._users -= 1
                if self._users == 0 and self._undo is not None:
                    undo, self._undo = self._undo, None
                    undo()


_BLAS_ONE_THREAD = _Shared(lambda: threadpool_limits(1).restore_original_limits)


@contextlib.contextmanager
def _one_blas_thread() -> Iterator[None]:
    """Limit BLAS to one thread while any run of this process is going.

    ``threadpool_limits`` changes process-wide state and restores what it found, so two runs in
    threads of one process (an in-process Dask cluster) could restore each other's limit midway; this
    reference-counted guard sets the limit once and restores it when the last run ends.
    """
    with _BLAS_ONE_THREAD.held():
        yield


# --------------------------------------------------------------------------- executors


def cpu_count() -> int:
    """CPUs this process may use."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not on Linux
        return os.cpu_count() or 1


@contextlib.contextmanager
def _open_executor(
    executor: str | Executor | Any, scheduler: str | None, max_workers: int | None, runs: int
) -> Iterator[Executor | None]:
    """A ``concurrent.futures`` executor (None for serial), shut down on exit unless it was given."""
    workers = max(1, min(max_workers or cpu_count(), max(runs, 1)))
    if isinstance(executor, Executor):
        yield executor
        return
    if not isinstance(executor, str):  # a distributed.Client
        if not hasattr(executor, "get_executor"):
            raise ScenarioError(
                "executor", executor, f"one of {', '.join(EXECUTORS)}, an Executor or a Client"
            )
        with _dask_executor(executor) as pool:
            yield pool
        return
    check_executor(executor, scheduler)
    if executor == "serial":
        yield None
    elif executor == "processes":
        with _main_not_rerun(), _process_pool(workers) as pool:
            yield pool
    else:
        with (
            _main_not_rerun(),
            _dask_client(scheduler, workers) as client,
            _dask_executor(client) as pool,
        ):
            yield pool


@contextlib.contextmanager
def _main_not_rerun() -> Iterator[None]:
    """While lwpdsim starts and uses its worker processes, they do not run the main script again.

    Python's ``spawn`` and ``forkserver`` start methods (Dask's local workers, the process pool)
    run the main module again in each new process, as ``__mp_main__``: a script without an
    ``if __name__ == "__main__":`` guard would start its sweep again in every worker, and one read
    from stdin (``<stdin>``) cannot be run again at all. lwpdsim's workers need nothing of the main
    module (a task is lwpdsim's function and lwpdsim's data), so meanwhile the main module presents
    itself as a package's ``__main__`` (its ``__spec__`` named ``__main__``), which multiprocessing
    never runs again; the previous ``__spec__`` is put back afterwards.
    """
    if sys.modules.get("__main__") is None:  # pragma: no cover - embedded interpreters
        yield
        return
    with _MAIN_AS_PACKAGE.held():
        yield


def _present_main_as_package() -> Callable[[], None]:
    """Name the main module's ``__spec__`` ``__main__``; returns what puts the old one back."""
    import importlib.machinery

    main = sys.modules["__main__"]
    had_spec, previous = "__spec__" in vars(main), vars(main).get("__spec__")
    main.__spec__ = importlib.machinery.ModuleSpec("__main__", None)

    def restore() -> None:
        if had_spec:
            main.__spec__ = previous
        else:
            vars(main).pop("__spec__", None)

    return restore


_MAIN_AS_PACKAGE = _Shared(_present_main_as_package)


@contextlib.contextmanager
def _process_pool(workers: int) -> Iterator[Executor]:
    """A process pool whose workers die with this process, however it ends.

    Each worker watches the read end of a pipe whose only write end this process holds
    (:func:`_init_worker`): when this process ends, even by SIGKILL, the kernel closes that end and
    the workers exit. The forkserver and the resource tracker then follow by themselves (each waits
    for its own pipe, which the workers hold open, to close).
    """
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    context = _process_context()
    alive_r, alive_w = (context or multiprocessing).Pipe(duplex=False)
    try:
        pool = ProcessPoolExecutor(
            max_workers=workers,
            mp_context=context,
            initializer=_init_worker,
            initargs=(alive_r,),
        )
        try:
            yield pool
            pool.shutdown(wait=True)
        except BaseException:  # Ctrl-C or an error: stop the runs under way, do not wait for them
            _stop_pool(pool)
            raise
    finally:
        alive_w.close()  # any worker still there exits
        alive_r.close()


def _init_worker(parent_alive: Any) -> None:
    """Set up a pool worker: it ignores Ctrl-C (one interrupted while it hands back a result can
    leave the pool's queues locked; the calling process stops the workers instead, see
    :func:`_stop_pool`), and exits at once when ``parent_alive`` reaches end of file."""
    import signal

    signal.signal(signal.SIGINT, signal.SIG_IGN)
    watch = threading.Thread(
        target=_exit_when_closed, args=(parent_alive,), name="lwpdsim-parent-watch", daemon=True
    )
    watch.start()


def _exit_when_closed(parent_alive: Any) -> None:
    """Block until the calling process's end of the pipe closes (nothing is ever sent), then end
    this worker without cleanup: its runs are of no use to anyone any more."""
    with contextlib.suppress(EOFError, OSError):
        parent_alive.recv_bytes()
    os._exit(1)


def _stop_pool(pool: Any) -> None:
    """Stop a process pool without waiting for its runs: cancel those not started, end the workers
    (SIGTERM, then SIGKILL after 5 s), and free the pool's manager thread.

    A worker ended while it sent a result (a run's result is about a megabyte, many pipe-fulls)
    leaves half a message in the result pipe, and the manager thread would wait for the rest forever,
    which holds up this interpreter's exit. Once every worker is gone, closing this process's write
    end of that pipe makes the thread read end-of-file instead and stop.
    """
    processes = list((getattr(pool, "_processes", None) or {}).values())  # gone after shutdown
    results = getattr(pool, "_result_queue", None)
    pool.shutdown(wait=False, cancel_futures=True)
    for process in processes:
        process.terminate()
    for process in processes:
        process.join(5)
        if process.exitcode is None:
            process.kill()
            process.join(5)
    writer = getattr(results, "_writer", None)
    if writer is not None and all(p.exitcode is not None for p in processes):
        writer.close()


def _process_context() -> Any:
    """Workers forked from a clean server that has imported lwpdsim once: fast to start, and free of
    the threads (Dask, tqdm) the calling process may have when it forks."""
    import multiprocessing

    if "forkserver" not in multiprocessing.get_all_start_methods():  # pragma: no cover - Windows
        return None
    ctx = multiprocessing.get_context("forkserver")
    ctx.set_forkserver_preload(["lwpdsim.sweep"])
    return ctx


@contextlib.contextmanager
def _dask_executor(client: Any) -> Iterator[Executor]:
    # a worker or the cluster going away under a pending gather (Ctrl-C reaches the whole process
    # group) is reported through the runs' outcomes, not as Tornado tracebacks
    _drop_closed_connection_reports()
    pool = client.get_executor(pure=False)
    try:
        yield pool
    except BaseException:  # cancel what is left on the cluster
        pool.shutdown(wait=False)
        raise


def _closed_connection(record: Any) -> bool:
    """Whether a log record reports a connection closed under a pending request (what closing
    the cluster does to the gathers still waiting when a sweep is interrupted)."""
    exc = record.exc_info[1] if record.exc_info else None
    while exc is not None:
        if type(exc).__name__ in ("CommClosedError", "StreamClosedError"):
            return True
        exc = exc.__cause__ or exc.__context__
    return False


def _drop_closed_connection_reports() -> None:
    """Keep Tornado's event loop from printing a traceback for each request a closed connection
    cuts off (the cluster closing, or a worker gone, under a pending gather: logged as "Exception
    in callback" by ``tornado.application``); other records of that logger still go through.
    Installed once, by the first Dask sweep of the process."""
    import logging

    log = logging.getLogger("tornado.application")
    if _keep_unless_closed_connection not in log.filters:
        log.addFilter(_keep_unless_closed_connection)


def _keep_unless_closed_connection(record: Any) -> bool:
    """A logging filter: False (drop) for a closed-connection report, True for any other."""
    return not _closed_connection(record)


@contextlib.contextmanager
def _sigint_ignored() -> Iterator[None]:
    import signal

    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


#: The protocols of a Dask scheduler's address another process can reach (not ``inproc``).
SCHEDULER_PROTOCOLS = ("tcp", "tls", "ws", "wss", "ucx")
#: How long to try to reach a scheduler before giving up.
SCHEDULER_TIMEOUT = "5s"


def scheduler_address(address: str) -> str:
    """``address`` (surrounding blanks removed) if it has the form of a Dask scheduler's address,
    ``PROTOCOL://HOST:PORT`` or ``HOST:PORT`` (tcp), checked before any connection is tried;
    else a :class:`ScenarioError` naming ``--scheduler``."""
    allowed = (
        f"the address of a running Dask scheduler, PROTOCOL://HOST:PORT with PROTOCOL one of "
        f"{', '.join(SCHEDULER_PROTOCOLS)} (e.g. tcp://127.0.0.1:8786), or HOST:PORT"
    )
    if not isinstance(address, str):
        raise ScenarioError("--scheduler", address, allowed)
    text = address.strip()
    protocol, sep, location = text.partition("://")
    if not sep:
        protocol, location = "tcp", text
    host, colon, port = location.rpartition(":")
    if host.startswith("[") and host.endswith("]"):  # an IPv6 address
        host = host[1:-1]
    ok = (
        protocol in SCHEDULER_PROTOCOLS
        and colon
        and host
        and not any(c.isspace() or c in "/?#@[]" for c in host.replace(":", ""))
        and port.isascii()
        and port.isdigit()
        and 1 <= int(port) <= 65535
    )
    if not ok:
        raise ScenarioError("--scheduler", address, allowed)
    return text


@contextlib.contextmanager
def _dask_client(scheduler: str | None, workers: int) -> Iterator[Any]:
    import logging

    from distributed import Client, LocalCluster

    if scheduler:
        address = scheduler_address(scheduler)
        try:
            client = Client(address, timeout=SCHEDULER_TIMEOUT)
        except (OSError, TimeoutError, ValueError) as err:
            raise ScenarioError(
                "--scheduler", scheduler, f"the address of a running Dask scheduler ({err})"
            ) from None
        with client:
            yield client
        return
    import dask

    # The workers' sampling profiler costs ~10% of a run's time in pure-Python simulation code.
    # Workers started while SIGINT is ignored inherit that: Ctrl-C then stops this process (which
    # closes the cluster) without a traceback from every worker.
    with dask.config.set({"distributed.worker.profile.enabled": False}), _sigint_ignored():
        cluster = LocalCluster(
            n_workers=workers,
            threads_per_worker=1,
            processes=True,
            dashboard_address=None,
            silence_logs=logging.ERROR,
        )
    try:
        with Client(cluster) as client:
            yield client
    finally:
        cluster.close()


def _outcomes(
    pool: Executor | None, tasks: Sequence[RunTask]
) -> Iterator[tuple[RunTask, RunOutcome]]:
    """Outcomes as runs finish (in task order when serial)."""
    if pool is None:
        for task in tasks:
            yield task, execute_run(task)
        return
    futures: dict[Future[RunOutcome], RunTask] = {pool.submit(execute_run, t): t for t in tasks}
    try:
        for future in as_completed(futures):
            task = futures[future]
            try:
                outcome = future.result()
            except Exception as err:  # the worker died or the executor broke
                outcome = RunOutcome(
                    "failed",
                    error=f"executor: {type(err).__name__}: {err}",
                    traceback="".join(traceback.format_exception(err)),
                )
            yield task, outcome
    finally:
        for future in futures:
            future.cancel()
