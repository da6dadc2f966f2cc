"""Baseline: auxiliary-loss-free balancing as published (Wang et al. 2024, DeepSeek-V3).

After each batch, b_i <- b_i + u * sign(mean load - load_i) with the fixed rate u = 0.001.
"""

import numpy as np

RATE = 0.001


def update_bias(bias, expert_load, step, state):
    return bias + RATE * np.sign(expert_load.mean() - expert_load), state
