"""Measure the wall time of a 64-run sweep on each executor, side by side, against the serial loop.

Run on demand: ``python benchmarks/sweep_speedup.py [--workers 2] [--updates 200] [--repeat 3]``.
The sweep is 8 grid points (n in {4, 8} x latency rate in {0.5, 1, 2, 4}) x 8 replicates of four
rules on softmax regression over digits (~0.5 s a run on a quiet machine). The ``short`` variant is
the same grid with 4x the replicates and a quarter of the updates: 4x more runs, each ~4x shorter,
where the cost of each task weighs most (and where Dask's batches of runs pay).

Executors: ``serial``, ``processes`` (the process pool), ``dask`` (a local Dask cluster, runs sent
in batches), ``dask-1`` (the same, one run a task: what batching saves) and ``default`` (what a
sweep uses when no executor is named). Each measurement is a fresh interpreter (imports done before
the clock starts, as in a warm session), so no executor finds a pool, a forkserver or a cluster
left by another; wall times include starting the workers. Rounds run the executors in turn, so a
change in the machine's load hits all of them; the script prints each time, the median and the
spread over rounds, the speed-ups over serial, the runs under way on average (the runs' own time
over the wall time: what the executor keeps busy), and whether all executors wrote the same table.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
EXECUTORS = ("serial", "processes", "dask", "dask-1", "default")


def sweep(updates: int, replicates: int) -> dict:
    return {
        "name": "speedup",
        "base": str(ROOT / "scenarios" / "quickstart.toml"),
        "replicates": replicates,
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


def child(args: argparse.Namespace) -> None:
    """One measurement, in this fresh interpreter: print its wall time as JSON."""
    import lwpdsim
    from lwpdsim.sweep import SweepOptions, execute, execute_sweep

    spec = sweep(args.updates, args.replicates)
    lwpdsim.load_scenario(spec["base"])  # warm imports so no executor pays for them
    executor = args.child
    if executor == "dask-1":
        execute.MAX_BATCH, executor = 1, "dask"
    keywords = {} if executor == "default" else {"executor": executor}
    options = SweepOptions(max_workers=args.workers, out=args.out, plots=False, **keywords)
    started = time.perf_counter()
    report = execute_sweep(spec, options)
    wall = time.perf_counter() - started
    busy = sum(
        json.loads(p.read_text())["wall_seconds"] for p in Path(args.out).glob("runs/*/run.json")
    )
    print(json.dumps({"wall": wall, "runs": report.computed, "busy": busy}))


def measure(executor: str, updates: int, replicates: int, workers: int, out: Path) -> dict:
    command = [sys.executable, __file__, "--child", executor, "--out", str(out)]
    command += ["--updates", str(updates), "--replicates", str(replicates)]
    command += ["--workers", str(workers)]
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise SystemExit(f"{executor} failed:\n{done.stderr}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def uptime() -> str:
    try:
        return Path("/proc/loadavg").read_text().split(" ", 1)[0]
    except OSError:  # not Linux
        return "?"


def variant(name: str, updates: int, replicates: int, args: argparse.Namespace) -> None:
    executors = [e for e in args.executors if e != "dask-1" or name == "short"]
    walls: dict[str, list[float]] = {e: [] for e in executors}
    going: dict[str, list[float]] = {e: [] for e in executors}
    runs = 8 * replicates
    print(f"\n{name}: {runs} runs of {updates} updates per rule, {args.workers} workers")
    with tempfile.TemporaryDirectory() as tmp:
        tables: dict[str, bytes] = {}
        for round_ in range(args.repeat):
            for executor in executors:
                out = Path(tmp) / f"{executor}-{round_}"
                load = uptime()
                m = measure(executor, updates, replicates, args.workers, out)
                walls[executor].append(m["wall"])
                going[executor].append(m["busy"] / m["wall"])
                tables[executor] = (out / "runs.csv").read_bytes()
                print(
                    f"  round {round_ + 1} {executor:>9}: {m['wall']:7.2f} s "
                    f"(runs' own time {m['busy']:7.2f} s; load average before {load})",
                    flush=True,
                )
        same = len(set(tables.values())) == 1
    print(f"  identical runs.csv from every executor: {same}")
    serial = walls.get("serial")
    for executor, times in walls.items():
        median = statistics.median(times)
        line = (
            f"  {executor:>9}: median {median:7.2f} s (min {min(times):.2f}, max {max(times):.2f})"
        )
        if serial and executor != "serial":
            ratios = [s / t for s, t in zip(serial, times, strict=True)]
            line += (
                f", speed-up over serial {statistics.median(serial) / median:.2f}x"
                f" (per round {min(ratios):.2f}x to {max(ratios):.2f}x)"
            )
        print(line)
    print("  runs under way on average (runs' own time / wall time; a load on the machine slows")
    print("  the runs and the wall time alike, so this changes less with it than the times do):")
    for executor, ratios in going.items():
        print(f"  {executor:>9}: {', '.join(f'{r:.2f}' for r in ratios)}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", type=int, default=2, help="processes / Dask workers")
    parser.add_argument("--updates", type=int, default=200, help="updates per rule and run")
    parser.add_argument("--repeat", type=int, default=1, help="rounds over the executors")
    parser.add_argument(
        "--variants", default="main,short", help="main (64 runs) and/or short (256 short runs)"
    )
    parser.add_argument("--executors", default=",".join(EXECUTORS), help="a comma list")
    parser.add_argument("--child", choices=EXECUTORS, help=argparse.SUPPRESS)
    parser.add_argument("--replicates", type=int, default=8, help=argparse.SUPPRESS)
    parser.add_argument("--out", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args)
        return
    args.executors = args.executors.split(",")
    for name in args.variants.split(","):
        if name == "main":
            variant("main", args.updates, 8, args)
        else:
            variant("short", max(1, args.updates // 4), 32, args)


if __name__ == "__main__":
    main()
