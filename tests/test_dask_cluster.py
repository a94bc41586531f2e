"""A sweep through ``--scheduler`` on a real Dask cluster: a ``dask scheduler`` and two ``dask
worker`` processes on 127.0.0.1, started here as subprocesses (as a user starts them by hand), give
the same table as a serial sweep, and every process this test started is stopped. And how runs go
to Dask in batches: every run yielded once, with its own outcome."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from lwpdsim.cli import main
from lwpdsim.errors import ScenarioError
from lwpdsim.sweep import RunOutcome, execute

GRID = """
base = "base.toml"
name = "cluster"
replicates = 2
[factors]
"cluster.workers" = [4, 8]
"""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _stop(procs: list[subprocess.Popen[bytes]]) -> None:
    """Stop the workers (``procs[1:]``), then the scheduler (``procs[0]``): a worker whose
    scheduler went first would try to reach it again until its timeouts run out."""
    for group in (procs[1:], procs[:1]):
        for p in group:
            if p.poll() is None:
                p.terminate()
        deadline = time.monotonic() + 10
        for p in group:
            try:
                p.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait(timeout=10)


@pytest.fixture
def scheduler(tmp_path: Path) -> Iterator[tuple[str, list[subprocess.Popen[bytes]]]]:
    """The address of a scheduler with two single-threaded workers, and their processes."""
    from distributed import Client

    address = f"tcp://127.0.0.1:{_free_port()}"
    log = (tmp_path / "dask.log").open("wb")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    cli = [sys.executable, "-m"]
    procs = [
        subprocess.Popen(
            [
                *cli,
                "distributed.cli.dask_scheduler",
                "--host",
                "127.0.0.1",
                "--port",
                address.rsplit(":", 1)[1],
                "--no-dashboard",
            ],
            stdout=log,
            stderr=log,
            env=env,
            cwd=tmp_path,
        )
    ]
    try:
        for _ in range(2):
            procs.append(
                subprocess.Popen(
                    [
                        *cli,
                        "distributed.cli.dask_worker",
                        address,
                        "--nthreads",
                        "1",
                        "--no-nanny",  # one process a worker, not a nanny and its worker
                        "--no-dashboard",
                        "--preload",  # imported while the scheduler starts, not at the first run
                        "lwpdsim.sweep",
                        "--death-timeout",
                        "30",
                    ],
                    stdout=log,
                    stderr=log,
                    env=env,
                    cwd=tmp_path,
                )
            )
        deadline = time.monotonic() + 60
        while True:  # the scheduler takes connections once it is up
            try:
                with Client(address, timeout="5s") as client:
                    client.wait_for_workers(2, timeout=60)
                break
            except OSError:
                if time.monotonic() > deadline or procs[0].poll() is not None:
                    raise
                time.sleep(0.1)
        yield address, procs
    finally:
        _stop(procs)
        log.close()


@pytest.mark.slow
def test_a_sweep_on_a_real_cluster_equals_the_serial_one(
    tmp_path: Path, tiny_toml, scheduler: tuple[str, list[subprocess.Popen[bytes]]]
) -> None:
    address, procs = scheduler
    schemes = [{"name": "sync"}, {"name": "kasync", "K": 2}]
    (tmp_path / "base.toml").write_text(tiny_toml("clusterbase", schemes))
    grid = tmp_path / "grid.toml"
    grid.write_text(GRID)
    on_cluster, serial = tmp_path / "cluster", tmp_path / "serial"
    assert (
        main(["sweep", str(grid), "--scheduler", address, "--out", str(on_cluster), "--quiet"]) == 0
    )
    assert main(["sweep", str(grid), "--executor", "serial", "--out", str(serial), "--quiet"]) == 0
    table = pd.read_csv(on_cluster / "runs.csv", keep_default_na=False, na_values=[""])
    reference = pd.read_csv(serial / "runs.csv", keep_default_na=False, na_values=[""])
    assert len(reference) == 2 * 2 * 2 and reference["status"].eq("ok").all()
    pd.testing.assert_frame_equal(table, reference, check_exact=True)
    # the cluster is the user's: the sweep leaves it running, and the test stops what it started
    assert all(p.poll() is None for p in procs)
    _stop(procs)
    assert all(p.poll() is not None for p in procs)


# --------------------------------------------------------------------------- batches of runs


def test_batch_sizes_amortise_a_task_yet_leave_every_worker_many_tasks() -> None:
    assert execute.batch_size(8, 2) == 1  # too few runs to batch
    assert execute.batch_size(64, 2) == 4  # 16 tasks, 8 a worker
    assert execute.batch_size(256, 2) == execute.MAX_BATCH == 8  # capped: 32 tasks
    assert execute.batch_size(10_000, 100) == 8 and execute.batch_size(100, 100) == 1


def test_auto_is_the_process_pool_here_and_dask_for_a_scheduler() -> None:
    assert execute.resolve_executor("auto") == "processes"
    assert execute.resolve_executor("auto", "tcp://127.0.0.1:8786") == "dask"
    assert execute.resolve_executor("serial") == "serial"
    execute.check_executor("auto", "tcp://127.0.0.1:8786")  # accepted
    with pytest.raises(ScenarioError, match="only with --executor dask"):
        execute.check_executor("processes", "tcp://127.0.0.1:8786")


def test_batches_yield_every_run_once_with_its_own_outcome(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from concurrent.futures import ThreadPoolExecutor
    from types import SimpleNamespace

    def run(task: Any) -> RunOutcome:
        return RunOutcome("ok", wall_seconds=float(task.replicate))

    def batch(tasks: Any) -> list[RunOutcome]:
        if any(t.replicate == 4 for t in tasks):  # the worker of this batch died
            raise OSError("worker lost")
        return [run(t) for t in tasks]

    monkeypatch.setattr(execute, "execute_batch", batch)
    tasks = [SimpleNamespace(scenario=None, replicate=i) for i in range(7)]
    with ThreadPoolExecutor(2) as pool:
        got = list(execute._outcomes(pool, tasks, 3))  # batches [0 1 2] [3 4 5] [6]
    assert sorted(t.replicate for t, _ in got) == list(range(7))
    for task, outcome in got:
        if task.replicate in (3, 4, 5):
            assert outcome.status == "failed" and "OSError: worker lost" in (outcome.error or "")
        else:
            assert outcome.ok and outcome.wall_seconds == task.replicate
