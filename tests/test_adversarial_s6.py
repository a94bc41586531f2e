"""Hostile input to the keys and commands added in session 6 (latency groups, markov and replay
latency, racks and failure processes, approx_gc, decode_error, plugins, ``lwpdsim animate``,
``codes lwpd --rounds``): each case below once ended in a traceback, a MemoryError after a long
wait, or an exit without a word. Each must now be one line on stderr naming the field, exit 2."""

from __future__ import annotations

import io
import json
import struct
import zipfile
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from lwpdsim.cli import main

SCENARIO = """
name = "adversarial"
seed = 1
{top}
[cluster]
workers = {n}
{cluster}
[model]
kind = "least_squares"
dataset = {dataset}
samples = {samples}
features = 3
[train]
lr = 0.1
max_updates = 3
max_time = 50.0
{schemes}
"""


def scenario(
    cluster: str = "",
    *,
    n: int = 4,
    top: str = "",
    dataset: str = '"synthetic_regression"',
    schemes: str = '[[schemes]]\nname = "sync"\n',
) -> str:
    return SCENARIO.format(
        cluster=cluster, n=n, top=top, dataset=dataset, samples=max(40, 2 * n), schemes=schemes
    )


def npy(header: bytes, payload: bytes = b"", version: int = 1) -> bytes:
    """An ``.npy`` member with the given header text (not checked)."""
    return (
        b"\x93NUMPY"
        + bytes([version, 0])
        + struct.pack("<H", len(header) + 1)
        + header
        + b"\n"
        + payload
    )


GOOD_HEADER = b"{'descr': '<f8', 'fortran_order': False, 'shape': (200, 4)}"


def archive(members: dict[str, bytes], method: int = zipfile.ZIP_STORED) -> bytearray:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", method) as z:
        for name, data in members.items():
            z.writestr(name, data)
    return bytearray(buf.getvalue())


def trace(member: bytes, method: int = zipfile.ZIP_STORED) -> bytearray:
    return archive({"times.npy": member}, method)


def good_trace_deflated() -> bytearray:
    return trace(npy(GOOD_HEADER, np.ones(800).tobytes()), zipfile.ZIP_DEFLATED)


def damaged_stream(data: bytearray) -> bytes:
    """The first member's compressed bytes garbled (zlib.error when read)."""
    start = data.find(b"PK\x03\x04")
    name_len, extra_len = struct.unpack("<HH", data[start + 26 : start + 30])
    body = start + 30 + name_len + extra_len
    for k in range(body + 5, body + 40):
        data[k] ^= 0x5A
    return bytes(data)


def unknown_method(data: bytearray) -> bytes:
    """The first member's compression method set to 93 (zstd, which zipfile cannot read)."""
    local, central = data.find(b"PK\x03\x04"), data.find(b"PK\x01\x02")
    data[local + 8], data[central + 10] = 93, 93
    return bytes(data)


def encrypted(data: bytearray) -> bytes:
    """The first member flagged as encrypted."""
    local, central = data.find(b"PK\x03\x04"), data.find(b"PK\x01\x02")
    data[local + 6] |= 1
    data[central + 8] |= 1
    return bytes(data)


def many_members() -> bytes:
    return bytes(archive({f"m{i}.npy": b"" for i in range(2000)}))


#: (case, files to write, scenario text, the field the one line must name)
Files = dict[str, bytes]
SCENARIO_CASES: list[tuple[str, Callable[[], Files], str, str]] = [
    (
        "replay file with a NUL byte",
        dict,
        scenario('latency = { dist = "replay", file = "a\\u0000.csv" }'),
        "cluster.latency.file",
    ),
    (
        "empirical file with a NUL byte",
        dict,
        scenario('latency = { dist = "empirical", file = "a\\u0000.csv" }'),
        "cluster.latency.file",
    ),
    (
        "dataset file with a NUL byte",
        dict,
        scenario(dataset='"d\\u0000.npz"'),
        "model.dataset",
    ),
    (
        "replay file under ~ of no user",
        dict,
        scenario('latency = { dist = "replay", file = "~no_such_user_adv/t.csv" }'),
        "cluster.latency.file",
    ),
    (
        "empirical file under ~ of no user",
        dict,
        scenario('latency = { dist = "empirical", file = "~no_such_user_adv/t.csv" }'),
        "cluster.latency.file",
    ),
    (
        "dataset under ~ of no user",
        dict,
        scenario(dataset='"~no_such_user_adv/d.npz"'),
        "model.dataset",
    ),
    (
        "replay npz whose header numpy's tokenizer chokes on",
        lambda: {"t.npz": bytes(trace(npy(b"{'descr': lambda")))},  # unclosed: TokenError
        scenario('latency = { dist = "replay", file = "t.npz" }'),
        "cluster.latency.file",
    ),
    (
        "replay npz with an encrypted member",
        lambda: {"t.npz": encrypted(good_trace_deflated())},
        scenario('latency = { dist = "replay", file = "t.npz" }'),
        "cluster.latency.file",
    ),
    (
        "replay npz compressed by a method zipfile lacks",
        lambda: {"t.npz": unknown_method(good_trace_deflated())},
        scenario('latency = { dist = "replay", file = "t.npz" }'),
        "cluster.latency.file",
    ),
    (
        "replay npz with a damaged deflate stream",
        lambda: {"t.npz": damaged_stream(good_trace_deflated())},
        scenario('latency = { dist = "replay", file = "t.npz" }'),
        "cluster.latency.file",
    ),
    (
        "replay npz listing 2000 members",
        lambda: {"t.npz": many_members()},
        scenario('latency = { dist = "replay", file = "t.npz" }'),
        "cluster.latency.file",
    ),
    (
        "dataset npz with a damaged deflate stream",
        lambda: {
            "d.npz": damaged_stream(
                archive(
                    {
                        "X.npy": npy(
                            b"{'descr': '<f8', 'fortran_order': False, 'shape': (40, 3)}",
                            np.ones(120).tobytes(),
                        ),
                        "y.npy": npy(
                            b"{'descr': '<f8', 'fortran_order': False, 'shape': (40,)}",
                            np.arange(40.0).tobytes(),
                        ),
                    },
                    zipfile.ZIP_DEFLATED,
                )
            )
        },
        scenario(dataset='"d.npz"'),
        "model.dataset",
    ),
    (
        "latency group of 10**18 workers",
        dict,
        scenario('latency = [{ workers = 1000000000000000000, dist = "constant" }]'),
        "cluster.latency[0].workers",
    ),
    (
        "latency group count past 2**63 after another group",
        dict,
        scenario(
            'latency = [{ workers = 2, dist = "constant" }, '
            '{ workers = 9223372036854775807, dist = "constant" }]'
        ),
        "cluster.latency[1].workers",
    ),
    (
        "approx_gc regular design whose switch chain needs GiBs",
        dict,
        scenario(
            n=2000,
            schemes='[[schemes]]\nname = "approx_gc"\ncode = "regular"\nd = 1000\nwait = 10\n',
        ),
        "schemes[0].d",
    ),
]


def one_line(capsys: pytest.CaptureFixture[str], code: int, field: str) -> str:
    err = capsys.readouterr().err
    assert code == 2, err
    assert "Traceback" not in err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert field in lines[0], lines[0]
    assert "\x00" not in lines[0]  # a NUL byte is shown escaped, never printed
    return lines[0]


@pytest.mark.parametrize(
    ("files", "text", "field"),
    [case[1:] for case in SCENARIO_CASES],
    ids=[case[0] for case in SCENARIO_CASES],
)
def test_scenario_refused(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    files: Callable[[], Files],
    text: str,
    field: str,
) -> None:
    for name, data in files().items():
        (tmp_path / name).write_bytes(data)
    path = tmp_path / "s.toml"
    path.write_text(text)
    one_line(capsys, main(["validate", str(path)]), field)


#: (case, the plugin module's source, what the one line must say besides --plugin)
PLUGIN_CASES = [
    ("sys.exit at import", "import sys\nsys.exit(3)\n", "SystemExit: 3"),
    (
        "a BaseException subclass at import",
        "class Odd(BaseException):\n    pass\nraise Odd('odd')\n",
        "Odd: odd",
    ),
]


@pytest.mark.parametrize(
    ("source", "said"), [c[1:] for c in PLUGIN_CASES], ids=[c[0] for c in PLUGIN_CASES]
)
def test_plugin_refused(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    source: str,
    said: str,
) -> None:
    module = f"adv_plugin_{abs(hash(source)) % 10**8}"  # a name no other test imported
    (tmp_path / f"{module}.py").write_text(source)
    monkeypatch.syspath_prepend(str(tmp_path))
    path = tmp_path / "s.toml"
    path.write_text(scenario())
    line = one_line(capsys, main(["validate", str(path), "--plugin", module]), "--plugin")
    assert said in line


@pytest.fixture(scope="module")
def saved_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small run with one worker down for a while (its manifest records ``outages``)."""
    folder = tmp_path_factory.mktemp("adv_run")
    path = folder / "s.toml"
    path.write_text(scenario("failures = [{ worker = 1, at = 1.0, recover = 2.0 }]"))
    assert main(["run", str(path), "--out", str(folder / "run"), "--quiet"]) == 0
    return folder / "run"


@pytest.mark.parametrize(
    "outages",
    [
        "garbage",
        [[1, 0.0, 1.0]],
        {"worker": [1.5], "start": [0.0], "end": [1.0]},
        {"worker": [1, 2], "start": [0.0], "end": [1.0]},
    ],
    ids=["text", "a list", "a fractional worker", "lists of different lengths"],
)
def test_animate_damaged_outages(
    saved_run: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], outages: object
) -> None:
    import shutil

    run = tmp_path / "run"
    shutil.copytree(saved_run, run)
    manifest = run / "sync" / "manifest.json"
    data = json.loads(manifest.read_text())
    assert "outages" in data  # the case attacks a recorded key
    manifest.write_text(json.dumps({**data, "outages": outages}))
    capsys.readouterr()
    line = one_line(capsys, main(["animate", str(run), "--frames", "2"]), "RESULTS_DIR")
    assert "outages" in line


@pytest.mark.parametrize(
    ("args", "said"),
    [
        (["codes", "lwpd", "--rounds", "best"], "--rounds"),
        (["codes", "lwpd", "--n", "abc"], "--n"),
        (["animate"], "RESULTS_DIR"),
        (["run", "x.toml", "--no-such-option"], "--no-such-option"),
    ],
    ids=["unknown choice", "not an integer", "missing argument", "unknown option"],
)
def test_usage_errors_are_one_line(
    capsys: pytest.CaptureFixture[str], args: list[str], said: str
) -> None:
    with pytest.raises(SystemExit) as stop:
        main(args)
    assert stop.value.code == 2
    err = capsys.readouterr().err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("error: ") and said in lines[0]


@pytest.mark.parametrize("dt", [1e3, 1e10, 1e15, 1e19, 1e24])
def test_markov_transition_without_overflow(dt: float) -> None:
    """A chain that is not reversible (a 3-cycle) with the shortest sojourns allowed, advanced over
    a long gap between task starts: scipy's expm of Q dt overflowed (rows of NaN from lam dt ~
    1e17: the state drawn was garbage, silently). By then the chain has mixed: the row is pi."""
    from lwpdsim.latency import from_spec
    from lwpdsim.latency.markov import MarkovLatency

    states = [{"sojourn": 1e-9}, {"sojourn": 2e-9, "factor": 2.0}, {"sojourn": 3e-9, "factor": 3.0}]
    model = from_spec(
        {"dist": "markov", "states": states, "jumps": [[0, 1, 0], [0, 0, 1], [1, 0, 0]]}
    )
    assert isinstance(model, MarkovLatency) and model.vecs is None  # the expm path
    with np.errstate(all="raise"):
        row = model.transition(0, dt)
    np.testing.assert_allclose(row, [1 / 6, 1 / 3, 1 / 2], rtol=1e-9)


def test_groups_share_one_trace_budget(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Up to 256 groups may each replay a file of up to 64 MiB (the same one, too: it is read once
    per group): 64 such groups of an 8 MiB file took over two minutes and 2.5 GB. The groups
    together get the budget of one trace, checked before a group's file is read (the limit is
    lowered here so that the case stays small)."""
    import lwpdsim.latency.spec as spec_module

    monkeypatch.setattr(spec_module, "MAX_CSV_BYTES", 100)
    (tmp_path / "one.csv").write_text("0.5\n" * 15)  # 60 bytes
    group = '{ workers = 1, dist = "replay", file = "one.csv" }'
    path = tmp_path / "s.toml"
    path.write_text(scenario(f"latency = [{group}, {group}]", n=2))
    line = one_line(capsys, main(["validate", str(path)]), "cluster.latency[1].file")
    assert "in all groups together" in line
    path.write_text(scenario(f'latency = [{group}, {{ workers = 1, dist = "constant" }}]', n=2))
    assert main(["validate", str(path)]) == 0
