"""Named random streams derived from one scenario seed.

Each purpose (latency of worker w, data, model initialisation, code construction, ...) gets its own
``numpy.random.SeedSequence`` child, addressed by a fixed spawn key rather than by spawn order. So adding
a worker, a scheme or a new purpose never shifts the numbers another stream produces, and a sweep's run
``i`` (``SeedSequence(entropy, spawn_key=(i,))``) gets the same streams whatever the size of the sweep.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

#: Fixed identifiers of the streams; new purposes get new numbers, existing numbers never change.
STREAM_IDS: dict[str, int] = {
    "latency": 0,  # one child per worker: the i-th draw of worker w is shared by every rule
    "data": 1,  # synthetic generation, shuffling, train/test split
    "model_init": 2,
    "code": 3,  # random code constructions (GC cyclic repetition)
    "network": 4,  # message loss
    "scheme": 5,  # random choices a rule makes
    "sample": 6,  # a sweep's sampled factors (its [sample] seed, not a scenario's)
    "compress": 7,  # compressors' draws: one child per worker (the master's downlink: index n)
    "failures": 8,  # a failure process's up and down times: one child per rack (or worker)
    "latency_state": 9,  # a Markov-modulated latency's chain: one child per worker
}


@dataclass(frozen=True)
class Streams:
    """Factory of independent generators for one run.

    >>> s = Streams.from_seed(7)
    >>> a = s.generator("latency", 3).random()
    >>> a == Streams.from_seed(7).generator("latency", 3).random()
    True
    """

    root: np.random.SeedSequence

    @classmethod
    def from_seed(cls, seed: int, run_index: int | None = None) -> Streams:
        """Streams of scenario ``seed``; ``run_index`` selects run i of a sweep (a plain run is
        run 0, so replicate 0 of a sweep reproduces ``lwpdsim run`` exactly)."""
        key = (0 if run_index is None else int(run_index),)
        return cls(np.random.SeedSequence(int(seed), spawn_key=key))

    def seed_sequence(self, stream: str, *index: int) -> np.random.SeedSequence:
        """The seed sequence of ``stream``, optionally sub-indexed (e.g. by worker; default 0)."""
        try:
            sid = STREAM_IDS[stream]
        except KeyError:
            raise KeyError(
                f"unknown random stream {stream!r}; known: {sorted(STREAM_IDS)}"
            ) from None
        # every stream key has the same shape (run, stream, index): no two purposes can collide
        if len(index) > 1:
            raise ValueError(f"a stream takes at most one index, got {index}")
        key = (*self.root.spawn_key, sid, int(index[0]) if index else 0)
        return np.random.SeedSequence(self.root.entropy, spawn_key=key)

    def generator(self, stream: str, *index: int) -> np.random.Generator:
        """A fresh ``numpy.random.Generator`` for ``stream`` (and sub-index)."""
        return np.random.Generator(np.random.PCG64(self.seed_sequence(stream, *index)))
