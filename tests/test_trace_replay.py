"""Ordered trace replay (``dist = "replay"``, lwpdsim.latency.replay): task i of worker w computes
for exactly trace[i, w] times its share, in order; what follows the end (wrap, stop, resample);
the trace files (CSV, .npz) and their errors."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import lwpdsim
from lwpdsim.analysis import data
from lwpdsim.errors import ScenarioError

N = 4  # workers: tasks of sync are 1/4 of a gradient, so every time below adds up exactly
# multiples of 1/8: products with 1/4 and sums of them are exact in binary floating point
TRACE = np.array(
    [[1.0, 2.5, 0.75, 3.0], [4.0, 0.5, 1.25, 2.0], [0.25, 1.5, 6.0, 0.125], [2.0, 2.0, 1.0, 5.5]]
)


def write_csv(path: Path, matrix: np.ndarray, header: bool = True) -> Path:
    lines = [",".join(f"w{j}" for j in range(matrix.shape[1]))] if header else []
    lines += [",".join(repr(float(x)) for x in row) for row in matrix]
    path.write_text("\n".join(lines) + "\n")
    return path


def run(tiny, latency: dict, updates: int, scheme: dict | None = None) -> lwpdsim.RunResult:
    raw = tiny([scheme or {"name": "sync"}], cluster={"workers": N, "latency": latency})
    raw["train"]["max_updates"] = updates
    (res,) = lwpdsim.simulate(lwpdsim.load_scenario(raw)).values()
    return res


def compute_times(res: lwpdsim.RunResult, w: int) -> np.ndarray:
    t = res.tasks[res.tasks.worker == w]
    done = t.computed.notna()
    return (t.computed[done] - t.received[done]).to_numpy()


def test_replay_is_exact_and_in_order(tiny, tmp_path: Path) -> None:
    file = write_csv(tmp_path / "t.csv", TRACE)
    res = run(tiny, {"dist": "replay", "file": str(file)}, updates=4)
    assert res.status == "max_updates"
    for w in range(N):
        got = compute_times(res, w)
        assert got.size == 4
        assert got.tolist() == (TRACE[:, w] / N).tolist()  # exactly, not approximately
    # sync waits for the slowest: its update times are the running sums of the row maxima
    assert res.updates["time"].tolist() == np.cumsum([0, *TRACE.max(axis=1) / N]).tolist()
    assert data.theory_or_reason(res)[1] == "compute times replayed from a trace"


def test_rows_layout_and_npz_replay_the_same(tiny, tmp_path: Path) -> None:
    ref = run(tiny, {"dist": "replay", "file": str(write_csv(tmp_path / "c.csv", TRACE))}, 4)
    rows = write_csv(tmp_path / "r.csv", TRACE.T, header=False)
    by_rows = run(tiny, {"dist": "replay", "file": str(rows), "layout": "rows"}, 4)
    np.savez(tmp_path / "t.npz", times=TRACE)
    by_npz = run(tiny, {"dist": "replay", "file": str(tmp_path / "t.npz")}, 4)
    for other in (by_rows, by_npz):
        assert other.updates["time"].tolist() == ref.updates["time"].tolist()
        np.testing.assert_array_equal(other.updates["loss"], ref.updates["loss"])


def test_wrap_starts_again_from_the_first_time(tiny, tmp_path: Path) -> None:
    file = write_csv(tmp_path / "t.csv", TRACE)
    res = run(tiny, {"dist": "replay", "file": str(file), "on_end": "wrap"}, updates=10)
    for w in range(N):
        got = compute_times(res, w)
        assert got.tolist() == [TRACE[i % 4, w] / N for i in range(10)]


def test_stop_ends_the_run_with_its_own_status(tiny, tmp_path: Path) -> None:
    file = write_csv(tmp_path / "t.csv", TRACE)
    res = run(tiny, {"dist": "replay", "file": str(file), "on_end": "stop"}, updates=10)
    assert res.status == "trace_end"
    assert "ran out after its 4 recorded times" in res.summary["message"]
    assert len(res.updates) == 5  # the initial row and the 4 updates the trace allows
    for w in range(N):
        assert compute_times(res, w).tolist() == (TRACE[:, w] / N).tolist()
    # the run ended when the fifth task of the first worker was to compute (after update 4)
    assert res.summary["sim_time"] == res.updates["time"].iloc[-1]


def test_stop_with_an_asynchronous_rule(tiny, tmp_path: Path) -> None:
    file = write_csv(tmp_path / "t.csv", TRACE)
    latency = {"dist": "replay", "file": str(file), "on_end": "stop"}
    res = run(tiny, latency, updates=50, scheme={"name": "kasync", "K": 1})
    assert res.status == "trace_end"
    # worker 0's trace (sum 7.25 / 4) ends first; no worker computed more than 4 tasks
    assert all(compute_times(res, w).size <= 4 for w in range(N))


def test_resample_draws_each_workers_own_times(tiny, tmp_path: Path) -> None:
    # distinct values per column, so a draw tells which column it came from
    trace = np.arange(1, 13, dtype=float).reshape(3, 4) / 8
    file = write_csv(tmp_path / "t.csv", trace)
    res = run(tiny, {"dist": "replay", "file": str(file), "on_end": "resample"}, updates=40)
    assert res.status == "max_updates"
    for w in range(N):
        got = compute_times(res, w) * N
        assert got[:3].tolist() == trace[:, w].tolist()
        assert set(got[3:].tolist()) <= set(trace[:, w].tolist())
        assert len(set(got[3:].tolist())) == 3  # all three times drawn in 37 tries
    again = run(tiny, {"dist": "replay", "file": str(file), "on_end": "resample"}, updates=40)
    assert again.updates["time"].tolist() == res.updates["time"].tolist()  # seeded


def test_shipped_example_trace_validates_and_replays(tmp_path: Path) -> None:
    root = Path(__file__).resolve().parent.parent / "scenarios"
    sc = lwpdsim.load_scenario(root / "latency" / "replay.toml")
    assert sc.cluster.latency["dist"] == "replay"
    text = (root / "traces" / "replay_example.csv").read_text().splitlines()
    assert len(text) == 201 and text[0].startswith("worker0,")


@pytest.mark.parametrize(
    "content, change, fragment",
    [
        ("w0,w1,w2\n1,2,3\n", {}, "one column per worker (4); it has 3"),
        ("1,2,3,4\n1,2,3,4\n1,2,3,4\n", {"layout": "rows"}, "one row per worker (4); it has 3"),
        ("w0,w1,w2,w3\n1,2,3,4\n1,2,3\n", {}, "line 3"),
        ("w0,w1,w2,w3\n1,2,3,4\n1,2,x,4\n", {}, "line 3"),
        ("w0,w1,w2,w3\n1,2,3,-4\n", {}, "finite times >= 0"),
        ("w0,w1,w2,w3\n1,2,3,nan\n", {}, "finite times >= 0"),
        ("w0,w1,w2,w3\n", {}, "at least one row"),
        ("w0,w1,w2,w3\n1,2,3,0\n", {}, "time > 0 for every worker (3 has none)"),
    ],
)
def test_bad_csv_traces_name_the_file(
    tiny, tmp_path: Path, content: str, change: dict, fragment: str
) -> None:
    file = tmp_path / "t.csv"
    file.write_text(content)
    spec = {"dist": "replay", "file": str(file), **change}
    with pytest.raises(ScenarioError) as info:
        lwpdsim.load_scenario(tiny([{"name": "sync"}], cluster={"workers": N, "latency": spec}))
    assert info.value.field == "cluster.latency.file"
    assert fragment in info.value.allowed


@pytest.mark.parametrize(
    "arrays, fragment",
    [
        ({"times": np.ones((2, 2, 4))}, "2-D numeric array"),
        ({"a": np.ones((2, 4)), "b": np.ones((2, 4))}, "one array, or one named 'times'"),
        ({"times": np.array([["a"] * 4])}, "2-D numeric array"),
    ],
)
def test_bad_npz_traces(tiny, tmp_path: Path, arrays: dict, fragment: str) -> None:
    np.savez(tmp_path / "t.npz", **arrays)
    spec = {"dist": "replay", "file": str(tmp_path / "t.npz")}
    with pytest.raises(ScenarioError) as info:
        lwpdsim.load_scenario(tiny([{"name": "sync"}], cluster={"workers": N, "latency": spec}))
    assert info.value.field == "cluster.latency.file"
    assert fragment in info.value.allowed


def test_not_a_zip_and_not_a_regular_file(tiny, tmp_path: Path) -> None:
    (tmp_path / "t.npz").write_text("not a zip")
    (tmp_path / "dir.csv").mkdir()
    for name, fragment in (("t.npz", "not one"), ("dir.csv", "regular"), ("no.csv", "exist")):
        spec = {"dist": "replay", "file": str(tmp_path / name)}
        with pytest.raises(ScenarioError) as info:
            lwpdsim.load_scenario(tiny([{"name": "sync"}], cluster={"workers": N, "latency": spec}))
        assert info.value.field == "cluster.latency.file", name
        assert fragment in info.value.allowed, name


@pytest.mark.parametrize(
    "change, field",
    [
        ({"on_end": "loop"}, "cluster.latency.on_end"),
        ({"layout": "cols"}, "cluster.latency.layout"),
        ({"scale": 0}, "cluster.latency.scale"),
        ({"file": 3}, "cluster.latency.file"),
        ({"file": "t.txt"}, "cluster.latency.file"),
        ({"column": 1}, "cluster.latency.column"),
    ],
)
def test_bad_replay_keys(tiny, tmp_path: Path, change: dict, field: str) -> None:
    file = write_csv(tmp_path / "t.csv", TRACE)
    spec = {"dist": "replay", "file": str(file), **change}
    with pytest.raises(ScenarioError) as info:
        lwpdsim.load_scenario(tiny([{"name": "sync"}], cluster={"workers": N, "latency": spec}))
    assert info.value.field == field
