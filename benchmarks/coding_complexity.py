"""The complexity of coding, measured: encoding operations, elements sent and decoding operations per
update against the number of workers n, for gradient coding (FRC and CRC), K-async and LWPD, with
log-log fitted exponents printed beside the claims of the LWPD paper's comparison table.

    python benchmarks/coding_complexity.py [--n 8 16 32 64 128] [--out docs/figures]

Each rule runs in the simulator on one least-squares problem (d = 64 parameters, 1024 rows,
exponential compute times); the table's counts are read through the rules' protocol, never from a
formula in this script: the master's operations are the ``ops`` of every :class:`Decision` the rule
returns, a task's encoding operations its rule's ``encode_ops``, summed over the tasks that
finished computing, and the elements are the bytes the cluster counted over the itemsize. Every
count is taken over the second half of the run (updates U/2 .. U, U = 2n + 64), after the start-up
in which every worker receives its first parameters. Operations follow :mod:`lwpdsim.flops`.

Settings: k = n/2. GC tolerates s = n/2 - 1 stragglers (n/2 + 1 messages per update; FRC needs
s + 1 to divide n); K-async steps on K = n/2 results; LWPD is C^(n, n/2, 2) with the back-projection
decoder stepping on every codeword (the default), or every k codewords, or the lstsq decoder. As a
check of the solve's counted growth independent of any count, the script also times one GC
decoding-vector solve (best of 7).

Writes ``coding_complexity.png`` and ``coding_complexity.csv`` into ``--out``.
"""

from __future__ import annotations

import argparse
import math
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats
from threadpoolctl import threadpool_limits

import lwpdsim
from lwpdsim.analysis import style
from lwpdsim.codes import gradient_coding
from lwpdsim.errors import LwpdsimError
from lwpdsim.latency import from_spec
from lwpdsim.models import make_model
from lwpdsim.problem import Problem
from lwpdsim.rng import Streams
from lwpdsim.schemes import REGISTRY
from lwpdsim.schemes.base import Decision, Result
from lwpdsim.sim.cluster import Cluster
from lwpdsim.sim.master import Master
from lwpdsim.sim.run import build_dataset

ROOT = Path(__file__).resolve().parents[1]
FEATURES, ROWS, SEED = 63, 1024, 11
ITEMSIZE = 4

#: The LWPD paper's table (Soto et al. 2022), as exponents of n with k = n/2 and t fixed; None:
#: no cost beyond combining. GC's O(k^omega) is omega = 2.37 in theory, 3 for the usual solvers.
CLAIMS = {
    "GC": {"encode": "O(nk): 2", "elements": "O(k): 1", "decode": "O(k^omega): 2.37-3"},
    "K-async": {"encode": "none", "elements": "O(k): 1", "decode": "none"},
    "LWPD": {"encode": "none", "elements": "O(k/t): 1", "decode": "none"},
}


def variants(n: int) -> list[tuple[str, str, dict[str, Any]]]:
    """(label, family in :data:`CLAIMS`, scheme table) of every measured rule at ``n`` workers."""
    half = n // 2
    lwpd = {"name": "lwpd", "k": half, "t": 2}
    return [
        ("GC (FRC)", "GC", {"name": "gc", "s": half - 1, "construction": "frc"}),
        ("GC (CRC)", "GC", {"name": "gc", "s": half - 1, "construction": "crc"}),
        ("K-async", "K-async", {"name": "kasync", "K": half}),
        ("LWPD backproject", "LWPD", dict(lwpd)),
        ("LWPD backproject, step every k", "LWPD", {**lwpd, "update_every": half}),
        ("LWPD lstsq", "LWPD", {**lwpd, "decoder": "lstsq"}),
    ]


def scenario(n: int, rule: dict[str, Any]) -> lwpdsim.Scenario:
    return lwpdsim.load_scenario(
        {
            "name": "coding",
            "seed": SEED,
            "cluster": {
                "workers": n,
                "latency": {"dist": "exponential", "rate": 1.0},
                "network": {"itemsize": ITEMSIZE},
            },
            "model": {
                "kind": "least_squares",
                "dataset": "synthetic_regression",
                "samples": ROWS,
                "features": FEATURES,
                "test_fraction": 0.0,
            },
            "schemes": [rule],
            "train": {"lr": 0.01, "max_updates": 2 * n + 64, "eval_every": 10**9},
        }
    )


def measure(n: int, rule: dict[str, Any]) -> dict[str, Any]:
    """One run of ``rule`` on ``n`` workers; its counts per update over the second half."""
    sc = scenario(n, rule)
    spec = sc.schemes[0]
    streams = Streams.from_seed(sc.seed)
    data = build_dataset(sc, streams)
    model = make_model(sc.model.kind, data)
    problem = Problem(model, data, cache_size=max(64, 4 * n))
    cls = REGISTRY[spec.name]
    scheme = cls(spec.params, n, problem, cost=sc.cluster.cost, rng=streams.generator("code"))
    decisions: list[tuple[int, float]] = []  # (master's version when decided, the master's ops)
    decide = scheme.on_result

    def counted(result: Result) -> Decision:
        decision = decide(result)
        decisions.append((scheme.version, decision.ops))
        return decision

    scheme.on_result = counted  # type: ignore[method-assign]
    theta0 = model.init_params(streams.generator("model_init"))
    master = Master(scheme, problem, theta0, spec.lr, sc.train, n)
    rngs = [streams.generator("latency", w) for w in range(n)]
    cluster = Cluster(sc.cluster, scheme, master, from_spec(sc.cluster.latency), rngs)
    cluster.run()
    updates, tasks = cluster.updates.frame(), cluster.tasks.frame()
    last = int(updates["update"].iloc[-1])
    first = last // 2
    count = last - first
    if count < 1:
        raise LwpdsimError(f"the run stopped ({master.status}) before its second update")
    t0, t1 = updates["time"].iloc[first], updates["time"].iloc[last]
    encode = cls.encode_ops(spec.params, n, problem.n_params)
    done = tasks[(tasks["computed"] > t0) & (tasks["computed"] <= t1)]
    sent = updates[["bytes_up", "bytes_down"]].sum(axis=1).to_numpy()
    return {
        "n": n,
        "d": problem.n_params,
        "status": master.status,
        "updates": count,
        "encode_ops_per_task": encode[0],
        "encode_ops": sum(encode[w] for w in done["worker"]) / count,
        "elements": (sent[last] - sent[first]) / ITEMSIZE / count,
        "decode_ops": sum(ops for v, ops in decisions if first <= v < last) / count,
    }


def solve_seconds(n: int, repeats: int = 7) -> float:
    """Best wall time of one GC decoding vector (FRC, s = n/2 - 1, a random arrived set)."""
    s = n // 2 - 1
    B = gradient_coding.encoding_matrix(n, s, "frc")
    alive = np.sort(np.random.default_rng(n).choice(n, n - s, replace=False))
    best = math.inf
    for _ in range(repeats):
        start = time.perf_counter()
        gradient_coding.decoding_vector(B, alive, s=s)
        best = min(best, time.perf_counter() - start)
    return best


def slope(x: Any, y: Any) -> tuple[float, float]:
    """Least-squares slope of log y against log x and its standard error (NaN for zeros)."""
    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    if len(x) < 2 or np.any(y <= 0):
        return math.nan, math.nan
    fit = stats.linregress(np.log(x), np.log(y))
    return float(fit.slope), float(fit.stderr)


def fits(table: pd.DataFrame) -> pd.DataFrame:
    rows = []
    for label, part in table.groupby("rule", sort=False):
        row: dict[str, Any] = {"rule": label, "family": part["family"].iloc[0]}
        for col in ("encode_ops", "elements", "decode_ops"):
            row[col], row[f"{col}_se"] = slope(part["n"], part[col])
        rows.append(row)
    return pd.DataFrame(rows)


def exponent_text(value: float, se: float, values: Any) -> str:
    if (values == 0).all():
        return "0 (none)"
    if (values == values.iloc[0]).all():
        return "0 (constant)"
    return f"{value:.2f} +/- {se:.2f}" if math.isfinite(value) else "-"


#: Marker and line style of each measured rule, so that rules with equal counts stay visible.
LOOKS = {
    "GC (FRC)": ("s", "-"),
    "GC (CRC)": ("x", "--"),
    "K-async": ("o", "-"),
    "LWPD backproject": ("o", "-"),
    "LWPD backproject, step every k": ("^", "-"),
    "LWPD lstsq": ("D", ":"),
}


@style.styled
def draw(table: pd.DataFrame, fitted: pd.DataFrame) -> Any:
    fig = style.figure(13.0, 5.6)
    axes = fig.subplots(1, 3)
    names = {label: rule for label, rule in zip(table["rule"], table["scheme"], strict=True)}
    colors = style.rule_colors(names)
    what = {
        "encode_ops": "encoding operations per update",
        "elements": "elements sent per update",
        "decode_ops": "master's operations per update",
    }
    ns = sorted(table["n"].unique())
    for ax, (col, title) in zip(axes, what.items(), strict=True):
        for label, part in table.groupby("rule", sort=False):
            marker, line = LOOKS.get(str(label), ("o", "-"))
            if (part[col] <= 0).all():
                ax.plot([], [], marker, color=colors[label], label=f"{label}: none")
                continue
            fit = fitted.set_index("rule").loc[label, col]
            text = "constant" if part[col].nunique() == 1 else f"n^{fit:.2f}"
            ax.plot(
                part["n"],
                part[col],
                marker=marker,
                linestyle=line,
                color=colors[label],
                mfc="none",
                label=f"{label}: {text}",
            )
        ax.set_xscale("log", base=2)
        ax.set_xticks(ns, [str(v) for v in ns])
        ax.set_yscale("log")
        ax.set_xlabel("workers n (k = n/2)")
        ax.set_title(title)
        ax.legend(
            title="fitted growth", loc="upper center", bbox_to_anchor=(0.5, -0.16), fontsize=8.5
        )
    fig.suptitle(
        "Coding costs counted in lwpdsim's runs (least squares, d = "
        f"{table['d'].iloc[0]}; operations as lwpdsim.flops counts them)"
    )
    return fig


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--n", type=int, nargs="+", default=[8, 16, 32, 64, 128])
    ap.add_argument("--out", type=Path, default=ROOT / "docs" / "figures")
    args = ap.parse_args()
    started = time.perf_counter()
    rows = []
    limits = threadpool_limits(1)  # one BLAS thread, as lwpdsim.simulate runs
    for n in args.n:
        for label, family, rule in variants(n):
            try:
                row = measure(n, rule)
            except LwpdsimError as err:  # reported, not hidden
                print(f"{label} at n = {n}: {err}")
                continue
            rows.append({"rule": label, "family": family, "scheme": rule["name"], **row})
    table = pd.DataFrame(rows)
    solves = {n: solve_seconds(n) for n in args.n}
    limits.unregister()
    fitted = fits(table)
    pd.set_option("display.width", 200)
    shown = table[
        [
            "rule",
            "n",
            "status",
            "updates",
            "encode_ops_per_task",
            "encode_ops",
            "elements",
            "decode_ops",
        ]
    ]
    print(shown.to_string(index=False, float_format=lambda v: f"{v:.4g}"))
    print(
        "\nfitted exponents of n (log-log least squares, +/- standard error) beside the paper's table:"
    )
    for _, f in fitted.iterrows():
        part = table[table["rule"] == f["rule"]]
        claim = CLAIMS[f["family"]]
        cells = []
        for col, key in (
            ("encode_ops", "encode"),
            ("elements", "elements"),
            ("decode_ops", "decode"),
        ):
            measured = exponent_text(f[col], f[f"{col}_se"], part[col])
            cells.append(f"{key} {measured} (paper {claim[key]})")
        print(f"  {f['rule']:<32} " + "; ".join(cells))
    solve_fit = slope(list(solves), list(solves.values()))
    counted = slope(args.n, [gradient_coding.decoding_ops(n, n - (n // 2 - 1)) for n in args.n])
    print(
        "\nGC decoding vector, one solve: counted operations grow as n^"
        f"{counted[0]:.2f}; measured wall time as n^{solve_fit[0]:.2f} "
        "(" + ", ".join(f"n={n}: {1e6 * t:.0f} us" for n, t in solves.items()) + ")"
    )
    stopped = table[table["status"] != "max_updates"]
    for _, r in stopped.iterrows():
        print(
            f"note: {r['rule']} at n = {r['n']} stopped with {r['status']} after its measured updates"
        )
    args.out.mkdir(parents=True, exist_ok=True)
    out = table.merge(
        pd.DataFrame({"n": list(solves), "gc_solve_seconds": list(solves.values())}), on="n"
    )
    out.to_csv(args.out / "coding_complexity.csv", index=False, float_format="%.6g")
    style.save(draw(table, fitted), args.out / "coding_complexity.png")
    print(
        f"\nwrote {args.out / 'coding_complexity.png'} and .csv in {time.perf_counter() - started:.1f} s"
    )


if __name__ == "__main__":
    main()
