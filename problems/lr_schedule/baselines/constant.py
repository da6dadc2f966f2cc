"""Constant learning rate: the schedule an undertrained, untuned benchmark wrongly rewards."""


def lr(step, total_steps, base_lr, stats):
    return base_lr
