"""The ``lwpdsim`` command line.

Exit status: 0 on success, 2 on bad input (one message, no traceback), 1 on a failure inside a run.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from .cli_parser import OneLineParser
from .codes_cmd import add_codes
from .errors import LwpdsimError, ScenarioError


def _cmd_validate(args: argparse.Namespace) -> int:
    from .config import load_scenario, read_toml
    from .sweep import plan_sweep

    bad = 0
    for path in args.files:
        try:
            kind = toml_kind(read_toml(Path(path)))
            if kind == "figure spec":
                from .figures import load_spec

                spec = load_spec(path)
                print(f"ok: {path}: figure spec {spec.name!r}")
                continue
            if kind == "sweep":
                if args.set:
                    raise ScenarioError("--set", args.set, "overrides of scenarios, not of sweeps")
                plan = plan_sweep(path)
                _check_dataset_files(point.scenario for point in plan.points)
                skipped = f", {len(plan.skipped)} skipped" if plan.skipped else ""
                print(
                    f"ok: {path}: sweep {plan.name!r}, {len(plan.points)} grid points{skipped}, "
                    f"{len(plan.runs)} runs ({len(plan.rule_runs)} rule runs for {plan.rows} rows)"
                )
                continue
            scenario = load_scenario(path, overrides=args.set)
            _check_dataset_file(scenario)
        except ScenarioError as err:
            print(f"error: {err}", file=sys.stderr)
            bad += 1
            continue
        labels = ", ".join(s.label for s in scenario.schemes)
        print(
            f"ok: {path}: {scenario.cluster.workers} workers, {labels}{_selection_note(scenario)}"
        )
    return 2 if bad else 0


def _selection_note(scenario: Any) -> str:
    """``; step sizes from train.lr_grid (N selection runs)`` for a scenario that tunes."""
    from .sim.tuning import selection_runs

    runs = selection_runs(scenario)
    return f"; step sizes from train.lr_grid ({runs} selection runs first)" if runs else ""


def toml_kind(raw: dict[str, Any]) -> str:
    """What a TOML file holds: a ``"figure spec"`` (scenarios/paper, scenarios/lecture: keys no
    sweep or scenario has), a ``"sweep"`` (a top-level ``base``) or a ``"scenario"``."""
    if "base" not in raw:
        return "scenario"
    if {"title", "seeds", "lr_grid", "kind", "fixed"} & set(raw):
        return "figure spec"
    return "sweep"


def _check_dataset_files(scenarios: Iterable[Any]) -> None:
    """:func:`_check_dataset_file` of each distinct dataset file of some scenarios (a sweep's
    points, planned before their files need to exist)."""
    seen = set()
    for scenario in scenarios:
        key = (scenario.model.dataset, scenario.base_dir)
        if key not in seen:
            seen.add(key)
            _check_dataset_file(scenario)


def _check_dataset_file(scenario: Any) -> None:
    """Read a scenario's own dataset file (if it names one), so its errors show before a run."""
    if not scenario.model.dataset.endswith((".npz", ".csv")):
        return
    from .rng import Streams
    from .sim import build_dataset

    try:
        build_dataset(scenario, Streams.from_seed(scenario.seed))
    except ScenarioError as err:
        raise (
            err.with_source(scenario.source) if scenario.source and not err.source else err
        ) from None


def _scenario_inputs(file: str, scenario: Any) -> list[Path]:
    """The files a run reads (its scenario, dataset and trace files): its folder must not hold
    them."""
    files = [Path(file)]
    base = Path(scenario.base_dir) if scenario.base_dir else Path(".")
    named = [scenario.model.dataset, *_strings(scenario.cluster.latency)]
    for name in named:
        if isinstance(name, str) and name.endswith((".npz", ".csv")):
            path = Path(name).expanduser()
            files.append(path if path.is_absolute() else base / path)
    return files


def _strings(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [s for v in value.values() for s in _strings(v)]
    if isinstance(value, list | tuple):
        return [s for v in value for s in _strings(v)]
    return []


def _cmd_run(args: argparse.Namespace) -> int:
    from .analysis.tables import format_summary, format_wall_split
    from .config import load_scenario
    from .io import RUN_FOLDER, claim
    from .results import safe_name
    from .run_folder import run_folder_names, write_run
    from .sim import simulate
    from .sim.tuning import selection_plan
    from .tune import lr_warnings

    scenario = load_scenario(args.file, overrides=args.set)
    _check_dataset_file(scenario)
    out = Path(args.out) if args.out else Path("results") / scenario.name
    labels = [s.label for s in scenario.schemes]
    names = run_folder_names(labels)
    inputs = _scenario_inputs(args.file, scenario)
    with claim(out, RUN_FOLDER, force=args.force, inputs=inputs, will_write=names) as folder:
        quiet = args.quiet
        if not quiet:
            print(
                f"{scenario.name}: {scenario.cluster.workers} workers; rules: {', '.join(labels)}",
                flush=True,
            )
            if scenario.train.lr_grid:
                print(selection_plan(scenario), flush=True)
        results = simulate(scenario, progress=not quiet and sys.stderr.isatty())
        table, drawn = write_run(folder, results, scenario)
        figures = ", ".join(p.name for p in drawn)
    if not quiet:
        print(format_summary(table))
        print(format_wall_split(results))
        if scenario.train.lr_grid:
            print(_lr_line(results))
        print(f"results written to {out}/ (summary.csv, {figures}, one folder per rule)")
    for text in lr_warnings(results):  # warnings, like every other, even with --quiet
        print(f"warning: {text}", file=sys.stderr)
    failed = [(label, r) for label, r in results.items() if r.status == "error"]
    for label, res in failed:
        where = out / safe_name(label) / "manifest.json"
        print(
            f"error: run {label!r} failed: {res.summary['message']} (record: {where})",
            file=sys.stderr,
        )
    return 1 if failed else 0


def _lr_line(results: dict[str, Any]) -> str:
    """Where the step sizes came from, after the table of a scenario with ``train.lr_grid``."""
    seconds = sum(r.summary["wall_seconds"].get("lr_selection", 0.0) for r in results.values())
    chosen = [label for label, r in results.items() if r.manifest["lr_selection"]["tuned"]]
    fixed = [label for label in results if label not in chosen]
    if not chosen:
        return "lr: every rule's own (train.lr_grid not used)"
    text = f"lr: {len(chosen)} chosen from train.lr_grid ({seconds:.2f} s of selection runs)"
    if fixed:
        text += f", {len(fixed)} the rule's own ({', '.join(fixed)})"
    return text + "; each grid value's score in the rule's manifest.json"


def _cmd_plot(args: argparse.Namespace) -> int:
    from .analysis.data import load_results_dir
    from .analysis.plots import draw_all, figure_names
    from .analysis.tables import format_summary, summary_table
    from .io import PLOT_FOLDER, claim

    directory = Path(args.directory)
    if (directory / "sweep.json").is_file() and not (directory / "summary.csv").exists():
        if args.out:
            raise ScenarioError("--out", args.out, "not used for a sweep (figures go into it)")
        return _replot_sweep(directory)
    results = load_results_dir(directory)
    out = Path(args.out) if args.out else directory
    names = figure_names(list(results), full=True)
    with claim(out, PLOT_FOLDER, will_write=names) as folder:
        written = draw_all(results, out, writer=folder)
    print(format_summary(summary_table(results)))
    print(f"{len(written)} figures written to {out}/: " + ", ".join(p.name for p in written))
    return 0


def _replot_sweep(directory: Path) -> int:
    """``lwpdsim plot`` on a sweep's folder: its figures again, from runs.csv and sweep.json."""
    from .analysis.sweep_plots import read_sweep_folder
    from .analysis.sweep_tables import sweep_metrics
    from .io import PLOT_FOLDER, claim
    from .sweep.run import draw_sweep

    title, axes, table = read_sweep_folder(directory)  # one line naming a damaged file
    metrics = sweep_metrics(directory)
    with claim(directory, PLOT_FOLDER) as folder:
        written, error = draw_sweep(
            table, None, folder, directory, axes=axes, title=title, metrics=metrics
        )
    if error:
        raise LwpdsimError(f"sweep figures not drawn in {directory}: {error}")
    print(f"{len(written)} sweep figures written to {directory}/")
    return 0


def _cmd_sweep(args: argparse.Namespace) -> int:
    from .sim.tuning import selection_runs
    from .sweep import SweepOptions, execute_sweep, plan_sweep
    from .sweep.execute import check_executor, resolve_executor
    from .sweep.run import check_sweep_out
    from .sweep.spec import parse_records
    from .sweep.table import format_point_summary, point_summary

    executor = args.executor or "auto"
    check_executor(executor, args.scheduler)
    records = None if args.records is None else parse_records(args.records, "--records")
    plan = plan_sweep(args.file, skip_invalid=True if args.skip_invalid else None)
    out = Path(args.out) if args.out else plan.default_out()
    check_sweep_out(plan, out, resume=args.resume, force=args.force)
    for point in plan.skipped[:20]:
        print(f"skipped point {point.index} ({point.describe()}): {point.error}", file=sys.stderr)
    if len(plan.skipped) > 20:
        more = len(plan.skipped) - 20
        print(f"... and {more} more skipped points (all in {out}/sweep.json)", file=sys.stderr)
    if not args.quiet:
        print(
            f"{plan.name}: {len(plan.points)} points x {plan.spec.replicates} replicates = "
            f"{len(plan.runs)} runs on {args.scheduler or resolve_executor(executor)}",
            flush=True,
        )
        print(
            f"{len(plan.rule_runs)} rule runs for {plan.rows} rows "
            f"({plan.rows - len(plan.rule_runs)} shared between points; progress counts rule "
            "runs)",
            flush=True,
        )
        selection = sum(selection_runs(task.scenario) for task in plan.rule_runs)
        if selection:
            print(
                f"step sizes: every rule run first chooses its rule's from train.lr_grid: "
                f"{selection} selection runs of a rule in all",
                flush=True,
            )
    try:
        options = SweepOptions(
            executor=executor,
            scheduler=args.scheduler,
            out=out,
            resume=args.resume,
            force=args.force,
            max_workers=args.max_workers,
            records=records,
            progress=not args.quiet and sys.stderr.isatty(),
            log=lambda text: print(f"warning: {text}", file=sys.stderr, flush=True),
        )
        report = execute_sweep(plan, options)
    except KeyboardInterrupt:
        print(
            f"finished runs are kept in {out}/runs/ (table: {out}/runs.csv); "
            "continue with --resume",
            file=sys.stderr,
        )
        raise
    table = report.table
    ok = table[table["status"] == "ok"]
    if not args.quiet and not ok.empty:
        print(format_point_summary(point_summary(table, plan.factor_keys)))
    if not args.quiet:
        print(
            f"{report.computed} rule runs computed, {report.reused} reused; results written to "
            f"{out}/ "
            f"(runs.csv, runs/, {len(report.figures)} figures)"
        )
    if report.plot_error:
        print(f"warning: figures not drawn: {report.plot_error}", file=sys.stderr)
    if "lr_at_edge" in table:
        edges = table["lr_at_edge"].dropna()
        if (edges > 0).any():
            print(
                f"warning: {int((edges > 0).sum())} of {len(edges)} chosen step sizes sit at an "
                "edge of train.lr_grid (runs.csv: lr, lr_at_edge); the best may lie beyond it",
                file=sys.stderr,
            )
    failed = table[table["status"] != "ok"].drop_duplicates("result_id")
    for row in failed.head(20).itertuples():
        record = out / "runs" / str(row.result_id) / "run.json"
        more = plan.shared[str(row.result_id)] - 1  # the other rows this rule run serves
        serves = f", and {more} more rows" if more else ""
        print(
            f"error: rule run {row.result_id} (point {row.point}, replicate {row.replicate}, "
            f"{row.scheme}{serves}) failed: {row.error} (record: {record})",
            file=sys.stderr,
        )
    if len(failed) > 20:
        print(
            f"... and {len(failed) - 20} more failed rule runs (see {out}/runs.csv)",
            file=sys.stderr,
        )
    return 1 if len(failed) else 0


def _cmd_figures(args: argparse.Namespace) -> int:
    from .figures import main_figures

    return main_figures(args)


def _add_set(p: argparse.ArgumentParser, text: str) -> None:
    """``--set KEY=VALUE``, repeatable, with help ``text``."""
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help=text)


def _add_results_dir(p: argparse.ArgumentParser, default: str, *, resume: bool = False) -> None:
    """``--out DIR`` (a results directory, by ``default`` the one named), ``--resume`` when the
    command can continue in it, and ``--force``."""
    p.add_argument("--out", metavar="DIR", help=f"results directory (default {default})")
    if resume:
        p.add_argument(
            "--resume", action="store_true", help="keep finished runs in DIR, run the rest"
        )
    p.add_argument("--force", action="store_true", help="overwrite an existing results directory")


def build_parser() -> argparse.ArgumentParser:
    parser = OneLineParser(
        prog="lwpdsim",
        description="Simulate stragglers in distributed gradient descent.",
    )
    # imported here, so that cli.py imports on its own before the package (as tests check)
    from . import __version__
    from .plugins import add_option as add_plugin

    parser.add_argument("--version", action="version", version=f"lwpdsim {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser(
        "run", help="run a scenario: every rule, a summary table, results and a figure"
    )
    p.add_argument("file", metavar="FILE", help="scenario TOML file")
    _add_set(p, "override a key (repeatable)")
    _add_results_dir(p, "results/<scenario name>/")
    p.add_argument("--quiet", action="store_true", help="print nothing on success")
    add_plugin(p)
    p.set_defaults(func=_cmd_run)

    p = sub.add_parser("plot", help="redraw every figure of a saved run (or sweep)")
    p.add_argument(
        "directory", metavar="RESULTS_DIR", help="a directory written by 'lwpdsim run' or 'sweep'"
    )
    p.add_argument("--out", metavar="DIR", help="write the figures here (default RESULTS_DIR)")
    p.set_defaults(func=_cmd_plot)

    from .animate_cmd import add_animate  # its own module: cli.py stays small

    add_animate(sub)

    p = sub.add_parser("validate", help="check scenario files without running them")
    p.add_argument("files", nargs="+", metavar="FILE")
    _add_set(p, "override a key")
    add_plugin(p)
    p.set_defaults(func=_cmd_validate)

    add_codes(sub)  # its own module: cli.py stays small

    p = sub.add_parser("sweep", help="run a sweep: a grid of scenarios, one results folder per run")
    p.add_argument("file", metavar="FILE", help="sweep TOML file (see scenarios/sweeps/)")
    p.add_argument(
        "--executor",
        choices=("auto", "serial", "processes", "dask"),
        help="where runs go (default auto: a process pool here, or Dask at --scheduler; dask "
        "alone starts a local Dask cluster: slower to start, 1.57x serial against the pool's "
        "1.86x on 2 CPUs)",
    )
    p.add_argument("--scheduler", metavar="tcp://HOST:PORT", help="an existing Dask scheduler")
    p.add_argument(
        "--max-workers",
        type=int,
        metavar="N",
        help="processes or local Dask workers (default: CPUs)",
    )
    _add_results_dir(p, "results/sweeps/<sweep name>/", resume=True)
    p.add_argument("--skip-invalid", action="store_true", help="skip invalid grid points (listed)")
    p.add_argument(
        "--records",
        metavar="KEEP",
        help="what each run keeps of its tables: full, thin or summary (default: the sweep "
        "file's records, thin)",
    )
    p.add_argument("--quiet", action="store_true", help="print nothing on success")
    add_plugin(p)
    p.set_defaults(func=_cmd_sweep)

    p = sub.add_parser(
        "figures", help="rebuild the reference figures (and their CSVs) from the figure specs"
    )
    p.add_argument(
        "--out", metavar="DIR", help="where to write (default results/figures/, or -quick/)"
    )
    p.add_argument("--only", nargs="+", metavar="NAME", help="run only these specs")
    p.add_argument(
        "--quick", action="store_true", help="fewer seeds, a shorter grid, shorter runs (tests)"
    )
    p.add_argument(
        "--specs",
        nargs="+",
        metavar="PATH",
        help="spec files or folders (default scenarios/paper/ and scenarios/lecture/)",
    )
    p.add_argument("--jobs", type=int, metavar="N", help="processes (default: CPUs; 1: none)")
    _add_set(p, "override a key of every spec's base scenario (recorded in the index)")
    p.add_argument("--quiet", action="store_true", help="print nothing on success")
    add_plugin(p)
    p.set_defaults(func=_cmd_figures)
    return parser


def _as_given(err: ScenarioError, args: argparse.Namespace) -> ScenarioError:
    """``err`` naming what the user gave: an output folder the user did not pass as ``--out`` is
    the command's default one; a file that is itself the problem is named by its argument."""
    if err.field == "--out" and getattr(args, "out", "") is None:
        return ScenarioError("the default output folder (no --out given)", err.value, err.allowed)
    if err.field == "(file)" and err.source is not None and err.value == err.source:
        return ScenarioError("FILE", err.value, err.allowed)
    return err


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``lwpdsim`` console script."""
    parser = build_parser()
    args = parser.parse_args(argv)
    from .plugins import cli_plugins

    try:
        with cli_plugins(args):  # --plugin: imported, and added to every scenario's plugins
            return int(args.func(args))
    except ScenarioError as err:
        print(f"error: {_as_given(err, args)}", file=sys.stderr)
        return 2
    except LwpdsimError as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
