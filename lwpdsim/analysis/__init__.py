"""Tables and figures from :class:`~lwpdsim.results.RunResult` objects (no SimPy here).

:mod:`.data` computes the numbers behind each figure (pandas and numpy only); :mod:`.plots` draws
them; :mod:`.tables` compares rules in one table.
"""

from .data import (
    IntervalTheory,
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
    OUTCOME_COLORS,
    draw_all,
    draw_run,
    plot_communication,
    plot_curves,
    plot_loss_vs_time,
    plot_loss_vs_updates,
    plot_timeline,
    plot_update_intervals,
    scheme_colors,
)
from .tables import format_summary, summary_table

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
