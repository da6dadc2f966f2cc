"""Reference: no bias at all (plain top-k routing): perfect fidelity, the imbalance of the raw router."""


def update_bias(bias, expert_load, step, state):
    return bias, state
