"""Tables and figures from :class:`~lwpdsim.results.RunResult` objects (no SimPy here).

:mod:`.data` computes the numbers behind each figure (pandas and numpy only); :mod:`.plots` and
:mod:`.timeline_plots` draw a run's figures, :mod:`.sweep_plots` a sweep's (from the tables of
:mod:`.sweep_tables`), all in the look of :mod:`.style`; :mod:`.stats` has the intervals over
seeds; :mod:`.tables` compares rules in one table; :mod:`.saved` checks a saved run's files
before ``lwpdsim plot`` reads them.
"""

from ..schemes.theory import IntervalTheory
from .data import (
    bytes_per_update,
    bytes_to_target,
    communication,
    interval_summary,
    interval_theory,
    load_results_dir,
    loss_curves,
    theory_or_reason,
    timeline,
    timeline_window,
    update_intervals,
    update_times,
)
from .plots import (
    draw_all,
    draw_run,
    plot_communication,
    plot_curves,
    plot_loss_vs_time,
    plot_loss_vs_updates,
    plot_update_intervals,
)
from .style import scheme_colors
from .tables import format_summary, summary_table
from .timeline_plots import OUTCOME_COLORS, plot_timeline

__all__ = [
    "OUTCOME_COLORS",
    "IntervalTheory",
    "bytes_per_update",
    "bytes_to_target",
    "communication",
    "draw_all",
    "draw_run",
    "format_summary",
    "interval_summary",
    "interval_theory",
    "load_results_dir",
    "loss_curves",
    "plot_communication",
    "plot_curves",
    "plot_loss_vs_time",
    "plot_loss_vs_updates",
    "plot_timeline",
    "plot_update_intervals",
    "scheme_colors",
    "summary_table",
    "theory_or_reason",
    "timeline",
    "timeline_window",
    "update_intervals",
    "update_times",
]
