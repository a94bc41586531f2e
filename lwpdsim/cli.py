"""The ``lwpdsim`` command line.

Exit status: 0 on success, 2 on bad input (one message, no traceback), 1 on a failure inside a run.
"""

from __future__ import annotations

import argparse
import shutil
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from .errors import LwpdsimError, ScenarioError

#: The file every results directory written by ``lwpdsim run`` contains.
RESULTS_MARKER = "summary.csv"


def _cmd_validate(args: argparse.Namespace) -> int:
    from .scenario import load_scenario

    bad = 0
    for path in args.files:
        try:
            scenario = load_scenario(path, overrides=args.set)
        except ScenarioError as err:
            print(f"error: {err}", file=sys.stderr)
            bad += 1
            continue
        labels = ", ".join(s.label for s in scenario.schemes)
        print(f"ok: {path}: {scenario.cluster.workers} workers, {labels}")
    return 2 if bad else 0


def _prepare_out(out: Path, force: bool) -> None:
    """Refuse to overwrite an existing results directory unless ``force``; with ``force`` clear it,
    but only if it is empty or was written by lwpdsim (so a mistyped --out cannot wipe a folder)."""
    if not out.exists():
        return
    if not force:
        raise ScenarioError(
            "--out", str(out), "a directory that does not exist yet (use --force to overwrite it)"
        )
    if not out.is_dir() or (any(out.iterdir()) and not (out / RESULTS_MARKER).exists()):
        raise ScenarioError(
            "--out",
            str(out),
            f"an lwpdsim results directory (one with {RESULTS_MARKER}) or an empty one",
        )
    shutil.rmtree(out)


def _cmd_run(args: argparse.Namespace) -> int:
    from .analysis.plots import plot_loss_vs_time
    from .analysis.tables import format_summary, summary_table
    from .results import safe_name
    from .scenario import load_scenario
    from .simulate import simulate

    scenario = load_scenario(args.file, overrides=args.set)
    out = Path(args.out) if args.out else Path("results") / scenario.name
    _prepare_out(out, args.force)
    quiet = args.quiet
    if not quiet:
        labels = ", ".join(s.label for s in scenario.schemes)
        print(f"{scenario.name}: {scenario.cluster.workers} workers; rules: {labels}", flush=True)
    results = simulate(scenario, progress=not quiet and sys.stderr.isatty())
    out.mkdir(parents=True, exist_ok=True)
    for label, res in results.items():
        res.save(out / safe_name(label))
    table = summary_table(results)
    table.to_csv(out / RESULTS_MARKER)
    figure = out / "loss_vs_time.png"
    plot_loss_vs_time(results, figure, title=scenario.name, target=scenario.train.target_loss)
    print(format_summary(table))
    print(f"results written to {out}/ (summary.csv, loss_vs_time.png, one folder per rule)")
    failed = [(label, r) for label, r in results.items() if r.status == "error"]
    for label, res in failed:
        where = out / safe_name(label) / "manifest.json"
        print(
            f"error: run {label!r} failed: {res.summary['message']} (record: {where})",
            file=sys.stderr,
        )
    return 1 if failed else 0


def _print_matrix(matrix: Any, *, row_name: str = "worker") -> None:
    """Print a matrix with one aligned, fixed-precision line per row (zeros shown as '.')."""
    import numpy as np

    m = np.asarray(matrix, dtype=float)
    cells = [["." if v == 0 else f"{v:.4g}" for v in row] for row in m]
    width = max(len(c) for row in cells for c in row)
    label = len(str(len(m) - 1))
    for i, row in enumerate(cells):
        print(f"  {row_name} {i:>{label}}:  " + "  ".join(c.rjust(width) for c in row))


def _print_properties(props: dict[str, Any]) -> None:
    width = max(len(k) for k in props)
    for key, value in props.items():
        if isinstance(value, float):
            value = f"{value:.6g}"
        print(f"  {key:<{width}}  {value}")


def _cmd_codes(args: argparse.Namespace) -> int:

    try:
        return _show_code(args)
    except ScenarioError as err:  # name the command-line flag, not the function argument
        raise ScenarioError(f"--{err.field}", err.value, err.allowed) from None


def _show_code(args: argparse.Namespace) -> int:
    import numpy as np

    from .codes import gradient_coding, lwpd

    if args.family == "lwpd":
        lwpd.validate(args.n, args.k, args.t)
        matrix = lwpd.code_matrix(args.n, args.k, args.t)
        print(f"LWPD code C^({args.n},{args.k},{args.t}): row w is what worker w combines")
        print("  (columns: partial derivatives j = (data block j // t, parameter block j % t))")
        _print_matrix(matrix)
        print("properties:")
        _print_properties(lwpd.describe(matrix, args.k, args.t))
    else:
        rng = np.random.default_rng(args.seed)
        matrix = gradient_coding.encoding_matrix(args.n, args.s, args.construction, rng=rng)
        print(
            f"Gradient coding B, n = {args.n}, s = {args.s}, {args.construction}: "
            "row w is worker w's combination of the n partition gradients"
        )
        _print_matrix(matrix)
        print("properties:")
        _print_properties(gradient_coding.describe(matrix, args.s))
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="lwpdsim",
        description="Simulate stragglers in distributed gradient descent.",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser(
        "run", help="run a scenario: every rule, a summary table, results and a figure"
    )
    p.add_argument("file", metavar="FILE", help="scenario TOML file")
    p.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a key (repeatable)",
    )
    p.add_argument(
        "--out", metavar="DIR", help="results directory (default results/<scenario name>/)"
    )
    p.add_argument("--force", action="store_true", help="overwrite an existing results directory")
    p.add_argument("--quiet", action="store_true", help="print only the summary table")
    p.set_defaults(func=_cmd_run)

    p = sub.add_parser("validate", help="check scenario files without running them")
    p.add_argument("files", nargs="+", metavar="FILE")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="override a key")
    p.set_defaults(func=_cmd_validate)

    p = sub.add_parser("codes", help="print a code's matrix and its properties")
    family = p.add_subparsers(dest="family", required=True, metavar="FAMILY")
    q = family.add_parser("lwpd", help="LWPD code C^(n,k,t)")
    q.add_argument("--n", type=int, default=8, help="workers (a multiple of k)")
    q.add_argument("--k", type=int, default=4, help="partial derivatives")
    q.add_argument(
        "--t", type=int, default=2, help="weight of a codeword (a power of two dividing k)"
    )
    q = family.add_parser("gc", help="gradient coding encoding matrix")
    q.add_argument("--n", type=int, default=8, help="workers")
    q.add_argument("--s", type=int, default=2, help="stragglers tolerated")
    q.add_argument("--construction", choices=("frc", "crc"), default="crc")
    q.add_argument("--seed", type=int, default=0, help="seed of the random CRC construction")
    p.set_defaults(func=_cmd_codes)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``lwpdsim`` console script."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args))
    except ScenarioError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    except LwpdsimError as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
