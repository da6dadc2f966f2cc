"""The classification data: trusted, imported by evaluate.py, never visible to the candidate.

Labels come from a fixed nonlinear rule of the 8 inputs plus noise, so a linear model is
not enough and training matters. Each split draws from its own seed: the candidate trains
on ``train`` data, the search scores on ``validation`` data, and the holdout split scores on
``test`` data that no evaluation the search sees ever used.
"""

from __future__ import annotations

import numpy as np

SEEDS = {"train": 11, "validation": 12, "test": 13}


def dataset(split: str, n: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(SEEDS[split])
    X = rng.normal(size=(n, 8))
    margin = X[:, 0] * X[:, 1] + np.sin(2.0 * X[:, 2]) - 0.5 * X[:, 3] ** 2 + 0.3 * X[:, 4] + 0.5
    noise = rng.normal(scale=0.3, size=n)
    return X, (margin + noise > 0).astype(float)
