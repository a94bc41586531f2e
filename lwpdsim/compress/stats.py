"""The measured compression error: ``||C(x) - x||^2 / ||x||^2`` of each message, and its mean
over a run."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np


def relative_error(x: np.ndarray, decoded: np.ndarray) -> float:
    """``||decoded - x||^2 / ||x||^2``; NaN when x = 0 (the ratio is undefined there)."""
    norm2 = float(np.dot(x, x))
    diff = decoded - x
    return float(np.dot(diff, diff)) / norm2 if norm2 > 0 else math.nan


@dataclass
class ErrorMean:
    """A running mean of the relative error of the messages of a run.

    :meth:`add` takes one message's squared error and its input's squared norm. Inputs of norm 0
    have no relative error: they are counted in :attr:`zero_inputs`, not in the mean. Besides the
    mean of the ratios, :attr:`pooled` is the ratio of the sums (messages weighted by their norm)."""

    count: int = 0  # messages with a non-zero input, in the mean
    zero_inputs: int = 0  # messages whose input was 0
    total: float = 0.0  # sum of the ratios
    total_sq: float = 0.0  # sum of their squares
    error2: float = 0.0  # sum of the squared errors
    norm2: float = 0.0  # sum of the inputs' squared norms

    def add(self, error2: float, norm2: float) -> None:
        if norm2 == 0.0:
            self.zero_inputs += 1
            return
        ratio = error2 / norm2
        self.count += 1
        self.total += ratio
        self.total_sq += ratio * ratio
        self.error2 += error2
        self.norm2 += norm2

    def add_vectors(self, x: np.ndarray, decoded: np.ndarray) -> None:
        diff = decoded - x
        self.add(float(np.dot(diff, diff)), float(np.dot(x, x)))

    @property
    def mean(self) -> float:
        """Mean relative error over the messages of non-zero input (NaN when there are none)."""
        return self.total / self.count if self.count else math.nan

    @property
    def stderr(self) -> float:
        """Standard error of :attr:`mean` (NaN below two messages)."""
        if self.count < 2:
            return math.nan
        var = (self.total_sq - self.total * self.total / self.count) / (self.count - 1)
        return math.sqrt(max(var, 0.0) / self.count)

    @property
    def pooled(self) -> float:
        """Sum of the squared errors over the sum of the inputs' squared norms."""
        return self.error2 / self.norm2 if self.norm2 > 0 else math.nan

    def summary(self, link: str = "") -> dict[str, float | int]:
        """The numbers a run summary records, named for the ``link`` ("" for the uplink,
        "_down" for the master's broadcast): ``compression<link>_error`` (the mean) with its
        ``_stderr`` and ``_pooled``, ``compressed<link>_messages`` and
        ``compressed<link>_zero_inputs`` (messages whose input was 0, without a ratio)."""
        return {
            f"compression{link}_error": self.mean,
            f"compression{link}_error_stderr": self.stderr,
            f"compression{link}_error_pooled": self.pooled,
            f"compressed{link}_messages": self.count + self.zero_inputs,
            f"compressed{link}_zero_inputs": self.zero_inputs,
        }
