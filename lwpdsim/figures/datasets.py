"""The dataset of the paper and lecture specs: scikit-learn's digits with a tenth of the labels
redrawn, written next to the specs when a build first needs it (it is not in git).

The labels are redrawn by :func:`lwpdsim.sim.with_label_noise`, the code behind a scenario's
``model.label_noise``, with its own fixed seed.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..data import Dataset
from ..sim import with_label_noise
from .spec import FigureSpec

#: Where the paper and lecture specs expect the noisy digits (relative to the repository root).
NOISY_DIGITS = Path("scenarios") / "paper" / "digits_noisy.npz"


def noisy_digits(
    path: str | Path = NOISY_DIGITS, *, fraction: float = 0.1, seed: int = 20220717
) -> Path:
    """Write scikit-learn's digits with each label, with probability ``fraction``, replaced by a
    uniformly drawn class (possibly the same one) to ``path`` (arrays ``X``, ``y``, as uint8).

    The clean digits are linearly separable, so the training loss of an exact-gradient rule keeps
    falling as the step size grows and no step-size grid brackets the best choice; the redrawn
    labels give the loss a finite minimum and the step size a finite optimum."""
    from sklearn.datasets import load_digits

    digits = load_digits()
    clean = Dataset(
        name="digits",
        task="multiclass",
        n_classes=10,
        X_train=digits.data,
        y_train=digits.target,
        X_test=digits.data[:0],
        y_test=digits.target[:0],
    )
    noisy = with_label_noise(clean, fraction, np.random.default_rng(seed))
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(path, X=digits.data.astype(np.uint8), y=noisy.y_train.astype(np.uint8))
    return path


def ensure_datasets(spec: FigureSpec) -> list[Path]:
    """Write the noisy digits wherever a run of ``spec`` expects them and they are missing (a
    dataset file named like :data:`NOISY_DIGITS`); return the files written."""
    written = []
    for task in spec.plan.runs:
        scenario = task.scenario
        path = Path(scenario.model.dataset)
        if not path.is_absolute() and scenario.base_dir:
            path = Path(scenario.base_dir) / path
        if path.name == NOISY_DIGITS.name and not path.exists():
            written.append(noisy_digits(path))
    return written
