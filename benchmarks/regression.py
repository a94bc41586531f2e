"""Digest of every simulated number over a fixed set of runs, to check that a change of code that
should not change behaviour leaves every table bit-identical.

    python benchmarks/regression.py > before.txt     # on the old code
    python benchmarks/regression.py > after.txt      # on the new code
    diff before.txt after.txt                        # empty: no simulated number changed

Each line is one rule's run: the scenario, overrides, label, and SHA-256 digests of its updates
table, tasks table and summary (wall-clock timings left out). The runs cover every shipped scenario
and the quick-start and failure scenarios on lossy, latent and shared-link networks; the last lines
digest the n-k-t sweep's table and figures. Digests hold on one machine and BLAS build.
"""

from __future__ import annotations

import hashlib
import json
import sys
import tempfile
from pathlib import Path

import lwpdsim
from lwpdsim.io.jsonable import json_ready

ROOT = Path(__file__).resolve().parents[1]
SCENARIOS = ROOT / "scenarios"

NETWORKS = (
    ["cluster.network.latency=0.05", "cluster.network.bandwidth=2000"],
    ["cluster.network.shared_master_link=true", "cluster.network.bandwidth=5000"],
    ["cluster.network.loss=0.1", "cluster.network.retry_after=0.5"],
)
SHORT = ["train.max_updates=80"]


def cases() -> list[tuple[Path, list[str]]]:
    files = sorted(SCENARIOS.glob("*.toml"))
    files += sorted((SCENARIOS / "latency").glob("*.toml"))
    files += sorted((SCENARIOS / "rules").glob("*.toml"))
    out: list[tuple[Path, list[str]]] = [(f, SHORT) for f in files]
    for base in ("quickstart.toml", "failures.toml"):
        for net in NETWORKS:
            out.append((SCENARIOS / base, [*SHORT, *net]))
    return out


def digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def main() -> int:
    for path, overrides in cases():
        scenario = lwpdsim.load_scenario(path, overrides=overrides)
        for label, res in lwpdsim.simulate(scenario).items():
            summary = {k: v for k, v in res.summary.items() if k != "wall_seconds"}
            row = (
                path.relative_to(ROOT).as_posix(),
                " ".join(overrides),
                label,
                digest(res.updates.to_csv(index=False)),
                digest(res.tasks.to_csv(index=False)),
                digest(json.dumps(json_ready(summary), sort_keys=True)),
            )
            print(" | ".join(row), flush=True)
    sweep = SCENARIOS / "sweeps" / "nkt.toml"
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "sweep"
        table = lwpdsim.run_sweep(sweep, executor="serial", out=out)
        kept = table.drop(columns=[c for c in table.columns if "wall" in c])
        print(f"sweep {sweep.name} | runs.csv | {digest(kept.to_csv(index=False))}")
        for png in sorted(out.glob("*.png")):
            print(
                f"sweep {sweep.name} | {png.name} | {hashlib.sha256(png.read_bytes()).hexdigest()[:16]}"
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
