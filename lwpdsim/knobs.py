"""Knobs for the notebooks: sliders over a drawing function where a live notebook can show them, and
a static figure of small multiples where it cannot.

``draw(ax, **setting)`` draws one setting (say ``n=8, K=4``) on a matplotlib axes. :func:`knobs`
either hands it to ``ipywidgets.interact`` with one slider per knob, or draws a grid of panels: one
row per knob, one panel per value of that knob, the other knobs at their defaults.

A kernel cannot tell whether a frontend displays its widgets: ``nbclient``, ``jupyter nbconvert
--execute`` and a plain ``python`` run have none, and sliders there would draw a single setting that
nobody can move. So the mode is chosen explicitly: the argument ``mode``, else the environment
variable ``LWPDSIM_KNOBS`` (``auto``, ``widgets`` or ``static``), else ``auto``, which means sliders
when ipywidgets is installed and the code runs in an IPython kernel, and the static figure
otherwise. The test suite sets ``LWPDSIM_KNOBS=static`` when it executes the notebooks.
"""

from __future__ import annotations

import importlib.util
import os
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import matplotlib.pyplot as plt
from matplotlib.axes import Axes
from matplotlib.figure import Figure

MODES = ("auto", "widgets", "static")
ENV = "LWPDSIM_KNOBS"

Draw = Callable[..., None]


def knob_mode(mode: str | None = None) -> str:
    """``"widgets"`` or ``"static"``: ``mode``, else ``$LWPDSIM_KNOBS``, else ``"auto"`` resolved
    as the module docstring says. An unknown mode raises ``ValueError``."""
    chosen = mode if mode is not None else os.environ.get(ENV, "auto").strip().lower() or "auto"
    if chosen not in MODES:
        source = "mode" if mode is not None else ENV
        raise ValueError(f"{source} = {chosen!r}: expected one of {', '.join(MODES)}")
    if chosen != "auto":
        return chosen
    return "widgets" if _widgets_available() and _in_kernel() else "static"


def _widgets_available() -> bool:
    return importlib.util.find_spec("ipywidgets") is not None


def _in_kernel() -> bool:
    """True inside an IPython kernel (a notebook's, whether or not a frontend is attached)."""
    try:
        from IPython.core.getipython import get_ipython
    except ImportError:
        return False
    shell = get_ipython()
    return shell is not None and getattr(shell, "kernel", None) is not None


def knobs(
    draw: Draw,
    values: Mapping[str, Sequence[Any]],
    defaults: Mapping[str, Any] | None = None,
    *,
    mode: str | None = None,
    panel_size: tuple[float, float] = (3.2, 2.4),
) -> Figure | None:
    """Sliders (``"widgets"``) or small multiples (``"static"``) of ``draw`` over ``values``.

    ``values`` gives each knob the values it may take (in order); ``defaults`` the value each knob
    starts at or is held at (default: the middle of its values; it must be one of them). Returns the
    static figure, or ``None`` with sliders (``interact`` draws a figure of its own on every move).
    """
    start = _defaults(values, defaults)
    if knob_mode(mode) == "widgets":
        _interact(draw, values, start, panel_size)
        return None
    return small_multiples(draw, values, start, panel_size=panel_size)


def _defaults(
    values: Mapping[str, Sequence[Any]], defaults: Mapping[str, Any] | None
) -> dict[str, Any]:
    if not values:
        raise ValueError("knobs needs at least one knob")
    start: dict[str, Any] = {}
    for name, options in values.items():
        if len(options) == 0:
            raise ValueError(f"knob {name!r} has no values")
        value = (defaults or {}).get(name, options[len(options) // 2])
        if value not in options:
            raise ValueError(f"default {name} = {value!r} is not one of its values {list(options)}")
        start[name] = value
    unknown = set(defaults or {}) - set(values)
    if unknown:
        raise ValueError(f"defaults for unknown knobs: {sorted(unknown)}")
    return start


def _interact(
    draw: Draw,
    values: Mapping[str, Sequence[Any]],
    start: Mapping[str, Any],
    panel_size: tuple[float, float],
) -> None:
    import ipywidgets

    sliders = {
        name: ipywidgets.SelectionSlider(
            options=list(options), value=start[name], description=name, continuous_update=False
        )
        for name, options in values.items()
    }

    def one(**setting: Any) -> None:
        _, ax = plt.subplots(figsize=(2 * panel_size[0], 2 * panel_size[1]), layout="constrained")
        draw(ax, **setting)
        plt.show()

    ipywidgets.interact(one, **sliders)


def small_multiples(
    draw: Draw,
    values: Mapping[str, Sequence[Any]],
    defaults: Mapping[str, Any],
    *,
    panel_size: tuple[float, float] = (3.2, 2.4),
) -> Figure:
    """One row per knob, one panel per value of it, the other knobs at ``defaults``; each panel is
    titled with the setting it varies. Rows with fewer values than the widest row leave blanks."""
    rows = len(values)
    cols = max(len(v) for v in values.values())
    fig, axes = plt.subplots(
        rows,
        cols,
        figsize=(panel_size[0] * cols, panel_size[1] * rows),
        squeeze=False,
        layout="constrained",
    )
    for r, (name, options) in enumerate(values.items()):
        for c in range(cols):
            ax: Axes = axes[r][c]
            if c >= len(options):
                ax.set_axis_off()
                continue
            setting = {**defaults, name: options[c]}
            draw(ax, **setting)
            ax.set_title(f"{name} = {options[c]}", fontsize=9)
    return fig
