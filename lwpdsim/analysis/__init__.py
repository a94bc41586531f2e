"""Tables and figures from :class:`~lwpdsim.results.RunResult` objects (no SimPy here)."""

from .plots import plot_loss_vs_time
from .tables import summary_table

__all__ = ["plot_loss_vs_time", "summary_table"]
