"""Linear decay to zero, lr_t = base_lr (1 - t / T): optimal in the worst case for the last iterate (Defazio et al.)."""


def lr(step, total_steps, base_lr, stats):
    return base_lr * (1.0 - step / total_steps)
