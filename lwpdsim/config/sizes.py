"""Size limits: what a run, a sweep or a printed code would need, refused before it is allocated.

Estimates are rough upper bounds from the sizes a scenario names (workers, rows, features, hidden
units, classes, code parameters); they never allocate. A scenario is refused when its run would
need more than :data:`MAX_MEMORY` bytes, or when one step (building a code, one update) would take
more than :data:`MAX_FLOPS` floating-point operations (about ten minutes); the error names the
field that contributes most, its value and the memory or time it would need.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from ..errors import ScenarioError
from .reading import size_text

#: Most simulated workers in a scenario.
MAX_WORKERS = 100_000
#: Memory of one simulated worker: its process, random streams and bookkeeping (measured ~15 KiB).
WORKER_BYTES = 16 * 1024
#: Largest estimated memory of one run.
MAX_MEMORY = 4 * 1024**3
#: Floating-point operations per second assumed when a count of them is said as a time.
FLOPS_PER_SECOND = 1e9
#: Largest estimated work of one step of a run (building a code, or one update): ~10 minutes.
MAX_FLOPS = 600 * FLOPS_PER_SECOND
#: Most grid points of a sweep (each point's scenario is resolved and checked before any run).
MAX_GRID_POINTS = 100_000
#: Most runs of a sweep (grid points x replicates).
MAX_RUNS = 100_000
#: Largest code ``lwpdsim codes`` prints (its matrix has n rows).
MAX_PRINTED_WORKERS = 1000


@dataclass(frozen=True)
class Need:
    """What one part of a run needs: bytes held, or floating-point operations of one step; the
    field whose value sets it, that value, and what the part is (for the message)."""

    field: str
    value: Any
    text: str
    nbytes: float = 0.0
    flops: float = 0.0
    step: str = ""  # what takes ``flops`` (default: ``text``)


def duration_text(flops: float) -> str:
    """Floating-point operations as a rough time at :data:`FLOPS_PER_SECOND`."""
    seconds = flops / FLOPS_PER_SECOND
    for unit, size in (("days", 86400.0), ("hours", 3600.0), ("minutes", 60.0)):
        if seconds >= 2 * size:
            return f"{flops:.2g} floating-point operations, about {seconds / size:.3g} {unit}"
    return f"{flops:.2g} floating-point operations, about {seconds:.3g} seconds"


def check_count(field: str, value: int, limit: int, allowed: str) -> int:
    """Refuse ``value > limit`` with ``allowed`` (which should say what the size would need)."""
    if value > limit:
        raise ScenarioError(field, value, allowed)
    return value


def check_workers(n: int, field: str = "cluster.workers") -> int:
    """At most :data:`MAX_WORKERS` simulated workers."""
    need = size_text(float(n) * WORKER_BYTES)
    allowed = (
        f"an integer from 1 to {MAX_WORKERS}; {n} workers would need about {need} of memory for "
        "their simulated processes and random streams alone"
    )
    return check_count(field, n, MAX_WORKERS, allowed)


def check_needs(needs: Sequence[Need], what: str = "the run") -> None:
    """Refuse when the needs add up to more than :data:`MAX_MEMORY` bytes (naming the largest) or
    one step would take more than :data:`MAX_FLOPS` floating-point operations."""
    total = sum(need.nbytes for need in needs)
    if total > MAX_MEMORY:
        blame = max(needs, key=lambda need: need.nbytes)
        share = "" if blame.nbytes == total else f", {size_text(blame.nbytes)} of it"
        raise ScenarioError(
            blame.field,
            blame.value,
            f"a size for which {what} fits in {size_text(MAX_MEMORY)} of memory; it would need "
            f"about {size_text(total)}{share} for {blame.text}",
        )
    for need in needs:
        if need.flops > MAX_FLOPS:
            raise ScenarioError(
                need.field,
                need.value,
                f"a size for which {need.step or need.text} takes at most "
                f"{duration_text(MAX_FLOPS)}; it "
                f"would take {duration_text(need.flops)}",
            )


def check_grid(axes: Sequence[tuple[str, int]], replicates: int) -> None:
    """Refuse a sweep of more than :data:`MAX_GRID_POINTS` points or :data:`MAX_RUNS` runs;
    ``axes`` are (section, number of values) of each independent axis. Nothing is expanded."""
    points = math.prod(size for _, size in axes)
    if points > MAX_GRID_POINTS:
        largest = max(axes, key=lambda axis: axis[1])
        sizes = " x ".join(f"{size} ({section})" for section, size in axes)
        raise ScenarioError(
            largest[0],
            f"{points} grid points",
            f"a grid of at most {MAX_GRID_POINTS} points (every point is resolved and checked "
            f"before any run); this one has {sizes} = {points}",
        )
    runs = points * replicates
    if runs > MAX_RUNS:
        raise ScenarioError(
            "replicates",
            replicates,
            f"at most {MAX_RUNS} runs in all (grid points x replicates); {points} points x "
            f"{replicates} replicates = {runs} runs would need about "
            f"{size_text(runs * 2048.0)} just to plan",
        )
