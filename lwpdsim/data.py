"""Datasets for the simulated training runs, and their contiguous partitioning.

A :class:`Dataset` is already shuffled, split into a training and a test part, and standardised
with statistics of the training part only. Sources are synthetic generators, scikit-learn's bundled
datasets (no network needed) and a user's own ``.npz`` or ``.csv`` file. scikit-learn is imported
only when one of its datasets is loaded, because importing it costs about two seconds.
"""

from __future__ import annotations

import functools
import itertools
import math
import numbers
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypedDict, Unpack

import numpy as np
from numpy.typing import ArrayLike

from lwpdsim.config.reading import user_path
from lwpdsim.config.validate import is_number, suggest
from lwpdsim.datafiles import read_csv, read_npz
from lwpdsim.errors import ScenarioError

#: The learning task each built-in dataset poses (``classification``: binary or multiclass by its
#: number of classes). Any other dataset name must be a path ending in ``.npz`` or ``.csv``.
DATASET_TASKS: dict[str, str] = {
    "synthetic_regression": "regression",
    "synthetic_classification": "classification",
    "digits": "multiclass",
    "breast_cancer": "binary",
    "wine": "multiclass",
    "iris": "multiclass",
    "diabetes": "regression",
}

#: Built-in dataset names.
DATASETS: tuple[str, ...] = tuple(DATASET_TASKS)

#: The built-in datasets a scenario may name: all but ``diabetes``, which only :func:`load_dataset`
#: loads.
SCENARIO_DATASETS: tuple[str, ...] = tuple(name for name in DATASETS if name != "diabetes")

#: scikit-learn loader function of each bundled dataset.
_BUNDLED: dict[str, str] = {
    "digits": "load_digits",
    "breast_cancer": "load_breast_cancer",
    "wine": "load_wine",
    "iris": "load_iris",
    "diabetes": "load_diabetes",
}

#: A user file whose labels are integers with at most this many distinct values is a classification task.
MAX_FILE_CLASSES = 50

_FILE_SUFFIXES = (".npz", ".csv")


@dataclass(frozen=True, eq=False)
class Dataset:
    """A shuffled, split and standardised dataset; its arrays are read-only.

    ``task`` is ``"regression"``, ``"binary"`` or ``"multiclass"``; ``n_classes`` is 0 for regression.
    Features (and a regression target) are standardised with the training mean and standard deviation
    (a constant column is only centred). Class labels are ``int64`` in ``0 .. n_classes - 1``.
    """

    name: str
    task: str
    n_classes: int
    X_train: np.ndarray
    y_train: np.ndarray
    X_test: np.ndarray
    y_test: np.ndarray

    @property
    def n_train(self) -> int:
        """Number of training rows."""
        return int(self.X_train.shape[0])

    @property
    def n_test(self) -> int:
        """Number of test rows (may be 0)."""
        return int(self.X_test.shape[0])

    @property
    def n_features(self) -> int:
        """Number of feature columns."""
        return int(self.X_train.shape[1])

    @property
    def has_test(self) -> bool:
        """Whether there is a non-empty test set."""
        return self.n_test > 0

    @property
    def is_classification(self) -> bool:
        """Whether the labels are classes (binary or multiclass)."""
        return self.task != "regression"


def partition(n_rows: int, parts: int, *, field: str = "cluster.workers") -> list[slice]:
    """Split ``range(n_rows)`` into ``parts`` contiguous slices whose sizes differ by at most one.

    The first ``n_rows % parts`` slices get the extra row. ``field`` names the scenario field that
    chose ``parts``, for the error raised when ``parts < 1`` or ``parts > n_rows``.
    """
    if not _is_int(n_rows) or n_rows < 0:
        raise ValueError(f"n_rows must be a non-negative integer, got {n_rows!r}")
    check_parts(n_rows, parts, field=field)
    size, extra = divmod(int(n_rows), int(parts))
    bounds = [i * size + min(i, extra) for i in range(int(parts) + 1)]
    return [slice(a, b) for a, b in itertools.pairwise(bounds)]


def check_parts(n_rows: int, parts: int, *, field: str = "cluster.workers") -> None:
    """Refuse ``parts`` unless it is an integer from 1 to ``n_rows`` (see :func:`partition`)."""
    if not _is_int(parts) or not 1 <= parts <= n_rows:
        raise ScenarioError(
            field,
            parts,
            f"an integer from 1 to the number of training rows ({n_rows}), so that every "
            "partition holds at least one row",
        )


@dataclass(frozen=True)
class DatasetShape:
    """What a dataset is, without its arrays: task, classes, rows and feature columns."""

    task: str
    n_classes: int
    n_rows: int
    n_features: int

    def n_train(self, test_fraction: float) -> int:
        """Training rows after :func:`load_dataset`'s split."""
        return self.n_rows - min(self.n_rows - 1, round(float(test_fraction) * self.n_rows))


class DatasetOptions(TypedDict, total=False):
    """The keywords of :func:`load_dataset` and :func:`dataset_shape` besides the name, each
    optional (:data:`DATASET_DEFAULTS`): ``test_fraction``; ``samples``, ``features``, ``classes``
    and ``noise``, which shape only the synthetic datasets; ``base_dir``, the folder a relative
    file name is taken from."""

    test_fraction: float
    samples: int
    features: int
    classes: int
    noise: float
    base_dir: Path | None


#: The value of each :class:`DatasetOptions` keyword not given.
DATASET_DEFAULTS = DatasetOptions(
    test_fraction=0.2, samples=1000, features=20, classes=3, noise=0.1, base_dir=None
)


def _with_defaults(name: str, options: DatasetOptions) -> DatasetOptions:
    """``options`` with :data:`DATASET_DEFAULTS` filled in, once they and ``name`` (a non-empty
    string) are checked as far as every dataset needs: the start of :func:`load_dataset` and
    :func:`dataset_shape`."""
    if unknown := options.keys() - DATASET_DEFAULTS.keys():
        raise TypeError(f"unexpected keyword arguments {sorted(unknown)}: see DatasetOptions")
    given: DatasetOptions = {**DATASET_DEFAULTS, **options}
    allowed = "a number with 0 <= test_fraction < 1"
    _check_real(given["test_fraction"], "model.test_fraction", 0.0, 1.0, allowed)
    if not isinstance(name, str) or not name:
        raise ScenarioError("model.dataset", name, _known_names_text())
    return given


#: (rows, features, classes; 0 for regression) of each bundled scikit-learn dataset.
_BUNDLED_SHAPES: dict[str, tuple[int, int, int]] = {
    "digits": (1797, 64, 10),
    "breast_cancer": (569, 30, 2),
    "wine": (178, 13, 3),
    "iris": (150, 4, 3),
    "diabetes": (442, 10, 0),
}

#: Shapes of dataset files already read, by (path, size, modification time, inode).
_FILE_SHAPES: dict[tuple[str, int, int, int], DatasetShape] = {}
_FILE_SHAPES_KEPT = 32


def dataset_shape(name: str, **options: Unpack[DatasetOptions]) -> DatasetShape:
    """The shape :func:`load_dataset` would give, with the same checks, without generating data.

    A bundled dataset's shape is known and a synthetic one's is arithmetic; a file is read (within
    the bounds of :mod:`lwpdsim.datafiles`) and checked as :func:`load_dataset` reads it, and its
    shape is remembered until the file changes.
    """
    o = _with_defaults(name, options)
    if name.lower().endswith(_FILE_SUFFIXES):
        return _file_shape(name, o["base_dir"])
    if name in _BUNDLED_SHAPES:
        rows, cols, n_classes = _BUNDLED_SHAPES[name]
    elif name == "synthetic_regression":
        rows, cols, _ = _regression_args(o["samples"], o["features"], o["noise"])
        n_classes = 0
    elif name == "synthetic_classification":
        rows, cols, n_classes, _ = _classification_args(
            o["samples"], o["features"], o["classes"], o["noise"]
        )
    else:
        hint = suggest(name, DATASETS, ignore_case=False)
        raise ScenarioError("model.dataset", name, _known_names_text() + hint)
    return DatasetShape(_task(n_classes), n_classes, rows, cols)


def _task(n_classes: int) -> str:
    return "regression" if not n_classes else "binary" if n_classes == 2 else "multiclass"


def _file_shape(name: str, base_dir: Path | None) -> DatasetShape:
    path = _file_path(name, base_dir)
    try:
        info = path.stat()
        key = (str(path.resolve()), info.st_size, info.st_mtime_ns, info.st_ino)
    except OSError:
        key = None
    if key is not None and key in _FILE_SHAPES:
        return _FILE_SHAPES[key]
    X, y, is_class = _read_file(name, base_dir)
    n_classes = int(np.unique(y).size) if is_class else 0
    shape = DatasetShape(_task(n_classes), n_classes, int(X.shape[0]), int(X.shape[1]))
    if key is not None:
        if len(_FILE_SHAPES) >= _FILE_SHAPES_KEPT:
            _FILE_SHAPES.pop(next(iter(_FILE_SHAPES)))
        _FILE_SHAPES[key] = shape
    return shape


def load_dataset(name: str, rng: np.random.Generator, **options: Unpack[DatasetOptions]) -> Dataset:
    """Load (or generate) dataset ``name``, shuffle its rows with ``rng``, split and standardise it.

    ``samples``, ``features``, ``classes`` and ``noise`` only shape the synthetic datasets: ``noise`` is
    the standard deviation of the Gaussian noise added to the regression target (before the target is
    standardised), and the fraction of randomly reassigned labels for classification. A name ending in
    ``.npz`` (arrays ``X`` and ``y``) or ``.csv`` (numeric, label in the last column, optional header
    row) is a file, taken relative to ``base_dir`` when it is a relative path. The last
    ``round(test_fraction * rows)`` shuffled rows (at least one row is kept for training) form the
    test set. The same generator state always gives identical arrays.
    """
    o = _with_defaults(name, options)
    if name.lower().endswith(_FILE_SUFFIXES):
        X, y, is_class = _read_file(name, o["base_dir"])
        n_classes = None
    elif name in _BUNDLED:
        X, y, is_class = _load_bundled(name)
        n_classes = None
    elif name == "synthetic_regression":
        X, y = _synthetic_regression(rng, o["samples"], o["features"], o["noise"])
        is_class, n_classes = False, None
    elif name == "synthetic_classification":
        X, y = _synthetic_classification(rng, o["samples"], o["features"], o["classes"], o["noise"])
        is_class, n_classes = True, int(o["classes"])
    else:
        hint = suggest(name, DATASETS, ignore_case=False)
        raise ScenarioError("model.dataset", name, _known_names_text() + hint)

    X = np.asarray(X, dtype=np.float64)
    if is_class:
        values, y = np.unique(np.asarray(y), return_inverse=True)
        y = y.astype(np.int64).reshape(-1)
        if n_classes is None:
            n_classes = int(values.size)
        task = "binary" if n_classes == 2 else "multiclass"
    else:
        y = np.asarray(y, dtype=np.float64).reshape(-1)
        n_classes, task = 0, "regression"

    order = rng.permutation(X.shape[0])
    X, y = X[order], y[order]
    n_rows = X.shape[0]
    n_test = min(n_rows - 1, round(float(o["test_fraction"]) * n_rows))
    n_train = n_rows - n_test
    X_train, X_test = _standardise(X[:n_train], X[n_train:], name, "feature")
    if task == "regression":
        y_train, y_test = _standardise(y[:n_train], y[n_train:], name, "label")
    else:
        y_train, y_test = y[:n_train].copy(), y[n_train:].copy()
    for array in (X_train, y_train, X_test, y_test):
        array.setflags(write=False)
    return Dataset(name, task, n_classes, X_train, y_train, X_test, y_test)


# --- helpers -------------------------------------------------------------------------------------


def _known_names_text() -> str:
    names = ", ".join(repr(n) for n in DATASETS)
    return f"one of {names}, or a path to a .npz/.csv file"


def _is_int(value: Any) -> bool:
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def _check_int(value: Any, field: str, low: int, allowed: str) -> int:
    if not _is_int(value) or value < low:
        raise ScenarioError(field, value, allowed)
    return int(value)


def _check_real(value: Any, field: str, low: float, high: float | None, allowed: str) -> float:
    """Accept a finite real ``low <= value`` (and ``value < high`` when ``high`` is given)."""
    ok = (
        is_number(value)
        and math.isfinite(value)
        and value >= low
        and (high is None or value < high)
    )
    if not ok:
        raise ScenarioError(field, value, allowed)
    return float(value)


def check_regression_noise(noise: float, samples: int, features: int) -> None:
    """Refuse a ``synthetic_regression`` noise whose targets could not be standardised: the target
    is ``X w + noise * N(0, 1)`` with ``|w| <= 100`` per feature, and the sum of squares of
    ``samples`` targets as large as 8 standard deviations must be a finite float."""
    plausible = (float(noise) + 100.0 * features) * 8.0
    if not math.isfinite(plausible * plausible * samples):
        raise ScenarioError(
            "model.noise",
            noise,
            f"a noise whose synthetic regression targets can be standardised in float64 (with "
            f"{samples} samples, below {math.sqrt(sys.float_info.max / samples) / 8:.3g})",
        )


def _random_state(rng: np.random.Generator) -> int:
    return int(rng.integers(0, 2**31 - 1))


def _regression_args(samples: int, features: int, noise: float) -> tuple[int, int, float]:
    samples = _check_int(samples, "model.samples", 2, "an integer >= 2")
    features = _check_int(features, "model.features", 1, "an integer >= 1")
    noise = _check_real(noise, "model.noise", 0.0, None, "a finite number >= 0 (noise std)")
    check_regression_noise(noise, samples, features)
    return samples, features, noise


def _synthetic_regression(
    rng: np.random.Generator, samples: int, features: int, noise: float
) -> tuple[np.ndarray, np.ndarray]:
    samples, features, noise = _regression_args(samples, features, noise)
    from sklearn.datasets import make_regression

    X, y = make_regression(
        n_samples=samples,
        n_features=features,
        n_informative=features,
        noise=noise,
        random_state=_random_state(rng),
    )
    return X, y


def _classification_args(
    samples: int, features: int, classes: int, noise: float
) -> tuple[int, int, int, float]:
    classes = _check_int(classes, "model.classes", 2, "an integer >= 2")
    samples = _check_int(
        samples,
        "model.samples",
        max(2, classes),
        f"an integer >= max(2, classes) = {max(2, classes)}",
    )
    # One cluster per class needs 2**informative >= classes.
    needed = max(1, math.ceil(math.log2(classes)))
    features = _check_int(
        features, "model.features", needed, f"an integer >= ceil(log2(classes)) = {needed}"
    )
    noise = _check_real(
        noise, "model.noise", 0.0, None, "a number in [0, 1] (fraction of flipped labels)"
    )
    if noise > 1.0:
        raise ScenarioError("model.noise", noise, "a number in [0, 1] (fraction of flipped labels)")
    return samples, features, classes, noise


def _synthetic_classification(
    rng: np.random.Generator, samples: int, features: int, classes: int, noise: float
) -> tuple[np.ndarray, np.ndarray]:
    samples, features, classes, noise = _classification_args(samples, features, classes, noise)
    needed = max(1, math.ceil(math.log2(classes)))
    from sklearn.datasets import make_classification

    informative = max(needed, min(features, max(2, features // 2)))
    X, y = make_classification(
        n_samples=samples,
        n_features=features,
        n_informative=informative,
        n_redundant=0,
        n_repeated=0,
        n_classes=classes,
        n_clusters_per_class=1,
        flip_y=noise,
        random_state=_random_state(rng),
    )
    return X, y


@functools.cache
def _load_bundled(name: str) -> tuple[np.ndarray, np.ndarray, bool]:
    """A bundled dataset's arrays, read-only, read once per process (scikit-learn parses a
    compressed CSV file each time: 70 ms for digits, more than a short rule run takes)."""
    import sklearn.datasets

    X, y = getattr(sklearn.datasets, _BUNDLED[name])(return_X_y=True)
    X, y = np.asarray(X), np.asarray(y)
    for array in (X, y):
        array.setflags(write=False)
    return X, y, DATASET_TASKS[name] != "regression"


def _file_error(value: str, allowed: str) -> ScenarioError:
    return ScenarioError("model.dataset", value, allowed)


def dataset_file(name: str, base_dir: Path | None = None) -> Path | None:
    """The file a dataset name refers to (relative to ``base_dir``), or ``None`` for a built-in."""
    if isinstance(name, str) and name.lower().endswith(_FILE_SUFFIXES):
        return _file_path(name, base_dir)
    return None


def _file_path(name: str, base_dir: Path | None) -> Path:
    return user_path(name, base_dir, "model.dataset")


def _read_file(name: str, base_dir: Path | None) -> tuple[np.ndarray, np.ndarray, bool]:
    """Read a user's ``.npz``/``.csv`` file, check it, and infer whether its labels are classes."""
    path = _file_path(name, base_dir)
    if not path.exists():
        raise _file_error(name, f"an existing .npz/.csv file; {str(path)!r} does not exist")
    if path.suffix.lower() == ".npz":
        X, y = _read_npz(name, path)
    else:
        X, y = _read_csv(name, path)

    if X.ndim == 1:
        X = X.reshape(-1, 1)
    if y.ndim == 2 and y.shape[1] == 1:
        y = y.reshape(-1)
    if X.ndim != 2 or y.ndim != 1:
        raise _file_error(
            name, f"X of shape (rows, features) and y of shape (rows,); got {X.shape} and {y.shape}"
        )
    if X.shape[0] != y.shape[0]:
        raise _file_error(
            name, f"X and y with the same number of rows; got {X.shape[0]} and {y.shape[0]}"
        )
    if X.shape[0] < 2 or X.shape[1] < 1:
        raise _file_error(name, f"at least 2 rows and 1 feature column; got X of shape {X.shape}")
    if not (np.all(np.isfinite(X)) and np.all(np.isfinite(y))):
        raise _file_error(name, "finite numbers only; the file contains NaN or infinity")

    distinct = np.unique(y)
    is_class = bool(np.all(y == np.round(y))) and distinct.size <= MAX_FILE_CLASSES
    if is_class and distinct.size < 2:
        raise _file_error(
            name, f"labels of at least 2 classes; every row has label {distinct[0]:g}"
        )
    return X, y, is_class


def _numeric(name: str, array: ArrayLike, what: str) -> np.ndarray:
    array = np.asarray(array)
    if array.dtype == np.bool_:
        array = array.astype(np.float64)
    if not (np.issubdtype(array.dtype, np.integer) or np.issubdtype(array.dtype, np.floating)):
        raise _file_error(
            name, f"a numeric (integer or float) array {what}; got dtype {array.dtype}"
        )
    return array.astype(np.float64)


def _read_npz(name: str, path: Path) -> tuple[np.ndarray, np.ndarray]:
    X, y = read_npz(name, path)
    return _numeric(name, X, "X"), _numeric(name, y, "y")


def _read_csv(name: str, path: Path) -> tuple[np.ndarray, np.ndarray]:
    return read_csv(name, path)


def _standardise(
    train: np.ndarray, test: np.ndarray, name: str, what: str
) -> tuple[np.ndarray, np.ndarray]:
    """Centre and scale both parts with the training mean and std (column-wise for 2-D arrays).

    A constant training column is centred on its value, so it becomes exactly zero, and is not scaled.
    A column that cannot be standardised in float64 (its mean or variance overflows, its spread
    underflows to zero, or a test value lands beyond the largest float) is refused, naming it:
    ``what`` is ``"feature"`` (columns of X, counted from 1) or ``"label"`` (y).
    """
    with np.errstate(over="ignore", invalid="ignore", divide="ignore", under="ignore"):
        constant = np.ptp(train, axis=0) == 0
        mean = np.where(constant, train[0], train.mean(axis=0))
        std = np.where(constant, 1.0, train.std(axis=0))
        out_train, out_test = (train - mean) / std, (test - mean) / std
    stats_ok = np.isfinite(mean) & np.isfinite(std) & (std > 0)
    ok = stats_ok & np.isfinite(out_train).all(axis=0) & np.isfinite(out_test).all(axis=0)
    if not np.all(ok):
        _refuse_column(name, train, what, np.atleast_1d(ok), np.atleast_1d(stats_ok), std)
    return out_train, out_test


def _refuse_column(
    name: str, train: np.ndarray, what: str, ok: np.ndarray, stats_ok: np.ndarray, std: Any
) -> None:
    """Raise the error naming the first column :func:`_standardise` cannot scale, and why."""
    j = int(np.flatnonzero(~ok)[0])
    column = train[:, j] if train.ndim == 2 else train
    which = f"feature column {j + 1}" if what == "feature" else "the label column"
    if not stats_ok[j] and np.all(np.atleast_1d(std)[j] == 0):
        why = "its values are too close together: their spread underflows to 0"
    elif not stats_ok[j]:
        why = "its mean or variance overflows a float"
    else:
        why = "a test row lies so far out that, standardised, it overflows a float"
    low, high = float(column.min()), float(column.max())
    raise ScenarioError(
        "model.dataset",
        name,
        f"columns that can be standardised in float64; {which} (training values from {low:g} "
        f"to {high:g}) cannot: {why}",
    )
