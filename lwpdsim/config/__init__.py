"""Scenario configuration: the schema, loading and validation, overrides, and the validation kit.

- :mod:`~lwpdsim.config.scenario`: the frozen dataclasses of a resolved :class:`Scenario`.
- :mod:`~lwpdsim.config.parse`: :func:`load_scenario` and the parser of each section.
- :mod:`~lwpdsim.config.overrides`: ``KEY=VALUE`` overrides (:func:`apply_override`) and overrides
  given as values (:func:`set_value`).
- :mod:`~lwpdsim.config.validate`: the checks every module uses to reject bad input with a
  :class:`~lwpdsim.errors.ScenarioError` naming the field, and the one did-you-mean hint.

Importing this package loads none of lwpdsim's other modules but :mod:`lwpdsim.errors`: the latency
models, datasets, model kinds and update rules validate with :mod:`lwpdsim.config.validate`, and
:mod:`~lwpdsim.config.parse` imports them only when it parses a scenario.
"""

from __future__ import annotations

from .overrides import apply_override, parse_value, set_value
from .parse import load_scenario, parse_scenario, read_toml
from .scenario import ClusterSpec, Failure, ModelSpec, Network, Scenario, SchemeSpec, Train

__all__ = [
    "ClusterSpec",
    "Failure",
    "ModelSpec",
    "Network",
    "Scenario",
    "SchemeSpec",
    "Train",
    "apply_override",
    "load_scenario",
    "parse_scenario",
    "parse_value",
    "read_toml",
    "set_value",
]
