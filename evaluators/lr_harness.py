"""Trusted training harness for learning-rate schedules: train a sweep, validate every LR, score.

``train(sweep, schedule)`` runs the K runs of a sweep in lockstep. At each step it computes
every run's loss and gradient, asks ``schedule(step, losses, grad_norms)`` for the K learning
rates (for a candidate: one call into its sandboxed worker), checks them, and applies one
optimiser step with a learning rate per run. A run whose loss stops being finite is frozen
and scores its initial validation loss (a schedule that diverges earns no credit).

Optimisers, per run k with learning rate eta_k:
  SGD:   theta <- theta - eta_k g
  AdamW: m <- b1 m + (1 - b1) g;  v <- b2 v + (1 - b2) g^2;
         theta <- theta - eta_k (m / (1 - b1^t)) / (sqrt(v / (1 - b2^t)) + eps)   (weight decay 0)

Score of one workload and budget (``relative_improvement``): with L(s) the validation loss of
schedule s at its best base LR of the grid (loss averaged over seeds first),
  s = (L(linear) - L(candidate)) / (L(linear) - L_Bayes),
the fraction of linear decay's excess loss that the candidate removes (0 = as good as linear
decay, negative = worse, 1 = Bayes-optimal). Every schedule gets the same grid, so a schedule
cannot win by being evaluated at a luckier learning rate.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable, Sequence

import numpy as np
import torch

from evaluators.contract import InvalidOutput
from evaluators.lr_workloads import Sweep, prepare

MAX_MULTIPLIER = 100.0  # an LR above 100 x base_lr is taken as a bug, not a schedule
BETA1, BETA2, EPSILON = 0.9, 0.999, 1e-8

Schedule = Callable[[int, torch.Tensor, torch.Tensor], torch.Tensor]


@dataclass
class SweepResult:
    val_loss: torch.Tensor  # [K], last iterate, diverged runs at their initial loss
    lrs: np.ndarray  # [T, K] the learning rates applied
    grad_norms: np.ndarray  # [T, K]
    diverged: int


def train(sweep: Sweep, schedule: Schedule) -> SweepResult:
    params = sweep.params
    names = list(params)
    with torch.no_grad():
        initial = sweep.val_loss(params)
    first = {n: torch.zeros_like(p) for n, p in params.items()}
    second = {n: torch.zeros_like(p) for n, p in params.items()}
    alive = torch.ones(sweep.runs, dtype=torch.bool, device=sweep.base_lrs.device)
    lrs = np.zeros((sweep.steps, sweep.runs))
    norms = np.zeros((sweep.steps, sweep.runs))
    for step in range(sweep.steps):
        x, y = sweep.batch(step)
        losses = sweep.train_loss(params, x, y)
        alive &= torch.isfinite(losses)
        grads = torch.autograd.grad(torch.where(alive, losses, 0.0).sum(), [params[n] for n in names])
        with torch.no_grad():
            grads = [torch.nan_to_num(g) * _per_run(alive, g) for g in grads]
            sq = sum(g.flatten(1).pow(2).sum(1) for g in grads)
            alive &= torch.isfinite(sq)
            grad_norm = torch.sqrt(torch.where(alive, sq, 0.0))
            rate = schedule(step, losses.detach(), grad_norm) * alive
            lrs[step], norms[step] = rate.cpu().numpy(), grad_norm.cpu().numpy()
            for name, g in zip(names, grads):
                _step(sweep.workload.optimizer, params[name], g, first[name], second[name], rate, step + 1)
    with torch.no_grad():
        final = sweep.val_loss(params)
    ok = alive & torch.isfinite(final)
    final = torch.where(ok, torch.minimum(final, initial), initial)
    return SweepResult(final, lrs, norms, int((~ok).sum()))


def _per_run(values: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    return values.to(like.dtype).view(-1, *([1] * (like.dim() - 1)))


def _step(optimizer: str, p: torch.Tensor, g: torch.Tensor, m: torch.Tensor, v: torch.Tensor, rate: torch.Tensor, t: int) -> None:
    eta = _per_run(rate, p)
    if optimizer == "sgd":
        p.sub_(eta * g)
        return
    m.mul_(BETA1).add_(g, alpha=1 - BETA1)
    v.mul_(BETA2).addcmul_(g, g, value=1 - BETA2)
    update = (m / (1 - BETA1**t)) / ((v / (1 - BETA2**t)).sqrt() + EPSILON)
    p.sub_(eta * update)


def checked_rates(values: object, step: int, sweep: Sweep) -> torch.Tensor:
    """The K learning rates a candidate returned for ``step``, or InvalidOutput naming the step and run."""
    if not isinstance(values, list) or len(values) != sweep.runs:
        raise InvalidOutput(f"step {step}: expected {sweep.runs} learning rates, got {type(values).__name__}")
    base = sweep.base_lrs.tolist()
    for k, value in enumerate(values):
        where = f"step {step} of {sweep.steps}, {sweep.workload.name} run {k} (base_lr {base[k]:g})"
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise InvalidOutput(f"{where}: lr() returned a {type(value).__name__}, expected a float")
        if not math.isfinite(value):
            raise InvalidOutput(f"{where}: lr() returned {value}, not a finite number")
        if value < 0:
            raise InvalidOutput(f"{where}: lr() returned {value:g}, a negative learning rate")
        if value > MAX_MULTIPLIER * base[k]:
            raise InvalidOutput(f"{where}: lr() returned {value:g}, more than {MAX_MULTIPLIER:g} x base_lr")
    return torch.tensor(values, dtype=torch.float32, device=sweep.base_lrs.device)


def multiplier_schedule(multiplier: Callable[[np.ndarray, int], np.ndarray]) -> Callable[[Sweep], Schedule]:
    """A trusted open-loop schedule lr_t = base_lr * multiplier(t, T), for references and tests."""

    def make(sweep: Sweep) -> Schedule:
        # base_lr * m_t in float64, rounded once to float32: the same numbers a candidate computing
        # the same formula in Python returns, so a candidate equal to a reference scores exactly alike
        table = np.outer(multiplier(np.arange(sweep.steps), sweep.steps), np.asarray(sweep.base_lrs.tolist()))
        rates = torch.tensor(table, dtype=torch.float32, device=sweep.base_lrs.device)
        return lambda step, losses, norms: rates[step]

    return make


LINEAR = multiplier_schedule(lambda t, T: 1.0 - t / T)
CONSTANT = multiplier_schedule(lambda t, T: np.ones_like(t, dtype=float))


def best_of_grid(sweep: Sweep, result: SweepResult) -> tuple[float, int]:
    """(validation loss averaged over seeds at the best base LR, index of that LR)."""
    per_lr = result.val_loss.reshape(len(sweep.seeds), -1).mean(0)
    index = int(per_lr.argmin())
    return float(per_lr[index]), index


_REFERENCES: dict[tuple, tuple[Sweep, SweepResult]] = {}


def reference(name: str, steps: int, seeds: Sequence[int], device: str = "cpu") -> tuple[Sweep, SweepResult]:
    """The linear-decay sweep of a workload (cached per process: it is deterministic)."""
    key = (name, steps, tuple(seeds), device)
    if key not in _REFERENCES:
        sweep = prepare(name, steps, tuple(seeds), device)
        _REFERENCES[key] = (sweep, train(sweep, LINEAR(sweep)))
    return _REFERENCES[key]


def relative_improvement(loss: float, linear_loss: float, bayes: float) -> float:
    return (linear_loss - loss) / max(linear_loss - bayes, 1e-12)


def schedule_shape(lrs: np.ndarray, base_lrs: np.ndarray) -> tuple[float, float]:
    """(warm-up fraction, anneal fraction) of the multiplier curves lr_t / base_lr, averaged over runs.

    With peak m* = max_t m_t: warm-up = first t with m_t >= 0.95 m*, over T; anneal = steps
    after the last t with m_t >= 0.95 m*, over T. Linear decay: (0, 0.95); constant: (0, 0).
    """
    steps = lrs.shape[0]
    warm, anneal = [], []
    for k in range(lrs.shape[1]):
        m = lrs[:, k] / base_lrs[k]
        peak = m.max()
        if not peak > 0:
            warm.append(0.0)
            anneal.append(0.0)
            continue
        high = np.flatnonzero(m >= 0.95 * peak)
        warm.append(high[0] / steps)
        anneal.append((steps - 1 - high[-1]) / steps)
    return float(np.mean(warm)), float(np.mean(anneal))
