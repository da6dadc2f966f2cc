"""Warmup-stable-decay (Hu et al., MiniCPM): hold base_lr, then decay linearly to zero over the last 20%."""

DECAY = 0.2


def lr(step, total_steps, base_lr, stats):
    remaining = (total_steps - step) / total_steps
    return base_lr * min(1.0, remaining / DECAY)
