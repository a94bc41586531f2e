"""The look shared by every figure lwpdsim draws: slide text sizes, saving byte-stable PNG files,
log axes with plain tick labels, min-max bands, one colour per rule, and axis labels.

Figures are built without pyplot (:func:`figure`), so drawing never touches (or switches) the
interactive backend; :func:`save` writes them with Agg and no timestamp or version metadata, so the
same data give the same bytes.
"""

from __future__ import annotations

import functools
import math
import textwrap
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, TypeVar

import matplotlib as mpl
import numpy as np
from matplotlib.axes import Axes
from matplotlib.colors import to_rgb
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter, NullFormatter

from ..plugins import loaded_rule
from . import data

#: Text sizes for figures shown on a slide.
STYLE: Any = {
    "font.size": 11,
    "axes.titlesize": 12,
    "axes.labelsize": 11,
    "figure.titlesize": 13,
    "legend.fontsize": 9.5,
    "legend.title_fontsize": 9.5,
    "xtick.labelsize": 10,
    "ytick.labelsize": 10,
    "axes.spines.top": False,
    "axes.spines.right": False,
}
DPI = 120
#: The label of every axis of simulated time (the simulator's unit is the simulated second).
TIME_LABEL = "time (simulated seconds)"
#: The label of an axis of simulated durations (time between updates, time to a target).
SECONDS = "simulated seconds"
#: The label of each curve's x axis (``time`` or ``update``).
X_LABELS = {"time": TIME_LABEL, "update": "updates (steps of the master)"}
#: Colours of rules without one of their own (a rule's own is its class attribute ``color``).
SPARE_COLORS = ("#e377c2", "#17becf", "#bcbd22", "#7f7f7f")
#: How the first, second, ... label of one rule is shaded (see :func:`shade`).
SHADES = (0.0, -0.35, 0.4, -0.6, 0.6)

F = TypeVar("F", bound=Callable[..., Figure])


def figure(width: float, height: float) -> Figure:
    """A new figure (inches) with constrained layout, not registered with pyplot."""
    return Figure(figsize=(width, height), layout="constrained")


def heading(what: str, title: str | None) -> str:
    """A figure's title: ``what`` it shows, after the scenario's ``title`` if there is one."""
    return f"{title}: {what}" if title else what


def at_time(seconds: float) -> str:
    """When a run's budget ends, said so it cannot be read as a rule's parameter: ``at 200 s``."""
    return f"at {seconds:g} s"


#: Average width of a character of the figures' fonts, as a fraction of the font size (DejaVu
#: Sans is about 0.55; a little more keeps wrapped titles clear of the figure's edges).
_CHAR_WIDTH = 0.6


#: Room (inches) a title leaves for a legend at the figure's right.
LEGEND_ROOM = 2.6


def wrap(text: str, width_inches: float, fontsize: float) -> str:
    """``text`` broken into lines that fit ``width_inches`` at ``fontsize`` points (existing line
    breaks kept), so a long title never runs off the figure or under its legend."""
    per_line = max(20, int(width_inches * 72 / (fontsize * _CHAR_WIDTH)))
    lines = []
    for paragraph in text.split("\n"):
        lines += textwrap.wrap(paragraph, per_line, break_on_hyphens=False) or [""]
    return "\n".join(lines)


def side_title(ax: Axes, text: str, width_inches: float) -> None:
    """Title ``ax``, the one panel of a figure ``width_inches`` wide, with ``text`` wrapped clear of
    the legend at the figure's right."""
    ax.set_title(wrap(text, width_inches - LEGEND_ROOM - 1.0, STYLE["axes.titlesize"]))


def side_suptitle(fig: Figure, text: str, width_inches: float) -> None:
    """Title ``fig`` (``width_inches`` wide, several panels) with ``text`` wrapped clear of the
    legend at its right."""
    fig.suptitle(wrap(text, width_inches - 2 * LEGEND_ROOM, STYLE["figure.titlesize"]))


def styled(func: F) -> F:
    """Run a drawing function in the slide style (:data:`STYLE`)."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Figure:
        with mpl.rc_context(STYLE):
            return func(*args, **kwargs)

    return wrapper  # type: ignore[return-value]


def save(
    fig: Figure,
    path: str | Path | None,
    *,
    dpi: float = DPI,
    rc: Any = STYLE,
) -> Figure:
    """Write ``fig`` to ``path`` (nothing if None) at ``dpi`` under the rc settings ``rc`` (the
    ones it was drawn with; None: the current ones), without metadata that changes between
    builds; return it."""
    if path is not None:
        with mpl.rc_context(rc):
            fig.savefig(path, dpi=dpi, metadata={"Software": None})
    return fig


def shade(color: Any, amount: float) -> tuple[float, float, float]:
    """``color`` mixed with white (amount > 0) or black (amount < 0)."""
    rgb = np.array(to_rgb(color))
    target = np.ones(3) if amount > 0 else np.zeros(3)
    return tuple(float(v) for v in rgb + (target - rgb) * abs(amount))  # type: ignore[return-value]


def rule_colors(rules: Mapping[str, str]) -> dict[str, tuple[float, float, float]]:
    """A colour per label from ``label -> rule name``: the rule's colour (its class attribute
    ``color``, for a rule built in or loaded: :func:`lwpdsim.plugins.loaded_rule`), shaded for the second and later labels of the
    same rule; rules without a colour of their own take :data:`SPARE_COLORS` in order."""
    out = {}
    seen: dict[str, int] = {}
    spare = iter(SPARE_COLORS * 4)
    extra: dict[str, str] = {}
    for label, rule in rules.items():
        cls = loaded_rule(rule)
        own = cls.color if cls is not None else ""
        if not own and rule not in extra:
            extra[rule] = next(spare)
        base = own or extra[rule]
        i = seen.get(rule, 0)
        seen[rule] = i + 1
        out[label] = shade(base, SHADES[i % len(SHADES)])
    return out


def scheme_colors(results: Mapping[str, Any]) -> dict[str, tuple[float, float, float]]:
    """A colour per label of ``label -> RunResult`` (or ``label -> [RunResult, ...]``): see
    :func:`rule_colors`. A rule keeps its colour in every figure."""
    runs = data.as_run_lists(results)
    return rule_colors({label: data.rule_name(rs[0]) for label, rs in runs.items()})


def _two_five(value: float, _pos: Any = None) -> str:
    """A label for minor log ticks at 2 and 5 times a power of ten only."""
    if value <= 0:
        return ""
    mantissa = value / 10 ** math.floor(math.log10(value))
    return f"{value:g}" if min(abs(mantissa - 2), abs(mantissa - 5)) < 1e-6 else ""


def log_axis(
    ax: Axes, which: str = "y", *, label_all_below: float = 20.0, two_five_below: float = 0.0
) -> None:
    """Make the ``which`` axis (``"x"`` or ``"y"``) logarithmic with plain tick labels (0.3, 0.5,
    1, 2 rather than powers of ten). Minor ticks are all labelled when the axis spans less than a
    factor ``label_all_below``, only those at 2 and 5 times a power of ten when it spans less than
    ``two_five_below``, none otherwise. Call it after the data are drawn."""
    plain = FuncFormatter(lambda v, _: f"{v:g}")
    axis = ax.yaxis if which == "y" else ax.xaxis
    (ax.set_yscale if which == "y" else ax.set_xscale)("log")
    axis.set_major_formatter(plain)
    lo, hi = ax.get_ylim() if which == "y" else ax.get_xlim()
    ratio = hi / lo if lo > 0 else math.inf
    if ratio < label_all_below:
        axis.set_minor_formatter(plain)
    elif ratio < two_five_below:
        axis.set_minor_formatter(FuncFormatter(_two_five))
    else:
        axis.set_minor_formatter(NullFormatter())


def band(
    ax: Axes, x: Any, lo: Any, hi: Any, color: Any, *, alpha: float, steps: bool = False
) -> None:
    """Shade between ``lo`` and ``hi`` (a min-max or confidence band) in ``color``; ``steps``
    draws it as a step function held after each x (like a ``steps-post`` line)."""
    ax.fill_between(x, lo, hi, color=color, alpha=alpha, lw=0, step="post" if steps else None)
