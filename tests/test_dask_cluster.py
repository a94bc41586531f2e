"""A sweep through ``--scheduler`` on a real Dask cluster: a ``dask scheduler`` and two ``dask
worker`` processes on 127.0.0.1, started here as subprocesses (as a user starts them by hand), give
the same table as a serial sweep, and every process this test started is stopped."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest

from lwpdsim.cli import main

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
    for p in procs:
        if p.poll() is None:
            p.terminate()
    deadline = time.monotonic() + 20
    for p in procs:
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
                        "--nworkers",
                        "1",
                        "--no-dashboard",
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
                time.sleep(0.5)
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
