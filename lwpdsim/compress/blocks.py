"""The matrix-shaped parameter blocks of lwpdsim's models, for :mod:`.lowrank`.

Linear models (least squares, logistic, softmax) are one ``outputs x (features + 1)`` matrix, the
bias as its last column (their class-major layout); the MLP has ``W1`` (hidden x features) and
``W2`` (outputs x hidden) as matrices and its two bias vectors outside any block.
"""

from __future__ import annotations

from ..models import MLP, Model, _Linear
from .base import Block


def blocks_of(model: Model) -> tuple[Block, ...]:
    """The matrix blocks of ``model``'s flat parameter vector."""
    if isinstance(model, MLP):
        p, h, o = model.n_features, model.hidden, model.n_outputs
        return (Block(0, h, p), Block(h * p + h, o, h))
    if isinstance(model, _Linear):
        return (Block(0, model.n_outputs, model.n_features + 1),)
    raise TypeError(f"no parameter blocks known for {type(model).__name__}")
