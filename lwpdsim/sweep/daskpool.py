"""Dask for sweeps: a client of a local cluster or of the cluster at a scheduler's address, and
the ``concurrent.futures`` executor of a client, quiet about connections closed at Ctrl-C."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator
from concurrent.futures import Executor
from typing import Any

from ..errors import ScenarioError


@contextlib.contextmanager
def dask_executor(client: Any) -> Iterator[Executor]:
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
def dask_client(scheduler: str | None, workers: int) -> Iterator[Any]:
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
            # the workers' own ERROR logs are reports of the connection to this process going
            # away (a heartbeat at Ctrl-C); a run's error comes back as its outcome and a lost
            # worker as its future's exception, both reported here
            silence_logs=logging.CRITICAL,
        )
    try:
        with Client(cluster) as client:
            yield client
    finally:
        cluster.close()
