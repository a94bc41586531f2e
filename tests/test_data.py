"""Datasets: bundled and synthetic loading, standardisation, determinism, files, partitions, errors."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from lwpdsim.data import DATASET_TASKS, DATASETS, Dataset, load_dataset, partition
from lwpdsim.errors import ScenarioError


def rng(seed: int = 0) -> np.random.Generator:
    return np.random.default_rng(seed)


# name -> (rows, features, task, classes)
BUNDLED = {
    "digits": (1797, 64, "multiclass", 10),
    "breast_cancer": (569, 30, "binary", 2),
    "wine": (178, 13, "multiclass", 3),
    "iris": (150, 4, "multiclass", 3),
    "diabetes": (442, 10, "regression", 0),
}


def check_standardised(data: Dataset) -> None:
    X = data.X_train
    varying = np.ptp(X, axis=0) > 0
    np.testing.assert_allclose(X.mean(axis=0), 0, atol=1e-12)
    np.testing.assert_allclose(X.std(axis=0)[varying], 1, rtol=1e-12)
    assert np.all(X[:, ~varying] == 0)  # a constant column is centred, not scaled
    if data.task == "regression":
        assert data.y_train.mean() == pytest.approx(0, abs=1e-12)
        assert data.y_train.std() == pytest.approx(1, rel=1e-12)


def check_types(data: Dataset) -> None:
    assert data.X_train.dtype == np.float64 and data.X_test.dtype == np.float64
    assert data.X_train.ndim == 2 and data.X_test.shape[1] == data.n_features
    assert data.y_train.shape == (data.n_train,) and data.y_test.shape == (data.n_test,)
    if data.task == "regression":
        assert data.n_classes == 0 and data.y_train.dtype == np.float64
    else:
        assert data.y_train.dtype == np.int64 and data.y_test.dtype == np.int64
        labels = np.concatenate([data.y_train, data.y_test])
        assert labels.min() >= 0 and labels.max() < data.n_classes
        assert data.task == ("binary" if data.n_classes == 2 else "multiclass")


@pytest.mark.parametrize("name", sorted(BUNDLED))
def test_bundled_datasets(name):
    rows, features, task, classes = BUNDLED[name]
    data = load_dataset(name, rng(), test_fraction=0.2)
    assert (data.name, data.task, data.n_classes, data.n_features) == (
        name,
        task,
        classes,
        features,
    )
    assert data.n_train + data.n_test == rows
    assert data.n_test == round(0.2 * rows) and data.has_test
    assert DATASET_TASKS[name] == task  # the table scenarios check model kinds against
    check_types(data)
    check_standardised(data)
    if task != "regression":
        assert set(np.unique(data.y_train)) == set(range(classes))


def test_digits_exact_split_and_test_uses_train_statistics():
    data = load_dataset("digits", rng(3), test_fraction=0.2)
    assert (data.n_train, data.n_test) == (1438, 359)
    # The test set is standardised with the training statistics: recover them from the raw data.
    from sklearn.datasets import load_digits

    X_raw, _ = load_digits(return_X_y=True)
    order = np.random.default_rng(3).permutation(1797)
    raw_train, raw_test = X_raw[order[:1438]], X_raw[order[1438:]]
    mean, std = raw_train.mean(axis=0), raw_train.std(axis=0)
    std[np.ptp(raw_train, axis=0) == 0] = 1
    mean[np.ptp(raw_train, axis=0) == 0] = raw_train[0, np.ptp(raw_train, axis=0) == 0]
    np.testing.assert_allclose(data.X_test, (raw_test - mean) / std, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("name", DATASETS)
def test_determinism_and_seeds(name):
    kwargs = {"samples": 120, "features": 5}
    a = load_dataset(name, rng(11), **kwargs)
    b = load_dataset(name, rng(11), **kwargs)
    for field in ("X_train", "y_train", "X_test", "y_test"):
        np.testing.assert_array_equal(getattr(a, field), getattr(b, field))
    c = load_dataset(name, rng(12), **kwargs)
    assert not np.array_equal(a.X_train, c.X_train)


def test_shuffle_is_a_permutation_of_the_source():
    a = load_dataset("iris", rng(1), test_fraction=0.0)
    b = load_dataset("iris", rng(2), test_fraction=0.0)
    assert not a.has_test and a.X_test.shape == (0, 4) and a.n_train == 150
    # same rows (standardisation uses all rows in both), different order
    sort = lambda X: X[np.lexsort(X.T)]  # noqa: E731
    np.testing.assert_allclose(sort(a.X_train), sort(b.X_train), rtol=1e-12, atol=1e-12)
    assert not np.array_equal(a.y_train, b.y_train)
    # the bundled iris file is sorted by class; shuffled, the first 30 rows are not one class
    assert np.unique(a.y_train[:30]).size == 3


def test_synthetic_regression():
    data = load_dataset("synthetic_regression", rng(), samples=200, features=7, test_fraction=0.25)
    assert (data.task, data.n_classes, data.n_features) == ("regression", 0, 7)
    assert (data.n_train, data.n_test) == (150, 50)
    check_types(data)
    check_standardised(data)
    # low noise: least squares explains almost all of the variance
    A = np.column_stack([data.X_train, np.ones(data.n_train)])
    coef, *_ = np.linalg.lstsq(A, data.y_train, rcond=None)
    assert np.mean((A @ coef - data.y_train) ** 2) < 1e-3


@pytest.mark.parametrize(("classes", "features"), [(2, 3), (3, 20), (5, 3), (8, 3)])
def test_synthetic_classification(classes, features):
    data = load_dataset(
        "synthetic_classification", rng(), samples=300, features=features, classes=classes
    )
    assert data.n_classes == classes and data.n_features == features
    assert data.task == ("binary" if classes == 2 else "multiclass")
    assert data.n_train + data.n_test == 300
    check_types(data)
    check_standardised(data)


def test_arrays_are_read_only():
    data = load_dataset("iris", rng())
    with pytest.raises(ValueError):
        data.X_train[0, 0] = 1.0


# --- user files ----------------------------------------------------------------------------------


def test_npz_round_trip(tmp_path):
    g = rng(4)
    X = g.standard_normal((40, 3))
    y = np.where(X[:, 0] > 0, 7, -1)  # labels re-coded to 0/1
    np.savez(tmp_path / "mine.npz", X=X, y=y)
    data = load_dataset("mine.npz", rng(), test_fraction=0.0, base_dir=tmp_path)
    assert (data.task, data.n_classes, data.n_train) == ("binary", 2, 40)
    check_types(data)
    # rows are shuffled but stay paired with their labels
    order = np.random.default_rng(0).permutation(40)
    np.testing.assert_array_equal(data.y_train, (y[order] == 7).astype(np.int64))
    mean, std = X.mean(axis=0), X.std(axis=0)
    np.testing.assert_allclose(data.X_train, (X[order] - mean) / std, rtol=1e-12, atol=1e-12)
    # absolute path, regression labels (continuous)
    np.savez(tmp_path / "reg.npz", X=X, y=X @ [1.0, 2.0, 3.0])
    data = load_dataset(str(tmp_path / "reg.npz"), rng(), base_dir=tmp_path / "elsewhere")
    assert data.task == "regression" and data.n_train + data.n_test == 40
    check_standardised(data)


def test_csv_round_trip_with_and_without_header(tmp_path):
    X = np.arange(30, dtype=float).reshape(10, 3) % 7
    y = np.array([0, 1, 2] * 3 + [2])
    body = "\n".join(
        ",".join(f"{v:g}" for v in (*row, label)) for row, label in zip(X, y, strict=True)
    )
    (tmp_path / "plain.csv").write_text(body + "\n")
    (tmp_path / "head.csv").write_text("a,b,c,label\n" + body + "\n\n")
    a = load_dataset("plain.csv", rng(5), test_fraction=0.3, base_dir=tmp_path)
    b = load_dataset("head.csv", rng(5), test_fraction=0.3, base_dir=tmp_path)
    assert (a.task, a.n_classes, a.n_features, a.n_train, a.n_test) == ("multiclass", 3, 3, 7, 3)
    for field in ("X_train", "y_train", "X_test", "y_test"):
        np.testing.assert_array_equal(getattr(a, field), getattr(b, field))
    order = np.random.default_rng(5).permutation(10)
    np.testing.assert_array_equal(np.concatenate([a.y_train, a.y_test]), y[order])


def test_constant_column_becomes_exactly_zero(tmp_path):
    # 0.1 repeated 30 times has a floating-point mean that is not exactly 0.1
    X = np.column_stack([np.full(30, 0.1), np.arange(30.0)])
    np.savez(tmp_path / "const.npz", X=X, y=np.arange(30) % 2)
    data = load_dataset("const.npz", rng(), test_fraction=0.2, base_dir=tmp_path)
    assert np.all(data.X_train[:, 0] == 0) and np.all(data.X_test[:, 0] == 0)
    check_standardised(data)


def test_file_with_many_integer_labels_is_regression(tmp_path):
    X = rng().standard_normal((120, 2))
    np.savez(tmp_path / "counts.npz", X=X, y=np.arange(120))  # 120 distinct integers > 50
    assert load_dataset("counts.npz", rng(), base_dir=tmp_path).task == "regression"
    np.savez(tmp_path / "few.npz", X=X, y=np.arange(120) % 50)  # 50 distinct integers
    data = load_dataset("few.npz", rng(), base_dir=tmp_path)
    assert (data.task, data.n_classes) == ("multiclass", 50)


def bad_file(tmp_path, name: str, content) -> str:
    path = tmp_path / name
    if isinstance(content, str):
        path.write_text(content)
    else:
        np.savez(path, **content)
    return name


X4 = np.arange(8.0).reshape(4, 2)


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("text.csv", "1,2,0\n3,x,1\n5,6,0\n", "numeric"),
        ("nan.csv", "1,2,0\n3,nan,1\n5,6,0\n", "NaN"),
        ("inf.csv", "1,2,0\n3,4,1\n5,6,inf\n", "NaN or infinity"),
        ("ragged.csv", "1,2,0\n3,4\n", "cells"),
        ("one_row.csv", "a,b,y\n1,2,0\n", "at least 2 rows"),
        ("one_col.csv", "1\n2\n3\n", "feature column"),
        ("header_only.csv", "a,b,y\n", "at least 2"),
        ("one_class.csv", "1,2,4\n3,4,4\n5,6,4\n", "2 classes"),
        ("one_class.npz", {"X": X4, "y": np.ones(4)}, "2 classes"),
        ("no_y.npz", {"X": X4}, "'y'"),
        ("mismatch.npz", {"X": X4, "y": np.arange(3)}, "same number of rows"),
        ("strings.npz", {"X": X4, "y": np.array(["a", "b", "a", "b"])}, "numeric"),
        ("nan.npz", {"X": np.where(X4 > 5, np.nan, X4), "y": np.arange(4) % 2}, "NaN"),
        ("shape.npz", {"X": np.zeros((4, 2, 2)), "y": np.arange(4) % 2}, "shape"),
        ("corrupt.npz", "not a zip file", "readable"),
    ],
)
def test_bad_files(tmp_path, name, content, message):
    bad_file(tmp_path, name, content)
    with pytest.raises(ScenarioError, match=message) as info:
        load_dataset(name, rng(), base_dir=tmp_path)
    assert info.value.field == "model.dataset"
    assert info.value.value == name


def test_missing_file(tmp_path):
    for name in ("absent.npz", "absent.csv", str(tmp_path / "absent.csv")):
        with pytest.raises(ScenarioError, match="does not exist") as info:
            load_dataset(name, rng(), base_dir=tmp_path)
        assert info.value.field == "model.dataset"


# --- bad parameters ------------------------------------------------------------------------------


def test_unknown_name_suggests():
    with pytest.raises(ScenarioError) as info:
        load_dataset("digit", rng())
    err = info.value
    assert err.field == "model.dataset" and err.value == "digit"
    assert "did you mean 'digits'" in err.allowed
    assert "or a path to a .npz/.csv file" in err.allowed
    assert all(name in err.allowed for name in DATASETS)
    with pytest.raises(ScenarioError, match="one of") as info:
        load_dataset("qqqqqqqq", rng())
    assert "did you mean" not in info.value.allowed
    for name in ("", None, 3):
        with pytest.raises(ScenarioError):
            load_dataset(name, rng())


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"test_fraction": 1.0}, "model.test_fraction"),
        ({"test_fraction": -0.1}, "model.test_fraction"),
        ({"test_fraction": float("nan")}, "model.test_fraction"),
        ({"test_fraction": "0.2"}, "model.test_fraction"),
        ({"samples": 1}, "model.samples"),
        ({"samples": 2.5}, "model.samples"),
        ({"features": 0}, "model.features"),
        ({"noise": -1.0}, "model.noise"),
        ({"noise": float("inf")}, "model.noise"),
    ],
)
@pytest.mark.parametrize("name", ["synthetic_regression", "synthetic_classification"])
def test_bad_parameters(name, kwargs, field):
    with pytest.raises(ScenarioError) as info:
        load_dataset(name, rng(), **kwargs)
    assert info.value.field == field


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"classes": 1}, "model.classes"),
        ({"classes": True}, "model.classes"),
        ({"classes": 9, "features": 3}, "model.features"),  # needs 2**features >= classes
        ({"classes": 5, "samples": 4}, "model.samples"),
        ({"noise": 1.5}, "model.noise"),  # a fraction of flipped labels
    ],
)
def test_bad_classification_parameters(kwargs, field):
    with pytest.raises(ScenarioError) as info:
        load_dataset("synthetic_classification", rng(), **kwargs)
    assert info.value.field == field


def test_tiny_dataset_keeps_a_training_row(tmp_path):
    np.savez(tmp_path / "two.npz", X=np.array([[0.0], [1.0]]), y=np.array([0, 1]))
    data = load_dataset("two.npz", rng(), test_fraction=0.9, base_dir=tmp_path)
    assert (data.n_train, data.n_test) == (1, 1)


# --- partition -----------------------------------------------------------------------------------


@pytest.mark.parametrize(("rows", "parts"), [(10, 1), (10, 3), (10, 10), (1797, 8), (7, 4), (1, 1)])
def test_partition_covers_rows_once(rows, parts):
    slices = partition(rows, parts)
    assert len(slices) == parts
    covered = np.concatenate([np.arange(rows)[s] for s in slices])
    np.testing.assert_array_equal(covered, np.arange(rows))  # contiguous, in order, each row once
    sizes = [s.stop - s.start for s in slices]
    assert max(sizes) - min(sizes) <= 1 and min(sizes) >= 1
    assert sizes == sorted(sizes, reverse=True)  # the first ones are the larger


def test_partition_errors():
    for parts in (0, -1, 11, 2.0):
        with pytest.raises(ScenarioError) as info:
            partition(10, parts)
        assert info.value.field == "cluster.workers"
    with pytest.raises(ScenarioError) as info:
        partition(3, 4, field="schemes[0].k")
    assert info.value.field == "schemes[0].k" and "3" in info.value.allowed


@pytest.mark.slow
def test_import_does_not_load_sklearn():
    code = "import lwpdsim.data, lwpdsim.models, sys; assert 'sklearn' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True)


def test_label_noise_redraws_a_fraction_of_the_labels() -> None:
    import lwpdsim
    from lwpdsim.rng import Streams
    from lwpdsim.sim import build_dataset

    def load(**model):
        sc = lwpdsim.load_scenario(
            {"name": "x", "model": {"dataset": "digits", **model}, "schemes": [{"name": "sync"}]}
        )
        return build_dataset(sc, Streams.from_seed(4))

    clean, noisy = load(), load(label_noise=0.3)
    np.testing.assert_array_equal(clean.X_train, noisy.X_train)
    changed = (clean.y_train != noisy.y_train).mean()
    # a redrawn label keeps its class with probability 1/10: expect 0.3 * 0.9 = 0.27 changed
    n = clean.y_train.size
    assert abs(changed - 0.27) < 4 * np.sqrt(0.27 * 0.73 / n)
    assert set(np.unique(noisy.y_train)) <= set(range(10))
    np.testing.assert_array_equal(noisy.y_train, load(label_noise=0.3).y_train)  # seeded
    with pytest.raises(ScenarioError) as e:
        lwpdsim.load_scenario(
            {
                "name": "x",
                "model": {
                    "kind": "least_squares",
                    "dataset": "synthetic_regression",
                    "label_noise": 0.1,
                },
                "schemes": [{"name": "sync"}],
            }
        )
    assert e.value.field == "model.label_noise"
