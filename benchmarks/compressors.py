"""Each compressor's bits per coordinate and relative error on real gradients, beside LWPD's messages.

Run on demand: ``python benchmarks/compressors.py [--draws 20] [--steps 60]``.

For the quick start (softmax on digits, 8 workers) and the MLP scenario (wine, 16 workers): the
parameters along a full-batch gradient descent from the scenario's initial parameters (steps 0,
steps/3, 2 steps/3 and steps, step size ``--lr``), and at each of them every worker's partition
gradient g_w (what sync or K-async workers send). For each compressor setting it prints:

- ``bits/coord``: the message's exact size over d (32 bits per value at itemsize 4);
- ``rel. error``: the mean of ``||C(g_w) - g_w||^2 / ||g_w||^2`` over the messages (random kinds:
  ``--draws`` draws each), with its standard error;
- ``1-msg estimate``: the mean of ``||N/N_w C(g_w) - g||^2 / ||g||^2``, the error of the full
  gradient estimated from one message (as K-async with K = 1 steps), partition noise included.
  For LWPD (C^(n,4,2), backproject) it is the step its decoder makes from one codeword, so that
  column compares LWPD's messages with the compressors' at equal footing.
"""

from __future__ import annotations

import argparse
import math
from pathlib import Path

import numpy as np

from lwpdsim.compress import Block, ErrorMean, build, parse_compress
from lwpdsim.compress.blocks import blocks_of
from lwpdsim.config import load_scenario
from lwpdsim.data import partition
from lwpdsim.models import make_model
from lwpdsim.problem import Problem
from lwpdsim.rng import Streams
from lwpdsim.schemes import REGISTRY
from lwpdsim.schemes.base import Result
from lwpdsim.sim.run import build_dataset

ROOT = Path(__file__).resolve().parent.parent
SCENARIOS = {"quickstart": 1.0, "mlp": 0.3}  # scenario -> step size of the trajectory
SETTINGS: list[dict[str, object]] = [
    {"kind": "none"},
    {"kind": "topk", "fraction": 0.01},
    {"kind": "topk", "fraction": 0.1},
    {"kind": "randk", "fraction": 0.1},
    {"kind": "randk", "fraction": 0.5},
    {"kind": "qsgd", "s": 1},
    {"kind": "qsgd", "s": 4},
    {"kind": "qsgd", "s": 16},
    {"kind": "terngrad"},
    {"kind": "sign"},
    {"kind": "lowrank", "r": 1},
    {"kind": "lowrank", "r": 2},
]


def trajectory(problem: Problem, theta0: np.ndarray, lr: float, steps: int) -> list[np.ndarray]:
    """Parameters at steps 0, steps/3, 2 steps/3 and steps of full-batch gradient descent."""
    keep = {0, steps // 3, 2 * steps // 3, steps}
    theta, out = theta0.copy(), []
    whole = slice(0, problem.n_rows)
    for step in range(steps + 1):
        if step in keep:
            out.append(theta.copy())
        theta = theta - lr * problem.gradient(-1, theta, whole, share=False)
    return out


def measure(name: str, lr: float, steps: int, draws: int) -> list[str]:
    scenario = load_scenario(ROOT / "scenarios" / f"{name}.toml")
    streams = Streams.from_seed(scenario.seed)
    data = build_dataset(scenario, streams)
    model = make_model(scenario.model.kind, data, hidden=scenario.model.hidden)
    problem = Problem(model, data)
    n, d, rows = scenario.cluster.workers, problem.n_params, problem.n_rows
    item_bits = 8 * scenario.cluster.network.itemsize
    parts = partition(rows, n)
    thetas = trajectory(problem, model.init_params(streams.generator("model_init")), lr, steps)
    whole = slice(0, rows)
    fulls = [problem.gradient(-1, th, whole, share=False) for th in thetas]
    grads = [[problem.gradient(-1, th, p, share=False) for p in parts] for th in thetas]
    blocks: tuple[Block, ...] = blocks_of(model)
    lines = [
        f"\n{name}: {model!r}, d = {d}, n = {n}, {len(thetas)} points x {n} partition gradients",
        "| compressor | bits/coord | rel. error (± s.e.) | 1-msg estimate (± s.e.) |",
        "|---|---|---|---|",
    ]
    rng = np.random.default_rng(2026)
    for raw in SETTINGS:
        spec = parse_compress(raw, "bench")
        c = build(spec, d, item_bits, blocks=blocks)
        own, est = ErrorMean(), ErrorMean()
        for full, per_worker in zip(fulls, grads, strict=True):
            for p, g in zip(parts, per_worker, strict=True):
                for _ in range(draws if c.random else 1):
                    # a fresh state per draw: lowrank's first message, the worst case
                    msg = c.compress(g, rng, c.initial_state())
                    own.add_vectors(g, msg.decoded)
                    est.add_vectors(full, msg.decoded * (rows / (p.stop - p.start)))
        lines.append(
            f"| {spec.label()} | {c.bits() / d:.3f} | {own.mean:.4f} ± {own.stderr:.4f} "
            f"| {est.mean:.3f} ± {est.stderr:.3f} |"
        )
    lines.append(lwpd_row(problem, thetas, fulls, n, d, item_bits))
    return lines


def lwpd_row(
    problem: Problem, thetas: list[np.ndarray], fulls: list[np.ndarray], n: int, d: int, bits: int
) -> str:
    """LWPD C^(n,4,2), backproject, one codeword per step: its message size and its step's error."""
    cls = REGISTRY["lwpd"]
    params = cls.resolve_params({"k": 4, "t": 2}, n, "lwpd")
    est = ErrorMean()
    for version, (theta, full) in enumerate(zip(thetas, fulls, strict=True)):
        for w in range(n):
            scheme = cls(params, n, problem)
            step = scheme.on_result(Result(w, w, 1000 + version, scheme.compute, theta)).step
            assert step is not None
            est.add_vectors(full, step)
        scheme = cls(params, n, problem)
    per_coord = scheme.upload_elements(0) * bits / d
    return f"| lwpd(k=4,t=2) message | {per_coord:.3f} | (not a compressor of g_w) | {est.mean:.3f} ± {est.stderr:.3f} |"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--draws", type=int, default=20, help="draws per message (random kinds)")
    parser.add_argument("--steps", type=int, default=60, help="gradient-descent steps")
    args = parser.parse_args()
    for name, lr in SCENARIOS.items():
        print("\n".join(measure(name, lr, args.steps, args.draws)))
    print(
        "\nrel. error: mean over messages of ||C(g_w) - g_w||^2/||g_w||^2; 1-msg estimate: of "
        "||N/N_w C(g_w) - g||^2/||g||^2 (LWPD: its one-codeword step against g)."
        f" {math.nan!s} means no message had a non-zero input."
    )


if __name__ == "__main__":
    main()
