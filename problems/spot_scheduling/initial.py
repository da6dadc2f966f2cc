"""Seed policy: ration the slack in proportion to the work still to do; go on demand when it runs short.

decide(obs) is called once per 10-minute tick for a batch of jobs simulated in lockstep and
returns one decision per job: 0 = NONE (idle), 1 = SPOT (only where obs["has_spot"]), 2 = ON_DEMAND.
"""

import numpy as np

NONE, SPOT, ON_DEMAND = 0, 1, 2

# EVOLVE-BLOCK-START
SLACK_SHARE = 1.0  # share of the initial slack held back per unit of remaining work
SHARE_POWER = 1.0  # how fast that reserve shrinks as the work gets done (1 = linearly)
SAFETY_OVERHEADS = 3.0  # restart overheads of slack always kept in hand
SWITCH_BACK_OVERHEADS = 6.0  # extra slack, in overheads, needed to leave on-demand for spot


def decide(obs):
    slack = obs["time_left"] - obs["work_left"]
    initial_slack = obs["deadline"] - obs["task"]
    reserve = SAFETY_OVERHEADS * obs["overhead"] + obs["gap"]
    budget = SLACK_SHARE * initial_slack * (obs["work_left"] / obs["task"]) ** SHARE_POWER + reserve
    on_demand = obs["running"] == ON_DEMAND
    decision = np.where(obs["has_spot"], SPOT, np.where(slack < budget, ON_DEMAND, NONE))
    stay = on_demand & (slack < budget + SWITCH_BACK_OVERHEADS * obs["overhead"])
    decision = np.where(stay, ON_DEMAND, decision)
    must = (slack < reserve) & (on_demand | ~obs["has_spot"])
    return np.where(must, ON_DEMAND, decision)
# EVOLVE-BLOCK-END
