"""Linear warm-up over the first 5% of the steps, then linear decay to zero."""

WARMUP = 0.05


def lr(step, total_steps, base_lr, stats):
    warmup_steps = max(1, int(WARMUP * total_steps))
    if step < warmup_steps:
        return base_lr * (step + 1) / warmup_steps
    return base_lr * (total_steps - step) / (total_steps - warmup_steps)
