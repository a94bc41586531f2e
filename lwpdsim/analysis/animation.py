"""Animated timelines: a GIF of each worker's tasks and the master's updates as simulated time
advances, one panel per rule, beside each rule's training loss drawn up to the same moment.

Bars and colours are those of ``timeline.png`` (:mod:`.timeline_plots`): a task is drawn in the
colour of unfinished tasks (pending) until its fate is known, then in the colour of its outcome:
when the master uses it in an update, or when it is cancelled, discarded, lost or fails. Every frame
updates a fixed set of artists (one collection of bars, one line of update marks, a cursor and a
loss line per rule), so a frame costs the same whatever its time; frames are written by
matplotlib's Pillow writer, kept as 256-colour images until the GIF is saved.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import matplotlib as mpl
import numpy as np
import pandas as pd
from matplotlib.animation import PillowWriter
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.collections import PolyCollection
from matplotlib.colors import to_rgba_array
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch, Rectangle
from matplotlib.text import Text
from PIL import Image

from ..results import RunResult
from . import data
from .style import STYLE, TIME_LABEL, figure, heading, log_axis, scheme_colors, shade
from .timeline_plots import (
    ALTERNATE,
    BAR_HEIGHT,
    DOWN_COLOR,
    OUTCOME_COLORS,
    PHASE_LIGHTEN,
    bar_boxes,
    down_periods,
    segment_colors,
)

#: Bounds of the command's options (``lwpdsim animate``).
MAX_FRAMES = 1000
MAX_FPS = 50
MAX_RULES = 4
MAX_WORKERS = 64
#: Memory the frames may take together before the GIF is written (one byte a pixel).
FRAME_BUDGET = 256 * 2**20
#: Resolution of the frames (dots per inch), and how long the last frame is held (seconds).
DPI = 80
HOLD = 2.0
#: Width of the figure (inches): the timelines, then the loss panel.
WIDTH = 11.0
#: The colour of the cursor at the current simulated time.
NOW = "0.05"
#: The colour of the time after a run stopped (as in ``timeline.png``).
AFTER = "0.94"
PENDING = "unfinished"  # the outcome whose colour tasks take until their fate is known
#: Room on the time axes beyond the last frame's time (a fraction of it), so that an update at
#: that time (a run that stopped last) is drawn inside the axes, not on their edge.
MARGIN = 0.03


def figure_size(rules: int, rows: int) -> tuple[float, float]:
    """The figure's size (inches) for ``rules`` panels of ``rows`` workers each."""
    panel = min(0.24 * (rows + 1), 3.2) + 0.8
    return WIDTH, panel * rules + 1.3


def frame_pixels(rules: int, rows: int, dpi: float = DPI) -> int:
    """Pixels of one frame (the size :data:`FRAME_BUDGET` is checked against)."""
    width, height = figure_size(rules, rows)
    return int(width * dpi) * int(height * dpi)


def frame_times(until: float, frames: int) -> np.ndarray:
    """The simulated time each frame shows: ``frames`` evenly spaced times from 0 to ``until``."""
    return np.linspace(0.0, until, frames)


def end_time(results: Mapping[str, RunResult]) -> float:
    """When the last of the runs stopped (its ``sim_time``, else its last task or update)."""
    ends = []
    for res in results.values():
        stop = float(res.summary.get("sim_time", math.nan))
        if not math.isfinite(stop):
            last_task = float(res.tasks["end"].max()) if len(res.tasks) else 0.0
            stop = max(last_task, float(res.updates["time"].max()))
        ends.append(stop)
    end = max(ends, default=0.0)
    return end if end > 0 else 1.0


def workers_of(results: Mapping[str, RunResult]) -> int:
    """The most workers of any of the runs (its scenario's, else the highest worker seen)."""
    counts = [
        int(data.scenario_config(r).get("cluster", {}).get("workers", 0))
        or (int(r.tasks["worker"].max()) + 1 if len(r.tasks) else 1)
        for r in results.values()
    ]
    return max(counts, default=1)


def clock_format(until: float, frames: int) -> str:
    """The format of the time in the title, fine enough that no two frames' times look alike
    (the GIF writer would merge two identical frames): fixed decimals for the usual range, or
    significant digits for times below a millionth of a second or above ten million."""
    step = until / max(frames - 1, 1)
    decimals = max(0, math.ceil(-math.log10(step)))
    if decimals <= 6 and until < 1e7:
        return f".{decimals}f"
    return f".{math.ceil(math.log10(until / step)) + 2}g"


def _picture(canvas: FigureCanvasAgg) -> Image.Image:
    """What ``canvas`` shows now, as an RGB image."""
    size = canvas.get_width_height(physical=True)
    rgba = Image.frombuffer("RGBA", size, canvas.buffer_rgba(), "raw", "RGBA", 0, 1)
    return rgba.convert("RGB")


def palette(picture: Image.Image, exact: np.ndarray) -> Image.Image:
    """A 256-colour palette holding the colours ``exact`` (rows of RGB in 0..1: bars, shading,
    so a faint one is never merged into white) and the rest chosen for ``picture``."""
    keep = np.unique(np.round(np.asarray(exact)[:, :3] * 255).astype(int), axis=0)[:128]
    found = picture.quantize(256 - len(keep), method=Image.Quantize.FASTOCTREE).getpalette()
    rest = np.array(found or [], dtype=int)[: 3 * (256 - len(keep))].reshape(-1, 3)
    # Pillow maps colours to a palette through a coarse cache: a near neighbour of an exact
    # colour (250 grey beside white) could take its pixels, so none is kept
    near = np.abs(rest[:, None, :] - keep[None, :, :]).max(axis=2).min(axis=1) <= 12
    colors = np.vstack([keep, rest[~near]]).ravel().tolist()
    out = Image.new("P", (1, 1))
    out.putpalette(colors + [0] * (768 - len(colors)))
    return out


class _GifWriter(PillowWriter):
    """Matplotlib's Pillow writer, taking each frame from the figure's Agg buffer as it is (the
    caller has drawn it) and keeping it as a 256-colour image of one palette (a quarter of the
    memory, and no colour flickering between frames); the last frame is held :data:`HOLD`
    seconds."""

    palette: Image.Image | None = None
    _frames: list[Image.Image]  # set up by PillowWriter.setup

    def grab_frame(self, **savefig_kwargs: Any) -> None:
        canvas = self.fig.canvas
        assert isinstance(canvas, FigureCanvasAgg)
        rgb = _picture(canvas)
        if self.palette is None:
            self._frames.append(rgb.quantize(256, method=Image.Quantize.FASTOCTREE))
        else:
            self._frames.append(rgb.quantize(palette=self.palette, dither=Image.Dither.NONE))

    def finish(self) -> None:
        step = round(1000 / self.fps)
        durations = [step] * (len(self._frames) - 1) + [max(step, int(HOLD * 1000))]
        self._frames[0].save(
            self.outfile,
            save_all=True,
            append_images=self._frames[1:],
            duration=durations,
            loop=0,
        )


@dataclass
class _Panel:
    """The moving parts of one rule's timeline and loss curve."""

    boxes: np.ndarray  # (segments, 4, 2) bars at their full length
    start: np.ndarray
    end: np.ndarray
    known: np.ndarray  # when each segment's task's outcome is known
    done: np.ndarray  # (segments, 4) colours by outcome
    pending: np.ndarray  # (segments, 4) colours until then
    bars: PolyCollection
    updates: np.ndarray  # times of the master's updates
    master: float  # the height of the master's row, above worker 0's
    marks: Line2D  # on the master's row
    lines: Line2D  # across the workers' rows
    rows: int
    cursor: Line2D
    count: Text
    stopped: float
    after: Rectangle
    after_text: Text
    loss_x: np.ndarray
    loss_y: np.ndarray
    loss: Line2D
    down: np.ndarray  # (windows, 3): worker, from, until, of each time a worker was down
    down_bars: PolyCollection  # hatched, as in timeline.png
    outcomes: set[str]  # of the tasks in view
    transfers: bool  # whether any download or upload is long enough to see

    def show(self, t: float) -> None:
        """Set every moving part to simulated time ``t``."""
        boxes = self.boxes.copy()
        boxes[:, 2:, 0] = np.minimum(self.end, t)[:, None]
        self.bars.set_verts(boxes)  # type: ignore[arg-type]
        face = np.where((self.known <= t)[:, None], self.done, self.pending)
        face[:, 3] = self.start < t
        self.bars.set_facecolor(face)  # type: ignore[arg-type]  # RGBA rows
        edges = np.ones_like(face)
        edges[:, 3] = face[:, 3]
        self.bars.set_edgecolor(edges)  # type: ignore[arg-type]
        k = int(np.searchsorted(self.updates, t, side="right"))
        shown = self.updates[:k]
        self.marks.set_data(shown, np.full(k, self.master))
        xs = np.repeat(shown, 3)
        ys = np.tile([-0.5, self.rows - 0.5, np.nan], k)
        xs[2::3] = np.nan
        self.lines.set_data(xs, ys)
        self.cursor.set_xdata([t, t])
        self.count.set_text(f"{k} update{'s' if k != 1 else ''}")
        past = t > self.stopped
        self.after.set_width(max(0.0, t - self.stopped))
        self.after_text.set_visible(past)
        j = int(np.searchsorted(self.loss_x, t, side="right"))
        if j:
            x = np.append(self.loss_x[:j], min(t, self.stopped))
            y = np.append(self.loss_y[:j], self.loss_y[j - 1])
        else:
            x = y = np.empty(0)
        self.loss.set_data(x, y)
        if len(self.down):
            worker, at, until = self.down.T
            right = np.maximum(at, np.minimum(until, t))
            self.down_bars.set_verts(list(_boxes(worker, at, right)))

    def artists(self) -> list[Any]:
        """The artists :meth:`show` changes (redrawn every frame)."""
        return [
            self.after,
            self.down_bars,
            self.after_text,
            self.bars,
            self.lines,
            self.marks,
            self.cursor,
            self.count,
            self.loss,
        ]


def outcome_times(res: RunResult) -> pd.Series:
    """When each task's outcome is known, by task id: a used task's at the update that used it
    (its ``used_by``; a synchronous master waits for the others first), any other's when it
    ended (cancelled, discarded, lost, failed; an unfinished task's at the end of the run)."""
    tasks = res.tasks.set_index("task")
    end = tasks["end"].astype(float)
    update_at = res.updates.drop_duplicates("update").set_index("update")["time"]
    used_at = tasks["used_by"].map(update_at).astype(float)
    used = (tasks["outcome"] == "used") & used_at.notna()
    return end.where(~used, np.maximum(used_at, end))


def _boxes(worker: np.ndarray, x0: np.ndarray, x1: np.ndarray) -> np.ndarray:
    """Rectangles (n, 4, 2) from ``x0`` to ``x1`` on the rows ``worker``, as tall as a bar."""
    y, h = worker.astype(float), BAR_HEIGHT / 2
    corners = ((x0, y - h), (x0, y + h), (x1, y + h), (x1, y - h))
    return np.stack([np.column_stack(c) for c in corners], axis=1).reshape(len(y), 4, 2)


def _timeline_panel(
    ax: Axes, res: RunResult, until: float, rows: int, color: Any, loss: Line2D
) -> _Panel:
    """Draw the still parts of one rule's panel and return its moving parts."""
    seg = data.timeline(res, until)
    seg = seg[seg["worker"] < rows].reset_index(drop=True)
    stopped = float(res.summary.get("sim_time", math.inf))
    down = np.array([w for w in down_periods(res, min(stopped, until)) if w[0] < rows], dtype=float)
    down = down.reshape(-1, 3)
    down_bars = PolyCollection(
        [], facecolors="none", edgecolors=DOWN_COLOR, hatch="///", linewidths=0, zorder=1
    )
    ax.add_collection(down_bars)
    bars = PolyCollection(list(bar_boxes(seg)), linewidths=0.7 if rows <= 16 else 0.3, zorder=2)
    ax.add_collection(bars)
    (marks,) = ax.plot([], [], ls="none", marker="v", ms=7, color="0.15", zorder=4)
    (lines,) = ax.plot([], [], color="0.15", lw=0.8, alpha=0.6, zorder=3)
    cursor = ax.axvline(0.0, color=NOW, lw=1.8, zorder=5)
    stopped = float(res.summary.get("sim_time", math.inf))
    step = max(1, math.ceil(rows / 10))  # rows labelled
    gap = max(1.0, step / 2)  # the master's row is as far above w0 as a label needs
    top = -1.5 * gap
    after = Rectangle((stopped, top), 0.0, rows - 0.5 - top, color=AFTER, lw=0, zorder=0)
    ax.add_patch(after)
    why = str(res.summary.get("status", "")).replace("_", " ")
    after_text = ax.text(
        stopped + 0.02 * until,
        rows / 2 - 0.5,
        f"run stopped ({why})" if why else "run stopped",
        ha="left",
        va="center",
        fontsize=9,
        color="0.45",
        visible=False,
    )
    ax.set_xlim(0, until * (1 + MARGIN))
    ax.set_ylim(rows - 0.5, top)
    ticks = [-gap, *range(0, rows, step)]
    ax.set_yticks(ticks, ["master", *(f"w{w}" for w in ticks[1:])])
    ax.spines["left"].set_visible(False)
    ax.tick_params(axis="y", length=0)
    ax.set_title(res.label, loc="left", fontweight="bold", color=color)
    count = ax.set_title("0 updates", loc="right", fontsize=10)
    points = data.metric_points(res, "loss", "time")
    return _Panel(
        boxes=bar_boxes(seg),
        start=seg["start"].to_numpy(dtype=float),
        end=seg["end"].to_numpy(dtype=float),
        known=seg["task"].map(outcome_times(res)).to_numpy(dtype=float),
        done=to_rgba_array(segment_colors(seg)),
        pending=to_rgba_array(segment_colors(seg, PENDING)),
        bars=bars,
        updates=np.sort(data.update_times(res, until)),
        master=-gap,
        marks=marks,
        lines=lines,
        rows=rows,
        cursor=cursor,
        count=count,
        stopped=stopped,
        after=after,
        after_text=after_text,
        loss_x=points["x"].to_numpy(),
        loss_y=points["value"].to_numpy(),
        loss=loss,
        down=down,
        down_bars=down_bars,
        outcomes=set(seg["outcome"]) - {PENDING},
        transfers=bool(
            ((seg["end"] - seg["start"])[seg["phase"] != "compute"] > until * 1e-3).any()
        ),
    )


def _loss_axes(ax: Axes, results: Mapping[str, RunResult], until: float) -> Line2D:
    """Fix the loss panel's axes to every value it will show; return its time cursor."""
    values = np.concatenate(
        [
            p.loc[p["x"] <= until, "value"].to_numpy()
            for p in (data.metric_points(r, "loss", "time") for r in results.values())
        ]
    )
    targets = sorted({t for t in (data.target_loss(r) for r in results.values()) if t is not None})
    for target in targets:
        ax.axhline(target, color="0.35", ls=":", lw=1.2, label=f"target {target:g}")
    values = np.append(values, targets)  # a target the runs never reached is still shown
    values = values[np.isfinite(values)]
    if values.size:
        lo, hi = float(values.min()), float(values.max())
        pad = 0.05 * (hi - lo) if hi > lo else 0.05 * abs(hi) + 0.05
        ax.set_ylim(lo - pad, hi + pad)
        if lo > 0:
            ax.set_ylim(lo / 1.1, hi * 1.1)
            log_axis(ax)
    ax.set_xlim(0, until * (1 + MARGIN))
    ax.set_xlabel(TIME_LABEL)
    ax.set_ylabel("training loss")
    ax.set_title("training loss")
    return ax.axvline(0.0, color=NOW, lw=1.8, zorder=5)


def _legend(fig: Figure, panels: Sequence[_Panel]) -> None:
    """The outcomes shown (and pending tasks), update marks, the cursor, transfers if seen."""
    seen = set().union(*(p.outcomes for p in panels))
    handles: list[Any] = [
        Patch(facecolor=OUTCOME_COLORS[o], label=o) for o in OUTCOME_COLORS if o in seen
    ]
    handles.append(Patch(facecolor=OUTCOME_COLORS[PENDING], label="pending"))
    handles.append(
        Line2D([], [], ls="none", marker="v", color="0.15", label="update of the master")
    )
    handles.append(Line2D([], [], color=NOW, lw=1.8, label="now"))
    handles.append(
        Patch(
            facecolor=shade(OUTCOME_COLORS["used"], ALTERNATE), label="every other task of a worker"
        )
    )
    if any(len(p.down) for p in panels):
        handles.append(
            Patch(facecolor="none", hatch="///", edgecolor=DOWN_COLOR, lw=0, label="worker down")
        )
    if any(p.transfers for p in panels):
        light = shade(OUTCOME_COLORS["used"], PHASE_LIGHTEN["upload"])
        handles.append(Patch(facecolor=light, label="download / upload"))
    fig.legend(
        handles=handles, loc="outside lower center", ncols=min(len(handles), 8), frameon=False
    )


def animate_runs(
    results: Mapping[str, RunResult],
    path: str | Path,
    *,
    frames: int = 60,
    fps: int = 10,
    until: float | None = None,
    workers: int = 16,
    title: str | None = None,
    dpi: float = DPI,
) -> int:
    """Write a GIF to ``path`` of each run's timeline (first ``workers`` workers, and the
    master's updates) and its training loss, from simulated time 0 to ``until`` (default: when
    the last run stopped) in ``frames`` frames at ``fps`` frames a second, the last one held
    :data:`HOLD` seconds. Returns the number of frames written. Checks of the sizes belong to
    the caller (:mod:`lwpdsim.animate_cmd`)."""
    until = float(until) if until is not None else end_time(results)
    n = workers_of(results)
    rows = min(n, workers)
    colors = scheme_colors(results)
    times = frame_times(until, frames)
    clock_spec = clock_format(until, frames)
    what = heading("what each worker does", title)
    shown = f" (workers 0-{rows - 1} of {n})" if rows < n else ""
    with mpl.rc_context(STYLE):
        fig = figure(*figure_size(len(results), rows))
        grid = fig.add_gridspec(len(results), 2, width_ratios=[2.4, 1])
        loss_ax = fig.add_subplot(grid[:, 1])
        loss_cursor = _loss_axes(loss_ax, results, until)
        panels = []
        first: Axes | None = None
        for i, (label, res) in enumerate(results.items()):
            ax = fig.add_subplot(grid[i, 0], sharex=first)
            first = first or ax
            (loss,) = loss_ax.plot(
                [], [], color=colors[label], lw=2, drawstyle="steps-post", label=label
            )
            panels.append(_timeline_panel(ax, res, until, rows, colors[label], loss))
            if i < len(results) - 1:
                ax.tick_params(labelbottom=False)
            else:
                ax.set_xlabel(TIME_LABEL)
        loss_ax.legend(loc="best", fontsize=9)  # placed by the final curves
        _legend(fig, panels)
        clock = fig.suptitle("")

        def show(t: float) -> None:
            for p in panels:
                p.show(t)
            loss_cursor.set_xdata([t, t])
            clock.set_text(f"{what}{shown}: t = {t:{clock_spec}} simulated s")

        show(until)  # lay the figure out once, with its widest texts, then keep it fixed
        fig.set_dpi(dpi)
        fig.draw_without_rendering()
        fig.set_layout_engine("none")
        # drawn in this order: the loss panel's cursor first, so that the curves cover it (a drop
        # at the current time stays visible)
        moving = [loss_cursor, clock] + [a for p in panels for a in p.artists()]
        for artist in moving:
            artist.set_animated(True)  # drawn on a copy of the still picture, frame by frame
        canvas = FigureCanvasAgg(fig)
        canvas.draw()
        still = canvas.copy_from_bbox(fig.bbox)

        def draw(t: float) -> None:
            canvas.restore_region(still)
            show(t)
            for artist in moving:
                fig.draw_artist(artist)

        draw(until)  # the last frame shows the most colours: the palette of every frame
        exact = np.vstack(
            [to_rgba_array([AFTER, NOW, "white"]), to_rgba_array(list(colors.values()))]
            + [np.vstack([p.done, p.pending]) for p in panels]
        )
        writer = _GifWriter(fps=fps)
        writer.palette = palette(_picture(canvas), exact)
        with writer.saving(fig, str(path), dpi):
            for t in times:
                draw(float(t))
                writer.grab_frame()
    return len(times)
