"""The index of a figures folder, ``README.md``: written from the manifests found there, it gives
every figure with one sentence, the method shared by all comparisons, what each spec fixed in
advance, and each comparison's numbers."""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ..analysis.stats import INTERVAL_NAME, MIN_VALUES
from ..io.files import PLAIN, Writer
from ..io.jsonable import json_number
from ..tune import SELECT_RULES
from .write import MANIFEST_FORMAT

INDEX_NAME = "README.md"


def _fmt(value: Any, digits: int = 3) -> str:
    v = float(json_number(value))
    if math.isnan(v):
        return "-"
    return "∞" if v == math.inf else f"{v:.{digits}g}"


def _interval(mean: Any, lo: Any, hi: Any, scale: float = 1.0) -> str:
    """A mean with its interval (bounds within the values' range: never below zero), or the
    mean alone when the interval has no bounds (fewer than three values)."""
    if mean is None or not math.isfinite(float(mean)):
        return "-"
    m = float(mean) / scale
    if lo is None or hi is None:
        return f"{m:.3g}"
    return f"{m:.3g} [{float(lo) / scale:.3g}, {float(hi) / scale:.3g}]"


def _results_lines(manifest: Mapping[str, Any]) -> list[str]:
    rows = manifest.get("results") or []
    if not rows:
        return []
    target = manifest.get("target_loss")
    lines = [
        "",
        f"| rule | chosen lr | final loss, mean [min, max] | time to loss {_fmt(target)} "
        "| MB (up + down) to that loss | reached |",
        "|---|---|---|---|---|---|",
    ]
    for r in rows:
        final = (
            f"{_fmt(r['final_loss_mean'])} [{_fmt(r['final_loss_lo'])}, {_fmt(r['final_loss_hi'])}]"
        )
        lr = _fmt(r["lr"]) + (f" ({r['lr_edge']} edge of the grid)" if r.get("lr_edge") else "")
        lines.append(
            f"| {r['scheme']} | {lr} | {final} | "
            f"{_interval(r['time_to_target_mean'], r['time_to_target_lo95'], r['time_to_target_hi95'])} | "
            f"{_interval(r['bytes_to_target_mean'], r['bytes_to_target_lo95'], r['bytes_to_target_hi95'], 1e6)} | "
            f"{r['reached']}/{r['seeds']} |"
        )
    lines.append("")
    lines.append(
        f"Times are simulated seconds. Time and MB to the loss: mean over the seeds that reached "
        f"it (how many: last column) with its {INTERVAL_NAME} (none from fewer than {MIN_VALUES} "
        "seeds)."
    )
    return lines


_SECTION_ORDER = {"paper": 0, "lecture": 1}
_SECTION_TITLES = {
    "paper": (
        "LWPD against other rules (scenarios/paper/): the paper's comparison (softmax, MLP, Pareto, "
        "bimodal) and ours beyond it"
    ),
    "lecture": "Figures of the lecture, docs/lecture.md (scenarios/lecture/)",
}


def write_index(out: Path, writer: Writer = PLAIN) -> Path:
    """(Re)write ``README.md`` in ``out`` (through ``writer``) from the manifests found there:
    every figure with one sentence, the method, what was fixed in advance, and each comparison's
    numbers."""
    manifests = []
    for path in sorted(out.glob("*.json")):
        if not path.is_file():  # read regular files only (never a pipe)
            continue
        try:
            m = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        if isinstance(m, dict) and m.get("format") == MANIFEST_FORMAT:
            manifests.append(m)
    manifests.sort(
        key=lambda m: (_SECTION_ORDER.get(m.get("section", ""), 9), m.get("order", 0), m["name"])
    )
    quick = any(m.get("quick") for m in manifests)
    lines = [
        "# Reference figures",
        "",
        "Written by `lwpdsim figures` (do not edit: rerun the command). Every figure `X.png` has "
        "its numbers in `X.csv`; `<spec>_runs.csv` has one row per run (rule, step size, seed) "
        "and `<spec>.json` the resolved scenario and package versions.",
        "",
    ]
    if quick:
        lines += [
            "**Quick build (`--quick`)**: fewer seeds, a shorter grid and shorter runs than the "
            "reference; for tests, not for conclusions.",
            "",
        ]
    lines += [
        "How the comparisons are made (the same for every spec, decided before any run):",
        "",
        "- All rules of a spec run on the same cluster, data split, initial parameters and "
        "compute-time draws (replicate r of a scenario is `simulate(scenario, run_index=r)`), so "
        "differences within a seed are the rules', not the dice's.",
        "- Each rule's step size comes from one common grid, shown in the `*_lr_grid` figure, by "
        "one stated rule: "
        + SELECT_RULES["final_loss"]
        + ". The final loss is the training loss at the end of the spec's simulated time budget.",
        "- Curves show the mean over seeds with a min-max band; times and bytes to the target "
        f"loss show the mean over the seeds that reached it with its {INTERVAL_NAME} (resamples "
        "of those seeds: it never leaves their range; none from fewer than "
        f"{MIN_VALUES}), and how many did. The target is only measured: no run stops at it.",
        "- The figures show what the simulation gives: the scenarios, grids, targets and seeds "
        "were fixed before the results were looked at, except where a spec says below what was "
        "changed after a first build and why; nothing was changed to favour a rule.",
        "",
    ]
    section = None
    for m in manifests:
        if m.get("section") != section:
            section = str(m.get("section"))
            lines += [f"## {_SECTION_TITLES.get(section, section)}", ""]
        lines.append(f"### {m['name']}: {m['title']}")
        lines.append("")
        if m.get("description"):
            lines += [m["description"], ""]
        if m.get("quick"):
            lines += [
                f"*This quick build ran {m['seeds']} seed{'s' if m['seeds'] != 1 else ''} in the "
                "setting below; the description above is the reference build's.*",
                "",
            ]
        lines.append(f"Spec `{m['source']}`. Setting: {m['setting']}.")
        if m.get("overrides"):
            shown = ", ".join(f"`{item}`" for item in m["overrides"])
            lines.append(f"Built with `--set` {shown}, on top of the spec's own settings.")
        if m["kind"] == "compare":
            grid = ", ".join(f"{v:g}" for v in m["lr_grid"])
            lines.append(f"Seeds: {m['seeds']}; step-size grid: {grid}.")
        if m.get("fixed"):
            lines.append(f"Fixed in advance: {m['fixed']}")
        if m.get("changed"):
            lines.append(f"Changed after a first build: {m['changed']}")
        lines.append("")
        for f in m["figures"]:
            csv = ", ".join(f"[{c}]({c})" for c in f["csv"])
            lines.append(f"- [{f['png']}]({f['png']}) ({csv}): {f['sentence']}")
        lines += _results_lines(m)
        edges = [str(w) for w in m.get("warnings") or []]
        if edges:
            lines += ["", "Step sizes at an edge of the grid (the best may lie beyond it):"]
            lines += [f"- {w}" for w in edges]
        for p in m.get("problems") or []:
            lines.append(f"- problem: {p}")
        lines.append("")
    return writer.write_text(out / INDEX_NAME, "\n".join(lines).rstrip() + "\n")
