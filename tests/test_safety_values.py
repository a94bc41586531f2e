"""Values lwpdsim refuses, and when a run is called diverged (issue #14, docs/safety.md).

Times that overflow a float (alone or as the products the simulator forms), data that cannot be
standardised, the divergence rule, damaged files given to ``plot``, scheduler addresses and file
names that are not valid scenario names. Every refusal is checked through the command line: exit
2, one stderr line naming the field (or option, or path), no traceback.
"""

from __future__ import annotations

import dataclasses
import json
import math
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

import lwpdsim
from lwpdsim.analysis.data import load_results_dir
from lwpdsim.cli import main
from lwpdsim.config import load_scenario
from lwpdsim.errors import ScenarioError
from lwpdsim.latency import BimodalLatency, ConstantLatency, from_spec
from lwpdsim.sweep import load_sweep
from lwpdsim.sweep.execute import scheduler_address

GOOD = """
name = "values"
seed = 1
[cluster]
workers = 4
latency = { dist = "constant", value = 1.0 }
[model]
kind = "least_squares"
dataset = "synthetic_regression"
samples = 40
features = 3
[train]
lr = 0.1
max_updates = 5
[[schemes]]
name = "sync"
[[schemes]]
name = "gc"
s = 1
"""
LAT = 'latency = { dist = "constant", value = 1.0 }'


def swap(old: str, new: str, text: str = GOOD) -> str:
    assert old in text
    return text.replace(old, new, 1)


def net(table: str) -> str:
    return swap(LAT, f"{LAT}\nnetwork = {table}")


def one_line(err: str, *fragments: str) -> str:
    """The one stderr line, checked to hold every fragment and no traceback."""
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert "Traceback" not in err
    for fragment in fragments:
        assert fragment in lines[0], (fragment, lines[0])
    return lines[0]


def refused_everywhere(path: Path, capsys, *fragments: str) -> str:
    """``validate`` and ``run`` both exit 2 with one line holding ``fragments``; nothing written."""
    out = path.parent / "out"
    line = ""
    for command in (["validate", str(path)], ["run", str(path), "--quiet", "--out", str(out)]):
        assert main(command) == 2, command
        line = one_line(capsys.readouterr().err, str(path), *fragments)
        assert not out.exists()
    return line


# --------------------------------------------------------------------------- overflowing times

OVERFLOWS = [
    # (id, scenario text, the field the message must name)
    (
        "constant-two-unit-task",  # gc(s=1) tasks are 2 units: 2 x 1e308 = inf
        swap(LAT, 'latency = { dist = "constant", value = 1e308 }'),
        "cluster.latency.value",
    ),
    (
        "bimodal-factor",
        swap(LAT, 'latency = { dist = "bimodal", p = 0.5, factor = 1e308 }'),
        "cluster.latency.factor",
    ),
    (
        "pareto-scale",  # the mean is finite, the plausible draws are not
        swap(LAT, 'latency = { dist = "pareto", alpha = 3.0, scale = 1e306 }'),
        "cluster.latency",
    ),
    (
        "lognormal-mu",  # finite mean, overflowing variance and tail
        swap(LAT, 'latency = { dist = "lognormal", mu = 705.0, sigma = 0.5 }'),
        "cluster.latency",
    ),
    (
        "weibull-variance",
        swap(LAT, 'latency = { dist = "weibull", shape = 0.007 }'),
        "cluster.latency",
    ),
    (
        "slowdown-times-latency",
        swap(
            LAT,
            'latency = { dist = "constant", value = 1e10 }\nslowdown = [1e300, 1, 1, 1]',
        ),
        "cluster.slowdown[0]",
    ),
    (
        "slowdown-times-straggler-factor",
        swap(
            LAT,
            f"{LAT}\nslowdown = [1, 1e300, 1, 1]\nstragglers = {{ workers = [1], factor = 1e10 }}",
        ),
        "cluster.slowdown[1]",
    ),
    (
        "straggler-factor-times-latency",
        swap(
            LAT,
            'latency = { dist = "exponential", rate = 1.0 }\n'
            "stragglers = { workers = [2], factor = 1e308 }",
        ),
        "cluster.stragglers.factor",
    ),
    ("bandwidth-denormal", net("{ bandwidth = 1e-320 }"), "cluster.network.bandwidth"),
    ("network-latency", net("{ latency = 1e308 }"), "cluster.network.latency"),
    ("itemsize-huge", net("{ itemsize = 1e308 }"), "cluster.network.itemsize"),
    (
        "retry-after",
        net("{ loss = 0.5, retry_after = 1.5e308, latency = 1e308 }"),
        "cluster.network",
    ),
    (
        "max-updates-in-a-row",  # one task is finite, 1000 of them in a row are not
        swap(
            "max_updates = 5",
            "max_updates = 1000",
            swap(LAT, 'latency = { dist = "constant", value = 1e306 }'),
        ),
        "cluster.latency.value",
    ),
]


@pytest.mark.parametrize(
    ("text", "field"), [c[1:] for c in OVERFLOWS], ids=[c[0] for c in OVERFLOWS]
)
def test_overflowing_times_are_refused_naming_the_field(
    tmp_path: Path, text: str, field: str, capsys
) -> None:
    path = tmp_path / "scenario.toml"
    path.write_text(text)
    line = refused_everywhere(path, capsys, field)
    assert f"{field}" in line.split(" is not allowed")[0]


def test_max_updates_product_is_waived_by_a_finite_max_time(tmp_path: Path, capsys) -> None:
    text = swap(LAT, 'latency = { dist = "constant", value = 1e306 }')
    text = swap("max_updates = 5", "max_updates = 1000\nmax_time = 1e307", text)
    path = tmp_path / "s.toml"
    path.write_text(text)
    assert main(["validate", str(path)]) == 0
    assert "ok:" in capsys.readouterr().out


def test_empirical_trace_scaled_past_a_float(tmp_path: Path, capsys) -> None:
    (tmp_path / "trace.csv").write_text("seconds\n1.0\n1e306\n")
    path = tmp_path / "s.toml"
    path.write_text(swap(LAT, 'latency = { dist = "empirical", file = "trace.csv", scale = 1e3 }'))
    refused_everywhere(path, capsys, "cluster.latency.scale")


def test_message_size_is_checked_when_the_run_starts(tmp_path: Path, capsys) -> None:
    # one number per message passes validation; the model's 4 parameters x 8 bytes do not fit
    path = tmp_path / "s.toml"
    path.write_text(net("{ bandwidth = 1e-306, itemsize = 8 }"))
    assert main(["validate", str(path)]) == 0
    capsys.readouterr()
    out = tmp_path / "out"
    assert main(["run", str(path), "--quiet", "--out", str(out)]) == 2
    one_line(capsys.readouterr().err, str(path), "cluster.network.bandwidth", "32 bytes")
    assert not out.exists()


def test_bimodal_variance_is_finite_or_inf_never_an_exception() -> None:
    model = BimodalLatency(ConstantLatency(1.0), 0.5, 1e308)
    assert model.var == math.inf and model.upper == 1e308
    fine = BimodalLatency(ConstantLatency(2.0), 0.25, 3.0)
    # X = 2 M, M = 3 w.p. 1/4: Var X = 4 * (1/4)(3/4)(3 - 1)^2 = 3
    assert fine.var == pytest.approx(3.0) and math.isfinite(fine.var)
    with pytest.raises(ScenarioError) as info:
        from_spec({"dist": "bimodal", "p": 0.5, "factor": 1e200})
    assert info.value.field == "factor"
    # an infinite variance of the base is the distribution's, not an overflow: accepted
    heavy = from_spec({"dist": "bimodal", "base": {"dist": "pareto", "alpha": 1.5}})
    assert heavy.var == math.inf and math.isfinite(heavy.upper)
    # a factor that never applies (p = 0) cannot overflow anything
    never = from_spec({"dist": "bimodal", "p": 0.0, "factor": 1e308})
    assert (never.mean, never.var, never.upper) == (1.0, 0.0, 1.0)


def test_time_overflowing_during_a_run_is_reported_not_called_a_stall(
    tmp_path: Path, monkeypatch
) -> None:
    # validation would refuse 1000 updates of 1e306 s; bypass it to reach the run-time guard
    monkeypatch.setattr("lwpdsim.sim.run.check_message_times", lambda *args: None)
    path = tmp_path / "s.toml"
    path.write_text(swap(LAT, 'latency = { dist = "constant", value = 1e306 }'))
    scenario = load_scenario(path)
    train = dataclasses.replace(scenario.train, max_updates=1000)
    result = lwpdsim.simulate(dataclasses.replace(scenario, train=train))["sync"]
    assert result.status == "error"
    assert "simulated time overflowed" in result.summary["message"]
    # with a finite max_time the run simply stops there
    train = dataclasses.replace(scenario.train, max_updates=1000, max_time=1.5e308)
    result = lwpdsim.simulate(dataclasses.replace(scenario, train=train))["sync"]
    assert result.status == "max_time"


# --------------------------------------------------------------------------- data


def write_csv(path: Path, column: int, scale: float, *, rows: int = 60) -> None:
    rng = np.random.default_rng(0)
    X = rng.normal(size=(rows, 3))
    y = X @ np.array([1.0, -2.0, 0.5]) + 0.1 * rng.normal(size=rows)
    if column < 3:
        X[:, column] = np.abs(X[:, column]) * scale + scale
    else:
        y = y * scale
    lines = ["a,b,c,target"] + [
        ",".join(repr(float(v)) for v in [*x, t]) for x, t in zip(X, y, strict=True)
    ]
    path.write_text("\n".join(lines) + "\n")


@pytest.mark.parametrize(
    ("column", "scale", "named"),
    [(1, 1e200, "feature column 2"), (2, 5e307, "feature column 3"), (3, 1e200, "label column")],
    ids=["feature-1e200", "feature-near-max", "label-1e200"],
)
def test_data_that_cannot_be_standardised_is_refused(
    tmp_path: Path, column: int, scale: float, named: str, capsys
) -> None:
    write_csv(tmp_path / "data.csv", column, scale)
    path = tmp_path / "s.toml"
    path.write_text(swap('dataset = "synthetic_regression"', 'dataset = "data.csv"'))
    refused_everywhere(path, capsys, "model.dataset", "data.csv", named)


def test_npz_column_near_the_largest_float_is_refused(tmp_path: Path, capsys) -> None:
    rng = np.random.default_rng(1)
    X = rng.normal(size=(50, 2))
    X[:, 0] = 1e308 + np.abs(X[:, 0]) * 1e307
    np.savez(tmp_path / "d.npz", X=X, y=rng.normal(size=50))
    path = tmp_path / "s.toml"
    path.write_text(swap('dataset = "synthetic_regression"', 'dataset = "d.npz"'))
    refused_everywhere(path, capsys, "model.dataset", "d.npz", "feature column 1")


@pytest.mark.parametrize("noise", ["1e200", "1e308"])
def test_synthetic_noise_too_large_to_standardise(tmp_path: Path, noise: str, capsys) -> None:
    path = tmp_path / "s.toml"
    path.write_text(swap("features = 3", f"features = 3\nnoise = {noise}"))
    refused_everywhere(path, capsys, "model.noise")


# --------------------------------------------------------------------------- divergence


def run_status(path: Path, tmp_path: Path, capsys, *sets: str) -> tuple[int, dict]:
    out = tmp_path / f"out{len(list(tmp_path.iterdir()))}"
    args = ["run", str(path), "--quiet", "--out", str(out)]
    for item in sets:
        args += ["--set", item]
    code = main(args)
    capsys.readouterr()
    return code, json.loads((out / "sync" / "manifest.json").read_text())


def test_a_finite_blow_up_is_diverged(tmp_path: Path, capsys) -> None:
    path = tmp_path / "s.toml"
    path.write_text(swap("max_updates = 5", "max_updates = 40\nmax_time = 1000.0", GOOD))
    code, manifest = run_status(path, tmp_path, capsys, "train.lr=50")
    assert code == 0  # a diverged run is a result, not a failure (documented in docs/safety.md)
    assert manifest["status"] == "diverged"
    assert "train.divergence" in manifest["summary"]["message"]
    assert manifest["summary"]["updates"] < 40
    # the rule switched off: the loss grows to ~1e70 and the run ends by its stop rule
    code, manifest = run_status(path, tmp_path, capsys, "train.lr=50", "train.divergence=inf")
    assert code == 0 and manifest["status"] == "max_updates"
    assert manifest["config"]["scenario"]["train"]["divergence"] == "inf"


def test_a_custom_threshold_is_honoured(tmp_path: Path, capsys) -> None:
    path = tmp_path / "s.toml"
    path.write_text(GOOD)
    _, strict = run_status(path, tmp_path, capsys, "train.lr=3", "train.divergence=2")
    _, loose = run_status(path, tmp_path, capsys, "train.lr=3", "train.divergence=1e300")
    assert (
        strict["status"] == "diverged"
        and "2 times the initial loss" in strict["summary"]["message"]
    )
    assert loose["status"] == "max_updates"
    _, calm = run_status(path, tmp_path, capsys, "train.divergence=1.5")
    assert calm["status"] == "max_updates"  # a converging run never crosses it


@pytest.mark.parametrize("value", ["1", "0.5", "-3", "nan", "-inf", '"big"', "true", "0"])
def test_invalid_divergence_thresholds_are_refused(tmp_path: Path, value: str, capsys) -> None:
    path = tmp_path / "s.toml"
    path.write_text(swap("max_updates = 5", f"max_updates = 5\ndivergence = {value}"))
    refused_everywhere(path, capsys, "train.divergence")


def test_the_default_threshold_is_left_out_of_the_resolved_scenario(tmp_path: Path) -> None:
    path = tmp_path / "s.toml"
    path.write_text(GOOD)
    default = load_scenario(path)
    assert default.train.divergence == 1e6 and "divergence" not in default.to_dict()["train"]
    custom = load_scenario(path, overrides=["train.divergence=50"])
    assert custom.to_dict()["train"]["divergence"] == 50.0
    assert load_scenario(custom.to_dict()) == custom


# --------------------------------------------------------------------------- plot


@pytest.fixture
def odd_labels(tmp_path: Path, capsys) -> Path:
    text = GOOD.replace('name = "sync"', 'name = "sync"\nlabel = "NA"')
    text = text.replace("s = 1", 's = 1\nlabel = "None"')
    text += '[[schemes]]\nname = "ksync"\nK = 2\nlabel = "nan"\n'
    path = tmp_path / "s.toml"
    path.write_text(text)
    assert main(["run", str(path), "--quiet", "--out", str(tmp_path / "run")]) == 0
    capsys.readouterr()
    return tmp_path / "run"


def test_labels_that_look_missing_are_plotted(odd_labels: Path, tmp_path: Path, capsys) -> None:
    assert main(["plot", str(odd_labels), "--out", str(tmp_path / "plots")]) == 0
    out = capsys.readouterr().out
    for label in ("NA", "None", "nan"):
        assert f"\n{label} " in out
        assert (tmp_path / "plots" / f"timeline_{label}.png").is_file()
    results = load_results_dir(odd_labels)
    assert list(results) == ["NA", "None", "nan"]


@pytest.mark.parametrize("content", ["[]", "{", '{"label": 3}', "", "null"])
def test_damaged_manifest_given_to_plot(odd_labels: Path, content: str, capsys) -> None:
    manifest = odd_labels / "None" / "manifest.json"
    manifest.write_text(content)
    assert main(["plot", str(odd_labels)]) == 2
    one_line(capsys.readouterr().err, "RESULTS_DIR", str(manifest))


@pytest.mark.parametrize(("key", "value"), [("workers", "x"), ("slowdown", "ab"), ("network", [1])])
def test_damaged_recorded_scenario_given_to_plot(
    odd_labels: Path, key: str, value: object, capsys
) -> None:
    manifest = odd_labels / "NA" / "manifest.json"
    record = json.loads(manifest.read_text())
    record["config"]["scenario"]["cluster"][key] = value
    manifest.write_text(json.dumps(record))
    assert main(["plot", str(odd_labels)]) == 2
    one_line(capsys.readouterr().err, "RESULTS_DIR", str(manifest), f"cluster.{key}")


def test_damaged_tables_given_to_plot(odd_labels: Path, capsys) -> None:
    updates = odd_labels / "NA" / "updates.csv"
    updates.write_text("update,time\n0,zero\n")
    assert main(["plot", str(odd_labels)]) == 2
    one_line(capsys.readouterr().err, "RESULTS_DIR", str(updates))


@pytest.fixture
def sweep_file(tmp_path: Path) -> Path:
    (tmp_path / "base.toml").write_text(
        GOOD.replace('name = "sync"', 'name = "sync"\nlabel = "NA"')
    )
    path = tmp_path / "sw.toml"
    path.write_text('base = "base.toml"\nreplicates = 2\n[factors]\n"cluster.workers" = [2, 4]\n')
    return path


@pytest.fixture
def sweep_dir(sweep_file: Path, tmp_path: Path, capsys) -> Path:
    out = tmp_path / "sweep"
    code = main(["sweep", str(sweep_file), "--executor", "serial", "--quiet",
                 "--out", str(out)])  # fmt: skip
    assert code == 0
    capsys.readouterr()
    return out


def test_sweep_with_a_label_NA_is_replotted(sweep_dir: Path, capsys) -> None:
    from lwpdsim.analysis.sweep_plots import read_sweep_folder

    assert main(["plot", str(sweep_dir)]) == 0
    assert "sweep figures written" in capsys.readouterr().out
    _, _, table = read_sweep_folder(sweep_dir)
    assert set(table["scheme"]) == {"NA", "gc(s=1)"}


@pytest.mark.parametrize(
    ("name", "content"),
    [
        ("sweep.json", "{"),
        ("sweep.json", "[]"),
        ("sweep.json", '{"axes": 3}'),
        ("runs.csv", "a\n1\n"),
    ],
)
def test_damaged_sweep_folder_given_to_plot(
    sweep_dir: Path, name: str, content: str, capsys
) -> None:
    (sweep_dir / name).write_text(content)
    assert main(["plot", str(sweep_dir)]) == 2
    one_line(capsys.readouterr().err, "RESULTS_DIR", str(sweep_dir / name))


# --------------------------------------------------------------------------- scheduler


@pytest.mark.parametrize(
    "address",
    ["garbage", "inproc://x", "tcp://host", "tcp://host:99999", "tcp://:8786", "", "udp://h:1",
     "tcp://h:80/path", "tcp://a b:1"],
)  # fmt: skip
def test_bad_scheduler_addresses_are_refused_before_connecting(
    sweep_file: Path, tmp_path: Path, address: str, capsys
) -> None:
    out = tmp_path / "elsewhere"
    started = time.monotonic()
    code = main(["sweep", str(sweep_file), "--scheduler", address, "--out", str(out)])
    assert code == 2
    one_line(capsys.readouterr().err, "--scheduler")
    assert time.monotonic() - started < 5 and not out.exists()


def test_good_scheduler_addresses_pass_the_check() -> None:
    for address in ("tcp://127.0.0.1:8786", "localhost:8786", "tls://h.example:1", "tcp://[::1]:9"):
        assert scheduler_address(address) == address


def test_unreachable_scheduler_gives_up_quickly(sweep_file: Path, tmp_path: Path) -> None:
    started = time.monotonic()
    proc = subprocess.run(
        [sys.executable, "-m", "lwpdsim.cli", "sweep", str(sweep_file),
         "--scheduler", "tcp://127.0.0.1:9", "--out", str(tmp_path / "elsewhere")],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert proc.returncode == 2
    one_line(proc.stderr, "--scheduler", "tcp://127.0.0.1:9")
    assert time.monotonic() - started < 60


# --------------------------------------------------------------------------- names and stderr


def test_accented_file_name_without_a_name_key(tmp_path: Path, monkeypatch, capsys) -> None:
    path = tmp_path / "mon scénario.toml"
    path.write_text(GOOD.replace('name = "values"\n', ""))
    assert main(["validate", str(path)]) == 0
    monkeypatch.chdir(tmp_path)
    assert main(["run", str(path), "--quiet"]) == 0
    assert (tmp_path / "results" / "mon_scenario" / "summary.csv").is_file()
    assert load_scenario(path).name == "mon_scenario"
    odd = tmp_path / "名前.toml"
    odd.write_text(path.read_text())
    assert load_scenario(odd).name == "scenario"
    kept = tmp_path / "valid_.toml"  # a stem that is a valid name already is kept as it is
    kept.write_text(path.read_text())
    assert load_scenario(kept).name == "valid_"
    sweep = tmp_path / "sweep.toml"  # a sweep's base is named the same way
    sweep.write_text('base = "mon scénario.toml"\n[factors]\n"cluster.workers" = [2, 4]\n')
    capsys.readouterr()
    assert main(["validate", str(sweep)]) == 0
    assert "2 grid points" in capsys.readouterr().out
    accented = tmp_path / "mon balayage é.toml"  # a sweep file's stem names the sweep likewise
    accented.write_text(sweep.read_text())
    assert load_sweep(accented).name == "mon_balayage_e"
    long_stem = tmp_path / ("x" * 150 + ".toml")  # and a name stays short enough for a folder
    long_stem.write_text(path.read_text())
    assert load_scenario(long_stem).name == "x" * 100


@pytest.mark.parametrize("case", [1, 8, 12], ids=["bimodal", "bandwidth", "max-updates"])
def test_console_script_prints_only_the_one_line(tmp_path: Path, case: int) -> None:
    # numpy and scipy warn on overflow: none of that may reach the real stderr
    path = tmp_path / "s.toml"
    path.write_text(OVERFLOWS[case][1])
    for command in ("validate", "run"):
        proc = subprocess.run(
            [sys.executable, "-m", "lwpdsim.cli", command, str(path)],
            capture_output=True, text=True, cwd=tmp_path,
        )  # fmt: skip
        assert proc.returncode == 2
        one_line(proc.stderr, OVERFLOWS[case][2])


def test_console_script_prints_one_line_for_an_overflowing_data_file(tmp_path: Path) -> None:
    path = tmp_path / "s.toml"
    write_csv(tmp_path / "data.csv", 2, 5e307)
    path.write_text(swap('dataset = "synthetic_regression"', 'dataset = "data.csv"'))
    proc = subprocess.run(
        [sys.executable, "-m", "lwpdsim.cli", "run", str(path)],
        capture_output=True, text=True, cwd=tmp_path,
    )  # fmt: skip
    assert proc.returncode == 2
    one_line(proc.stderr, "feature column 3")
