"""Measure how long planning a big sweep takes: expanding the grid and validating every point.

Run on demand: ``python benchmarks/sweep_plan.py [--largest 100000]``. The grid is the quick start
with three fixed-step rules (lwpd, gc, K-async) over cluster.workers (5 values) x schemes[2].K (4)
x train.lr_seeds (5) x seed (10, 100 or 1000 values): 10^3, 10^4 and 10^5 points, all valid. Each plan is
timed after a warm-up plan (imports and dataset shapes are loaded once per process), wall and CPU
time. Then 10^3 points are resolved from scratch, as plans did before (a deep copy of the base,
``set_value``, ``parse_scenario``, ``check_runnable`` and the hash of ``to_dict``, per point),
alternately with the plan, and the ratio of the two is reported; the two must give the same run
ids.
"""

from __future__ import annotations

import argparse
import copy
import hashlib
import itertools
import json
import time
from pathlib import Path
from typing import Any

from _common import paired_times

from lwpdsim.config import parse_scenario, read_toml, set_value
from lwpdsim.config.runnable import check_runnable
from lwpdsim.sweep import load_sweep, plan_sweep
from lwpdsim.sweep.spec import SweepSpec, value_text

ROOT = Path(__file__).resolve().parent.parent
BASE = ROOT / "scenarios" / "quickstart.toml"


def grid(points: int) -> dict[str, Any]:
    """A sweep of ``points`` grid points (a multiple of 100)."""
    return {
        "name": "big",
        "base": str(BASE),
        "base_overrides": {
            "schemes": [
                {"name": "lwpd", "k": 4, "t": 2, "lr": 0.5},
                {"name": "gc", "s": 1, "lr": 0.5},
                {"name": "kasync", "K": 2, "lr": 0.5},
            ]
        },
        "factors": {
            "cluster.workers": [4, 8, 16, 24, 32],
            "schemes[2].K": [1, 2, 3, 4],
            "train.lr_seeds": [1, 2, 3, 4, 5],
            "seed": list(range(points // 100)),
        },
    }


def from_scratch(spec: SweepSpec) -> list[str]:
    """The run ids of every point, each resolved from scratch (the pre-memo plan)."""
    raw_base = read_toml(BASE)
    ids = []
    for combo in itertools.product(*([(k, v) for v in vs] for k, vs in spec.factors.items())):
        raw = copy.deepcopy(raw_base)
        for key, value in (*spec.base_overrides.items(), *combo):
            set_value(raw, key, copy.deepcopy(value), f"{key}={value_text(value)}")
        scenario = parse_scenario(
            raw, default_name=BASE.stem, base_dir=str(BASE.parent), source=str(BASE)
        )
        check_runnable(scenario, missing_file_ok=True)
        data = {k: v for k, v in scenario.to_dict().items() if k not in ("name", "description")}
        text = json.dumps(data, sort_keys=True, separators=(",", ":"), allow_nan=False)
        digest = hashlib.sha256(text.encode()).hexdigest()
        run = json.dumps({"config": digest, "replicate": 0})
        ids.append(hashlib.sha256(run.encode()).hexdigest()[:12])
    return ids


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--largest", type=int, default=100_000, help="largest grid (points)")
    parser.add_argument("--repeats", type=int, default=3, help="rounds of the side-by-side part")
    args = parser.parse_args()
    plan_sweep(grid(100))  # warm-up: imports, dataset shapes
    print(f"{'points':>8} {'wall s':>8} {'cpu s':>8} {'us/point (cpu)':>15}")
    sizes = [n for n in (1_000, 10_000, 100_000) if n <= args.largest]
    for points in sizes:
        spec = load_sweep(grid(points))
        wall, cpu = time.perf_counter(), time.process_time()
        plan = plan_sweep(spec)
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
        assert len(plan.points) == points
        print(f"{points:>8} {wall:>8.2f} {cpu:>8.2f} {1e6 * cpu / points:>15.1f}")
    spec = load_sweep(grid(1_000))
    ids = [run.run_id for run in plan_sweep(spec).runs]
    assert from_scratch(spec) == ids, "the plan's run ids differ from those made from scratch"
    old, new, ratio = paired_times(
        args.repeats, lambda: from_scratch(spec), lambda: plan_sweep(spec)
    )
    print(
        f"10^3 points side by side (best of {args.repeats}): from scratch {old:.2f} s, "
        f"plan {new:.3f} s; median ratio {ratio:.0f}x (same run ids)"
    )


if __name__ == "__main__":
    main()
