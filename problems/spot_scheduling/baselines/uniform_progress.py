"""Baseline: Uniform Progress (Wu et al., "Can't Be Late", NSDI'24), written from the paper's rules.

With c(t) the work done, ep(t) = task * t / deadline the uniform-progress line, d the restart
overhead, R(t) the time left and C(t) the work left:

1. uniform progress: when spot is unavailable and c(t) < ep(t), use on demand to catch up;
2. taking risks: use spot whenever it is available, even when behind the line;
3. hysteresis: once on demand, stay until c(t) >= ep(t + 2d);
4. safety net: when R(t) - C(t) < 2d (plus one tick, the decision granularity) and spot is
   not running, go on demand and stay until the end.
Otherwise wait (NONE).
"""

import numpy as np

NONE, SPOT, ON_DEMAND = 0, 1, 2


def decide(obs):
    def expected(t):
        return obs["task"] * t / obs["deadline"]

    done, d = obs["work_done"], obs["overhead"]
    on_demand = obs["running"] == ON_DEMAND
    decision = np.where(obs["has_spot"], SPOT, np.where(done < expected(obs["elapsed"]), ON_DEMAND, NONE))
    decision = np.where(on_demand & (done < expected(obs["elapsed"] + 2 * d)), ON_DEMAND, decision)
    slack = obs["time_left"] - obs["work_left"]
    safety = (slack < 2 * d + obs["gap"]) & (on_demand | ~obs["has_spot"])
    return np.where(safety, ON_DEMAND, decision)
