"""Bad input reaches the user as one clear message naming the file and the field, never a
traceback: every case below is checked through the command line (`validate` and `run`)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from lwpdsim.cli import main

GOOD = """
name = "bad"
seed = 1
[cluster]
workers = 8
latency = { dist = "shifted_exponential", shift = 1.0, rate = 1.0 }
[model]
kind = "least_squares"
dataset = "synthetic_regression"
samples = 60
features = 3
[train]
lr = 0.1
max_updates = 5
[[schemes]]
name = "sync"
[[schemes]]
name = "lwpd"
k = 4
t = 2
"""


def swap(old: str, new: str) -> str:
    assert old in GOOD
    return GOOD.replace(old, new, 1)


LAT = 'latency = { dist = "shifted_exponential", shift = 1.0, rate = 1.0 }'
DATA = 'dataset = "synthetic_regression"'
SYNC = 'name = "sync"'

# (id, scenario text, fragments the message must contain)
CASES = [
    ("toml-unclosed", GOOD + "\nx = [1, 2", ["TOML"]),
    ("toml-duplicate-key", GOOD.replace("seed = 1", "seed = 1\nseed = 2"), ["TOML"]),
    ("unknown-top-key", GOOD.replace("seed = 1", "sede = 1"), ["sede", "did you mean 'seed'"]),
    ("unknown-cluster-key", swap("workers = 8", "wrokers = 8"), ["cluster.wrokers", "workers"]),
    ("workers-string", swap("workers = 8", 'workers = "eight"'), ["cluster.workers", "integer"]),
    ("workers-zero", swap("workers = 8", "workers = 0"), ["cluster.workers", ">= 1"]),
    ("workers-fraction", swap("workers = 8", "workers = 2.5"), ["cluster.workers", "integer"]),
    ("dist-typo", swap(LAT, 'latency = { dist = "weibul" }'), ["cluster.latency.dist", "weibull"]),
    (
        "rate-negative",
        swap(LAT, 'latency = { dist = "exponential", rate = -2.0 }'),
        ["cluster.latency.rate"],
    ),
    (
        "rate-nan",
        swap(LAT, 'latency = { dist = "exponential", rate = nan }'),
        ["cluster.latency.rate"],
    ),
    (
        "shift-inf",
        swap(LAT, 'latency = { dist = "shifted_exponential", shift = inf }'),
        ["cluster.latency.shift"],
    ),
    (
        "pareto-alpha",
        swap(LAT, 'latency = { dist = "pareto", alpha = 1.0 }'),
        ["cluster.latency.alpha"],
    ),
    ("bimodal-p", swap(LAT, 'latency = { dist = "bimodal", p = 1.5 }'), ["cluster.latency.p"]),
    (
        "bimodal-factor",
        swap(LAT, 'latency = { dist = "bimodal", factor = 0.5 }'),
        ["cluster.latency.factor"],
    ),
    (
        "trace-missing",
        swap(LAT, 'latency = { dist = "empirical", file = "nope.csv" }'),
        ["cluster.latency.file", "nope.csv"],
    ),
    (
        "trace-negative",
        swap(LAT, 'latency = { dist = "empirical", file = "neg.csv" }'),
        ["cluster.latency", "-0.5"],
    ),
    (
        "trace-text",
        swap(LAT, 'latency = { dist = "empirical", file = "text.csv" }'),
        ["cluster.latency", "slow"],
    ),
    (
        "trace-empty",
        swap(LAT, 'latency = { dist = "empirical", file = "empty.csv" }'),
        ["cluster.latency"],
    ),
    ("dataset-unknown", swap(DATA, 'dataset = "mnist"'), ["model.dataset", "digits"]),
    (
        "dataset-missing-file",
        swap(DATA, 'dataset = "missing.npz"'),
        ["model.dataset", "missing.npz"],
    ),
    ("dataset-empty-csv", swap(DATA, 'dataset = "empty_data.csv"'), ["model.dataset"]),
    ("dataset-text-csv", swap(DATA, 'dataset = "text_data.csv"'), ["model.dataset"]),
    ("dataset-npz-no-y", swap(DATA, 'dataset = "no_y.npz"'), ["model.dataset", "y"]),
    ("kind-mismatch", swap('kind = "least_squares"', 'kind = "logistic"'), ["model.kind"]),
    (
        "test-fraction",
        swap("features = 3", "features = 3\ntest_fraction = 1.5"),
        ["model.test_fraction"],
    ),
    ("lwpd-n-not-multiple", swap("workers = 8", "workers = 6"), ["cluster.workers", "multiple"]),
    ("lwpd-t-not-power", swap("t = 2", "t = 3"), ["schemes[1].t", "power of two"]),
    ("lwpd-t-over-k", swap("k = 4\nt = 2", "k = 2\nt = 4"), ["schemes[1].t"]),
    ("gc-s-too-big", swap(SYNC, 'name = "gc"\ns = 8'), ["schemes[0].s", "0 to 7"]),
    ("gc-frc-divides", swap(SYNC, 'name = "gc"\ns = 2'), ["schemes[0].s", "crc"]),
    ("K-too-big", swap(SYNC, 'name = "ksync"\nK = 9'), ["schemes[0].K", "1 to 8"]),
    ("K-zero", swap(SYNC, 'name = "kasync"\nK = 0'), ["schemes[0].K", "1 to 8"]),
    ("K-missing", swap(SYNC, 'name = "kbatchasync"'), ["schemes[0].K", "required"]),
    ("scheme-typo", swap(SYNC, 'name = "snyc"'), ["schemes[0].name", "did you mean 'sync'"]),
    ("no-schemes", GOOD.split("[[schemes]]")[0], ["schemes"]),
    ("lr-nan", swap("lr = 0.1", "lr = nan"), ["train.lr"]),
    (
        "max-time-negative",
        swap("max_updates = 5", "max_updates = 5\nmax_time = -3"),
        ["train.max_time"],
    ),
    (
        "bandwidth-zero",
        swap(LAT, LAT + "\nnetwork = { bandwidth = 0 }"),
        ["cluster.network.bandwidth"],
    ),
    (
        "failure-worker",
        swap(LAT, LAT + "\nfailures = [{ worker = 8, at = 1.0 }]"),
        ["cluster.failures[0].worker"],
    ),
    (
        "straggler-factor",
        swap(LAT, LAT + "\nstragglers = { workers = [1], factor = 0.2 }"),
        ["cluster.stragglers.factor"],
    ),
    (
        "latency-per",
        swap(LAT, LAT + '\nlatency_per = "task"'),
        ["cluster.latency_per", "gradient", "unit"],
    ),
]


@pytest.fixture
def files(tmp_path: Path) -> Path:
    (tmp_path / "neg.csv").write_text("seconds\n1.0\n-0.5\n2.0\n")
    (tmp_path / "text.csv").write_text("seconds\n1.0\nslow\n")
    (tmp_path / "empty.csv").write_text("seconds\n")
    (tmp_path / "empty_data.csv").write_text("")
    (tmp_path / "text_data.csv").write_text("a,b,label\n1,2,0\nx,3,1\n")
    np.savez(tmp_path / "no_y.npz", X=np.ones((5, 2)))
    return tmp_path


@pytest.mark.parametrize(("text", "fragments"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_bad_scenario_gives_one_clear_message(
    files: Path, text: str, fragments: list[str], capsys
) -> None:
    f = files / "scenario.toml"
    f.write_text(text)
    for command in (["validate", str(f)], ["run", str(f), "--quiet", "--out", str(files / "out")]):
        assert main(command) == 2, command
        err = capsys.readouterr().err
        lines = err.strip().splitlines()
        assert len(lines) == 1, err
        assert "Traceback" not in err and str(f) in err
        for fragment in fragments:
            assert fragment in err, (fragment, err)
        assert not (files / "out").exists()  # nothing was run


def test_at_least_thirty_distinct_cases() -> None:
    assert len({c[1] for c in CASES}) >= 30


def test_console_script_never_shows_a_traceback(files: Path) -> None:
    # one TOML error, one unknown key, one value error: the three ways a file is refused
    for name, text, _ in [CASES[0], CASES[2], CASES[14]]:
        f = files / f"{name}.toml"
        f.write_text(text)
        proc = subprocess.run(
            [sys.executable, "-m", "lwpdsim.cli", "run", str(f)],
            capture_output=True,
            text=True,
            cwd=files,
        )
        assert proc.returncode == 2 and "Traceback" not in proc.stderr, proc.stderr
