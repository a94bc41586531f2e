"""The ``lwpdsim figures`` command: choose the specs, run each, write its files, then the index."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import LwpdsimError, ScenarioError
from ..io import FIGURES_FOLDER, claim
from ..io.folder import OutputFolder
from ..sweep import cpu_count
from .datasets import ensure_datasets
from .index import INDEX_NAME, write_index
from .run import run_spec
from .spec import find_specs, select_specs
from .write import write_spec

DEFAULT_OUT = Path("results") / "figures"
QUICK_OUT = Path("results") / "figures-quick"
#: The longest spec name (it starts the names of the spec's files).
NAME_LENGTH = 100


@dataclass
class FiguresReport:
    """What ``lwpdsim figures`` did."""

    out: Path
    specs: list[str] = field(default_factory=list)
    figures: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)  # e.g. a chosen step size at a grid's edge
    seconds: dict[str, float] = field(default_factory=dict)
    index: Path | None = None


def build_figures(
    specs: Sequence[str | Path] | None = None,
    *,
    out: str | Path | None = None,
    only: Sequence[str] | None = None,
    quick: bool = False,
    jobs: int | None = None,
    progress: bool = False,
    log: Any = None,
    overrides: Sequence[str] = (),
) -> FiguresReport:
    """Run the figure specs (files or folders; default ``scenarios/paper`` and
    ``scenarios/lecture``) and write every figure, its CSV and the index into ``out`` (default
    ``results/figures``, or ``results/figures-quick`` with ``quick``). ``jobs`` processes run the
    simulations (default: the CPU count; 1 runs them here). ``log`` is called with progress lines.
    ``overrides`` (``KEY=VALUE``) set keys of every spec's base scenario (recorded in its manifest).
    """
    chosen = select_specs(find_specs(specs), only, quick=quick, overrides=overrides)
    for spec in chosen:  # a spec's name starts the names of its files
        if len(spec.name) > NAME_LENGTH:
            raise ScenarioError(
                "name", spec.name, f"at most {NAME_LENGTH} characters (used in file names)"
            ).with_source(spec.source)
    out_dir = Path(out) if out is not None else (QUICK_OUT if quick else DEFAULT_OUT)
    jobs = cpu_count() if jobs is None else jobs
    if jobs < 1:
        raise ScenarioError("--jobs", jobs, "an integer >= 1")
    names = [INDEX_NAME, *(f"{spec.name}.json" for spec in chosen)]
    inputs = [spec.source for spec in chosen]
    with claim(out_dir, FIGURES_FOLDER, inputs=inputs, will_write=names) as folder:
        return _build(chosen, folder, out_dir, jobs, progress, log or (lambda _text: None))


def _build(
    chosen: Sequence[Any],
    folder: OutputFolder,
    out_dir: Path,
    jobs: int,
    progress: bool,
    say: Callable[[str], None],
) -> FiguresReport:
    report = FiguresReport(out_dir)
    for spec in chosen:
        started = time.perf_counter()
        runs = len(spec.plan.runs)
        say(f"{spec.name}: {runs} run{'s' if runs != 1 else ''} ({spec.kind})")
        ensure_datasets(spec)
        sr = run_spec(spec, jobs=jobs, progress=progress, log=None if progress else say)
        manifest = write_spec(sr, folder, out_dir)
        report.specs.append(spec.name)
        report.figures += [f["png"] for f in manifest["figures"]]
        report.problems += sr.problems
        report.warnings += manifest["warnings"]
        report.seconds[spec.name] = time.perf_counter() - started
        say(
            f"  {len(manifest['figures'])} figures in {report.seconds[spec.name]:.1f} s: "
            + ", ".join(f["png"] for f in manifest["figures"])
        )
    report.index = write_index(out_dir, folder)
    return report


def _print(text: str) -> None:
    print(text, flush=True)


def main_figures(args: Any) -> int:
    """The ``lwpdsim figures`` command (see :func:`build_figures`)."""
    started = time.perf_counter()
    report = build_figures(
        args.specs,
        out=args.out,
        only=args.only,
        quick=args.quick,
        jobs=args.jobs,
        progress=not args.quiet and sys.stderr.isatty(),
        log=None if args.quiet else _print,
        overrides=args.set,
    )
    total = time.perf_counter() - started
    if not args.quiet:
        print(
            f"{len(report.figures)} figures from {len(report.specs)} specs written to "
            f"{report.out}/ (index: {report.index}) in {total:.0f} s"
        )
    for warning in report.warnings:
        print(f"warning: {warning}", file=sys.stderr)
    for problem in report.problems:
        print(f"error: {problem}", file=sys.stderr)
    if report.problems:
        raise LwpdsimError(f"{len(report.problems)} runs failed (listed above; figures written)")
    return 0
