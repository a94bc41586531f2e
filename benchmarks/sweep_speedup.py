"""Measure the speed-up of a 64-run sweep on process and Dask executors over the serial loop.

Run on demand: ``python benchmarks/sweep_speedup.py [--workers 2] [--updates 200]``. The sweep is
8 grid points (n in {4, 8} x latency rate in {0.5, 1, 2, 4}) x 8 replicates of four rules on
softmax regression over digits, each run ~0.5 s. Wall times include starting the pool or the
local cluster (not the figures); the script also checks that every executor wrote the same table.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import lwpdsim
from lwpdsim.sweep import SweepOptions, execute_sweep

ROOT = Path(__file__).resolve().parent.parent


def sweep(updates: int) -> dict:
    return {
        "name": "speedup",
        "base": str(ROOT / "scenarios" / "quickstart.toml"),
        "replicates": 8,
        "base_overrides": {
            "train.max_updates": updates,
            "train.max_time": "inf",
            "train.target_loss": 0.0,  # never reached: every run does all its updates
            "schemes": [  # fixed step sizes: the base's train.lr_grid would tune every run
                {"name": "sync", "lr": 0.5},
                {"name": "kasync", "K": 2, "lr": 0.5},
                {"name": "gc", "s": 1, "lr": 0.5},
                {"name": "lwpd", "k": 4, "t": 2, "lr": 0.5},
            ],
        },
        "factors": {"cluster.workers": [4, 8], "cluster.latency.rate": [0.5, 1.0, 2.0, 4.0]},
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", type=int, default=2, help="processes / Dask workers")
    parser.add_argument("--updates", type=int, default=200, help="updates per rule and run")
    args = parser.parse_args()

    spec = sweep(args.updates)
    lwpdsim.load_scenario(spec["base"])  # warm imports so serial does not pay for them
    times: dict[str, float] = {}
    tables = {}
    with tempfile.TemporaryDirectory() as tmp:
        for executor in ("serial", "processes", "dask"):
            started = time.perf_counter()
            options = SweepOptions(
                executor=executor, max_workers=args.workers, out=Path(tmp) / executor, plots=False
            )
            report = execute_sweep(spec, options)
            times[executor] = time.perf_counter() - started
            tables[executor] = (Path(tmp) / executor / "runs.csv").read_bytes()
            runs = report.computed
            busy = sum(
                json.loads(p.read_text())["wall_seconds"]
                for p in (Path(tmp) / executor / "runs").glob("*/run.json")
            )
            print(
                f"{executor:>9}: {runs} runs in {times[executor]:6.2f} s "
                f"(sum of run times {busy:6.2f} s, mean {busy / runs:.3f} s per run)",
                flush=True,
            )
    same = tables["processes"] == tables["serial"] == tables["dask"]
    print(f"identical runs.csv from all three executors: {same}")
    for executor in ("processes", "dask"):
        print(
            f"speed-up of {executor} ({args.workers} workers) over serial: "
            f"{times['serial'] / times[executor]:.2f}x"
        )


if __name__ == "__main__":
    main()
