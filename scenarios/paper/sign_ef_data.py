"""Write ``sign_ef.npz`` (arrays ``X``, ``y``), the data of ``9_sign_ef.toml``: 16 rows, two
strongly correlated features (correlation 0.95) and a noisy linear target, from a fixed seed.

With 16 workers and no test rows each worker holds one row, so the workers' gradients at the
least-squares optimum are far from zero and point in different directions. Averaging their scaled
signs (mean |g| times sign(g)) then has a fixed point that is not the optimum: without error
feedback the loss stalls above the optimum; with it the residuals correct the bias.

Run from the repository root:  python scenarios/paper/sign_ef_data.py
"""

from pathlib import Path

import numpy as np

ROWS = 16
CORRELATION = 0.95
NOISE = 0.5
SEED = 0


def make(seed: int = SEED) -> tuple[np.ndarray, np.ndarray]:
    """The features and targets (before lwpdsim standardises them)."""
    rng = np.random.default_rng(seed)
    u = rng.standard_normal(ROWS)
    v = rng.standard_normal(ROWS)
    X = np.column_stack([u, CORRELATION * u + np.sqrt(1.0 - CORRELATION**2) * v])
    y = X @ np.array([1.0, -1.0]) + NOISE * rng.standard_normal(ROWS)
    return X, y


if __name__ == "__main__":
    X, y = make()
    out = Path(__file__).resolve().parent / "sign_ef.npz"
    np.savez(out, X=X, y=y)
    print(f"wrote {out}: X {X.shape}, y {y.shape}")
