"""What a results folder keeps of a run's tables (lwpdsim.io.records): each format reads back bit
for bit, thinning keeps the rows it promises, summaries never depend on what is kept, the old
layout still reads, and damaged files give one clean error."""

from __future__ import annotations

import io
import json
import os
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

import lwpdsim
from lwpdsim.analysis import load_results_dir
from lwpdsim.errors import ScenarioError
from lwpdsim.io import records as rec
from lwpdsim.io.codec import load_result, load_summary, records_of, save_result, save_results
from lwpdsim.io.records import RecordFormat, kept_updates, thin_tables
from lwpdsim.results import RunResult
from lwpdsim.sweep.spec import load_sweep, parse_records

LAYOUTS = {
    "full-csv": RecordFormat("full", "csv"),
    "full-npz": RecordFormat("full", "npz"),
    "thin-csv": RecordFormat("thin", "csv", rows=40),
    "thin-npz": RecordFormat("thin", "npz", rows=40),
    "summary": RecordFormat("summary", "npz"),
}


@pytest.fixture(scope="module")
def results(tiny: Any, six_rules: Any) -> dict[str, RunResult]:
    """Every rule for up to 150 updates, evaluated every 3rd (NaN losses between), on a lossy
    network (lost tasks; a worker whose message is lost may stall a rule early)."""
    raw = tiny(
        six_rules,
        cluster={"network": {"loss": 0.002, "bandwidth": 1e5}},
        train={"max_updates": 150, "max_time": 1e6, "eval_every": 3},
    )
    return lwpdsim.simulate(lwpdsim.load_scenario(raw))


@pytest.mark.parametrize("layout", ["full-csv", "full-npz"])
def test_full_tables_round_trip_bit_for_bit(
    tmp_path: Path, results: dict[str, RunResult], layout: str, same_bits, same_values
) -> None:
    for label, res in results.items():
        folder = save_result(res, tmp_path / label, records=LAYOUTS[layout])
        back = load_result(folder)
        assert same_bits(back.updates, res.updates), label
        assert same_bits(back.tasks, res.tasks), label
        assert same_values(back.summary, res.summary, ordered=False), label
        assert back.config == res.config
    assert back.updates["loss"].isna().any()  # unevaluated rows came back as NaN


def test_the_default_is_the_old_layout_and_npz_is_one_file(
    tmp_path: Path, results: dict[str, RunResult], same_bits
) -> None:
    res = results["sync"]
    old = save_result(res, tmp_path / "old")
    assert sorted(p.name for p in old.iterdir()) == [
        "manifest.json",
        "tasks.csv",
        "timing.json",
        "updates.csv",
    ]
    assert "records" not in json.loads((old / "manifest.json").read_text())
    assert records_of(old) == RecordFormat()
    new = save_result(res, tmp_path / "new", records=LAYOUTS["full-npz"])
    assert sorted(p.name for p in new.iterdir()) == ["manifest.json", "tables.npz", "timing.json"]
    entry = json.loads((new / "manifest.json").read_text())["records"]
    assert entry == {
        "keep": "full",
        "format": "npz",
        "updates_rows": len(res.updates),
        "tasks_rows": len(res.tasks),
    }
    # the manifest decides which files are read: stray CSVs of another layout are ignored
    (new / "updates.csv").write_text("update\n9\n")
    assert same_bits(load_result(new).updates, res.updates)


def test_old_folders_without_ages_or_records_still_load(
    tmp_path: Path, results: dict[str, RunResult]
) -> None:
    res = results["kasync(K=4)"]
    folder = save_result(res, tmp_path / "r")
    tasks = pd.read_csv(folder / "tasks.csv").drop(columns=["age"])
    tasks.to_csv(folder / "tasks.csv", index=False)
    updates = pd.read_csv(folder / "updates.csv").drop(columns=["age_mean", "age_max"])
    updates.to_csv(folder / "updates.csv", index=False)
    back = load_result(folder)
    np.testing.assert_allclose(back.tasks["age"], res.tasks["age"], rtol=1e-12)
    np.testing.assert_allclose(back.updates["age_max"], res.updates["age_max"], rtol=1e-12)


def _table(n: int, target_at: int) -> pd.DataFrame:
    """An updates table of ``n`` rows, evaluated every 3rd row (NaN losses between), whose loss
    first drops to 0.5 at row ``target_at``."""
    loss = np.linspace(2.0, 0.2, n)
    loss[target_at:] = np.minimum(loss[target_at:], 0.5)
    loss[:target_at] = np.maximum(loss[:target_at], 0.51)
    loss[np.arange(n) % 3 != 0] = np.nan
    loss[target_at] = 0.5
    return pd.DataFrame({"update": np.arange(n), "time": np.arange(n) * 0.5, "loss": loss})


@pytest.mark.parametrize(
    ("n", "rows", "target_at"), [(5000, 1000, 3334), (2001, 100, 77), (907, 60, 905)]
)
def test_thinning_keeps_head_first_last_and_target_rows(n: int, rows: int, target_at: int) -> None:
    table = _table(n, target_at)
    at = kept_updates(table, rows, 0.5)
    assert at[0] == 0 and at[-1] == n - 1 and target_at in at
    assert np.all(np.diff(at) > 0)  # sorted, each row once
    assert list(at[: rows // 2]) == list(range(rows // 2))  # the head, every row
    assert len(at) <= rows + 3
    assert len(at) >= min(rows, rows // 2 + (n - rows // 2) // 3)  # about rows, if there are
    tail = at[rows // 2 :]
    evaluated = ~np.isnan(table["loss"].to_numpy()[tail])
    assert evaluated[:-1].all()  # past the head only evaluated rows (but the last, kept anyway)
    assert np.array_equal(at, kept_updates(table.copy(), rows, 0.5))  # deterministic
    assert np.array_equal(kept_updates(table, n, 0.5), np.arange(n))  # short tables: every row


def test_thinned_tasks_are_those_of_kept_updates(results: dict[str, RunResult], same_bits) -> None:
    res = results["ksync(K=6)"]
    updates, tasks = thin_tables(res.updates, res.tasks, 40, None)
    assert len(updates) < len(res.updates) and len(tasks) < len(res.tasks)
    assert set(tasks["version"]) <= set(updates["update"])
    head = res.tasks[res.tasks["version"] < 20].reset_index(drop=True)
    assert same_bits(tasks.iloc[: len(head)].reset_index(drop=True), head)


def test_summaries_are_the_same_whatever_is_kept(
    tmp_path: Path, results: dict[str, RunResult], same_values
) -> None:
    tables = {}
    for name, layout in LAYOUTS.items():
        out = tmp_path / name
        tables[name] = save_results(results, out, records=layout)
        for label, res in results.items():
            folder = out / lwpdsim.results.safe_name(label)
            assert same_values(load_summary(folder), res.summary, ordered=False), (name, label)
            if layout.keep != "summary":
                back = load_result(folder)
                assert same_values(back.summary, res.summary, ordered=False), (name, label)
                entry = back.manifest.get("records", {"keep": "full"})  # none: the old layout
                assert entry["keep"] == layout.keep and ("records" in back.manifest) == (
                    name != "full-csv"
                )
        assert (out / "summary.csv").read_bytes() == (
            tmp_path / "full-csv" / "summary.csv"
        ).read_bytes()
    # a thinned run still draws: lwpdsim plot reads it (the thinned tables)
    thin = load_results_dir(tmp_path / "thin-npz")
    assert list(thin) == list(results)
    assert all(len(thin[k].updates) <= 43 for k in thin)
    with pytest.raises(ScenarioError, match="keeps only the summary"):
        load_results_dir(tmp_path / "summary")


def _npy_claiming(count: int) -> bytes:
    """A ``.npy`` file whose header declares ``count`` float64 values, followed by one."""
    out = io.BytesIO()
    header = {"descr": "<f8", "fortran_order": False, "shape": (count,)}
    np.lib.format.write_array_header_1_0(out, header)
    return out.getvalue() + np.zeros(1).tobytes()


def _archive(members: dict[str, bytes]) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as z:
        for name, data in members.items():
            z.writestr(name, data)
    return out.getvalue()


def _npz_folder(tmp_path: Path, res: RunResult) -> Path:
    return save_result(res, tmp_path / "r", records=LAYOUTS["full-npz"])


def test_damaged_archives_give_one_clean_error(
    tmp_path: Path, results: dict[str, RunResult], monkeypatch: pytest.MonkeyPatch, same_bits
) -> None:
    res = results["sync"]
    folder = _npz_folder(tmp_path, res)
    archive = folder / "tables.npz"
    good = archive.read_bytes()
    archive.write_bytes(good[: len(good) // 2])  # truncated
    with pytest.raises(ValueError, match=r"tables\.npz is not a readable archive"):
        load_result(folder)
    archive.write_bytes(b"not a zip at all")
    with pytest.raises(ValueError, match=r"tables\.npz is not a readable archive"):
        load_result(folder)
    buffer = io.BytesIO()  # a pickled object array: never unpickled
    np.savez(buffer, **{"updates/loss": np.array([object()], dtype=object)})
    archive.write_bytes(buffer.getvalue())
    with pytest.raises(ValueError, match=r"tables\.npz is not a readable archive"):
        load_result(folder)
    buffer = io.BytesIO()
    np.savez(buffer, **{"weights/w": np.zeros(3)})
    archive.write_bytes(buffer.getvalue())
    with pytest.raises(ValueError, match="not a column of updates or tasks"):
        load_result(folder)
    archive.write_bytes(_archive({"updates/x.npy": _npy_claiming(10**12)}))
    with pytest.raises(ValueError, match=r"updates/x\.npy: its header does not match its size"):
        load_result(folder)  # never allocates the 8 TB the header claims
    archive.write_bytes(_archive({f"updates/c{i}.npy": _npy_claiming(1) for i in range(300)}))
    with pytest.raises(ValueError, match="300 members, at most 256"):
        load_result(folder)
    archive.write_bytes(good)
    with zipfile.ZipFile(archive) as z:
        unpacked = sum(info.file_size for info in z.infolist())
    size = archive.stat().st_size
    assert size < unpacked  # compressed
    monkeypatch.setattr(rec, "MAX_TABLE_BYTES", (size + unpacked) // 2)  # unpacks to more
    with pytest.raises(
        ValueError, match=r"tables.npz is not a readable archive of tables \(would unpack to"
    ):
        rec.read_npz(archive)
    monkeypatch.setattr(rec, "MAX_TABLE_BYTES", size - 1)  # a larger file: refused unread
    with pytest.raises(ValueError, match=f"tables.npz has {size} bytes"):
        rec.read_npz(archive)
    monkeypatch.undo()
    with zipfile.ZipFile(archive) as z:
        assert len(z.namelist()) == res.updates.shape[1] + res.tasks.shape[1] + 1
    assert same_bits(load_result(folder).tasks, res.tasks)


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no named pipes")
def test_a_pipe_in_place_of_the_archive_is_refused_unread(
    tmp_path: Path, results: dict[str, RunResult]
) -> None:
    save_results({"sync": results["sync"]}, tmp_path, records=LAYOUTS["full-npz"])
    archive = tmp_path / "sync" / "tables.npz"
    archive.unlink()
    os.mkfifo(archive)
    with pytest.raises(ValueError, match=r"tables\.npz is not a file"):
        load_result(tmp_path / "sync")
    with pytest.raises(ScenarioError, match=r"tables\.npz.*FIFO") as err:
        load_results_dir(tmp_path)  # what lwpdsim plot reads: one line naming the file
    assert "\n" not in str(err.value)


def test_a_bad_records_entry_is_an_error(tmp_path: Path, results: dict[str, RunResult]) -> None:
    folder = _npz_folder(tmp_path, results["sync"])
    manifest = json.loads((folder / "manifest.json").read_text())
    manifest["records"] = {"keep": "most", "format": "npz"}
    (folder / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(ValueError, match="'records' entry is unreadable"):
        load_result(folder)


def test_record_formats_are_checked() -> None:
    for bad in ({"keep": "all"}, {"format": "parquet"}, {"rows": 2}, {"rows": True}):
        with pytest.raises(ValueError, match="records"):
            RecordFormat(**bad)
    assert rec.records_for("thin") == rec.SWEEP_DEFAULT == RecordFormat("thin", "npz")


def test_a_sweep_file_chooses_what_runs_keep(tmp_path: Path) -> None:
    base = tmp_path / "base.toml"
    base.write_text('[[schemes]]\nname = "sync"\n')
    assert load_sweep({"base": str(base)}).records == "thin"
    for keep in ("full", "thin", "summary"):
        assert load_sweep({"base": str(base), "records": keep}).records == keep
    for bad in ("thinned", 3, ["full"]):
        with pytest.raises(ScenarioError) as err:
            load_sweep({"base": str(base), "records": bad})
        assert str(err.value).startswith("records = ") and "\n" not in str(err.value)
    with pytest.raises(ScenarioError, match=r"^--records = 'none'.*one of full, thin, summary"):
        parse_records("none", "--records")


def test_a_sweep_keeps_what_it_is_told(tmp_path: Path, tiny_toml, capsys) -> None:
    """The sweep file's ``records`` reaches every rule run's folder, ``--records`` overrides it,
    and ``runs.csv`` is the same whatever the runs keep (summaries come from the full tables)."""
    from lwpdsim.cli import main

    train = {"lr": 0.05, "max_updates": 30, "target_loss": 0.0}
    (tmp_path / "base.toml").write_text(tiny_toml("keepbase", [{"name": "sync"}], train=train))
    grid = tmp_path / "grid.toml"
    grid.write_text('base = "base.toml"\nname = "keep"\n[factors]\n"cluster.workers" = [2, 4]\n')
    tables = {}
    for flag in (None, "full", "summary"):
        out = tmp_path / f"out_{flag}"
        extra = [] if flag is None else ["--records", flag]
        args = ["sweep", str(grid), "--executor", "serial", "--out", str(out), "--quiet"]
        assert main([*args, *extra]) == 0
        folders = [p for p in (out / "runs").iterdir() if not p.name.startswith(".")]
        assert len(folders) == 2
        for run in folders:
            (rule,) = [p for p in run.iterdir() if p.is_dir()]
            kept = records_of(rule)
            assert (kept.keep if kept else "full") == (flag or "thin"), (flag, kept)
            assert (rule / "tables.npz").is_file() == (flag != "summary")
        assert json.loads((out / "sweep.json").read_text())["records"] == (flag or "thin")
        tables[flag] = pd.read_csv(out / "runs.csv")
    pd.testing.assert_frame_equal(tables[None], tables["full"])
    pd.testing.assert_frame_equal(tables[None], tables["summary"])
    capsys.readouterr()
    assert main(["sweep", str(grid), "--records", "all", "--out", str(tmp_path / "x")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("--records = 'all'") or "--records" in err.splitlines()[0], err
    assert not (tmp_path / "x").exists()
