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


def test_stream_keys_never_collide_across_runs_and_purposes() -> None:
    keys = set()
    for run in (None, 1, 2):
        s = Streams.from_seed(5, run)
        for name in STREAM_IDS:
            for w in range(4):
                keys.add((run or 0, s.seed_sequence(name, w).spawn_key))
    flat = [k for _, k in keys]
    assert len(flat) == len(set(flat))
    # a plain run is run 0 of a sweep
    assert (
        Streams.from_seed(5).generator("data").random()
        == Streams.from_seed(5, 0).generator("data").random()
    )
    # an omitted index is index 0
    assert (
        Streams.from_seed(5).generator("latency").random()
        == Streams.from_seed(5).generator("latency", 0).random()
    )
    with pytest.raises(ValueError):
        Streams.from_seed(5).generator("latency", 1, 2)
