"""Cosine decay to zero (Loshchilov & Hutter), lr_t = base_lr (1 + cos(pi t / T)) / 2."""

import math


def lr(step, total_steps, base_lr, stats):
    return base_lr * 0.5 * (1.0 + math.cos(math.pi * step / total_steps))
