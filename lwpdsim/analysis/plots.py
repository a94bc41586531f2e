"""Figures (matplotlib, Agg-safe; PNG output is byte-stable for the same data)."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import matplotlib

matplotlib.use("Agg", force=False)
import matplotlib.pyplot as plt
from matplotlib.figure import Figure

from ..results import RunResult


def plot_loss_vs_time(
    results: Mapping[str, RunResult],
    path: str | Path | None = None,
    *,
    title: str | None = None,
    target: float | None = None,
) -> Figure:
    """Training loss against simulated wall-clock time, one line per rule."""
    fig, ax = plt.subplots(figsize=(7, 4.2), layout="constrained")
    for label, res in results.items():
        u = res.updates.dropna(subset=["loss"])
        ax.plot(u["time"], u["loss"], label=label, drawstyle="steps-post", linewidth=1.4)
    if target is not None:
        ax.axhline(target, color="0.5", linestyle=":", linewidth=1, label=f"target {target:g}")
    ax.set_xlabel("simulated wall-clock time")
    ax.set_ylabel("training loss")
    ax.set_yscale("log")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize="small")
    if title:
        ax.set_title(title)
    if path is not None:
        fig.savefig(path, dpi=120, metadata={"Software": None})
        plt.close(fig)
    return fig
