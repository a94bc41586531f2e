"""``lwpdsim.run_sweep(path)`` as a researcher calls it: from a plain script without an
``if __name__ == "__main__":`` guard, from a script piped to ``python -`` and from an interactive
session. Each form is one fresh interpreter (a few seconds: the interpreter, lwpdsim and the
workers start) whose script runs a tiny two-point sweep with the default executor (the process
pool) and, for a file and stdin (the forms a worker could try to run again), with a local Dask
cluster too (an interactive session is stdin read line by line: its Dask case adds nothing but
seconds). The test checks that it exits 0, prints the tables, runs the script once (no worker runs
it again) and prints no traceback. A unit test checks how, without a subprocess."""

from __future__ import annotations

import multiprocessing.spawn
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from lwpdsim.sweep import execute

ROOT = Path(__file__).resolve().parents[1]

SWEEP = """
base = "base.toml"
name = "script"
[factors]
"cluster.workers" = [4, 6]
"""

#: The user's script: it notes each time it runs, then runs the sweep on the default executor
#: (and then on Dask) and prints the tables.
SCRIPT = """
import lwpdsim
note = open("ran.txt", "a"); note.write("ran\\n"); note.close()
table = lwpdsim.run_sweep("grid.toml", out="out", plots=False, max_workers=1)
print("TABLE", len(table), sorted(set(table["status"])), sorted(set(table["cluster.workers"])))
"""
ON_DASK = """
table = lwpdsim.run_sweep("grid.toml", out="dask", plots=False, max_workers=1, executor="dask")
print("TABLE", len(table), sorted(set(table["status"])), sorted(set(table["cluster.workers"])))
"""

HOW = {
    "file": lambda script: (["script.py"], None),
    "stdin": lambda script: (["-"], script),
    "interactive": lambda script: (["-i"], script),  # a REPL reading the lines one by one
}


def _run(tmp_path: Path, tiny_toml: Callable[..., str], how: str, dask: bool) -> None:
    (tmp_path / "base.toml").write_text(tiny_toml("base", [{"name": "sync"}]), encoding="utf-8")
    (tmp_path / "grid.toml").write_text(SWEEP, encoding="utf-8")
    script = SCRIPT + (ON_DASK if dask else "")
    (tmp_path / "script.py").write_text(script, encoding="utf-8")
    args, stdin = HOW[how](script)
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run(
        [sys.executable, *args],
        cwd=tmp_path,
        input=stdin,
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    tables = done.stdout.count("TABLE 2 ['ok'] [4, 6]")
    assert tables == (2 if dask else 1), (done.stdout, done.stderr)
    assert "Traceback" not in done.stderr and "Error" not in done.stderr, done.stderr
    assert (tmp_path / "ran.txt").read_text() == "ran\n"  # the workers did not run the script


def test_workers_started_meanwhile_are_told_not_to_run_the_main_module_again() -> None:
    main = sys.modules["__main__"]
    before = vars(main).get("__spec__", "absent")
    with execute._main_not_rerun():
        with execute._main_not_rerun():  # two sweeps at once (threads): the last one restores
            pass
        data = multiprocessing.spawn.get_preparation_data("worker")
        # multiprocessing runs no module again for a main module named __main__ (a package's)
        assert data.get("init_main_from_name") == "__main__" and "init_main_from_path" not in data
    assert vars(main).get("__spec__", "absent") is before


@pytest.mark.slow
@pytest.mark.parametrize(("how", "dask"), [("file", True), ("stdin", True), ("interactive", False)])
def test_a_script_runs_sweeps_on_the_default_executor_and_on_dask(
    tmp_path: Path, tiny_toml: Callable[..., str], how: str, dask: bool
) -> None:
    _run(tmp_path, tiny_toml, how, dask)
