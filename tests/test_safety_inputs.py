"""Hostile and extreme input gets one line on stderr and exit 2: no traceback, no hang, no giant
allocation. Special files, bad encodings, deep nesting, malformed CSV and NPZ, sizes past the
limits, code arguments and sweep expressions, through the command line."""

from __future__ import annotations

import io
import os
import struct
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import numpy as np
import pytest

from lwpdsim.cli import main

#: Every refusal below must come back well within this (the cases it guards against took 36 s,
#: exhausted memory or never returned).
FAST = 5.0

SCENARIO = """
name = "hostile"
seed = 1
[cluster]
workers = 4
latency = {{ dist = "exponential", rate = 1.0 }}
[model]
kind = "least_squares"
dataset = {dataset}
samples = 40
features = 3
[train]
lr = 0.1
max_updates = 3
[[schemes]]
name = "sync"
"""


def scenario_text(dataset: str = '"synthetic_regression"') -> str:
    return SCENARIO.format(dataset=dataset)


def refused(capsys: pytest.CaptureFixture[str], args: list[str], *names: str) -> str:
    """Run the command line in-process: exit 2, one stderr line naming ``names``, no traceback,
    fast. Returns that line."""
    start = time.perf_counter()
    code = main(args)
    elapsed = time.perf_counter() - start
    err = capsys.readouterr().err
    assert code == 2, err
    assert "Traceback" not in err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    for name in names:
        assert name in lines[0], lines[0]
    assert elapsed < FAST, f"{elapsed:.1f} s"
    return lines[0]


#: Seconds after which a child process counts as blocked.
HANG = 60


def refused_in_subprocess(args: list[str], cwd: Path, *names: str) -> str:
    """As :func:`refused`, in a child process with a timeout (for cases that could block: a hang
    is forever, so the limit only has to be far above a start on a loaded machine)."""
    start = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, "-m", "lwpdsim.cli", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        timeout=HANG,
        stdin=subprocess.DEVNULL,
    )
    elapsed = time.perf_counter() - start
    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    for name in names:
        assert name in lines[0], lines[0]
    assert elapsed < HANG
    return lines[0]


# --------------------------------------------------------------------------- special files


@pytest.fixture
def here(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """``tmp_path``, made the current directory."""
    monkeypatch.chdir(tmp_path)
    return tmp_path


def refused_by(
    kind: str, capsys: pytest.CaptureFixture[str], args: list[str], cwd: Path, *names: str
) -> str:
    """A FIFO could block the test itself if it were opened: those cases run in a child process
    with a timeout; the others in-process (``cwd`` is the current directory already)."""
    if kind == "fifo":
        return refused_in_subprocess(args, cwd, *names)
    return refused(capsys, args, *names)


def special(tmp_path: Path, kind: str, name: str) -> Path:
    """A file called ``name`` that is not a regular file: a FIFO, a directory, or a symbolic link
    to /dev/zero."""
    path = tmp_path / name
    if kind == "fifo":
        os.mkfifo(path)
    elif kind == "directory":
        path.mkdir()
    else:
        path.symlink_to("/dev/zero")
    return path


KINDS = ["fifo", "directory", "zero-link"]
WORDS = {"fifo": "FIFO", "directory": "directory", "zero-link": "character device"}


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("command", ["validate", "run"])
def test_special_file_as_scenario(
    here: Path, capsys: pytest.CaptureFixture[str], kind: str, command: str
) -> None:
    special(here, kind, "scenario.toml")
    refused_by(kind, capsys, [command, "scenario.toml"], here, "scenario.toml", WORDS[kind])
    assert sorted(p.name for p in here.iterdir()) == ["scenario.toml"]  # nothing written


def test_dev_zero_as_scenario(capsys: pytest.CaptureFixture[str]) -> None:
    refused(capsys, ["validate", "/dev/zero"], "/dev/zero", "character device")


@pytest.mark.parametrize("kind", KINDS)
def test_special_file_as_sweep_base(
    here: Path, capsys: pytest.CaptureFixture[str], kind: str
) -> None:
    special(here, kind, "base.toml")
    (here / "sweep.toml").write_text('base = "base.toml"\n[factors]\nseed = [1, 2]\n')
    refused_by(kind, capsys, ["validate", "sweep.toml"], here, "base")
    refused_by(kind, capsys, ["sweep", "sweep.toml", "--executor", "serial"], here, "base")


@pytest.mark.parametrize("kind", KINDS)
def test_special_file_among_figure_specs(
    here: Path, capsys: pytest.CaptureFixture[str], kind: str
) -> None:
    (here / "specs").mkdir()
    special(here / "specs", kind, "spec.toml")
    args = ["figures", "--specs", "specs", "--out", "out", "--quick"]
    line = refused_by(kind, capsys, args, here, "spec.toml")
    assert WORDS[kind] in line
    assert not (here / "out").exists()


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("suffix", [".csv", ".npz"])
def test_special_file_as_dataset(
    here: Path, capsys: pytest.CaptureFixture[str], kind: str, suffix: str
) -> None:
    special(here, kind, f"data{suffix}")
    (here / "s.toml").write_text(scenario_text(f'"data{suffix}"'))
    refused_by(kind, capsys, ["validate", "s.toml"], here, "model.dataset", WORDS[kind])


@pytest.mark.parametrize("kind", KINDS)
def test_special_file_as_latency_trace(
    here: Path, capsys: pytest.CaptureFixture[str], kind: str
) -> None:
    special(here, kind, "trace.csv")
    text = scenario_text().replace(
        'dist = "exponential", rate = 1.0', 'dist = "empirical", file = "trace.csv"'
    )
    (here / "s.toml").write_text(text)
    args = ["validate", "s.toml"]
    refused_by(kind, capsys, args, here, "cluster.latency.file", WORDS[kind])


def test_fifo_in_saved_results_for_plot(tmp_path: Path) -> None:
    run = tmp_path / "res"
    (run / "sync").mkdir(parents=True)
    (run / "summary.csv").write_text("scheme,final_loss\nsync,1.0\n")
    (run / "sync" / "manifest.json").write_text("{}")
    (run / "sync" / "updates.csv").write_text("update,time\n")
    os.mkfifo(run / "sync" / "tasks.csv")
    refused_in_subprocess(["plot", "res"], tmp_path, "RESULTS_DIR", "tasks.csv", "FIFO")
    (run / "sync" / "tasks.csv").unlink()
    (run / "sync" / "tasks.csv").symlink_to("/dev/zero")
    refused_in_subprocess(["plot", "res"], tmp_path, "RESULTS_DIR", "character device")


def test_fifo_in_a_saved_sweep_for_plot(tmp_path: Path) -> None:
    sweep = tmp_path / "sw"
    sweep.mkdir()
    (sweep / "runs.csv").write_text("replicate,scheme,rule,status\n0,sync,sync,ok\n")
    os.mkfifo(sweep / "sweep.json")
    refused_in_subprocess(["plot", "sw"], tmp_path, "RESULTS_DIR", "sweep.json", "FIFO")
    (sweep / "sweep.json").unlink()
    (sweep / "sweep.json").write_text("[" * 100_000 + "]" * 100_000)  # nested past the parser
    refused_in_subprocess(["plot", "sw"], tmp_path, "RESULTS_DIR", "sweep.json")


# --------------------------------------------------------------------------- encodings


def test_invalid_utf8_scenario(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "s.toml"
    path.write_bytes(scenario_text().encode() + b'\ndescription = "caf\xe9"\n')
    line = refused(capsys, ["validate", str(path)], str(path), "UTF-8", "0xe9")
    assert "line 18" in line  # where the bad byte is


def test_utf16_scenario_is_named(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "s.toml"
    path.write_text(scenario_text(), encoding="utf-16")
    refused(capsys, ["validate", str(path)], str(path), "UTF-16")


def test_nul_byte_in_scenario(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "s.toml"
    path.write_bytes(scenario_text().replace("hostile", "host\0ile").encode())
    refused(capsys, ["validate", str(path)], str(path), "NUL", "line 2")


def test_byte_order_mark_is_accepted(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "s.toml"
    path.write_bytes(b"\xef\xbb\xbf" + scenario_text().encode())
    assert main(["validate", str(path)]) == 0
    assert "ok:" in capsys.readouterr().out


@pytest.mark.parametrize("role", ["dataset", "trace"])
def test_invalid_utf8_and_nul_in_csv(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], role: str
) -> None:
    bad = tmp_path / "bad.csv"
    s = tmp_path / "s.toml"
    if role == "dataset":
        s.write_text(scenario_text('"bad.csv"'))
        field = "model.dataset"
    else:
        s.write_text(
            scenario_text().replace(
                'dist = "exponential", rate = 1.0', 'dist = "empirical", file = "bad.csv"'
            )
        )
        field = "cluster.latency.file"
    bad.write_bytes(b"a,b\n1,2\n\xff\xfe,3\n")
    refused(capsys, ["validate", str(s)], field, "UTF-8", "line 3")
    bad.write_bytes(b"a,b\n1,2\n3\x00,4\n")
    refused(capsys, ["validate", str(s)], field, "NUL", "line 3")


# --------------------------------------------------------------------------- TOML nesting


@pytest.mark.parametrize(
    "text",
    [
        "x = " + "[" * 5000 + "]" * 5000,
        "x = " + "{a = " * 3000 + "1" + "}" * 3000,
        "a." * 5000 + "b = 1",
        "[" + "t." * 3000 + "u]\nv = 1",
        "x = " + "[" * 40 + "]" * 40,  # under the recursion limit, over the stated depth
    ],
    ids=["arrays", "inline-tables", "dotted-keys", "table-header", "forty-deep"],
)
def test_deeply_nested_toml(tmp_path: Path, capsys: pytest.CaptureFixture[str], text: str) -> None:
    path = tmp_path / "deep.toml"
    path.write_text(text)
    refused(capsys, ["validate", str(path)], str(path), "nested at most 32 deep")


def test_deeply_nested_sweep(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "base.toml").write_text(scenario_text())
    path = tmp_path / "sweep.toml"
    path.write_text('base = "base.toml"\n[factors]\nseed = ' + "[" * 3000 + "]" * 3000)
    refused(capsys, ["sweep", str(path), "--executor", "serial"], str(path), "nested")


# --------------------------------------------------------------------------- CSV


def write_scenario(tmp_path: Path, dataset: str) -> Path:
    path = tmp_path / "s.toml"
    path.write_text(scenario_text(f'"{dataset}"').replace("least_squares", "mlp"))
    return path


def test_csv_field_over_the_csv_modules_limit(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "d.csv").write_text("a,label\n" + "1" * 200_000 + ",0\n2,1\n")
    s = write_scenario(tmp_path, "d.csv")
    refused(capsys, ["validate", str(s)], "model.dataset", "line 2", "field larger")
    trace = tmp_path / "t.csv"
    trace.write_text("seconds\n" + "1" * 200_000 + "\n")
    s.write_text(
        scenario_text().replace(
            'dist = "exponential", rate = 1.0', 'dist = "empirical", file = "t.csv"'
        )
    )
    refused(capsys, ["validate", str(s)], "cluster.latency.file", "line 2", "field larger")


def test_csv_ragged_rows(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "d.csv").write_text("a,b,label\n1,2,0\n3,1\n4,5,1\n")
    s = write_scenario(tmp_path, "d.csv")
    refused(capsys, ["validate", str(s)], "model.dataset", "rows of 3 cells each")


def test_csv_header_only(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "d.csv").write_text("a,b,label\n")
    s = write_scenario(tmp_path, "d.csv")
    refused(capsys, ["validate", str(s)], "model.dataset", "at least 2 numeric rows")


def test_csv_without_header_is_data(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rows = "\n".join(f"{i},{i % 3},{i % 2}" for i in range(40))
    (tmp_path / "d.csv").write_text(rows + "\n")
    s = write_scenario(tmp_path, "d.csv")
    assert main(["validate", str(s)]) == 0
    assert "ok:" in capsys.readouterr().out


def test_csv_over_the_size_bound(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "d.csv"
    with path.open("wb") as handle:  # sparse: no 64 MiB written
        handle.truncate(65 * 1024 * 1024)
    s = write_scenario(tmp_path, "d.csv")
    refused(capsys, ["validate", str(s)], "model.dataset", "at most 64 MiB", "65 MiB")


# --------------------------------------------------------------------------- NPZ


def npz_bytes(members: dict[str, bytes], declared: dict[str, int] | None = None) -> bytes:
    """A zip archive of ``members``; ``declared`` overrides the uncompressed sizes its central
    directory states (a bomb announces gigabytes without any being written)."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    raw = bytearray(buf.getvalue())
    pos = raw.find(b"PK\x01\x02")
    while pos >= 0:
        size = struct.unpack_from("<H", raw, pos + 28)[0]
        name = bytes(raw[pos + 46 : pos + 46 + size]).decode()
        if declared and name in declared:
            struct.pack_into("<I", raw, pos + 24, declared[name])
        pos = raw.find(b"PK\x01\x02", pos + 4)
    return bytes(raw)


def npy(array: np.ndarray) -> bytes:
    buf = io.BytesIO()
    np.save(buf, array)
    return buf.getvalue()


GOOD_X, GOOD_Y = npy(np.ones((40, 3))), npy(np.arange(40, dtype=float))


def npz_header_lie() -> bytes:
    """An .npy member whose header declares a 10^6 x 10^6 array over a few stored bytes."""
    text = npy(np.ones((2, 2)))
    return npz_bytes({"X.npy": text.replace(b"(2, 2)", b"(1000000, 1000000)"), "y.npy": GOOD_Y})


@pytest.mark.parametrize(
    ("content", "words"),
    [
        (npy(np.ones((40, 3))), ["not a zip archive", ".npy file renamed"]),
        (
            npz_bytes({"X.npy": GOOD_X, "y.npy": GOOD_Y}, {"X.npy": 0xF0000000}),
            ["3.75 GiB once decompressed"],
        ),
        (npz_header_lie(), ["header matches its data", "(1000000, 1000000)"]),
        (
            npz_bytes({"X.npy": npy(np.array([object()] * 3, dtype=object)), "y.npy": GOOD_Y}),
            ["numeric", "object"],
        ),
        (npz_bytes({f"a{i}.npy": b"" for i in range(100)}), ["at most 64 arrays"]),
        (npz_bytes({"X": b"plain bytes", "y.npy": GOOD_Y}), ["array X in .npy format"]),
    ],
    ids=["npy-renamed", "declared-huge", "header-lie", "object-array", "many-members", "not-npy"],
)
def test_bad_npz(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], content: bytes, words: list[str]
) -> None:
    (tmp_path / "d.npz").write_bytes(content)
    s = write_scenario(tmp_path, "d.npz")
    refused(capsys, ["validate", str(s)], "model.dataset", *words)
    refused(capsys, ["run", str(s), "--out", str(tmp_path / "out")], "model.dataset", *words)
    assert not (tmp_path / "out").exists()


# --------------------------------------------------------------------------- sizes


@pytest.mark.parametrize(
    ("override", "field", "words"),
    [
        ("cluster.workers=1000000000", "cluster.workers", ["TiB"]),
        ("cluster.workers=100000000000000000000", "cluster.workers", ["TiB"]),
        ("model.samples=1000000000", "model.samples", ["GiB", "1000000000 rows"]),
        ("model.features=1000000", "model.features", ["GiB"]),
        ("model.hidden=10000000", "model.hidden", ["GiB", "parameters"]),
        ("cluster.workers=41", "cluster.workers", ["training rows (32)"]),
    ],
    ids=[
        "workers-1e9",
        "workers-1e20",
        "samples-1e9",
        "features-1e6",
        "hidden-1e7",
        "workers>rows",
    ],
)
def test_sizes_validate_and_run_agree(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    override: str,
    field: str,
    words: list[str],
) -> None:
    s = write_scenario(tmp_path, "synthetic_regression")
    line = refused(capsys, ["validate", str(s), "--set", override], field, *words)
    out = tmp_path / "out"
    again = refused(capsys, ["run", str(s), "--set", override, "--out", str(out)], field)
    assert again == line
    assert not out.exists()


def test_bundled_shapes_match_the_datasets() -> None:
    """validate knows a bundled dataset's shape without loading it: it must be the real one."""
    from lwpdsim.data import SCENARIO_DATASETS, dataset_shape, load_dataset

    for name in SCENARIO_DATASETS:
        if name.startswith("synthetic"):
            continue
        data = load_dataset(name, np.random.default_rng(0), test_fraction=0.25)
        shape = dataset_shape(name, test_fraction=0.25)
        assert (shape.task, shape.n_classes, shape.n_features) == (
            data.task,
            data.n_classes,
            data.n_features,
        )
        assert shape.n_rows == data.n_train + data.n_test
        assert shape.n_train(0.25) == data.n_train


def test_model_that_cannot_learn_a_file_is_refused_by_validate(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rows = "\n".join(f"{i},{i * 0.37 % 5}" for i in range(40))  # a regression target
    (tmp_path / "d.csv").write_text("x,y\n" + rows + "\n")
    s = tmp_path / "s.toml"
    s.write_text(scenario_text('"d.csv"').replace("least_squares", "softmax"))
    line = refused(capsys, ["validate", str(s)], "model.kind", "regression")
    assert refused(capsys, ["run", str(s), "--out", str(tmp_path / "o")], "model.kind") == line
    assert not (tmp_path / "o").exists()


def test_gc_code_too_costly_in_a_scenario(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    s = tmp_path / "s.toml"
    text = scenario_text().replace("samples = 40", "samples = 40000")
    s.write_text(text.replace("workers = 4", "workers = 30000").replace('"sync"', '"gc"\ns = 1'))
    refused(capsys, ["validate", str(s)], "cluster.workers = 30000", "GiB", "code matrix")


@pytest.mark.parametrize(
    ("text", "field", "words"),
    [
        ("replicates = 1000000000\n[factors]\nseed = [1, 2]", "replicates", ["2000000000 runs"]),
        (
            "[factors]\n"
            + "\n".join(f'"{k}" = {list(range(1, 101))}' for k in ("seed", "train.max_updates"))
            + "\n[[zip]]\n"
            + "\n".join(f'"{k}" = {[0.1] * 1000}' for k in ("train.lr", "cluster.latency.rate"))
            + "\n[[zip]]\n"
            + '"model.samples" = '
            + str(list(range(50, 1050))),
            "zip[0]",
            ["10000000000"],
        ),
    ],
    ids=["replicates-1e9", "grid-1e10"],
)
def test_sweep_sizes(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], text: str, field: str, words: list[str]
) -> None:
    (tmp_path / "base.toml").write_text(scenario_text())
    path = tmp_path / "sweep.toml"
    path.write_text('base = "base.toml"\n' + text)
    refused(capsys, ["validate", str(path)], field, *words)
    out = tmp_path / "out"
    refused(capsys, ["sweep", str(path), "--executor", "serial", "--out", str(out)], field)
    assert not out.exists()


def test_many_failure_windows_are_checked_quickly(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Overlaps are found by a binary search per worker, not a pass over every earlier window."""
    windows = ", ".join(f"{{worker={w % 4},at={w},recover={w + 0.5}}}" for w in range(15000))
    s = tmp_path / "s.toml"
    text = scenario_text().replace(
        "[model]", f"failures = [{windows}, {{ worker = 3, at = 2.0 }}]\n[model]"
    )
    s.write_text(text)
    refused(capsys, ["validate", str(s)], "cluster.failures[15000]", "cluster.failures[3]")


def test_deeply_nested_override(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    s = write_scenario(tmp_path, "synthetic_regression")
    value = "[" * 3000 + "]" * 3000
    refused(capsys, ["validate", str(s), "--set", f"cluster.slowdown={value}"], "--set", "32 deep")


def test_sweep_point_with_too_many_workers_is_refused_at_validate(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A sweep lists its invalid points, one line each (its established form), before any run."""
    (tmp_path / "base.toml").write_text(scenario_text())
    path = tmp_path / "sweep.toml"
    path.write_text('base = "base.toml"\n[factors]\n"cluster.workers" = [2, 100]\n')
    for args in (["validate", str(path)], ["sweep", str(path), "--out", str(tmp_path / "o")]):
        assert main(args) == 2
        err = capsys.readouterr().err
        assert "Traceback" not in err
        lines = err.strip().splitlines()
        assert lines[0].startswith(f"error: {path}: 1 of 2 grid points are invalid")
        assert len(lines) == 2 and "cluster.workers = 100" in lines[1]
        assert "training rows (32)" in lines[1]
    assert not (tmp_path / "o").exists()


# --------------------------------------------------------------------------- codes


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["gc", "--n", "100000000000"], ["--n = 100000000000", "TiB"]),
        (["gc", "--n", "50000", "--s", "25000"], ["--n = 50000", "GiB"]),
        (["gc", "--n", "1000", "--s", "600", "--construction", "crc"], ["--s = 600", "GiB"]),
        (["lwpd", "--n", "100000000000", "--k", "4", "--t", "2"], ["--n", "TiB"]),
        (["gc", "--seed", "-1"], ["--seed"]),
        (["gc", "--n", "-5"], ["--n"]),
    ],
    ids=["gc-1e11", "gc-50000", "crc-600", "lwpd-1e11", "seed", "negative"],
)
def test_codes_arguments(
    capsys: pytest.CaptureFixture[str], args: list[str], words: list[str]
) -> None:
    refused(capsys, ["codes", *args], *words)


# --------------------------------------------------------------------------- expressions


@pytest.mark.parametrize(
    ("expression", "words"),
    [
        ("((9 ** 256) ** 256) ** 256", ["too large", "1024 bits"]),
        ("((seed + 8) ** 256) ** 256", ["too large"]),
        ("10 ** 256 * 10 ** 256 * 10 ** 256 * 10 ** 256 * 10 ** 256 * seed", ["too large"]),
        (" + ".join(["seed"] * 20000), ["at most 1000 characters"]),
        ("-" * 900 + "seed", ["nested at most 100 deep"]),
        ("(" * 300 + "seed" + ")" * 300, ["arithmetic expression"]),
        ("1" * 999, ["too large"]),
        ("+".join(["(seed+seed)"] * 80), ["at most 200"]),
    ],
    ids=[
        "power",
        "power-of-factor",
        "product",
        "chain",
        "unary-depth",
        "parens",
        "literal",
        "nodes",
    ],
)
def test_derived_expressions(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], expression: str, words: list[str]
) -> None:
    (tmp_path / "base.toml").write_text(scenario_text())
    path = tmp_path / "sweep.toml"
    path.write_text(
        'base = "base.toml"\n[factors]\nseed = [1, 2]\n[derived]\n'
        f'"train.max_updates" = "{expression}"\n'
    )
    refused(capsys, ["validate", str(path)], "derived.train.max_updates", *words)
