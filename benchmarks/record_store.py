"""Run records on disk: bytes, files and write/read times per rule run for each way to store the
tables (the choice behind :mod:`lwpdsim.io.records`).

Runs: the quick start's six rules (each stops at its target loss: a handful of updates), and long
runs of sync and K-async (K = n/2) without a target, at a fixed step size, for 2,000 and 20,000
updates on n = 8 and 32 workers. For each run and each store:

- ``csv``: today's ``updates.csv`` and ``tasks.csv`` (plus ``manifest.json`` and ``timing.json``,
  counted in every store);
- ``csv.gz``: the same CSVs gzipped (level 6);
- ``npz``: both tables in one compressed numpy archive (``tables.npz``);
- ``parquet``: each table a Parquet file (pyarrow, zstd), when pyarrow is importable;
- ``thin+...``: the updates thinned to about 1,000 rows (:func:`lwpdsim.io.records.thin_tables`)
  and the tasks of the kept updates, then stored as above;
- ``summary``: the manifest only.

Bytes are the files' sizes and the disk blocks they take (4 KiB at least per file on most file
systems); times are the best of ``--repeats`` writes and reads, on this (possibly loaded) machine.

    python benchmarks/record_store.py [--repeats 3] [--quick]
"""

from __future__ import annotations

import argparse
import gzip
import shutil
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import pandas as pd

import lwpdsim
from lwpdsim.io.codec import load_result, save_result
from lwpdsim.io.records import RecordFormat, thin_tables
from lwpdsim.results import RunResult

try:
    import pyarrow

    HAVE_ARROW = True
except ImportError:
    HAVE_ARROW = False

Tables = tuple[pd.DataFrame, pd.DataFrame]


def quickstart() -> dict[str, RunResult]:
    return lwpdsim.simulate(lwpdsim.load_scenario("scenarios/quickstart.toml"))


def long_runs(updates: int, n: int) -> dict[str, RunResult]:
    """sync and K-async (K = n/2) for ``updates`` updates on ``n`` workers, no target."""
    raw = {
        "name": "long",
        "seed": 7,
        "cluster": {
            "workers": n,
            "latency": {"dist": "shifted_exponential", "shift": 8.0, "rate": 0.125},
        },
        "model": {"kind": "softmax", "dataset": "digits"},
        "train": {"lr": 0.5, "max_updates": updates, "max_time": 1e9},
        "schemes": [{"name": "sync"}, {"name": "kasync", "K": n // 2}],
    }
    return lwpdsim.simulate(lwpdsim.load_scenario(raw))


def _csv(tables: Tables, out: Path, gz: bool) -> None:
    for name, table in zip(("updates", "tasks"), tables, strict=True):
        text = table.to_csv(index=False).encode()
        if gz:
            (out / f"{name}.csv.gz").write_bytes(gzip.compress(text, 6, mtime=0))
        else:
            (out / f"{name}.csv").write_bytes(text)


def _read_csv(out: Path, gz: bool) -> Tables:
    ext = ".csv.gz" if gz else ".csv"
    u, t = (pd.read_csv(out / f"{n}{ext}") for n in ("updates", "tasks"))
    return u, t


def _parquet(tables: Tables, out: Path) -> None:
    for name, table in zip(("updates", "tasks"), tables, strict=True):
        table.to_parquet(out / f"{name}.parquet", compression="zstd", index=False)


def _read_parquet(out: Path) -> Tables:
    u, t = (pd.read_parquet(out / f"{n}.parquet") for n in ("updates", "tasks"))
    return u, t


def stores() -> dict[str, tuple[Callable[[RunResult, Path], None], Callable[[Path], object]]]:
    """Each store: (write a result into a folder, read it back)."""

    def lib(
        fmt: RecordFormat,
    ) -> tuple[Callable[[RunResult, Path], None], Callable[[Path], object]]:
        return (lambda r, d: save_result(r, d, records=fmt) and None), load_result

    def other(
        write: Callable[[Tables, Path], None], read: Callable[[Path], object], thin: bool
    ) -> tuple[Callable[[RunResult, Path], None], Callable[[Path], object]]:
        def w(r: RunResult, d: Path) -> None:
            save_result(r, d, records=RecordFormat("summary"))  # manifest and timing
            tables = (r.updates, r.tasks)
            if thin:
                tables = thin_tables(
                    r.updates, r.tasks, 1000, r.config["scenario"]["train"].get("target_loss")
                )
            write(tables, d)

        return w, read

    out = {
        "csv": lib(RecordFormat("full", "csv")),
        "csv.gz": other(lambda t, d: _csv(t, d, True), lambda d: _read_csv(d, True), False),
        "npz": lib(RecordFormat("full", "npz")),
    }
    if HAVE_ARROW:
        out["parquet"] = other(_parquet, _read_parquet, False)
    out["thin+csv"] = lib(RecordFormat("thin", "csv"))
    out["thin+csv.gz"] = other(lambda t, d: _csv(t, d, True), lambda d: _read_csv(d, True), True)
    out["thin+npz"] = lib(RecordFormat("thin", "npz"))
    if HAVE_ARROW:
        out["thin+parquet"] = other(_parquet, _read_parquet, True)
    out["summary"] = lib(RecordFormat("summary"))
    return out


def measure(
    result: RunResult, repeats: int, root: Path
) -> dict[str, tuple[int, int, int, float, float]]:
    """Per store: files, bytes, disk bytes, best write and read seconds."""
    rows = {}
    for name, (write, read) in stores().items():
        best_w = best_r = float("inf")
        for i in range(repeats):
            d = root / f"{name}-{i}"
            d.mkdir()
            t0 = time.perf_counter()
            write(result, d)
            t1 = time.perf_counter()
            if name != "summary":
                read(d)
            t2 = time.perf_counter()
            best_w, best_r = min(best_w, t1 - t0), min(best_r, t2 - t1)
        files = [p for p in d.iterdir() if p.is_file()]
        size = sum(p.stat().st_size for p in files)
        disk = sum(p.stat().st_blocks * 512 for p in files)
        rows[name] = (len(files), size, disk, best_w, best_r if name != "summary" else float("nan"))
        for i in range(repeats):
            shutil.rmtree(root / f"{name}-{i}")
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--quick", action="store_true", help="skip the 20,000-update runs")
    args = parser.parse_args()
    cases: list[tuple[str, Callable[[], dict[str, RunResult]]]] = [("quickstart", quickstart)]
    for updates in (2000,) if args.quick else (2000, 20000):
        for n in (8, 32):
            cases.append((f"{updates} upd, n={n}", lambda u=updates, n=n: long_runs(u, n)))
    print(f"pyarrow: {'yes, ' + pyarrow.__version__ if HAVE_ARROW else 'not installed'}")
    runs: list[tuple[str, str, str, float, dict[str, tuple[int, int, int, float, float]]]] = []
    with tempfile.TemporaryDirectory() as tmp:
        for case, make in cases:
            results = make()
            for label, result in results.items():
                if case == "quickstart" and label not in ("sync", "lwpd(k=4,t=2)"):
                    continue
                shape = f"{len(result.updates)}x{len(result.tasks)}"
                seconds = float(result.summary["wall_seconds"]["total"])
                rows = measure(result, args.repeats, Path(tmp))
                runs.append((case, label, shape, seconds, rows))
                for store, (files, size, disk, w, r) in rows.items():
                    print(
                        f"{case:16s} {label:14s} {shape:>14s} {store:13s} {files:2d} files "
                        f"{size / 1024:9.1f} KiB {disk / 1024:9.1f} KiB disk "
                        f"write {w * 1e3:8.1f} ms read {r * 1e3:8.1f} ms",
                        flush=True,
                    )
    names = list(runs[0][4])
    print("\nKiB per rule run (files' sizes; manifest.json and timing.json included):\n")
    print("| run | rule | rows (updates x tasks) | run s | " + " | ".join(names) + " |")
    print("|---|---|---|---:|" + "---:|" * len(names))
    for case, label, shape, seconds, rows in runs:
        kib = [rows[s][1] / 1024 for s in names]
        cells = " | ".join(f"{x:,.0f}" if x >= 100 else f"{x:.3g}" for x in kib)
        print(f"| {case} | {label} | {shape} | {seconds:.1f} | {cells} |")
    print("\nfiles per rule run: " + ", ".join(f"{s} {runs[0][4][s][0]}" for s in names))
    print("\nwrite / read ms per rule run (best of the repeats):\n")
    timed = names[:-1]  # a summary is never read as tables
    print("| run | rule | " + " | ".join(timed) + " |")
    print("|---|---|" + "---:|" * len(timed))
    for case, label, _, _, rows in runs:
        cells = " | ".join(f"{rows[s][3] * 1e3:.0f} / {rows[s][4] * 1e3:.0f}" for s in timed)
        print(f"| {case} | {label} | {cells} |")


if __name__ == "__main__":
    main()
