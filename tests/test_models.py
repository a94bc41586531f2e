"""Models: gradients against finite differences, partition/block identities, layouts, errors."""

from __future__ import annotations

import numpy as np
import pytest

from lwpdsim.data import Dataset
from lwpdsim.errors import ScenarioError
from lwpdsim.models import (
    MLP,
    MODEL_TASKS,
    MODELS,
    LeastSquares,
    Logistic,
    Model,
    Softmax,
    make_model,
)

ROWS = 23  # not a multiple of the partition counts used below


def toy_dataset(task: str, n_classes: int, p: int = 6, rows: int = ROWS, seed: int = 0) -> Dataset:
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((rows, p))
    if task == "regression":
        y = rng.standard_normal(rows)
    else:
        y = np.arange(rows) % n_classes  # every class present
        rng.shuffle(y)
        y = y.astype(np.int64)
    return Dataset("toy", task, n_classes, X, y, X[:0], y[:0])


# (kind, task, n_classes, features): p + 1 is prime (7, 11) or odd, so blocks cut rows unevenly
CASES = [
    ("least_squares", "regression", 0, 6),
    ("least_squares", "regression", 0, 10),
    ("logistic", "binary", 2, 6),
    ("softmax", "binary", 2, 6),
    ("softmax", "multiclass", 3, 6),
    ("softmax", "multiclass", 4, 10),
    ("mlp", "regression", 0, 6),
    ("mlp", "binary", 2, 5),
    ("mlp", "multiclass", 3, 6),
]


def case_setup(kind: str, task: str, n_classes: int, p: int) -> tuple[Model, Dataset, np.ndarray]:
    data = toy_dataset(task, n_classes, p)
    model = make_model(kind, data, hidden=5)
    # A point away from the initialisation, so no gradient entry is trivially zero.
    theta = np.random.default_rng(1).normal(scale=0.5, size=model.n_params)
    return model, data, theta


def finite_difference(model: Model, theta: np.ndarray, X: np.ndarray, y: np.ndarray) -> np.ndarray:
    h = 1e-6
    grad = np.empty_like(theta)
    for i in range(theta.size):
        step = np.zeros_like(theta)
        step[i] = h
        grad[i] = (model.loss(theta + step, X, y) - model.loss(theta - step, X, y)) / (2 * h)
    return grad


def rel_err(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.linalg.norm(a - b) / max(np.linalg.norm(a), np.linalg.norm(b), 1e-300))


ids = [f"{k}-{t}-C{c}-p{p}" for k, t, c, p in CASES]


@pytest.mark.parametrize(("kind", "task", "n_classes", "p"), CASES, ids=ids)
def test_full_gradient_matches_finite_differences(kind, task, n_classes, p):
    model, data, theta = case_setup(kind, task, n_classes, p)
    X, y = data.X_train, data.y_train
    grad = model.gradient(theta, X, y)
    assert grad.shape == (model.n_params,)
    assert grad.dtype == np.float64
    assert rel_err(grad, finite_difference(model, theta, X, y)) < 1e-6


@pytest.mark.parametrize(("kind", "task", "n_classes", "p"), CASES, ids=ids)
def test_subset_gradient_scaled_by_total_rows(kind, task, n_classes, p):
    model, data, theta = case_setup(kind, task, n_classes, p)
    X, y, N = data.X_train, data.y_train, data.n_train
    rows = slice(3, 12)
    sub = model.gradient(theta, X[rows], y[rows], total_rows=N)
    # The subset's mean-loss gradient (by finite differences), reweighted to a share of N.
    fd = finite_difference(model, theta, X[rows], y[rows]) * (9 / N)
    assert rel_err(sub, fd) < 1e-6
    full = model.gradient(theta, X, y)
    for parts in ([slice(0, 8), slice(8, 16), slice(16, N)], [slice(0, 1), slice(1, N)]):
        total = sum(model.gradient(theta, X[s], y[s], total_rows=N) for s in parts)
        np.testing.assert_allclose(total, full, rtol=0, atol=1e-12 * np.abs(full).max())


@pytest.mark.parametrize(("kind", "task", "n_classes", "p"), CASES, ids=ids)
def test_block_gradient_is_slice_of_full(kind, task, n_classes, p):
    model, data, theta = case_setup(kind, task, n_classes, p)
    X, y, N = data.X_train, data.y_train, data.n_train
    d = model.n_params
    full = model.gradient(theta, X[5:17], y[5:17], total_rows=N)
    blocks = [slice(0, d)]
    for t in (2, 3, 4):
        size = -(-d // t)  # equal blocks, the last one cut short (the LWPD zero-padding case)
        blocks += [slice(a * size, (a + 1) * size) for a in range(t)]
    blocks += [slice(1, 2), slice(d - 1, d), slice(3, d - 2), slice(None, None, 2), slice(4, 4)]
    for block in blocks:
        part = model.gradient(theta, X[5:17], y[5:17], total_rows=N, block=block)
        assert part.shape == full[block].shape
        np.testing.assert_allclose(part, full[block], rtol=1e-13, atol=1e-15)
        fd = finite_difference(model, theta, X[5:17], y[5:17])[block] * (12 / N)
        if part.size:
            assert rel_err(part, fd) < 1e-6


def test_inputs_are_not_modified():
    for kind, task, n_classes, p in CASES:
        model, data, theta = case_setup(kind, task, n_classes, p)
        X, y = data.X_train.copy(), data.y_train.copy()
        theta0 = theta.copy()
        model.gradient(theta, X, y, block=slice(1, 5))
        model.loss_and_accuracy(theta, X, y)
        np.testing.assert_array_equal(theta, theta0)
        np.testing.assert_array_equal(X, data.X_train)
        np.testing.assert_array_equal(y, data.y_train)


def test_least_squares_known_values():
    data = toy_dataset("regression", 0)
    model = make_model("least_squares", data)
    X, y = data.X_train, data.y_train
    theta = np.zeros(model.n_params)
    assert model.loss(theta, X, y) == pytest.approx(0.5 * np.mean(y**2), rel=1e-14)
    # gradient at zero is -[X^T y, sum y] / N
    expected = -np.append(X.T @ y, y.sum()) / len(y)
    np.testing.assert_allclose(model.gradient(theta, X, y), expected, rtol=1e-12)
    # an exact fit has zero loss and zero gradient; the bias is the last entry
    w, b = np.arange(1.0, 7.0), -2.5
    theta = np.append(w, b)
    yy = X @ w + b
    assert model.loss(theta, X, yy) == pytest.approx(0.0, abs=1e-25)
    np.testing.assert_allclose(model.gradient(theta, X, yy), 0, atol=1e-13)
    assert model.accuracy(theta, X, yy) is None


def test_logistic_known_values_and_extremes():
    data = toy_dataset("binary", 2)
    model = make_model("logistic", data)
    X, y = data.X_train, data.y_train
    assert model.loss(np.zeros(model.n_params), X, y) == pytest.approx(np.log(2), rel=1e-14)
    # hand computation at a random point
    theta = np.random.default_rng(5).standard_normal(model.n_params)
    z = X @ theta[:-1] + theta[-1]
    prob = 1 / (1 + np.exp(-z))
    hand = -np.mean(y * np.log(prob) + (1 - y) * np.log(1 - prob))
    assert model.loss(theta, X, y) == pytest.approx(hand, rel=1e-12)
    # huge logits: finite loss and gradient (no overflow), loss ~ |z| for wrong-side rows
    big = theta * 1e4
    loss = model.loss(big, X, y)
    assert np.isfinite(loss) and loss > 100
    assert np.all(np.isfinite(model.gradient(big, X, y)))


def test_softmax_known_values():
    for C in (2, 3, 5):
        data = toy_dataset("multiclass" if C > 2 else "binary", C)
        model = make_model("softmax", data)
        X, y = data.X_train, data.y_train
        assert model.n_params == C * (data.n_features + 1)
        assert model.loss(np.zeros(model.n_params), X, y) == pytest.approx(np.log(C), rel=1e-14)
        theta = np.random.default_rng(C).standard_normal(model.n_params) * 1e3  # stability
        loss, acc = model.loss_and_accuracy(theta, X, y)
        assert np.isfinite(loss) and 0 <= acc <= 1
        assert np.all(np.isfinite(model.gradient(theta, X, y)))


def test_perfect_classifiers_on_separable_data():
    X = np.array([[-2.0, 0.1], [-1.0, -0.3], [1.0, 0.2], [3.0, -0.1]])
    yb = np.array([0, 0, 1, 1])
    binary = Dataset("sep", "binary", 2, X, yb, X[:0], yb[:0])
    logistic = make_model("logistic", binary)
    theta = np.array([10.0, 0.0, 0.0])
    assert logistic.accuracy(theta, X, yb) == 1.0
    assert logistic.accuracy(-theta, X, yb) == 0.0
    assert logistic.loss(theta, X, yb) < 1e-4
    # three classes split along the first feature: class c has a logit peaking in its own region
    y3 = np.array([0, 1, 1, 2])
    softmax = make_model("softmax", Dataset("sep3", "multiclass", 3, X, y3, X[:0], y3[:0]))
    theta = np.array([[-5.0, 0, -8], [0, 0, 0], [5.0, 0, -8]]).ravel()
    assert softmax.accuracy(theta, X, y3) == 1.0
    wrong = np.array([[5.0, 0, -8], [0, 0, 0], [-5.0, 0, -8]]).ravel()
    assert softmax.accuracy(wrong, X, y3) == 0.5


def test_softmax_layout_is_class_major():
    C, p = 4, 5
    data = toy_dataset("multiclass", C, p)
    model = make_model("softmax", data)
    X = data.X_train
    rng = np.random.default_rng(3)
    theta = rng.standard_normal(model.n_params)
    table = theta.reshape(C, p + 1)
    np.testing.assert_allclose(
        model.outputs(theta, X), X @ table[:, :p].T + table[:, p], rtol=1e-13
    )
    half = model.n_params // 2  # t = 2 blocks
    base = model.outputs(theta, X)
    for block, touched in ((slice(0, half), [0, 1]), (slice(half, None), [2, 3])):
        bumped = theta.copy()
        bumped[block] += rng.standard_normal(half)
        diff = np.abs(model.outputs(bumped, X) - base).max(axis=0)
        untouched = [c for c in range(C) if c not in touched]
        assert np.all(diff[touched] > 1e-3)
        assert np.all(diff[untouched] == 0.0)
    # the block gradient for the first half only involves classes 0 and 1
    g = model.gradient(theta, X, data.y_train, block=slice(0, half))
    np.testing.assert_allclose(g, model.gradient(theta, X, data.y_train)[:half], rtol=1e-13)


def test_mlp_layout_and_init():
    data = toy_dataset("multiclass", 3, p=4)
    model = make_model("mlp", data, hidden=7)
    assert isinstance(model, MLP)
    assert model.n_params == 7 * 4 + 7 + 3 * 7 + 3
    theta = model.init_params(np.random.default_rng(0))
    W1, b1, W2, b2 = np.split(theta, [28, 35, 56])
    assert np.all(b1 == 0) and np.all(b2 == 0)
    assert np.abs(W1).max() <= np.sqrt(6 / (4 + 7)) and np.abs(W2).max() <= np.sqrt(6 / (7 + 3))
    assert np.abs(W1).max() > 0.5 * np.sqrt(6 / (4 + 7))  # uniform on the Glorot range
    # outputs against an independent hand-written forward pass
    theta = np.random.default_rng(1).standard_normal(model.n_params)
    W1, b1, W2, b2 = np.split(theta, [28, 35, 56])
    X = data.X_train
    hand = np.tanh(X @ W1.reshape(7, 4).T + b1) @ W2.reshape(3, 7).T + b2
    np.testing.assert_allclose(model.outputs(theta, X), hand, rtol=1e-12)
    # regression: one output, zero parameters give 0.5 mean(y^2)
    reg = make_model("mlp", toy_dataset("regression", 0, p=4), hidden=3)
    assert reg.n_params == 3 * 4 + 3 + 3 + 1
    y = np.linspace(-1, 2, ROWS)
    assert reg.loss(np.zeros(reg.n_params), X, y) == pytest.approx(0.5 * np.mean(y**2))
    assert reg.accuracy(np.zeros(reg.n_params), X, y) is None


def test_init_params_deterministic_and_small():
    for kind, task, n_classes, p in CASES:
        model, _, _ = case_setup(kind, task, n_classes, p)
        a = model.init_params(np.random.default_rng(9))
        b = model.init_params(np.random.default_rng(9))
        np.testing.assert_array_equal(a, b)
        assert a.shape == (model.n_params,) and a.dtype == np.float64
        if kind != "mlp":
            assert 0 < np.abs(a).max() < 0.1


def test_loss_and_accuracy_agree_with_separate_calls():
    model, data, theta = case_setup("softmax", "multiclass", 3, 6)
    X, y = data.X_train, data.y_train
    assert model.loss_and_accuracy(theta, X, y) == (
        model.loss(theta, X, y),
        model.accuracy(theta, X, y),
    )


def test_model_classes_sizes():
    assert LeastSquares(3).n_params == 4
    assert Logistic(3).n_params == 4
    assert Softmax(3, 5).n_params == 20
    assert MODELS == ("least_squares", "logistic", "softmax", "mlp")


@pytest.mark.parametrize(
    ("kind", "task", "n_classes"),
    [
        ("least_squares", "binary", 2),
        ("least_squares", "multiclass", 3),
        ("logistic", "regression", 0),
        ("logistic", "multiclass", 3),
        ("softmax", "regression", 0),
    ],
)
def test_incompatible_kind_and_dataset(kind, task, n_classes):
    with pytest.raises(ScenarioError) as info:
        make_model(kind, toy_dataset(task, n_classes))
    assert info.value.field == "model.kind"
    assert info.value.value == kind
    assert "use" in info.value.allowed


def test_unknown_kind_and_bad_hidden():
    data = toy_dataset("regression", 0)
    with pytest.raises(ScenarioError) as info:
        make_model("softmx", data)
    assert info.value.field == "model.kind"
    assert "did you mean 'softmax'" in info.value.allowed
    for hidden in (0, -3, 2.5, True):
        with pytest.raises(ScenarioError) as info:
            make_model("mlp", data, hidden=hidden)
        assert info.value.field == "model.hidden"


def test_wrong_shapes_and_empty_rows():
    model, data, theta = case_setup("least_squares", "regression", 0, 6)
    X, y = data.X_train, data.y_train
    with pytest.raises(ValueError, match="theta"):
        model.loss(theta[:-1], X, y)
    with pytest.raises(ValueError, match="X must"):
        model.loss(theta, X[:, :-1], y)
    with pytest.raises(ValueError, match="y must"):
        model.gradient(theta, X, y[:-1])
    with pytest.raises(ValueError, match="total_rows"):
        model.gradient(theta, X, y, total_rows=0)
    with pytest.raises(ValueError, match="empty"):
        model.loss(theta, X[:0], y[:0])
    # an empty share of a sum contributes nothing
    np.testing.assert_array_equal(model.gradient(theta, X[:0], y[:0], total_rows=5), 0.0)


@pytest.mark.parametrize("kind", MODELS)
def test_model_tasks_table_matches_make_model(kind: str) -> None:
    """Scenarios reject a model kind by MODEL_TASKS; make_model must accept exactly those tasks."""
    for task, n_classes in (("regression", 0), ("binary", 2), ("multiclass", 3)):
        data = toy_dataset(task, n_classes)
        if task in MODEL_TASKS[kind]:
            assert isinstance(make_model(kind, data), Model)
        else:
            with pytest.raises(ScenarioError) as info:
                make_model(kind, data)
            assert info.value.field == "model.kind"
