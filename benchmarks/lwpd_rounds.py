"""What LWPD's searched rounds (``rounds = "design"``) buy the ``lstsq`` and ``group`` decoders as n
grows at fixed k, measured on the quick-start softmax model's real partial derivatives.

    python benchmarks/lwpd_rounds.py [--draws 1000] [--out docs/figures]

For every code C^(n,k,t) below and both ways of choosing rounds, the LWPD rule is fed the codewords
of one parameter vector in a uniformly random arrival order (what i.i.d. compute times give when
all n workers start together) until its first step: ``lstsq`` from the first k codewords, ``group``
from the first k/t complete runs, ``backproject`` (a reference, in the CSV only) from the first k.
The error is ||step - g|| / ||g|| against the full training gradient g, at two parameter vectors:
the quick start's theta0 and the first full-gradient-descent iterate (step size LR) whose training
loss reaches the scenario's target. No training run, so no step size enters the comparison. The
arrival orders come from the scenario seed's ``latency`` stream and are shared by both rounds
(paired draws). See lwpdsim/analysis/lwpd_rounds.py.

Writes ``lwpd_rounds.png`` and ``lwpd_rounds.csv`` (the plotted numbers, with the paired
differences design - shift and their standard errors) into ``--out``.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import pandas as pd
from threadpoolctl import threadpool_limits

import lwpdsim
from lwpdsim.analysis import lwpd_rounds, style
from lwpdsim.rng import Streams

ROOT = Path(__file__).resolve().parents[1]
SCENARIO = ROOT / "scenarios" / "quickstart.toml"
#: Step size of the descent that picks the second point (in the quick start's lr grid).
LR = 2.0
#: (n, k, t) of every code measured: n grows at fixed k.
CASES = [(n, 4, 2) for n in (8, 12, 16, 20, 24, 32)] + [
    (n, 8, t) for t in (4, 2) for n in (16, 24, 32, 48, 64)
]


def positive(text: str) -> int:
    value = int(text)
    if value < 2:
        raise argparse.ArgumentTypeError(f"draws must be an integer >= 2, got {text}")
    return value


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--draws", type=positive, default=1000, help="arrival orders per code")
    ap.add_argument("--out", type=Path, default=ROOT / "docs" / "figures")
    args = ap.parse_args()
    started = time.perf_counter()
    scenario = lwpdsim.load_scenario(SCENARIO)
    target = scenario.train.target_loss
    if target is None:
        raise SystemExit(f"{SCENARIO}: train.target_loss is needed to pick the second point")
    with threadpool_limits(1):  # one BLAS thread, as lwpdsim.simulate runs
        points, problems = lwpd_rounds.scenario_points(scenario, LR, target)
        rng = Streams.from_seed(scenario.seed).generator("latency")
        raw = lwpd_rounds.measure(points, problems, CASES, args.draws, rng)
    table = lwpd_rounds.paired(lwpd_rounds.summarise(raw), raw)
    pd.set_option("display.width", 220)
    pd.set_option("display.max_rows", 1000)
    shown = table.drop(columns=["draws", "R", "mean_arrivals"])
    print(shown.to_string(index=False, float_format=lambda v: f"{v:.4f}"))
    args.out.mkdir(parents=True, exist_ok=True)
    table.to_csv(args.out / "lwpd_rounds.csv", index=False, float_format="%.6g")
    style.save(lwpd_rounds.draw(table, args.draws), args.out / "lwpd_rounds.png")
    print(
        f"\nwrote {args.out / 'lwpd_rounds.png'} and .csv in {time.perf_counter() - started:.1f} s"
    )


if __name__ == "__main__":
    main()
