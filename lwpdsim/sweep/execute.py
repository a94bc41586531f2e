"""Running a sweep's runs: one run in a worker, and the executors that spread runs over workers.

:func:`run_tasks` is the in-memory entry point: it runs :class:`~.plan.RunTask` objects serially,
on a process pool, on Dask (a local cluster or one at a scheduler's address), or on an
``Executor`` / ``distributed.Client`` of the caller's, and yields ``(task, RunOutcome)`` as runs
finish. A run's numbers depend only on its task, never on the executor. ``"auto"`` (the sweeps'
default) is the process pool on this machine and Dask for a scheduler's address: a local Dask
cluster costs seconds to start and a share of the cores for its scheduler and nannies.
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
from .daskpool import dask_client, dask_executor, scheduler_address
from .plan import RunTask

EXECUTORS = ("auto", "serial", "processes", "dask")
#: A Dask task carries up to this many runs: a task costs the scheduler and the network a few
#: milliseconds. Process pools and callers' executors take one run a task (a pool's own cost a
#: task is small, and runs then reach the progress bar one by one).
MAX_BATCH = 8
#: ... yet every worker gets at least this many tasks, so that the last ones end close together.
TASKS_PER_WORKER = 8


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
    the cluster at ``scheduler``), ``"auto"`` (``"dask"`` with a ``scheduler``, else
    ``"processes"``), or an ``Executor`` / ``distributed.Client`` (left running). Dask gets short
    batches of runs (:func:`batch_size`), whose outcomes are yielded one by one as each batch
    ends. A failing run yields a "failed" outcome; nothing is raised for it. Closing the iterator
    early (``contextlib.closing``) stops the runs under way.
    """
    check_executor(executor, scheduler)
    if not tasks:
        return
    with _open_executor(executor, scheduler, max_workers, len(tasks)) as (pool, batch):
        yield from _outcomes(pool, tasks, batch)


def check_executor(executor: str | Executor | Any, scheduler: str | None) -> None:
    """Raise a :class:`ScenarioError` for an unknown executor name, or a scheduler without Dask."""
    if isinstance(executor, str) and executor not in EXECUTORS:
        raise ScenarioError("--executor", executor, f"one of {', '.join(EXECUTORS)}")
    if scheduler and executor not in ("auto", "dask"):
        raise ScenarioError("--scheduler", scheduler, "only with --executor dask (or auto)")
    if scheduler is not None:
        scheduler_address(scheduler)


def resolve_executor(executor: str, scheduler: str | None = None) -> str:
    """The executor an executor name stands for: ``"auto"`` is ``"dask"`` with a ``scheduler``,
    else ``"processes"``; any other name is itself."""
    if executor == "auto":
        return "dask" if scheduler else "processes"
    return executor


def batch_size(runs: int, workers: int) -> int:
    """How many runs go to a Dask worker in one task: enough to amortise the cost of a task
    (up to :data:`MAX_BATCH`), few enough that each of ``workers`` gets :data:`TASKS_PER_WORKER`
    tasks of the ``runs`` (the last batches then end close together)."""
    return max(1, min(MAX_BATCH, runs // (max(1, workers) * TASKS_PER_WORKER)))


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

    def keep(self) -> None:
        """Make the change for the rest of this process (a pool worker's life): later users then
        find it made, and nobody undoes it."""
        with self._lock:
            if self._users == 0:
                self._undo = self._change()
            self._users += 1


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
) -> Iterator[tuple[Executor | None, int]]:
    """A ``concurrent.futures`` executor (None for serial), shut down on exit unless it was given,
    and the number of runs to give it in one task."""
    workers = max(1, min(max_workers or cpu_count(), max(runs, 1)))
    if isinstance(executor, Executor):
        yield executor, 1
        return
    if not isinstance(executor, str):  # a distributed.Client
        if not hasattr(executor, "get_executor"):
            raise ScenarioError(
                "executor", executor, f"one of {', '.join(EXECUTORS)}, an Executor or a Client"
            )
        with dask_executor(executor) as pool:
            yield pool, batch_size(runs, _dask_threads(executor))
        return
    check_executor(executor, scheduler)
    executor = resolve_executor(executor, scheduler)
    if executor == "serial":
        yield None, 1
    elif executor == "processes":
        with _main_not_rerun(), _process_pool(workers) as pool:
            yield pool, 1
    else:
        with (
            _main_not_rerun(),
            dask_client(scheduler, workers) as client,
            dask_executor(client) as pool,
        ):
            yield pool, batch_size(runs, _dask_threads(client))


def _dask_threads(client: Any) -> int:
    """The threads of a Dask client's workers (1 if it cannot tell)."""
    try:
        return max(1, int(sum(client.nthreads().values())))
    except Exception:  # a client of an unusual kind: run one run a task
        return 1


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
    """Set up a pool worker: BLAS keeps to one thread, it ignores Ctrl-C (one interrupted while it hands back a result can
    leave the pool's queues locked; the calling process stops the workers instead, see
    :func:`_stop_pool`), and exits at once when ``parent_alive`` reaches end of file."""
    import signal

    signal.signal(signal.SIGINT, signal.SIG_IGN)
    _BLAS_ONE_THREAD.keep()  # once, rather than around each run
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


def execute_batch(tasks: Sequence[RunTask]) -> list[RunOutcome]:
    """:func:`execute_run` for each of ``tasks`` in turn, in one worker's task."""
    with _one_blas_thread():
        return [execute_run(task) for task in tasks]


def _outcomes(
    pool: Executor | None, tasks: Sequence[RunTask], batch: int
) -> Iterator[tuple[RunTask, RunOutcome]]:
    """Outcomes as runs finish (in task order when serial), ``batch`` runs to a task."""
    if pool is None:
        for task in tasks:
            yield task, execute_run(task)
        return
    futures: dict[Future[list[RunOutcome]], Sequence[RunTask]] = {}
    for start in range(0, len(tasks), batch):
        some = tasks[start : start + batch]
        futures[pool.submit(execute_batch, some)] = some
    try:
        for future in as_completed(futures):
            some = futures[future]
            try:
                outcomes = future.result()
            except Exception as err:  # the worker died or the executor broke
                broken = RunOutcome(
                    "failed",
                    error=f"executor: {type(err).__name__}: {err}",
                    traceback="".join(traceback.format_exception(err)),
                )
                outcomes = [broken] * len(some)
            yield from zip(some, outcomes, strict=True)
    finally:
        for future in futures:
            future.cancel()
