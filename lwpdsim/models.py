"""Small numpy models with exact gradients over a flat parameter vector.

A model holds no data and no parameters: every method takes the flat ``float64`` vector ``theta``
(length ``n_params``) and the rows ``X, y`` it should look at. :meth:`Model.gradient` returns the
gradient of *the sum of the per-row losses divided by* ``total_rows``, so the gradients of the parts
of a partition of the training set, each taken with ``total_rows = N``, add up to the gradient of the
mean loss; with ``block`` it returns only ``gradient[block]`` (a "partial derivative" in the LWPD
sense when the rows are one data block).
"""

from __future__ import annotations

import numbers
from abc import ABC, abstractmethod
from typing import cast

import numpy as np

from lwpdsim import flops
from lwpdsim.config.validate import suggest
from lwpdsim.data import Dataset
from lwpdsim.errors import ScenarioError

#: The tasks (see :data:`lwpdsim.data.DATASET_TASKS`) each model kind can learn.
MODEL_TASKS: dict[str, tuple[str, ...]] = {
    "least_squares": ("regression",),
    "logistic": ("binary",),
    "softmax": ("binary", "multiclass"),
    "mlp": ("regression", "binary", "multiclass"),
}

#: Model kinds accepted by :func:`make_model`.
MODELS: tuple[str, ...] = tuple(MODEL_TASKS)

_LINEAR_INIT_SCALE = 0.01


class Model(ABC):
    """A differentiable loss over a flat parameter vector; stateless with respect to data."""

    kind: str
    n_params: int
    n_features: int

    # --- public API ------------------------------------------------------------------------------

    @abstractmethod
    def init_params(self, rng: np.random.Generator) -> np.ndarray:
        """A fresh parameter vector drawn from ``rng``."""

    def outputs(self, theta: np.ndarray, X: np.ndarray) -> np.ndarray:
        """Raw model outputs: predictions (regression), logits (classification); one row per row of X."""
        theta, X = self._check_theta(theta), self._check_X(X)
        return self._forward(theta, X)[0]

    def loss(self, theta: np.ndarray, X: np.ndarray, y: np.ndarray) -> float:
        """Mean per-row loss over the rows of ``X``."""
        return self.loss_and_accuracy(theta, X, y)[0]

    def accuracy(self, theta: np.ndarray, X: np.ndarray, y: np.ndarray) -> float | None:
        """Fraction of rows classified correctly; ``None`` for a regression model."""
        return self.loss_and_accuracy(theta, X, y)[1]

    def loss_and_accuracy(
        self, theta: np.ndarray, X: np.ndarray, y: np.ndarray
    ) -> tuple[float, float | None]:
        """Mean loss and accuracy (``None`` for regression) from a single forward pass."""
        theta, X, y = self._check_all(theta, X, y)
        if X.shape[0] == 0:
            raise ValueError("loss of an empty set of rows is undefined")
        out, _ = self._forward(theta, X)
        losses = self._row_losses(out, y)
        return float(losses.mean()), self._accuracy(out, y)

    def gradient(
        self,
        theta: np.ndarray,
        X: np.ndarray,
        y: np.ndarray,
        *,
        total_rows: int | None = None,
        block: slice | None = None,
    ) -> np.ndarray:
        """Gradient of ``sum of per-row losses / total_rows`` (default ``len(X)``) at ``theta``.

        With ``block``, the result is ``full_gradient[block]`` (numpy slice semantics, so a block
        reaching past the end is cut short), computed without needless work where that is easy.
        """
        theta, X, y = self._check_all(theta, X, y)
        rows = X.shape[0]
        total = rows if total_rows is None else total_rows
        if isinstance(total, bool) or not isinstance(total, numbers.Integral) or total <= 0:
            raise ValueError(
                f"total_rows must be a positive integer, got {total_rows!r} ({rows} rows)"
            )
        total_f = float(total)
        if block is None:
            return self._sum_gradient(theta, X, y, 0, self.n_params) / total_f
        start, stop, step = block.indices(self.n_params)
        if step != 1:
            return self._sum_gradient(theta, X, y, 0, self.n_params)[block] / total_f
        return self._sum_gradient(theta, X, y, start, max(start, stop)) / total_f

    def check_rows(self, X: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``X, y`` as float64 rows this model can read (raises ``ValueError`` otherwise)."""
        _, X, y = self._check_all(np.zeros(self.n_params), X, y)
        return X, y

    def gradient_unchecked(
        self, theta: np.ndarray, X: np.ndarray, y: np.ndarray, total_rows: int
    ) -> np.ndarray:
        """:meth:`gradient` of all parameters, skipping the input checks: for callers that ran
        :meth:`check_rows` on their data once and own a float64 ``theta`` of the right shape (the
        simulator's inner loop, where the checks would cost as much as a small gradient)."""
        grad = self._sum_gradient(theta, X, y, 0, self.n_params)
        grad /= float(total_rows)
        return grad

    def gradient_flops(self, rows: int) -> float:
        """Floating-point operations of one gradient over ``rows`` rows as
        :meth:`gradient_unchecked` computes it, counted as :mod:`lwpdsim.flops` says: the forward
        pass, the derivative of the loss, the backward products and the division by the row count.
        What a task's encoding costs is measured against this (``cluster.charge_encoding``)."""
        return self._gradient_flops(int(rows)) + flops.elementwise(self.n_params)

    def _gradient_flops(self, rows: int) -> float:
        """:meth:`gradient_flops` before the division by the row count."""
        raise NotImplementedError(f"{type(self).__name__} does not count its gradient's flops")

    # --- what each model provides ---------------------------------------------------------------

    @abstractmethod
    def _forward(self, theta: np.ndarray, X: np.ndarray) -> tuple[np.ndarray, object]:
        """Outputs for ``X`` and whatever the backward pass needs."""

    @abstractmethod
    def _row_losses(self, out: np.ndarray, y: np.ndarray) -> np.ndarray:
        """Per-row losses from the outputs."""

    @abstractmethod
    def _accuracy(self, out: np.ndarray, y: np.ndarray) -> float | None:
        """Accuracy from the outputs (``None`` for regression)."""

    @abstractmethod
    def _sum_gradient(
        self, theta: np.ndarray, X: np.ndarray, y: np.ndarray, start: int, stop: int
    ) -> np.ndarray:
        """Entries ``start:stop`` of the gradient of the summed per-row loss."""

    # --- checks -----------------------------------------------------------------------------------

    def _check_theta(self, theta: np.ndarray) -> np.ndarray:
        theta = np.asarray(theta, dtype=np.float64)
        if theta.shape != (self.n_params,):
            raise ValueError(
                f"{self.kind}: theta must have shape ({self.n_params},), got {theta.shape}"
            )
        return theta

    def _check_X(self, X: np.ndarray) -> np.ndarray:
        X = np.asarray(X, dtype=np.float64)
        if X.ndim != 2 or X.shape[1] != self.n_features:
            raise ValueError(
                f"{self.kind}: X must have shape (rows, {self.n_features}), got {X.shape}"
            )
        return X

    def _check_all(
        self, theta: np.ndarray, X: np.ndarray, y: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        theta, X = self._check_theta(theta), self._check_X(X)
        y = np.asarray(y)
        if y.shape != (X.shape[0],):
            raise ValueError(f"{self.kind}: y must have shape ({X.shape[0]},), got {y.shape}")
        return theta, X, y

    def __repr__(self) -> str:
        return f"{type(self).__name__}(n_features={self.n_features}, n_params={self.n_params})"


def _affine_gradient(X: np.ndarray, D: np.ndarray, start: int, stop: int) -> np.ndarray:
    """Entries ``start:stop`` of the flattened ``D.T @ [X, 1]`` (class-major rows of p + 1 entries).

    ``D`` (rows, outputs) holds d(per-row loss)/d(output). Only the output rows the range touches are
    formed, and when it touches one row only its columns are.
    """
    p1 = X.shape[1] + 1
    if stop <= start:
        return np.zeros(0)
    first, last = start // p1, (stop - 1) // p1
    offset = first * p1
    if first == last:
        lo, hi = start - offset, stop - offset
        d = D[:, first]
        grad = np.empty(hi - lo)
        w_hi = min(hi, p1 - 1)
        if w_hi > lo:
            grad[: w_hi - lo] = d @ X[:, lo:w_hi]
        if hi == p1:
            grad[-1] = np.add.reduce(d)  # d.sum(), without its Python-level wrapper
        return grad
    Dc = D[:, first : last + 1]
    full = np.empty((last + 1 - first, p1))
    full[:, :-1] = Dc.T @ X
    full[:, -1] = Dc.sum(axis=0)
    return full.reshape(-1)[start - offset : stop - offset]


class _Linear(Model):
    """Affine outputs ``X @ W.T + b`` with ``theta.reshape(outputs, p + 1)`` rows ``[w_c, b_c]``."""

    n_outputs: int

    def __init__(self, n_features: int, n_outputs: int) -> None:
        self.n_features = int(n_features)
        self.n_outputs = int(n_outputs)
        self.n_params = self.n_outputs * (self.n_features + 1)

    def init_params(self, rng: np.random.Generator) -> np.ndarray:
        return _LINEAR_INIT_SCALE * rng.standard_normal(self.n_params)

    def _forward(self, theta: np.ndarray, X: np.ndarray) -> tuple[np.ndarray, object]:
        if self.n_outputs == 1:
            return X @ theta[:-1] + theta[-1], None
        P = theta.reshape(self.n_outputs, self.n_features + 1)
        return X @ P[:, :-1].T + P[:, -1], None

    def _sum_gradient(
        self, theta: np.ndarray, X: np.ndarray, y: np.ndarray, start: int, stop: int
    ) -> np.ndarray:
        out, _ = self._forward(theta, X)
        D = self._output_derivative(out, y)
        if self.n_outputs == 1 and start == 0 and stop == self.n_params:  # the common case, direct
            grad = np.empty(self.n_params)
            grad[:-1] = D @ X
            grad[-1] = np.add.reduce(D)
            return grad
        return _affine_gradient(X, D.reshape(X.shape[0], self.n_outputs), start, stop)

    @abstractmethod
    def _output_derivative(self, out: np.ndarray, y: np.ndarray) -> np.ndarray:
        """d(per-row loss)/d(outputs), shaped like the outputs."""

    #: Flops of :meth:`_output_derivative` per row and output, and per row.
    _derivative_flops: tuple[float, float] = (1.0, 0.0)

    def _gradient_flops(self, rows: int) -> float:
        r, p, o = rows, self.n_features, self.n_outputs
        forward = flops.matmul(r, p, o) + flops.elementwise(r * o)  # X W^T + b
        per_output, per_row = self._derivative_flops
        derivative = flops.elementwise(r * o, per_output) + flops.elementwise(r, per_row)
        backward = flops.matmul(o, r, p) + o * flops.vector_sum(r, 1)  # D^T X and D's sums
        return forward + derivative + backward


class LeastSquares(_Linear):
    """Linear regression ``X w + b`` with per-row loss ``0.5 (prediction - y)^2``.

    ``theta = [w (p), b]``.
    """

    kind = "least_squares"

    def __init__(self, n_features: int) -> None:
        super().__init__(n_features, 1)

    def _row_losses(self, out: np.ndarray, y: np.ndarray) -> np.ndarray:
        return cast(np.ndarray, 0.5 * (out - y) ** 2)  # an ndarray; numpy's stubs say Any

    def _accuracy(self, out: np.ndarray, y: np.ndarray) -> float | None:
        return None

    def _output_derivative(self, out: np.ndarray, y: np.ndarray) -> np.ndarray:
        return cast(np.ndarray, out - y)  # an ndarray; numpy's stubs say Any


class Logistic(_Linear):
    """Binary logistic regression: ``P(y = 1) = sigmoid(X w + b)``, per-row log-loss.

    ``theta = [w (p), b]``; labels are 0/1.
    """

    kind = "logistic"

    def __init__(self, n_features: int) -> None:
        super().__init__(n_features, 1)

    def _row_losses(self, out: np.ndarray, y: np.ndarray) -> np.ndarray:
        # -log sigmoid(z) for y = 1, -log(1 - sigmoid(z)) for y = 0, i.e. log(1 + e^z) - y z.
        # cast: an ndarray, which numpy's stubs type as Any
        return cast(np.ndarray, np.logaddexp(0.0, out) - y * out)

    def _accuracy(self, out: np.ndarray, y: np.ndarray) -> float | None:
        return float(np.mean((out > 0) == (y == 1)))

    #: exp(-logaddexp(0, -z)) - y: a negation, logaddexp, a negation, exp and a subtraction
    _derivative_flops = (5.0, 0.0)

    def _output_derivative(self, out: np.ndarray, y: np.ndarray) -> np.ndarray:
        # sigmoid(z) - y, without overflow; an ndarray, numpy's stubs say Any
        return cast(np.ndarray, np.exp(-np.logaddexp(0.0, -out)) - y)


def _log_softmax(logits: np.ndarray) -> np.ndarray:
    shifted = logits - logits.max(axis=1, keepdims=True)
    # cast: an ndarray, which numpy's stubs type as Any
    return cast(np.ndarray, shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True)))


def _softmax_losses(logits: np.ndarray, y: np.ndarray) -> np.ndarray:
    # cast: an ndarray, which numpy's stubs type as Any
    return cast(np.ndarray, -_log_softmax(logits)[np.arange(y.shape[0]), y])


def _softmax_derivative(logits: np.ndarray, y: np.ndarray) -> np.ndarray:
    D: np.ndarray = np.exp(_log_softmax(logits))
    D[np.arange(y.shape[0]), y] -= 1.0
    return D


def _argmax_accuracy(logits: np.ndarray, y: np.ndarray) -> float:
    return float(np.mean(np.argmax(logits, axis=1) == y))


class Softmax(_Linear):
    """Multinomial logistic regression over ``n_classes`` classes, per-row cross-entropy.

    The layout is class-major: ``theta.reshape(C, p + 1)[c] = [weights of class c, bias of class c]``,
    so cutting ``theta`` into ``t`` equal contiguous blocks (``t`` dividing ``C``) cuts it by output
    node.
    """

    kind = "softmax"

    def __init__(self, n_features: int, n_classes: int) -> None:
        if n_classes < 2:
            raise ValueError(f"softmax needs at least 2 classes, got {n_classes}")
        super().__init__(n_features, n_classes)

    @property
    def n_classes(self) -> int:
        """Number of classes (output nodes)."""
        return self.n_outputs

    def _row_losses(self, out: np.ndarray, y: np.ndarray) -> np.ndarray:
        return _softmax_losses(out, y)

    def _accuracy(self, out: np.ndarray, y: np.ndarray) -> float | None:
        return _argmax_accuracy(out, y)

    #: :func:`_softmax_derivative`: per entry a shift, exp, a shift and exp (the row maxima are
    #: comparisons), the row sums; per row a log and the -1 at the label
    _derivative_flops = (5.0, 1.0)

    def _output_derivative(self, out: np.ndarray, y: np.ndarray) -> np.ndarray:
        return _softmax_derivative(out, y)


class MLP(Model):
    """One hidden layer of ``hidden`` tanh units.

    ``n_classes >= 2``: softmax output over the classes with cross-entropy; ``n_classes == 0``: one
    linear output with per-row loss ``0.5 (prediction - y)^2``. Layout of ``theta``:
    ``[W1 (hidden, p) row-major, b1 (hidden), W2 (outputs, hidden) row-major, b2 (outputs)]``.
    Initialisation: Glorot-uniform weights, zero biases.
    """

    kind = "mlp"

    def __init__(self, n_features: int, hidden: int, n_classes: int) -> None:
        if hidden < 1:
            raise ValueError(f"hidden must be >= 1, got {hidden}")
        if n_classes == 1 or n_classes < 0:
            raise ValueError(f"n_classes must be 0 (regression) or >= 2, got {n_classes}")
        self.n_features = int(n_features)
        self.hidden = int(hidden)
        self.n_classes = int(n_classes)
        self.n_outputs = self.n_classes if self.n_classes else 1
        p, h, o = self.n_features, self.hidden, self.n_outputs
        sizes = (h * p, h, o * h, o)
        self._cuts = np.cumsum(sizes)[:-1].tolist()
        self.n_params = int(sum(sizes))

    def _unpack(self, theta: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        W1, b1, W2, b2 = np.split(theta, self._cuts)
        return (
            W1.reshape(self.hidden, self.n_features),
            b1,
            W2.reshape(self.n_outputs, self.hidden),
            b2,
        )

    def init_params(self, rng: np.random.Generator) -> np.ndarray:
        p, h, o = self.n_features, self.hidden, self.n_outputs
        lim1 = np.sqrt(6.0 / (p + h))
        lim2 = np.sqrt(6.0 / (h + o))
        return np.concatenate(
            [
                rng.uniform(-lim1, lim1, h * p),
                np.zeros(h),
                rng.uniform(-lim2, lim2, o * h),
                np.zeros(o),
            ]
        )

    def _forward(self, theta: np.ndarray, X: np.ndarray) -> tuple[np.ndarray, object]:
        W1, b1, W2, b2 = self._unpack(theta)
        A = np.tanh(X @ W1.T + b1)
        out = A @ W2.T + b2
        if self.n_classes == 0:
            out = out[:, 0]
        return out, A

    def _row_losses(self, out: np.ndarray, y: np.ndarray) -> np.ndarray:
        if self.n_classes == 0:
            return cast(np.ndarray, 0.5 * (out - y) ** 2)  # an ndarray; numpy's stubs say Any
        return _softmax_losses(out, y)

    def _accuracy(self, out: np.ndarray, y: np.ndarray) -> float | None:
        return None if self.n_classes == 0 else _argmax_accuracy(out, y)

    def _sum_gradient(
        self, theta: np.ndarray, X: np.ndarray, y: np.ndarray, start: int, stop: int
    ) -> np.ndarray:
        out, A = self._forward(theta, X)
        assert isinstance(A, np.ndarray)
        D = (out - y)[:, None] if self.n_classes == 0 else _softmax_derivative(out, y)
        _, _, W2, _ = self._unpack(theta)
        grad = np.empty(self.n_params)
        g_W1, g_b1, g_W2, g_b2 = np.split(grad, self._cuts)  # views into grad
        g_W2[:] = (D.T @ A).reshape(-1)
        g_b2[:] = D.sum(axis=0)
        if start < self._cuts[1]:  # the first layer is needed
            Z = (D @ W2) * (1.0 - A * A)
            g_W1[:] = (Z.T @ X).reshape(-1)
            g_b1[:] = Z.sum(axis=0)
        return grad[start:stop]

    def _gradient_flops(self, rows: int) -> float:
        r, p, h, o = rows, self.n_features, self.hidden, self.n_outputs
        ew = flops.elementwise
        forward = flops.matmul(r, p, h) + ew(r * h, 2.0)  # X W1^T + b1, tanh
        forward += flops.matmul(r, h, o) + ew(r * o)  # A W2^T + b2
        # as Softmax for classes; out - y for regression
        derivative = ew(r * o, 5.0) + ew(r) if self.n_classes else ew(r)
        second = flops.matmul(o, r, h) + o * flops.vector_sum(r, 1)  # D^T A, D's sums
        first = flops.matmul(r, o, h) + ew(r * h, 3.0)  # (D W2) * (1 - A * A)
        first += flops.matmul(h, r, p) + h * flops.vector_sum(r, 1)  # Z^T X, Z's sums
        return forward + derivative + second + first

    def __repr__(self) -> str:
        return (
            f"MLP(n_features={self.n_features}, hidden={self.hidden}, "
            f"n_classes={self.n_classes}, n_params={self.n_params})"
        )


def param_count(kind: str, n_features: int, n_classes: int, hidden: int = 32) -> int:
    """Parameters of model ``kind`` for ``n_features`` features and ``n_classes`` classes (0 for
    regression), as :func:`make_model` would size it; nothing is allocated."""
    outputs = n_classes if n_classes else 1
    if kind == "mlp":
        return hidden * n_features + hidden + outputs * hidden + outputs
    return (outputs if kind == "softmax" else 1) * (n_features + 1)


def check_fits(kind: str, task: str, name: str) -> None:
    """Refuse a model ``kind`` that cannot learn a ``task`` dataset called ``name``."""
    if kind not in MODELS:
        hint = suggest(kind, MODELS, ignore_case=False)
        raise ScenarioError("model.kind", kind, f"one of {', '.join(map(repr, MODELS))}{hint}")
    if kind == "least_squares" and task != "regression":
        raise ScenarioError(
            "model.kind",
            kind,
            f"least_squares needs a regression dataset; {name!r} is {task}: "
            "use logistic (binary), softmax or mlp",
        )
    if kind == "logistic" and task != "binary":
        raise ScenarioError(
            "model.kind",
            kind,
            f"logistic needs a binary dataset; {name!r} is {task}: use "
            + ("softmax or mlp" if task == "multiclass" else "least_squares or mlp"),
        )
    if kind == "softmax" and task == "regression":
        raise ScenarioError(
            "model.kind",
            kind,
            f"softmax needs a classification dataset; {name!r} is regression: "
            "use least_squares or mlp",
        )


def make_model(kind: str, dataset: Dataset, *, hidden: int = 32) -> Model:
    """Build the model ``kind`` sized for ``dataset``; reject kinds that do not fit its task, and
    models whose parameters alone would take more than :data:`MAX_PARAMS_BYTES`."""
    check_fits(kind, dataset.task, dataset.name)
    p = dataset.n_features
    if kind == "least_squares":
        return LeastSquares(p)
    if kind == "logistic":
        return Logistic(p)
    if kind == "softmax":
        _check_params(param_count(kind, p, dataset.n_classes), "model.features", p)
        return Softmax(p, dataset.n_classes)
    if isinstance(hidden, bool) or not isinstance(hidden, numbers.Integral) or hidden < 1:
        raise ScenarioError("model.hidden", hidden, "a positive integer (number of tanh units)")
    _check_params(param_count(kind, p, dataset.n_classes, int(hidden)), "model.hidden", hidden)
    return MLP(p, int(hidden), dataset.n_classes)


#: Largest parameter vector :func:`make_model` builds (a run holds many such vectors).
MAX_PARAMS_BYTES = 1024**3


def _check_params(count: int, field: str, value: int) -> None:
    if count * 8 > MAX_PARAMS_BYTES:
        raise ScenarioError(
            field,
            value,
            f"a size whose model has at most {MAX_PARAMS_BYTES // 8} parameters "
            f"({MAX_PARAMS_BYTES // 1024**3} GiB of float64 each); this one has {count}",
        )
