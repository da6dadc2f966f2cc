"""Seed program: plain OpenAI-style evolution strategy (Salimans et al. 2017).

Full-rank Gaussian perturbations in antithetic pairs, centred-rank fitness shaping, the
score-function gradient estimate g = sum_i w_i eps_i / (N sigma) and an Adam step. RANK > 0
switches matrices to EGGROLL's low-rank noise; z_scores is the other fitness shaping.

The evaluator appends its task runtime (evaluators/es_runtime.py) to this program and calls
train(task, params, generator) once per task. What the ES may use:
  task.fitness(params, perturbation) -> tensor [N]: fitness (higher is better) of the N members
      params + delta_i; perturbation maps a parameter name to a dense delta [N, *shape] or, for a
      matrix [a, b], a low-rank pair (A [N, a, r], B [N, b, r]) meaning delta_i = A_i @ B_i^T,
      which costs O(r (a + b)) per member instead of O(a b). Each call uses N of task.budget.
  task.budget, task.remaining, task.evaluations: member evaluations allowed / left / used
  task.shapes: {name: shape}; task.device; task.num_params
  task.to_vector(params) / task.from_vector(vector): flatten to [..., D] and back
train must return the final parameters: a dict of float32 tensors on task.device shaped like params.
"""

import math

import torch


# EVOLVE-BLOCK-START
GENERATIONS = 50  # the budget is split into this many generations: population = budget / GENERATIONS
SIGMA = 0.1  # standard deviation of the perturbations
LEARNING_RATE = 0.05  # Adam step size
RANK = 0  # 0: full-rank Gaussian noise (OpenAI-ES); r >= 1: rank-r noise A B^T for matrices (EGGROLL)
BETA1 = 0.9
BETA2 = 0.999
EPSILON = 1e-8


def centered_ranks(fitness):
    """Fitness shaping: ranks mapped linearly onto [-0.5, 0.5] (invariant to monotone transforms)."""
    n = fitness.shape[0]
    ranks = torch.empty_like(fitness)
    ranks[fitness.argsort()] = torch.arange(n, dtype=fitness.dtype, device=fitness.device)
    return ranks / (n - 1) - 0.5


def z_scores(fitness):
    """Fitness shaping: (f - mean) / std over the population."""
    return (fitness - fitness.mean()) / torch.sqrt(fitness.var(unbiased=False) + 1e-5)


def sample_noise(value, half, generator, device):
    """Unit-scale noise for the population: the second half mirrors the first (antithetic pairs)."""
    if RANK > 0 and value.dim() == 2:
        a = torch.randn(half, value.shape[0], RANK, generator=generator, device=device) / math.sqrt(RANK)
        b = torch.randn(half, value.shape[1], RANK, generator=generator, device=device)
        return (torch.cat([a, -a]), torch.cat([b, b]))
    eps = torch.randn((half, *value.shape), generator=generator, device=device)
    return torch.cat([eps, -eps])


def scaled(noise, sigma):
    if isinstance(noise, tuple):
        return (sigma * noise[0], noise[1])
    return sigma * noise


def weighted_sum(weights, noise):
    """sum_i w_i delta_i, for dense noise or low-rank pairs (A_i B_i^T, never built one by one)."""
    if isinstance(noise, tuple):
        return torch.einsum("n,nar,nbr->ab", weights, noise[0], noise[1])
    return torch.tensordot(weights, noise, dims=1)


def train(task, params, generator):
    half = max(2, task.budget // (2 * GENERATIONS))
    population = 2 * half
    first = {name: torch.zeros_like(value) for name, value in params.items()}
    second = {name: torch.zeros_like(value) for name, value in params.items()}
    step = 0
    while task.remaining >= population:
        noise = {name: sample_noise(value, half, generator, task.device) for name, value in params.items()}
        fitness = task.fitness(params, {name: scaled(eps, SIGMA) for name, eps in noise.items()})
        weights = centered_ranks(fitness)
        step += 1
        for name, value in params.items():
            grad = weighted_sum(weights, noise[name]) / (population * SIGMA)
            first[name] = BETA1 * first[name] + (1 - BETA1) * grad
            second[name] = BETA2 * second[name] + (1 - BETA2) * grad * grad
            m_hat = first[name] / (1 - BETA1**step)
            v_hat = second[name] / (1 - BETA2**step)
            params[name] = value + LEARNING_RATE * m_hat / (torch.sqrt(v_hat) + EPSILON)
    return params
# EVOLVE-BLOCK-END
