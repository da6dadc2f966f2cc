"""EGGROLL-style low-rank evolution strategy (Sarkar et al., "Evolution Strategies at the Hyperscale").

Every matrix parameter W [a, b] of member i is perturbed by (sigma / sqrt(r)) s_i A_i B_i^T with
A_i [a, r], B_i [b, r] standard Gaussian and s_i = +1 / -1 for the two members of an antithetic
pair; vectors (biases) get full-rank Gaussian noise. The task's forward then computes
y = x W^T + ((x B_i) A_i^T) per member and never builds W + delta_i. Fitness is z-scored over the
population, f~ = (f - mean) / sqrt(var + 1e-5), and the update is the full-rank aggregate
g_W = sum_i f~_i s_i A_i B_i^T / (N sqrt(r)) (one einsum), applied with Adam.
"""

import math

import torch

GENERATIONS = 50
RANK = 1
SIGMA = 0.1
LEARNING_RATE = 0.05
BETA1, BETA2, EPSILON = 0.9, 0.999, 1e-8


def z_scores(fitness):
    return (fitness - fitness.mean()) / torch.sqrt(fitness.var(unbiased=False) + 1e-5)


def train(task, params, generator):
    half = max(2, task.budget // (2 * GENERATIONS))
    population = 2 * half
    signs = torch.cat([torch.ones(half, device=task.device), -torch.ones(half, device=task.device)])
    first = {name: torch.zeros_like(value) for name, value in params.items()}
    second = {name: torch.zeros_like(value) for name, value in params.items()}
    step = 0
    while task.remaining >= population:
        factors, perturbation = {}, {}
        for name, value in params.items():
            if value.dim() == 2:
                a = torch.randn(half, value.shape[0], RANK, generator=generator, device=task.device).repeat(2, 1, 1)
                b = torch.randn(half, value.shape[1], RANK, generator=generator, device=task.device).repeat(2, 1, 1)
                factors[name] = (a, b)
                perturbation[name] = ((SIGMA / math.sqrt(RANK)) * signs[:, None, None] * a, b)
            else:
                eps = torch.randn(half, *value.shape, generator=generator, device=task.device)
                factors[name] = torch.cat([eps, -eps])
                perturbation[name] = SIGMA * factors[name]
        weights = z_scores(task.fitness(params, perturbation))
        step += 1
        for name, value in params.items():
            if value.dim() == 2:
                a, b = factors[name]
                grad = torch.einsum("n,nar,nbr->ab", weights * signs, a, b) / (population * math.sqrt(RANK))
            else:
                grad = torch.tensordot(weights, factors[name], dims=1) / population
            first[name] = BETA1 * first[name] + (1 - BETA1) * grad
            second[name] = BETA2 * second[name] + (1 - BETA2) * grad * grad
            m_hat = first[name] / (1 - BETA1**step)
            v_hat = second[name] / (1 - BETA2**step)
            params[name] = value + LEARNING_RATE * m_hat / (torch.sqrt(v_hat) + EPSILON)
    return params
