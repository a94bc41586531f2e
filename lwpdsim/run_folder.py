"""A run folder: what ``lwpdsim run`` writes and ``lwpdsim plot`` and
:func:`lwpdsim.analysis.data.load_results_dir` read back (``summary.csv``, the main figures and one
folder per rule). :func:`save_run` writes one from the results of :func:`lwpdsim.simulate`."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import pandas as pd

from .io import RUN_FOLDER, OutputFolder, claim
from .io.codec import SUMMARY, save_results
from .results import RunResult, safe_name


def run_folder_names(labels: Iterable[str]) -> list[str]:
    """The names a run folder of rules ``labels`` holds (checked before anything is written)."""
    from .analysis.plots import figure_names

    labels = list(labels)
    return [SUMMARY, *figure_names(labels), *(safe_name(label) for label in labels)]


def write_run(
    folder: OutputFolder, results: Mapping[str, RunResult], scenario: Any = None
) -> tuple[pd.DataFrame, list[Path]]:
    """Write ``results`` into the claimed ``folder``: every rule's folder, ``summary.csv`` and the
    main figures (``scenario``, a Scenario or its dict, titles them; by default the runs' own
    configuration does). Returns the summary table and the figures' paths."""
    from .analysis.plots import draw_run

    table = save_results(results, folder.path, folder)
    figures = draw_run(results, folder.path, scenario, writer=folder)
    return table, figures


def save_run(
    results: Mapping[str, RunResult], out: str | Path, *, force: bool = False
) -> pd.DataFrame:
    """Write the results of one :func:`lwpdsim.simulate` call as a run folder at ``out``, as
    ``lwpdsim run`` does: a new or empty folder, or (with ``force``) one lwpdsim wrote, whose
    recorded files are replaced. Returns the summary table. ``lwpdsim plot out`` and
    ``load_results_dir(out)`` read it back."""
    if not results:
        raise ValueError("no results to save")
    with claim(out, RUN_FOLDER, force=force, will_write=run_folder_names(results)) as folder:
        table, _ = write_run(folder, results)
    return table
