"""Baseline: greedy with a safety net (Wu et al., NSDI'24, section 3).

Use spot whenever it is available; when it is not, wait, until the slack left
(time left - work left) would no longer cover two restart overheads and one more tick of
waiting; then switch to on demand and stay there until the job is done.
"""

import numpy as np

NONE, SPOT, ON_DEMAND = 0, 1, 2


def decide(obs):
    slack = obs["time_left"] - obs["work_left"]
    decision = np.where(obs["has_spot"], SPOT, NONE)
    short = ~obs["has_spot"] & (slack < 2 * obs["overhead"] + obs["gap"])
    decision = np.where(short, ON_DEMAND, decision)
    return np.where(obs["running"] == ON_DEMAND, ON_DEMAND, decision)
