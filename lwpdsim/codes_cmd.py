"""``lwpdsim codes``: print an LWPD or gradient-coding matrix and its properties."""

from __future__ import annotations

import argparse
from typing import Any

from .errors import ScenarioError


def add_codes(sub: Any) -> None:
    """Register ``codes`` on the subcommands ``sub`` of the ``lwpdsim`` parser."""
    p = sub.add_parser("codes", help="print a code's matrix and its properties")
    family = p.add_subparsers(dest="family", required=True, metavar="FAMILY")
    q = family.add_parser("lwpd", help="LWPD code C^(n,k,t)")
    q.add_argument("--n", type=int, default=8, help="workers (a multiple of k)")
    q.add_argument("--k", type=int, default=4, help="partial derivatives")
    q.add_argument(
        "--t", type=int, default=2, help="weight of a codeword (a power of two dividing k)"
    )
    q.add_argument(
        "--rounds",
        choices=("shift", "design"),
        default="shift",
        help="rounds as reconstructed (shift) or searched for new directions when n/k >= 3 (design)",
    )
    q = family.add_parser("gc", help="gradient coding encoding matrix")
    q.add_argument("--n", type=int, default=8, help="workers")
    q.add_argument("--s", type=int, default=2, help="stragglers tolerated")
    q.add_argument("--construction", choices=("frc", "crc"), default="crc")
    q.add_argument("--seed", type=int, default=0, help="seed of the random CRC construction")
    p.set_defaults(func=cmd_codes)


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


def cmd_codes(args: argparse.Namespace) -> int:
    """``lwpdsim codes``: print a code's matrix and its properties; errors name the flag."""
    try:
        return _show_code(args)
    except ScenarioError as err:  # name the command-line flag, not the function argument
        raise ScenarioError(f"--{err.field}", err.value, err.allowed) from None


def _show_code(args: argparse.Namespace) -> int:
    import numpy as np

    from .codes import gradient_coding, lwpd

    if args.family == "lwpd":
        lwpd.validate(args.n, args.k, args.t)
        _check_printable(args.n, args.k)
        matrix = lwpd.code_matrix(args.n, args.k, args.t, args.rounds)
        searched = ", rounds design" if args.rounds == "design" else ""
        print(
            f"LWPD code C^({args.n},{args.k},{args.t}){searched}: row w is what worker w combines"
        )
        print("  (columns: partial derivatives j = (data block j // t, parameter block j % t))")
        _print_matrix(matrix)
        print("properties:")
        props = lwpd.describe(matrix, args.k, args.t)
        props["coherence"] = lwpd.coherence(matrix)
        props["welch_bound"] = lwpd.welch_bound(args.n, args.k)
        _print_properties(props)
        print(
            "  (coherence: largest |cos| between distinct rows; welch_bound: its lower bound "
            "sqrt((N - d) / (d (N - 1))) for N = n rows in dimension d = k)"
        )
    else:
        _check_gc_size(args)
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


def _check_printable(n: int, columns: int) -> None:
    """A code is printed row by row: at most :data:`~lwpdsim.config.sizes.MAX_PRINTED_WORKERS`
    rows (``columns`` entries each)."""
    from .config.reading import size_text
    from .config.sizes import MAX_PRINTED_WORKERS, check_count

    entries = float(n) * columns
    allowed = (
        f"an integer of at most {MAX_PRINTED_WORKERS} (the code's matrix is printed, one line per "
        f"worker); n = {n} would print {entries:.3g} entries and need about "
        f"{size_text(8 * entries)} for the matrix"
    )
    check_count("n", n, MAX_PRINTED_WORKERS, allowed)


def _check_gc_size(args: argparse.Namespace) -> None:
    """Refuse gradient-coding arguments whose matrix would not fit in memory or take too long."""
    from .codes.gradient_coding import construction_cost, validate_args
    from .config.sizes import Need, check_needs

    n, s = validate_args(args.n, args.s)
    _check_printable(n, n)
    if args.seed < 0:
        raise ScenarioError("seed", args.seed, "an integer >= 0")
    nbytes, flops = construction_cost(n, s, args.construction)
    field = ("s", s) if s * s > n else ("n", n)
    text = f"building the {args.construction} code for n = {n}, s = {s}"
    check_needs([Need(*field, "its matrices", nbytes, flops, step=text)], what=text)
