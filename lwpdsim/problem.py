"""The learning problem the workers share: a model, its training data, and a gradient cache.

Rules ask for the gradient of a range of training rows at a given parameter version. Identical
requests (GC workers whose partitions overlap, LWPD workers sharing a data block) are computed once:
results are cached by ``(version, rows)`` in a small least-recently-used table. Rules that never
ask twice pass ``share=False`` and skip it. Every computation is counted, so a run can report how
many gradients it evaluated and how long they took.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from dataclasses import dataclass, field

import numpy as np

from .data import Dataset
from .models import Model


@dataclass
class Problem:
    """A model bound to its training set, with counters and a gradient cache."""

    model: Model
    data: Dataset
    cache_size: int = 256
    gradient_evaluations: int = 0  # calls to the model's gradient
    gradient_rows: int = 0  # rows those calls processed
    gradient_seconds: float = 0.0
    eval_seconds: float = 0.0
    measure_seconds: float = 0.0  # full gradients of the decoding-error measurement
    _cache: OrderedDict[tuple[int, int, int], np.ndarray] = field(default_factory=OrderedDict)

    def __post_init__(self) -> None:
        # checked once here, so that every gradient can skip the model's input checks
        self._X, self._y = self.model.check_rows(self.data.X_train, self.data.y_train)
        self._rows = int(self._X.shape[0])
        self._theta_shape = (int(self.model.n_params),)

    @property
    def n_rows(self) -> int:
        return self._rows

    @property
    def n_params(self) -> int:
        return int(self.model.n_params)

    def gradient(
        self, version: int, theta: np.ndarray, rows: slice, *, share: bool = True
    ) -> np.ndarray:
        """Gradient of the training rows ``rows`` at ``theta``, normalised by the full row count, so
        the gradients of a partition of the rows sum to the full mean gradient.

        With ``share`` (the default) results are cached by version and rows, for rules whose tasks
        can ask for the same gradient; ``share=False`` skips the cache (keeping gradients nobody
        asks for again costs memory traffic)."""
        key = (version, rows.start or 0, rows.stop if rows.stop is not None else self._rows)
        cache = self._cache
        if share:
            hit = cache.get(key)
            if hit is not None:
                cache.move_to_end(key)
                return hit
        if theta.shape != self._theta_shape:
            raise ValueError(f"theta must have shape {self._theta_shape}, not {theta.shape}")
        start = time.perf_counter()
        grad = self.model.gradient_unchecked(theta, self._X[rows], self._y[rows], self._rows)
        self.gradient_seconds += time.perf_counter() - start
        self.gradient_evaluations += 1
        self.gradient_rows += key[2] - key[1]
        grad.setflags(write=False)
        if share:
            cache[key] = grad
            if len(cache) > self.cache_size:
                cache.popitem(last=False)
        return grad

    def full_gradient(self, theta: np.ndarray) -> np.ndarray:
        """The gradient of all training rows at ``theta``, computed as :meth:`gradient` computes a
        partition's (so the partitions' gradients sum to it up to rounding), for measuring a step
        against it: neither cached nor counted as gradient work (its time goes to
        :attr:`measure_seconds`), so the run's numbers are those of a run without it."""
        if theta.shape != self._theta_shape:
            raise ValueError(f"theta must have shape {self._theta_shape}, not {theta.shape}")
        start = time.perf_counter()
        grad = self.model.gradient_unchecked(theta, self._X, self._y, self._rows)
        self.measure_seconds += time.perf_counter() - start
        return grad

    def evaluate(self, theta: np.ndarray) -> dict[str, float]:
        """Training loss (and accuracy), and test loss (and accuracy) when there is a test set."""
        start = time.perf_counter()
        d = self.data
        loss, acc = self.model.loss_and_accuracy(theta, d.X_train, d.y_train)
        out = {"loss": float(loss), "accuracy": np.nan if acc is None else float(acc)}
        if d.X_test.shape[0]:
            tl, ta = self.model.loss_and_accuracy(theta, d.X_test, d.y_test)
            out["test_loss"] = float(tl)
            out["test_accuracy"] = np.nan if ta is None else float(ta)
        else:
            out["test_loss"] = np.nan
            out["test_accuracy"] = np.nan
        self.eval_seconds += time.perf_counter() - start
        return out

    @property
    def gradient_work(self) -> float:
        """Gradient work done, in full-batch gradient equivalents (rows processed / rows)."""
        return self.gradient_rows / self.n_rows

    @property
    def gradient_flops(self) -> float:
        """Floating-point operations of one full-batch gradient (all training rows), as the model
        counts them (:meth:`lwpdsim.models.Model.gradient_flops`): the cost against which a task's
        encoding work is charged."""
        return self.model.gradient_flops(self._rows)
