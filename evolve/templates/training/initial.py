"""Seed training procedure: full-batch gradient descent. The search edits only the EVOLVE-BLOCK."""

import numpy as np


# EVOLVE-BLOCK-START
def fit(X, y, rng):
    """Plain gradient descent on the cross-entropy, constant learning rate."""
    hidden = 16
    W1 = rng.normal(0.0, 0.5, (X.shape[1], hidden))
    b1 = np.zeros(hidden)
    W2 = rng.normal(0.0, 0.5, hidden)
    b2 = 0.0
    learning_rate = 0.05
    for _ in range(200):
        h = np.tanh(X @ W1 + b1)
        p = 1.0 / (1.0 + np.exp(-(h @ W2 + b2)))
        g = (p - y) / len(y)
        gh = np.outer(g, W2) * (1.0 - h**2)
        W2 -= learning_rate * (h.T @ g)
        b2 -= learning_rate * g.sum()
        W1 -= learning_rate * (X.T @ gh)
        b1 -= learning_rate * gh.sum(axis=0)
    return W1, b1, W2, b2
# EVOLVE-BLOCK-END


def train(X, y, seed):
    """Entry point evaluate.py calls once per stage: returns the trained parameters (the artifact)."""
    W1, b1, W2, b2 = fit(np.asarray(X, dtype=float), np.asarray(y, dtype=float), np.random.default_rng(seed))
    return {"W1": W1, "b1": b1, "W2": W2, "b2": float(b2)}
