"""``lwpdsim animate``: a GIF of exactly the frames asked for, showing the run as time advances,
bad options refused in one line, and no file of the user's overwritten."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from PIL import Image

from lwpdsim import load_scenario, simulate
from lwpdsim.analysis import load_results_dir
from lwpdsim.analysis.animation import clock_format, frame_times, outcome_times
from lwpdsim.analysis.style import scheme_colors
from lwpdsim.analysis.timeline_plots import OUTCOME_COLORS
from lwpdsim.cli import main
from lwpdsim.io import RUN_FOLDER, claim, save_results

LWPD = "lwpd(k=4,t=2)"


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory: pytest.TempPathFactory, tiny_toml: Callable[..., str]) -> Path:
    """A saved run of three rules on 4 workers, as ``lwpdsim run`` writes it but without its
    figures (which take longer to draw than the run)."""
    base = tmp_path_factory.mktemp("animate")
    scenario = base / "tiny.toml"
    rules = [{"name": "sync"}, {"name": "ksync", "K": 3}, {"name": "lwpd", "k": 4, "t": 2}]
    scenario.write_text(tiny_toml("animtiny", rules, train={"max_updates": 12}))
    out = base / "run"
    with claim(out, RUN_FOLDER) as folder:
        save_results(simulate(load_scenario(scenario)), out, folder)
    return out


def _frames(path: Path) -> list[Image.Image]:
    with Image.open(path) as gif:
        out = []
        for i in range(gif.n_frames):
            gif.seek(i)
            out.append(gif.convert("RGB"))
        return out


def _has(frame: Image.Image, color: str) -> bool:
    """Whether the timelines of ``frame`` (its upper left part: not the loss panel at the right,
    nor the legend at the bottom) have a pixel of exactly ``color`` (a colour of the palette)."""
    rgb = tuple(int(color[i : i + 2], 16) for i in (1, 3, 5))
    width, height = frame.size
    panels = frame.crop((0, 0, int(width * 0.6), int(height * 0.85)))
    return any(c == rgb for _, c in panels.getcolors(1 << 16) or [])


def test_the_gif_has_the_frames_asked_for_and_shows_time_advancing(run_dir: Path, capsys) -> None:
    assert main(["animate", str(run_dir), "--frames", "7", "--fps", "20"]) == 0
    gif = run_dir / "animation.gif"  # the default: inside the run's folder, recorded as written
    assert "animation.gif" in (run_dir / ".lwpdsim-written.jsonl").read_text()
    assert "7 frames" in capsys.readouterr().out
    with Image.open(gif) as im:
        assert im.n_frames == 7
        im.seek(0)
        assert im.info["duration"] == 50  # 20 frames a second
    frames = _frames(gif)
    assert frames[0].getpixel((2, 2)) == (255, 255, 255)  # white stays white in the palette
    # time 0: no task has ended, so no bar has an outcome's colour yet; the end: tasks were used
    assert not _has(frames[0], OUTCOME_COLORS["used"])
    assert _has(frames[-1], OUTCOME_COLORS["used"])
    # pending tasks appear as soon as time advances
    assert _has(frames[1], OUTCOME_COLORS["unfinished"])
    # a file it wrote itself is replaced
    assert main(["animate", str(run_dir), "--frames", "2", "--workers", "1"]) == 0
    with Image.open(gif) as im:
        assert im.n_frames == 2


def test_frames_close_in_time_are_not_merged(run_dir: Path, tmp_path: Path) -> None:
    """Frames 1/100 simulated second apart at the start, where little changes, are still one
    frame each (a GIF writer merges identical frames; the clock tells them apart)."""
    out = tmp_path / "short.gif"
    args = ["animate", str(run_dir), "--frames", "9", "--until", "0.08", "--out", str(out)]
    assert main([*args, "--rules", "sync", LWPD, "ksync(K=3)", "--workers", "2"]) == 0
    with Image.open(out) as im:
        assert im.n_frames == 9
    assert list(frame_times(0.08, 9)) == pytest.approx([i / 100 for i in range(9)])


@pytest.mark.parametrize(
    ("option", "value"),
    [
        ("--frames", "1"),
        ("--frames", "x"),
        ("--frames", "1000"),  # three rules' frames would exceed the memory budget
        ("--fps", "0"),
        ("--fps", "51"),
        ("--workers", "0"),
        ("--until", "-1"),
        ("--until", "nan"),
        ("--rules", "nope"),
        ("--out", "movie.mp4"),
    ],
)
def test_bad_options_are_one_line_naming_the_option(
    run_dir: Path, tmp_path: Path, capsys, option: str, value: str
) -> None:
    out = tmp_path / "bad.gif"
    args = ["animate", str(run_dir), "--rules", "sync", "ksync(K=3)", LWPD, "--out", str(out)]
    assert main([*args, option, value]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith(f"error: {option} = ")
    assert not out.exists()


def test_five_rules_or_one_twice_are_refused(run_dir: Path, capsys) -> None:
    assert main(["animate", str(run_dir), "--rules", "sync", "sync"]) == 2
    assert "each label once" in capsys.readouterr().err
    five = ["sync", "ksync(K=3)", LWPD, "a", "b"]
    assert main(["animate", str(run_dir), "--rules", *five]) == 2
    assert "1 to 4 labels" in capsys.readouterr().err


def test_a_file_lwpdsim_did_not_write_is_never_overwritten(
    run_dir: Path, tmp_path: Path, capsys
) -> None:
    mine = tmp_path / "mine.gif"
    mine.write_bytes(b"the user's own animation")
    assert main(["animate", str(run_dir), "--out", str(mine), "--frames", "2"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "lwpdsim did not write it" in err
    assert mine.read_bytes() == b"the user's own animation"


def test_a_used_task_turns_green_at_the_update_that_used_it(run_dir: Path) -> None:
    """Under sync a fast worker's result waits for the slowest: its outcome (used) is known at
    the update, after the task ended; every other outcome is known when the task ends."""
    res = load_results_dir(run_dir)["sync"]
    known = outcome_times(res)
    tasks = res.tasks.set_index("task")
    used = tasks["outcome"] == "used"
    at_update = res.updates.set_index("update")["time"]
    assert (known[used] == tasks.loc[used, "used_by"].map(at_update)).all()
    assert (known[used] > tasks.loc[used, "end"]).any()  # 4 workers: some wait
    assert (known[~used] == tasks.loc[~used, "end"]).all()


@pytest.mark.parametrize(
    ("until", "frames"), [(17.87, 60), (0.08, 9), (1.0, 1000), (3e-9, 50), (4e12, 999), (5.0, 2)]
)
def test_no_two_frames_show_the_same_time(until: float, frames: int) -> None:
    spec = clock_format(until, frames)
    shown = [f"{t:{spec}}" for t in frame_times(until, frames)]
    assert len(set(shown)) == frames
    assert max(len(text) for text in shown) <= 12  # a clock, not three hundred digits


def test_a_drop_of_the_loss_at_the_current_time_is_drawn_over_the_cursor(
    run_dir: Path, tmp_path: Path
) -> None:
    """The last frame ends at sync's first update: its loss curve falls there, at the cursor
    and at the right end of the time axis, and that fall (the whole height of the loss panel,
    whose limits are the initial and the first loss) must be seen, not hidden under the cursor
    or the axes' edge (the quick start's sync, stopping last, seemed never to reach its target)."""
    res = load_results_dir(run_dir)["sync"]
    first = float(res.updates.loc[res.updates["update"] == 1, "time"].iloc[0])
    out = tmp_path / "drop.gif"
    args = ["animate", str(run_dir), "--rules", "sync", "--until", repr(first), "--out", str(out)]
    assert main([*args, "--frames", "2"]) == 0
    last = _frames(out)[-1]
    width, height = last.size
    rgb = tuple(round(255 * c) for c in scheme_colors({"sync": res})["sync"])
    loss_panel = [(x, y) for x in range(int(width * 0.65), width) for y in range(height)]
    xs = [x for x, y in loss_panel if last.getpixel((x, y)) == rgb]
    right = max(xs)  # the curve's right end: where it falls
    rows = {y for x, y in loss_panel if x >= right - 4 and last.getpixel((x, y)) == rgb}
    # the fall spans most of the loss panel (85 of the frame's 264 pixels); hidden, 1 pixel
    assert max(rows) - min(rows) > 0.2 * height
