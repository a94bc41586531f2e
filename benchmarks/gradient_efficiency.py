"""Gradient efficiency: a lwpdsim run against a bare numpy loop doing the same numerical work.

For each rule, on softmax/digits and on an MLP, the run's model gradient calls are recorded (the
training rows of each), and a bare loop then repeats exactly those gradient calls, the same number
of loss evaluations and the parameter updates, with no simulation at all. The two are timed one
after the other for ``--repeats`` rounds. ``ratio`` is the best run time over the best bare time
(noise only ever adds time, so the best times estimate the cost itself), the simulator's overhead
on top of the numpy work the master actually uses (target: <= 1.25). ``median`` is the median of
the rounds' own ratios: far above ``ratio`` when the machine was busy during the measurement.

    python benchmarks/gradient_efficiency.py [--repeats 11]
"""

from __future__ import annotations

import argparse
import time

import numpy as np
from _common import paired_times
from threadpoolctl import threadpool_limits

import lwpdsim
from lwpdsim.models import Model, make_model
from lwpdsim.rng import Streams
from lwpdsim.sim import build_dataset, run_scheme

RULES = [
    {"name": "sync"},
    {"name": "ksync", "K": 6},
    {"name": "kasync", "K": 4},
    {"name": "kbatchasync", "K": 4},
    {"name": "gc", "s": 1},
    {"name": "lwpd", "k": 4, "t": 2},
]
MODELS = {
    "softmax/digits": {"kind": "softmax", "dataset": "digits"},
    "mlp/digits": {"kind": "mlp", "dataset": "digits", "hidden": 32},
}


def scenario(model: dict, rule: dict) -> lwpdsim.Scenario:
    return lwpdsim.load_scenario(
        {
            "name": "bench",
            "seed": 1,
            "cluster": {"workers": 8},
            "model": model,
            "schemes": [rule],
            "train": {"lr": 0.3, "max_updates": 300, "eval_every": 10},
        }
    )


def recorded_run(sc: lwpdsim.Scenario) -> tuple[lwpdsim.RunResult, list[tuple[int, int]]]:
    """Run ``sc``; return its result and the training rows ``(start, stop)`` of every gradient."""
    rows: list[tuple[int, int]] = []
    original = Model.gradient_unchecked

    def spy(self, theta, X, y, total_rows):  # type: ignore[no-untyped-def]
        base = X.base if X.base is not None else X  # the rows are a view of the training set
        start = (X.ctypes.data - base.ctypes.data) // X.strides[0]
        rows.append((start, start + X.shape[0]))
        return original(self, theta, X, y, total_rows)

    Model.gradient_unchecked = spy  # type: ignore[method-assign]
    try:
        (res,) = lwpdsim.simulate(sc).values()
    finally:
        Model.gradient_unchecked = original  # type: ignore[method-assign]
    if len(rows) != res.summary["gradient_evaluations"]:
        raise RuntimeError("the spy missed gradient calls")
    return res, rows


def bare_loop(model, data, rows: list[tuple[int, int]], evaluations: int, updates: int) -> None:  # type: ignore[no-untyped-def]
    """The same gradients (same rows), loss evaluations and parameter steps, with nothing else."""
    theta = model.init_params(np.random.default_rng(0))
    X, y, N = data.X_train, data.y_train, data.n_train
    with threadpool_limits(1):
        g = np.zeros_like(theta)
        for a, b in rows:
            g += model.gradient_unchecked(theta, X[a:b], y[a:b], N)
        for _ in range(updates):
            theta = theta - 1e-6 * g
        for _ in range(evaluations):
            model.loss_and_accuracy(theta, X, y)
            if data.has_test:
                model.loss_and_accuracy(theta, data.X_test, data.y_test)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--repeats", type=int, default=11)
    args = ap.parse_args()
    print(
        f"{'model':<16}{'rule':<16}{'run s':>8}{'bare s':>8}{'ratio':>7}{'median':>8}"
        f"{'grads':>7}{'evals':>7}"
    )
    for mname, model in MODELS.items():
        for rule in RULES:
            sc = scenario(model, rule)
            res, rows = recorded_run(sc)
            evals = int(res.updates["loss"].notna().sum())
            updates = int(res.summary["updates"])
            # both sides start from the loaded data and model: loading is not simulation
            streams = Streams.from_seed(sc.seed)
            data = build_dataset(sc, streams)
            mdl = make_model(sc.model.kind, data, hidden=sc.model.hidden)
            if max(b for _, b in rows) > data.n_train:
                raise RuntimeError("recorded rows fall outside the training set")
            spec = sc.schemes[0]

            def one_run(sc=sc, spec=spec, mdl=mdl, data=data, streams=streams):  # type: ignore[no-untyped-def]
                with threadpool_limits(1):
                    return run_scheme(sc, spec, mdl, data, streams)

            def one_bare(mdl=mdl, data=data, rows=rows, evals=evals, updates=updates):  # type: ignore[no-untyped-def]
                return bare_loop(mdl, data, rows, evals, updates)

            t_run, t_bare, median = paired_times(args.repeats, one_run, one_bare)
            label = next(iter(sc.schemes)).label
            print(
                f"{mname:<16}{label:<16}{t_run:>8.3f}{t_bare:>8.3f}{t_run / t_bare:>7.2f}"
                f"{median:>8.2f}"
                f"{len(rows):>7}{evals:>7}"
            )


if __name__ == "__main__":
    start = time.perf_counter()
    main()
    print(f"(benchmark took {time.perf_counter() - start:.1f} s)")
