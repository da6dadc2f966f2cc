"""Seed: the sign update of auxiliary-loss-free balancing with a timid step, plus knobs it does not use yet.

update_bias(bias, expert_load, step, state) -> (bias, state) is called after every batch: bias is the
float array [experts] added to the router scores for top-k selection only, expert_load the tokens each
expert received in that batch, state a dict of numbers/arrays this function keeps between steps.
"""

import numpy as np

# EVOLVE-BLOCK-START
RATE = 0.0005  # step of the sign update
GAIN = 0.0  # step proportional to the relative load error
MOMENTUM = 0.0  # exponential average of the error (0 = use this batch only)


def update_bias(bias, expert_load, step, state):
    mean = expert_load.mean()
    error = (mean - expert_load) / mean
    smooth = MOMENTUM * state.get("error", error) + (1 - MOMENTUM) * error
    bias = bias + RATE * np.sign(smooth) + GAIN * smooth
    return bias, {"error": smooth}
# EVOLVE-BLOCK-END
