"""Seed program: linear decay to zero, written as a schedule family with its knobs exposed.

With the constants below it is exactly linear decay, lr_t = base_lr (1 - t / T), the
worst-case optimal last-iterate schedule of Defazio et al. (and the reference the score is
relative to, so the seed scores 0). The knobs span warm-up, warmup-stable-decay (DECAY_START
> 0), decay to a floor and polynomial decay shapes; stats allows closed-loop schedules.
"""


# EVOLVE-BLOCK-START
WARMUP_FRACTION = 0.0  # linear warm-up from 0 over this fraction of the steps
DECAY_START = 0.0  # fraction of the steps held at base_lr before the decay starts (WSD when > 0)
FINAL_FRACTION = 0.0  # multiplier reached at the end of the decay
DECAY_POWER = 1.0  # shape of the decay: 1 linear, 2 quadratic, 0.5 square root


def lr(step, total_steps, base_lr, stats):
    """Learning rate at ``step`` (0-based) of ``total_steps``; stats: loss, grad_norm, histories, pilot_grad_norms."""
    progress = step / total_steps
    if progress < WARMUP_FRACTION:
        return base_lr * (step + 1) / (WARMUP_FRACTION * total_steps)
    if progress < DECAY_START:
        return base_lr
    decay = (progress - DECAY_START) / (1.0 - DECAY_START)
    return base_lr * (FINAL_FRACTION + (1.0 - FINAL_FRACTION) * (1.0 - decay) ** DECAY_POWER)
# EVOLVE-BLOCK-END
