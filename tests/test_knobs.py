"""lwpdsim.knobs: the mode it picks, the static small multiples, and sliders through ipywidgets."""

from __future__ import annotations

from typing import Any

import matplotlib.pyplot as plt
import pytest

from lwpdsim import knobs as knobs_module
from lwpdsim.knobs import knob_mode, knobs, small_multiples

VALUES = {"n": [4, 8, 16], "tail": [0.5, 2.0]}


class Recorder:
    """A draw function that records the settings it was called with and marks its axes."""

    def __init__(self) -> None:
        self.calls: list[dict[str, Any]] = []

    def __call__(self, ax: Any, **setting: Any) -> None:
        self.calls.append(setting)
        ax.plot([0, 1], [setting["n"], setting["tail"]])


def test_mode_from_argument_environment_and_auto(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("LWPDSIM_KNOBS", raising=False)
    assert knob_mode("static") == "static"
    assert knob_mode("widgets") == "widgets"
    # not in an IPython kernel (pytest): auto means the static figure, with or without ipywidgets
    assert knob_mode("auto") == "static"
    assert knob_mode() == "static"
    monkeypatch.setenv("LWPDSIM_KNOBS", "Widgets")
    assert knob_mode() == "widgets"
    monkeypatch.setenv("LWPDSIM_KNOBS", "sliders")
    with pytest.raises(ValueError, match="LWPDSIM_KNOBS = 'sliders'"):
        knob_mode()
    with pytest.raises(ValueError, match="mode = 'x'"):
        knob_mode("x")


def test_auto_uses_widgets_only_in_a_kernel(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("LWPDSIM_KNOBS", raising=False)
    monkeypatch.setattr(knobs_module, "_in_kernel", lambda: True)
    monkeypatch.setattr(knobs_module, "_widgets_available", lambda: True)
    assert knob_mode() == "widgets"
    monkeypatch.setattr(knobs_module, "_widgets_available", lambda: False)
    assert knob_mode() == "static"  # no ipywidgets: the fallback


def test_static_small_multiples_vary_one_knob_at_a_time() -> None:
    draw = Recorder()
    fig = knobs(draw, VALUES, {"n": 8, "tail": 2.0}, mode="static")
    assert fig is not None
    assert draw.calls == [
        {"n": 4, "tail": 2.0},
        {"n": 8, "tail": 2.0},
        {"n": 16, "tail": 2.0},
        {"n": 8, "tail": 0.5},
        {"n": 8, "tail": 2.0},
    ]
    axes = fig.axes
    assert len(axes) == 6
    assert [ax.get_title() for ax in axes if ax.lines] == [
        "n = 4",
        "n = 8",
        "n = 16",
        "tail = 0.5",
        "tail = 2.0",
    ]
    assert not axes[5].axison  # the blank in the shorter row
    plt.close(fig)


def test_default_is_the_middle_value_and_must_be_a_value() -> None:
    draw = Recorder()
    plt.close(small_multiples(draw, {"n": [4, 8, 16]}, {"n": 8, "tail": 1.0}))
    assert [c["n"] for c in draw.calls] == [4, 8, 16]
    draw = Recorder()
    plt.close(knobs(draw, VALUES, mode="static"))
    assert draw.calls[0] == {"n": 4, "tail": 2.0}  # tail: the middle of [0.5, 2.0] is index 1
    with pytest.raises(ValueError, match="default n = 5 is not one of its values"):
        knobs(draw, VALUES, {"n": 5}, mode="static")
    with pytest.raises(ValueError, match="unknown knobs"):
        knobs(draw, VALUES, {"K": 2}, mode="static")
    with pytest.raises(ValueError, match="no values"):
        knobs(draw, {"n": []}, mode="static")


def test_widgets_mode_builds_one_slider_per_knob_and_draws_the_default() -> None:
    ipywidgets = pytest.importorskip("ipywidgets")
    draw = Recorder()
    made: list[Any] = []
    real = ipywidgets.interact

    def spy(function: Any, **sliders: Any) -> Any:
        made.append(sliders)
        return real(function, **sliders)

    ipywidgets.interact, saved = spy, real
    try:
        assert knobs(draw, VALUES, {"n": 16, "tail": 0.5}, mode="widgets") is None
    finally:
        ipywidgets.interact = saved
    (sliders,) = made
    assert {name: list(s.options) for name, s in sliders.items()} == VALUES
    assert {name: s.value for name, s in sliders.items()} == {"n": 16, "tail": 0.5}
    assert draw.calls == [{"n": 16, "tail": 0.5}]  # interact draws the starting setting at once
    plt.close("all")
