"""Per-worker time sources: what the simulated cluster asks for the next compute time X.

A source belongs to one worker. :meth:`TimeSource.next` takes the simulated time ``now`` at which
the task starts computing and returns X (before the task's share and the worker's slowdown). An
i.i.d. model's source (:class:`IidSource`) ignores ``now``; a Markov-modulated model's source
advances its chain to ``now``; a replayed trace's source returns the worker's next recorded time.

Each model makes its workers' sources with :meth:`~lwpdsim.latency.models.LatencyModel.source`;
:func:`make_sources` makes one per worker of a cluster.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Protocol

import numpy as np

from ..errors import LwpdsimError

if TYPE_CHECKING:
    from .models import LatencyModel

#: Compute times drawn per worker at a time.
DRAW_BLOCK = 256

#: A worker's generator for the state of its time source (Markov chain): made on first use, so
#: models that need none never create one.
StateRng = Callable[[], np.random.Generator]


class TraceEnded(LwpdsimError):
    """A replayed trace has no time left for a worker (``on_end = "stop"``): the run ends."""


class TimeSource(Protocol):
    """One worker's compute times, in the order its tasks start computing."""

    def next(self, now: float) -> float:
        """X for the task that starts computing at simulated time ``now`` (non-decreasing from
        call to call)."""
        ...


class IidSource:
    """I.i.d. draws of ``model`` from the worker's generator, taken in blocks of
    :data:`DRAW_BLOCK` (so the i-th task of a worker gets the same draw under every rule)."""

    __slots__ = ("buf", "model", "pos", "rng")

    def __init__(self, model: LatencyModel, rng: np.random.Generator) -> None:
        self.model, self.rng = model, rng
        self.buf: list[float] = []
        self.pos = 0

    def next(self, now: float = 0.0) -> float:
        if self.pos == len(self.buf):
            self.buf = np.asarray(self.model.sample(self.rng, DRAW_BLOCK), dtype=float).tolist()
            self.pos = 0
        self.pos += 1
        return self.buf[self.pos - 1]


def make_sources(
    model: LatencyModel,
    rngs: list[np.random.Generator],
    state_rngs: Callable[[int], np.random.Generator] | None = None,
) -> list[TimeSource]:
    """One source per worker (``len(rngs)`` workers): worker w draws from ``rngs[w]``, and a
    model with a state (Markov) evolves it with ``state_rngs(w)`` (by default a child spawned
    from ``rngs[w]``; a run passes the scenario's ``latency_state`` stream)."""

    def state(w: int) -> StateRng:
        if state_rngs is not None:
            return lambda: state_rngs(w)
        return lambda: rngs[w].spawn(1)[0]

    return [model.source(w, rng, state(w)) for w, rng in enumerate(rngs)]
