"""The master of one run: it owns the parameters and their version, applies the rule's steps,
evaluates the loss, and decides when the run stops. It knows nothing of simulated time beyond the
times the cluster hands it.

Why a run stops (:data:`STATUSES`), checked in this order:

- after a step: ``diverged`` (non-finite parameters or loss, or a loss above
  ``train.divergence`` times the initial loss: see :meth:`Master.diverged`), ``target`` (the loss
  reached ``train.target_loss``), ``max_updates`` (``train.max_updates`` steps taken);
- before each simulation event (:meth:`Master.may_continue`): ``stalled`` (nothing left to
  happen), ``max_time`` (the next event is past ``train.max_time``), ``stalled`` (the rule says it
  can make no step with the workers left, or :data:`STALL_DELIVERIES` results per worker arrived
  without a step);
- ``error``: the rule raised a :class:`~lwpdsim.errors.LwpdsimError` (:meth:`Master.fail`), or
  simulated time overflowed a float with no finite ``train.max_time`` to stop at first
  (:meth:`Master.overflowed`; a scenario's validation refuses times that plausibly overflow);
- ``trace_end``: a task was to start computing on a worker whose replayed latency trace has no
  time left (``cluster.latency`` of ``dist = "replay"`` with ``on_end = "stop"``).

With ``decode_error`` (a rule entry's key, docs/schemes.md) the master also measures every step:
:attr:`Master.decode_error` is ``||step - g|| / ||g||``, g the full training gradient at the
parameters the step is applied to (:func:`relative_error`). A measurement, not work: it draws
nothing, changes no number of the run and is not counted as gradient work or master operations.
"""

from __future__ import annotations

import math
import sys
from typing import TYPE_CHECKING, Any

import numpy as np

from ..errors import LwpdsimError

if TYPE_CHECKING:
    from ..config import Train
    from ..problem import Problem
    from ..schemes.base import Scheme

#: Why a run stopped.
STATUSES = ("max_updates", "max_time", "target", "stalled", "diverged", "error", "trace_end")
#: A run is stalled when this many results per worker arrive without any step (a backstop; rules
#: that can tell they are stuck say so through ``Scheme.can_progress``).
STALL_DELIVERIES = 1000


class Master:
    """The parameters ``theta`` at ``version``, updated as ``theta -= lr * step``.

    The rule reads the current version as ``scheme.version``, a plain attribute (it reads it on
    every result, so not a call): the master sets it when created and in :meth:`step`, nowhere
    else does."""

    def __init__(
        self,
        scheme: Scheme,
        problem: Problem,
        theta0: np.ndarray,
        lr: float,
        train: Train,
        workers: int,
        progress: Any = None,
        decode_error: bool = False,
    ) -> None:
        self.scheme, self.problem, self.lr, self.train = scheme, problem, lr, train
        self.theta = np.array(theta0, dtype=float)
        self.version = 0
        scheme.version = 0
        self.max_time = train.max_time
        self.stall_limit = STALL_DELIVERIES * workers  # results without a step before "stalled"
        self.initial_loss = math.nan  # the loss at version 0 (its first evaluation)
        self.loss_limit = math.inf  # a finite loss above this is a divergence
        self.status = ""  # one of STATUSES once the run has stopped
        self.message = ""
        self.time_to_target = math.nan
        self.progress = progress  # anything with update(1), told of every step
        self.measures_decode_error = decode_error
        self.decode_error = math.nan  # the last step's decoding error (NaN: not measured)

    def evaluate(self) -> dict[str, float]:
        """Loss and accuracy (train and test) at the current parameters; an infinite loss when
        the parameters are not finite."""
        if not np.all(np.isfinite(self.theta)):
            metrics = {
                "loss": math.inf,
                "accuracy": math.nan,
                "test_loss": math.nan,
                "test_accuracy": math.nan,
            }
        else:
            with np.errstate(all="ignore"):
                metrics = self.problem.evaluate(self.theta)
        if self.version == 0 and math.isnan(self.initial_loss):
            self._set_initial_loss(float(metrics["loss"]))
        return metrics

    def _set_initial_loss(self, loss: float) -> None:
        self.initial_loss = loss
        if math.isfinite(loss) and loss > 0:
            self.loss_limit = self.train.divergence * loss  # inf when the rule is off

    def diverged(self, metrics: dict[str, float], finite: bool) -> str:
        """Why the run diverged at these metrics (``finite``: whether the parameters are), or
        the empty string. A loss that is not finite diverges; so does a finite one above
        ``train.divergence`` times the initial loss (never when the initial loss is 0)."""
        loss = metrics["loss"]
        if not math.isfinite(loss):
            what = "parameters" if not finite else "loss"
            return f"the {what} became non-finite at update {self.version}"
        if loss > self.loss_limit:
            return (
                f"the loss {loss:.4g} exceeded train.divergence = {self.train.divergence:g} "
                f"times the initial loss {self.initial_loss:.4g} at update {self.version}"
            )
        return ""

    def step(self, step: np.ndarray, now: float) -> dict[str, float] | None:
        """Apply ``theta -= lr * step`` at time ``now``, evaluate when due (every
        ``train.eval_every`` updates, at the last one, and whenever the parameters overflow), and
        apply the stop rules. Returns the metrics, or ``None`` when not evaluated."""
        step = np.asarray(step, dtype=float)
        if step.shape != self.theta.shape:
            raise LwpdsimError(
                f"{self.scheme.name} stepped with shape {step.shape}, not {self.theta.shape}"
            )
        if self.measures_decode_error:
            self.decode_error = self.measure(step)
        self.theta = self.theta - self.lr * step
        self.version += 1
        self.scheme.version = self.version
        train = self.train
        final = self.version >= train.max_updates
        # a finite sum means finite parameters; only an overflowing sum needs a closer look
        finite = math.isfinite(np.add.reduce(self.theta)) or bool(np.isfinite(self.theta).all())
        evaluate = not finite or self.version % train.eval_every == 0 or final
        metrics = self.evaluate() if evaluate else None
        if self.progress is not None:
            self.progress.update(1)
        why = "" if metrics is None else self.diverged(metrics, finite)
        if why:
            self.stop("diverged", why)
        elif (
            metrics is not None
            and train.target_loss is not None
            and metrics["loss"] <= train.target_loss
        ):
            self.time_to_target = now
            self.stop("target", f"loss {metrics['loss']:.4g} <= target {train.target_loss:g}")
        elif final:
            self.stop("max_updates", f"reached {train.max_updates} updates")
        return metrics

    def measure(self, step: np.ndarray) -> float:
        """The decoding error of ``step`` at the current parameters (before it is applied):
        :func:`relative_error` against the full training gradient; NaN when the parameters are
        not finite (no gradient to compare with)."""
        if not np.isfinite(self.theta).all():
            return math.nan
        return relative_error(step, self.problem.full_gradient(self.theta))

    def may_continue(
        self, next_event: float, results_without_step: int, workers_left: set[int] | None
    ) -> bool:
        """The stop rules that depend on the simulation, given the time of its next event
        (``inf``: none), the results that arrived since the last step, and the workers that may
        still compute if that set changed since the last call (else ``None``). Returns whether
        the run goes on."""
        if next_event == math.inf:
            self.stop("stalled", "no worker can make progress (all remaining are down or waiting)")
        elif next_event > self.max_time:
            self.stop("max_time", f"reached simulated time {self.max_time:g}")
        elif workers_left is not None and not self.scheme.can_progress(workers_left):
            self.stop("stalled", "the rule can make no step with the workers left")
        elif results_without_step > self.stall_limit:
            self.stop("stalled", f"{results_without_step} results arrived without a step")
        return not self.status

    def overflowed(self) -> None:
        """The next event lies at infinite time: simulated time overflowed a float. Past a finite
        ``train.max_time`` that is where the run stops anyway; otherwise the run fails."""
        if self.max_time < math.inf:
            self.stop("max_time", f"reached simulated time {self.max_time:g}")
        else:
            self.stop(
                "error",
                "simulated time overflowed: the next event lies beyond the largest float "
                f"({sys.float_info.max:.4g} s); the scenario's times are too large to add up",
            )

    def fail(self, err: LwpdsimError) -> None:
        """Stop because the rule failed (a decoding failure, a step of the wrong shape, ...)."""
        self.stop("error", f"{type(err).__name__}: {err}")

    def stop(self, status: str, message: str) -> None:
        self.status, self.message = status, message


def relative_error(estimate: np.ndarray, truth: np.ndarray) -> float:
    """``||estimate - truth|| / ||truth||`` (Euclidean norms). With ``truth`` = 0 there is no
    scale: NaN when the estimate is 0 too (nothing to call wrong), ``inf`` when it is not (a step
    where the true gradient vanishes). Non-finite inputs give NaN or ``inf`` as the arithmetic does."""
    with np.errstate(all="ignore"):
        diff = float(np.linalg.norm(estimate - truth))
        scale = float(np.linalg.norm(truth))
    if scale == 0.0:
        return math.inf if diff > 0.0 else math.nan
    return diff / scale
