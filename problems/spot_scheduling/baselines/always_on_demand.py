"""Baseline: on demand from the first tick to the last. Never late, never cheap: saving 0 by definition."""

import numpy as np


def decide(obs):
    return np.full(len(obs["task"]), 2)
