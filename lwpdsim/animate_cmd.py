"""``lwpdsim animate``: a GIF of a saved run's workers and master over simulated time, a few rules
side by side, with their training loss growing beside them (:mod:`lwpdsim.analysis.animation`).

Options are read as text and checked here, so a bad one is one line naming it (exit 2); the GIF
is written into a claimed folder (:func:`lwpdsim.io.claim`), never over a file lwpdsim did not
write."""

from __future__ import annotations

import argparse
import math
from pathlib import Path
from typing import Any

from .errors import ScenarioError

#: What ``--out`` is by default, inside the run's folder.
DEFAULT_NAME = "animation.gif"


def add_animate(sub: Any) -> None:
    """Register ``animate`` on the subcommands ``sub`` of the ``lwpdsim`` parser."""
    p = sub.add_parser(
        "animate", help="a GIF of a saved run's tasks, updates and loss over simulated time"
    )
    p.add_argument("directory", metavar="RESULTS_DIR", help="a directory written by 'lwpdsim run'")
    p.add_argument(
        "--rules", nargs="+", metavar="LABEL", help="1 to 4 rules' labels (default: the first two)"
    )
    p.add_argument("--out", metavar="FILE.gif", help=f"default RESULTS_DIR/{DEFAULT_NAME}")
    p.add_argument("--frames", default="60", metavar="N", help="frames (default 60)")
    p.add_argument("--fps", default="10", metavar="N", help="frames a second (default 10)")
    p.add_argument(
        "--until", metavar="T", help="simulated seconds shown (default: until the last run stops)"
    )
    p.add_argument("--workers", default="16", metavar="N", help="workers shown (default 16)")
    p.set_defaults(func=cmd_animate)


def _number(text: str, option: str, allowed: str, kind: type[int] | type[float]) -> Any:
    """``text`` as an int or float; a :class:`ScenarioError` naming ``option`` if it is not one."""
    try:
        value = kind(text)
    except (TypeError, ValueError):
        raise ScenarioError(option, text, allowed) from None
    if isinstance(value, float) and not math.isfinite(value):
        raise ScenarioError(option, text, allowed)
    return value


def _count(text: str, option: str, lo: int, hi: int) -> int:
    from .config.validate import as_int

    allowed = f"an integer from {lo} to {hi}"
    return as_int(_number(text, option, allowed, int), option, lo=lo, hi=hi)


def _choose(labels: list[str], wanted: list[str] | None) -> list[str]:
    """The labels of the rules to show: ``wanted`` (checked) or the first two."""
    from .analysis.animation import MAX_RULES

    if wanted is None:
        return labels[:2]
    if len(wanted) > MAX_RULES:
        raise ScenarioError("--rules", wanted, f"1 to {MAX_RULES} labels")
    for label in wanted:
        if label not in labels:
            raise ScenarioError("--rules", label, "labels of the run's rules: " + ", ".join(labels))
        if wanted.count(label) > 1:
            raise ScenarioError("--rules", label, "each label once")
    return wanted


def cmd_animate(args: argparse.Namespace) -> int:
    """Check the options, read the run, claim the output and write the GIF."""
    from .analysis import animation as anim
    from .analysis.data import load_results_dir, scenario_config
    from .io import PLOT_FOLDER, claim

    frames = _count(args.frames, "--frames", 2, anim.MAX_FRAMES)
    fps = _count(args.fps, "--fps", 1, anim.MAX_FPS)
    workers = _count(args.workers, "--workers", 1, anim.MAX_WORKERS)
    until = None
    if args.until is not None:
        until = _number(args.until, "--until", "a number of simulated seconds > 0", float)
        if until <= 0:
            raise ScenarioError("--until", args.until, "a number of simulated seconds > 0")
    out = Path(args.out) if args.out else Path(args.directory) / DEFAULT_NAME
    if out.suffix.lower() != ".gif" or not out.stem:
        raise ScenarioError("--out", str(out), "a file name ending in .gif")
    runs = load_results_dir(args.directory)
    labels = _choose(list(runs), args.rules)
    chosen = {label: runs[label] for label in labels}
    rows = min(workers, anim.workers_of(chosen))
    pixels = anim.frame_pixels(len(chosen), rows)
    if frames * pixels > anim.FRAME_BUDGET:
        most = anim.FRAME_BUDGET // pixels
        raise ScenarioError(
            "--frames", frames, f"at most {most} frames of {len(chosen)} rules and {rows} workers"
        )
    title = scenario_config(next(iter(chosen.values()))).get("name")
    with (
        claim(out.parent, PLOT_FOLDER, will_write=[out.name]) as folder,
        folder.stage(out.parent) as stage,
    ):
        written = anim.animate_runs(
            chosen,
            stage / out.name,
            frames=frames,
            fps=fps,
            until=until,
            workers=workers,
            title=title if isinstance(title, str) else None,
        )
        folder.adopt(stage / out.name, out)
    shown = until if until is not None else anim.end_time(chosen)
    print(
        f"{written} frames ({fps} a second; simulated time 0 to {shown:.4g} s) of "
        f"{', '.join(labels)} written to {out}"
    )
    return 0
