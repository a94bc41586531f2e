"""What this session's additions cost, each measured side by side with what it adds to.

Run on demand: ``python benchmarks/measurement_costs.py [--rounds 3]``. Three ratios, each the
median over alternating rounds (``_common.paired_times``):

1. ``decode_error``: the quick start's six rules at one step size (0.5, no selection runs) for
   200 simulated seconds, with
   every rule entry measuring its decoding error against without (one full gradient per step).
2. Time sources: simulation time per task of the quick start's K-async (4000 simulated seconds)
   with a Markov-modulated latency (two states, factors 1 and 5) against the same base latency
   drawn i.i.d. (the two runs differ in their task times, so not all of the gap is the source's).
3. ``lwpdsim animate``: a 60-frame GIF of two rules of the quick start against drawing its
   ``timeline.png``, from the same saved run.
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path
from typing import Any

from _common import paired_times

import lwpdsim
from lwpdsim.analysis.animation import animate_runs
from lwpdsim.analysis.data import load_results_dir
from lwpdsim.analysis.timeline_plots import plot_timeline

ROOT = Path(__file__).resolve().parent.parent
QUICK = ROOT / "scenarios" / "quickstart.toml"
FIXED = ["scheme.lr=0.5", "train.max_time=20"]
MARKOV = (
    'cluster.latency={dist = "markov", base = {dist = "shifted_exponential", shift = 8.0, '
    'rate = 0.125}, states = [{name = "normal", factor = 1.0, sojourn = 50.0}, '
    '{name = "slow", factor = 5.0, sojourn = 10.0}]}'
)


def decode_error_ratio(rounds: int) -> tuple[float, float, float]:
    longer = [*FIXED, "train.max_time=200"]
    plain = lwpdsim.load_scenario(QUICK, overrides=longer)
    measured = lwpdsim.load_scenario(QUICK, overrides=[*longer, "scheme.decode_error=true"])
    return paired_times(rounds, lambda: lwpdsim.simulate(measured), lambda: lwpdsim.simulate(plain))


def per_task(scenario: Any) -> float:
    """Simulation wall seconds per task of the scenario's K-async run."""
    res = lwpdsim.simulate(scenario)["kasync(K=4)"]
    return float(res.summary["wall_seconds"]["simulation"]) / len(res.tasks)


def source_ratio(rounds: int) -> tuple[float, float, float]:
    keep = ['schemes=[{name = "kasync", K = 4}]', "train.max_time=4000", "train.max_updates=100000"]
    iid = lwpdsim.load_scenario(QUICK, overrides=[*FIXED, *keep])
    markov = lwpdsim.load_scenario(QUICK, overrides=[*FIXED, *keep, MARKOV])
    a, b = [], []
    for _ in range(rounds):
        a.append(per_task(markov))
        b.append(per_task(iid))
    ratios = sorted(x / y for x, y in zip(a, b, strict=True))
    return min(a), min(b), ratios[len(ratios) // 2]


def animation_ratio(rounds: int) -> tuple[float, float, float]:
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "run"
        scenario = lwpdsim.load_scenario(QUICK, overrides=FIXED)
        lwpdsim.save_run(lwpdsim.simulate(scenario), out)
        runs = load_results_dir(out)
        labels = list(runs)[:2]
        gif, png = Path(tmp) / "a.gif", Path(tmp) / "t.png"
        return paired_times(
            rounds,
            lambda: animate_runs({k: runs[k] for k in labels}, gif, frames=60),
            lambda: plot_timeline(runs, png),
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    rounds = parser.parse_args().rounds
    for name, fn in (
        ("decode_error on / off, quick start (s)", decode_error_ratio),
        ("markov / iid, simulation s per task", source_ratio),
        ("60-frame GIF / timeline.png (s)", animation_ratio),
    ):
        first, second, ratio = fn(rounds)
        print(f"{name}: {first:.4g} / {second:.4g}; median ratio {ratio:.2f}")


if __name__ == "__main__":
    main()
