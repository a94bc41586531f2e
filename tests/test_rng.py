"""Named random streams: independent, stable under additions, addressed by run index."""

from __future__ import annotations

import numpy as np
import pytest

from lwpdsim.rng import STREAM_IDS, Streams


def test_streams_are_reproducible_and_distinct() -> None:
    s = Streams.from_seed(11)
    draws = {(name, w): s.generator(name, w).random(4) for name in STREAM_IDS for w in range(3)}
    again = Streams.from_seed(11)
    for (name, w), x in draws.items():
        np.testing.assert_array_equal(again.generator(name, w).random(4), x)
    flat = np.array([x for x in draws.values()])
    assert len({tuple(r) for r in flat}) == len(draws)  # no two streams coincide


def test_worker_streams_do_not_depend_on_cluster_size() -> None:
    # worker 2's latency stream is the same whether the cluster has 4 or 400 workers
    s = Streams.from_seed(3)
    a = [s.generator("latency", w).random() for w in range(4)]
    b = [s.generator("latency", w).random() for w in range(400)]
    assert a == b[:4]


def test_run_index_matches_seedsequence_spawn() -> None:
    root = np.random.SeedSequence(9)
    children = root.spawn(6)
    for i in (0, 5):
        s = Streams.from_seed(9, run_index=i)
        assert s.root.spawn_key == children[i].spawn_key
        assert s.root.generate_state(4).tolist() == children[i].generate_state(4).tolist()
    assert (
        Streams.from_seed(9, 1).generator("data").random()
        != Streams.from_seed(9, 2).generator("data").random()
    )


def test_unknown_stream_is_a_clear_error() -> None:
    with pytest.raises(KeyError, match="latency"):
        Streams.from_seed(1).generator("latncy")
