"""Reference: a proportional bias update, b_i <- b_i + u * (mean load - load_i) / mean load, u = 0.01.

Not the published rule (that is sign_update.py); the step-size variant that the prototype in
PROBLEMS.md E.2 found best, and the idea the theory of Han & Zhong (primal-dual steps on the
capacity prices) suggests. A hand-tuned point of comparison for evolved rules.
"""

RATE = 0.01


def update_bias(bias, expert_load, step, state):
    mean = expert_load.mean()
    return bias + RATE * (mean - expert_load) / mean, state
