"""Schedule refinement from gradient norms (Defazio, Cutkosky, Mehta, Mishchenko, arXiv 2310.07831).

From the gradient norms G_t of a previous run (here: stats["pilot_grad_norms"], a linear-decay
run with the same data and base LR), median-filtered over a window of 2 floor(tau T / 2) + 1
steps, the refined schedule is
    w_t = G_t^-p * sum_{s > t} G_s^-p,      lr_t = base_lr * w_t / max_s w_s,
with p = 2 for SGD (the paper's Algorithm 1) and p = 1 for Adam-type methods (Algorithm 2
weights by the inverse l1 norm; only l2 norms are available here, used in its place). With
constant G this is exactly linear decay; where gradients shrink late in training it anneals
faster and it produces a warm-up when early gradients are large.
"""

import numpy as np

TAU = 0.1
_TABLES = {}


def refined(norms, power):
    steps = len(norms)
    half = int(TAU * steps / 2)
    padded = np.pad(np.asarray(norms, dtype=float), half, mode="edge")
    smooth = np.median(np.lib.stride_tricks.sliding_window_view(padded, 2 * half + 1), axis=1)
    inverse = np.maximum(smooth, 1e-12) ** -power
    tail = np.concatenate([np.cumsum(inverse[::-1])[::-1][1:], [0.0]])
    weights = inverse * tail
    return weights / weights.max()


def lr(step, total_steps, base_lr, stats):
    key = stats["run"]
    if step == 0 or key not in _TABLES:
        power = 2.0 if stats["optimizer"] == "sgd" else 1.0
        _TABLES[key] = refined(stats["pilot_grad_norms"], power)
    return base_lr * float(_TABLES[key][step])
