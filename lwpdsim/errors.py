"""Error types shared across lwpdsim.

Every error a user can cause by writing a scenario is a :class:`ScenarioError`: it names the field,
the offending value and what is allowed, so the command line can print one line and exit 2.
"""

from __future__ import annotations

from typing import Any


class LwpdsimError(Exception):
    """Base class of every error lwpdsim raises on purpose."""


class ScenarioError(LwpdsimError, ValueError):
    """A scenario (or override, or sweep) is invalid.

    ``field`` is a dotted path such as ``"cluster.latency.rate"`` or ``"schemes[1].K"``.
    ``source`` is the file the scenario came from, when there is one.
    """

    def __init__(self, field: str, value: Any, allowed: str, *, source: str | None = None) -> None:
        self.field = field
        self.value = value
        self.allowed = allowed
        self.source = source
        super().__init__(self._text())

    def _text(self) -> str:
        where = f"{self.source}: " if self.source else ""
        return f"{where}{self.field} = {self.value!r} is not allowed: {self.allowed}"

    def with_source(self, source: str) -> ScenarioError:
        """Return the same error, attributed to ``source`` (a file name)."""
        return ScenarioError(self.field, self.value, self.allowed, source=source)

    def with_prefix(self, prefix: str) -> ScenarioError:
        """Return the same error with ``prefix`` prepended to its field path."""
        sep = "" if self.field.startswith("[") else "."  # cluster.latency[1].workers
        field = f"{prefix}{sep}{self.field}" if self.field else prefix
        return ScenarioError(field, self.value, self.allowed, source=self.source)


class DecodingError(LwpdsimError, ArithmeticError):
    """A code cannot recover what was asked from the messages it has (too few, or ill-conditioned)."""
