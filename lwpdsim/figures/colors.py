"""Colours of a figure's labels: :func:`~lwpdsim.analysis.style.rule_colors` (a rule's own colour,
shaded for its second and later labels), except for a rule with more labels than shades, whose
labels take distinct colours of a qualitative palette instead (shades of one colour would repeat)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping

from matplotlib import colormaps
from matplotlib.colors import rgb_to_hsv

from ..analysis.style import SHADES, rule_colors

RGB = tuple[float, float, float]
#: How far in hue (a turn is 1) a palette colour must be from the other rules' colours (both
#: coloured, saturation above :data:`GREY`): a light and a dark red read as one rule.
MIN_HUE = 0.05
GREY = 0.2


def label_colors(rules: Mapping[str, str]) -> dict[str, RGB]:
    """A colour per label of ``label -> rule name`` (see the module docstring)."""
    out = rule_colors(rules)
    counts = Counter(rules.values())
    crowded = [label for label, rule in rules.items() if counts[rule] > len(SHADES)]
    if not crowded:
        return out
    others = [out[label] for label in rules if label not in crowded]
    palette = [tuple(float(v) for v in c[:3]) for c in colormaps["tab20"].colors]  # type: ignore[attr-defined]
    free = [c for c in palette if not any(_same_hue(c, o) for o in others)]
    free = free or palette
    for i, label in enumerate(crowded):
        c = free[i % len(free)]
        out[label] = (c[0], c[1], c[2])
    return out


def _same_hue(a: tuple[float, ...], b: tuple[float, ...]) -> bool:
    ha, sa, _ = rgb_to_hsv(a[:3])
    hb, sb, _ = rgb_to_hsv(b[:3])
    turn = abs(float(ha) - float(hb))
    return bool(sa > GREY and sb > GREY and min(turn, 1.0 - turn) < MIN_HUE)
