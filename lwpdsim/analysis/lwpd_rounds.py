"""What LWPD's searched rounds (``rounds = "design"``) buy its ``lstsq`` and ``group`` decoders, measured
on real partial derivatives at a fixed parameter vector (no step size, no training dynamics).

For each code C^(n,k,t) and each way of choosing its rounds, the LWPD rule itself (its ``compute``
and ``on_result``, so its decoders, scalings and collapse) is fed the codewords of one parameter
vector in a random arrival order until it takes its first step, and the step is compared with the
full training gradient g at that vector: relative error ||step - g|| / ||g||.

- ``lstsq`` with ``update_every = k``: the step from the first k codewords to arrive, the fewest
  that can determine all k partial derivatives; exact iff those k rows of C have rank k.
- ``group`` with ``update_every = k/t``: the step from the first k/t complete runs, scaled by
  k / (t runs) = 1; exact iff those runs cover all k partial derivatives (each exactly once).
- ``backproject`` with ``update_every = k``, the unbiased reference (never exact).

When all n workers start together and their compute times are i.i.d. (equal units for every LWPD
task), the order in which their first codewords arrive is uniformly random, so each draw is a
permutation from a generator derived from the scenario's seed (its ``latency`` stream). Both ways of
choosing rounds see the same permutations (paired draws), so for R = n/k <= 2, where the two codes
are the same matrix, they give the same numbers.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from ..codes import lwpd as code
from ..config import Scenario
from ..models import make_model
from ..problem import Problem
from ..rng import Streams
from ..schemes.base import Result
from ..schemes.lwpd import LWPD
from ..sim.run import build_dataset
from . import style

#: Decoders measured, and how many arrivals (lstsq, backproject) or complete runs (group) make the
#: step, as a function of (k, t).
DECODERS: dict[str, Any] = {
    "lstsq": lambda k, t: k,
    "group": lambda k, t: k // t,
    "backproject": lambda k, t: k,
}

#: Relative error below which a step counts as exact (float64 round-off of a solve or a transpose).
EXACT = 1e-9


@dataclass(frozen=True)
class Point:
    """A parameter vector at which the gradient is decoded, with a label for tables and legends."""

    label: str
    theta: np.ndarray


def descent_points(
    problem: Problem, theta0: np.ndarray, lr: float, target_loss: float, max_steps: int = 1000
) -> list[Point]:
    """The start ``theta0`` and the first iterate of full-gradient descent at step size ``lr``
    whose training loss is at most ``target_loss`` (after at most ``max_steps`` steps; the last
    iterate otherwise, labelled with its loss)."""
    theta = np.array(theta0, dtype=np.float64)
    steps, loss = 0, problem.evaluate(theta)["loss"]
    while loss > target_loss and steps < max_steps:
        theta = theta - lr * problem.gradient(steps, theta, slice(None), share=False)
        steps += 1
        loss = problem.evaluate(theta)["loss"]
    return [
        Point("theta0 (start)", np.array(theta0, dtype=np.float64)),
        Point(f"theta after {steps} full-gradient steps (loss {loss:.2f})", theta),
    ]


def scenario_points(
    scenario: Scenario, lr: float, target_loss: float
) -> tuple[list[Point], dict[str, Problem]]:
    """The points of :func:`descent_points` on ``scenario``'s model and data (built from its seed
    as a run builds them), and a fresh problem for each."""
    streams = Streams.from_seed(scenario.seed)
    data = build_dataset(scenario, streams)
    model = make_model(scenario.model.kind, data)
    theta0 = model.init_params(streams.generator("model_init"))
    points = descent_points(Problem(model, data), theta0, lr, target_loss)
    return points, {p.label: Problem(model, data) for p in points}


def _messages(scheme: LWPD, theta: np.ndarray) -> list[np.ndarray]:
    return [scheme.compute(w, 0, theta) for w in range(scheme.n)]


def _scheme(problem: Problem, n: int, k: int, t: int, rounds: str, decoder: str) -> LWPD:
    every = int(DECODERS[decoder](k, t))
    raw = {"k": k, "t": t, "decoder": decoder, "update_every": every, "rounds": rounds}
    return LWPD(LWPD.resolve_params(raw, n, "lwpd"), n, problem)


def first_step(
    problem: Problem,
    n: int,
    k: int,
    t: int,
    rounds: str,
    decoder: str,
    messages: list[np.ndarray],
    theta: np.ndarray,
    order: Iterable[int],
) -> tuple[np.ndarray, list[int], int]:
    """The LWPD rule's first step when codewords ``messages`` arrive in ``order``: the step, the
    workers whose codewords it used, and the number of arrivals it waited for."""
    scheme = _scheme(problem, n, k, t, rounds, decoder)
    arrived = 0
    for task, w in enumerate(order):
        arrived += 1
        result = Result(int(w), task, 0, scheme.compute, theta, messages[int(w)])
        decision = scheme.on_result(result)
        if decision.step is not None:
            return decision.step, [r.worker for r in decision.used], arrived
    raise RuntimeError(f"no step after {arrived} arrivals ({decoder}, C^({n},{k},{t}))")


def measure(
    points: Iterable[Point],
    problem_for: Mapping[str, Problem],
    cases: Iterable[tuple[int, int, int]],
    draws: int,
    rng: np.random.Generator,
    decoders: Iterable[str] = tuple(DECODERS),
) -> pd.DataFrame:
    """One row per (point, code (n, k, t), rounds, decoder, draw): ``error`` (relative),
    ``arrivals`` (codewords the rule waited for), ``rank`` of the rows of C whose codewords the
    step used and ``covered`` (partials on which those rows are nonzero).

    ``problem_for[point.label]`` is the problem whose gradients are decoded at that point (one per
    point: a problem caches gradients by version). For each code, ``draws`` arrival orders are
    drawn from ``rng`` once and shared by every rounds, decoder and point.
    """
    points = list(points)
    decoders = list(decoders)
    rows: list[dict[str, Any]] = []
    for n, k, t in cases:
        orders = [rng.permutation(n) for _ in range(draws)]
        for rounds in code.ROUNDS:
            C = code.code_matrix(n, k, t, rounds)
            for point in points:
                problem = problem_for[point.label]
                g = problem.gradient(0, point.theta, slice(None))
                scale = float(np.linalg.norm(g))
                for decoder in decoders:
                    messages = _messages(_scheme(problem, n, k, t, rounds, decoder), point.theta)
                    for draw, order in enumerate(orders):
                        step, used, arrived = first_step(
                            problem, n, k, t, rounds, decoder, messages, point.theta, order
                        )
                        sub = C[sorted(set(used))]
                        rows.append(
                            {
                                "point": point.label,
                                "n": n,
                                "k": k,
                                "t": t,
                                "R": n // k,
                                "rounds": rounds,
                                "decoder": decoder,
                                "draw": draw,
                                "error": float(np.linalg.norm(step - g)) / scale,
                                "arrivals": arrived,
                                "rank": int(np.linalg.matrix_rank(sub)),
                                "covered": int(np.count_nonzero(np.any(sub != 0, axis=0))),
                            }
                        )
    return pd.DataFrame(rows)


def runs_all_blocks(n: int, k: int, t: int, rounds: str) -> float:
    """Share of the runs of C^(n,k,t) whose t partials lie in t distinct parameter blocks (every
    run of ``"shift"``; a searched round may put a run within fewer blocks, so that its codewords
    say nothing about some parameters)."""
    found = code.runs(n, k, t, rounds)
    return float(np.mean([len({j % t for j in run.coords}) == t for run in found]))


def summarise(raw: pd.DataFrame) -> pd.DataFrame:
    """Per (point, n, k, t, rounds, decoder): draws, mean relative error and its standard error,
    the fraction of exact steps (error below :data:`EXACT`), the fraction of steps whose rows
    have rank k, the fraction covering all k partials, the mean arrivals waited for, and two
    facts of the code: :func:`runs_all_blocks` and the coherence (largest |cos| between rows)."""
    keys = ["point", "k", "t", "n", "R", "rounds", "decoder"]
    out = []
    for key, part in raw.groupby(keys, sort=False):
        err = part["error"].to_numpy()
        k, t = int(part["k"].iloc[0]), int(part["t"].iloc[0])
        out.append(
            {
                **dict(zip(keys, key, strict=True)),
                "draws": len(part),
                "mean_error": float(err.mean()),
                "se_error": float(err.std(ddof=1) / np.sqrt(len(err))) if len(err) > 1 else np.nan,
                "exact_fraction": float(np.mean(err < EXACT)),
                "full_rank_fraction": float(np.mean(part["rank"] == k)),
                "all_covered_fraction": float(np.mean(part["covered"] == k)),
                "mean_arrivals": float(part["arrivals"].mean()),
                "runs_all_blocks": runs_all_blocks(
                    int(part["n"].iloc[0]), k, t, str(part["rounds"].iloc[0])
                ),
                "coherence": code.coherence(
                    code.code_matrix(int(part["n"].iloc[0]), k, t, str(part["rounds"].iloc[0]))
                ),
            }
        )
    return pd.DataFrame(out)


def paired(summary: pd.DataFrame, raw: pd.DataFrame) -> pd.DataFrame:
    """``summary`` with ``design_minus_shift`` and its standard error: the mean over draws of the
    design code's error minus the shift code's on the same arrival order (the same value on both
    rows of a pair)."""
    keys = ["point", "k", "t", "n", "decoder"]
    wide = raw.pivot_table(index=[*keys, "draw"], columns="rounds", values="error")
    diff = (wide["design"] - wide["shift"]).groupby(level=keys, sort=False)
    stats = pd.DataFrame(
        {
            "design_minus_shift": diff.mean(),
            "design_minus_shift_se": diff.std(ddof=1) / np.sqrt(diff.count()),
        }
    ).reset_index()
    return summary.merge(stats, on=keys, how="left")


#: Colour of each way of choosing rounds, and line style of each point (in the order measured).
ROUND_COLORS = {"shift": "#7f7f7f", "design": LWPD.color}
POINT_STYLES = ("-", "--", ":")
#: The two error panels of a code family: (decoder, panel title).
PANELS = (
    ("lstsq", "lstsq: step from the first k codewords"),
    ("group", "group: step from the first k/t complete runs"),
)
ERROR_LABEL = "relative error ||step - g|| / ||g||"
#: The lines of a family's last panel: the column of each share -> (decoder, format, marker face),
#: and what each share counts.
SHARE_LINES: dict[str, tuple[str, str, str | None]] = {
    "full_rank_fraction": ("lstsq", "o-", None),
    "all_covered_fraction": ("group", "s:", "none"),
    "runs_all_blocks": ("lstsq", "^-.", None),
}
SHARE_LABELS = {
    "full_rank_fraction": "the first k codewords' rows have rank k (lstsq exact)",
    "all_covered_fraction": "the first k/t runs cover all k partials (group exact)",
    "runs_all_blocks": "share of the code's runs that touch all t parameter blocks",
}
WIDTH = 14.0


@style.styled
def draw(summary: pd.DataFrame, draws: int) -> Figure:
    """One row per code family (k, t): the mean relative error of the lstsq and the group step
    against n (bars: 95% normal intervals over the draws), and what makes a step exact: the share
    of first steps whose k rows have rank k (lstsq) and whose k/t runs cover all k partials
    (group), at the first point, beside the share of the code's runs that touch all t parameter
    blocks."""
    families = list(
        dict.fromkeys(zip(summary["k"].astype(int), summary["t"].astype(int), strict=True))
    )
    points = list(dict.fromkeys(summary["point"]))
    fig = style.figure(WIDTH, 3.7 * len(families) + 2.2)
    axes = fig.subplots(len(families), 3, squeeze=False)
    for row, (k, t) in zip(axes, families, strict=True):
        fam = summary[(summary["k"] == k) & (summary["t"] == t)]
        ns = sorted(fam["n"].unique())
        for ax, (decoder, title) in zip(row[:2], PANELS, strict=True):
            for rounds, color in ROUND_COLORS.items():
                for point, line in zip(points, POINT_STYLES, strict=False):
                    part = fam[
                        (fam["decoder"] == decoder)
                        & (fam["rounds"] == rounds)
                        & (fam["point"] == point)
                    ].sort_values("n")
                    ax.errorbar(
                        part["n"],
                        part["mean_error"],
                        yerr=1.96 * part["se_error"],
                        color=color,
                        linestyle=line,
                        marker="o",
                        ms=4,
                        capsize=2,
                        label=f"{rounds} rounds, gradient at {point}",
                    )
            ax.set_ylabel(f"mean {ERROR_LABEL}")
            ax.set_ylim(bottom=0)
            ax.set_title(f"C^(n,{k},{t}), {title}", fontsize=11)
        mech = row[2]
        for rounds, color in ROUND_COLORS.items():
            part = fam[(fam["rounds"] == rounds) & (fam["point"] == points[0])]
            for column, (decoder, fmt, mfc) in SHARE_LINES.items():
                line = part[part["decoder"] == decoder].sort_values("n")
                mech.plot(
                    line["n"],
                    line[column],
                    fmt,
                    color=color,
                    ms=4,
                    mfc=mfc,
                    label=f"{rounds} rounds: {SHARE_LABELS[column]}",
                )
        mech.set_ylim(0, 1.02)
        mech.set_ylabel("share (of first steps; of runs)")
        mech.set_title(f"C^(n,{k},{t}), what makes a step exact or good", fontsize=11)
        for ax in row:
            ax.set_xticks(ns, [str(v) for v in ns])
            ax.set_xlabel(f"workers n (R = n/{k} rounds)")
    errors, labels = axes[0][0].get_legend_handles_labels()
    shares, share_labels = axes[0][2].get_legend_handles_labels()
    blank = len(shares) - len(errors)  # invisible entries: errors in one column, shares in the next
    fig.legend(
        [*errors, *(Line2D([], [], alpha=0.0) for _ in range(blank)), *shares],
        [*labels, *([""] * blank), *share_labels],
        loc="outside lower center",
        ncol=2,
        fontsize=9,
    )
    text = (
        "What LWPD's searched rounds (design) buy over the reconstruction's (shift) as n grows at "
        "fixed k: the rule's first step from codewords of the quick-start softmax gradient, "
        f"{draws} uniformly random arrival orders per code, the same for both (bars: 95% intervals)"
    )
    fig.suptitle(style.wrap(text, WIDTH - 0.5, style.STYLE["figure.titlesize"]))
    return fig
