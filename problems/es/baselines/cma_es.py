"""CMA-ES (Hansen) from the ``cma`` package, on the flattened parameter vector.

Full covariance up to 200 dimensions; above that the separable (diagonal) variant, whose
update is O(D) per sample (Ros & Hansen 2008), since a full D x D covariance of the 2,410
digits-MLP weights would cost more than the whole budget. The population size is cma's
default 4 + 3 ln D; the returned point is the distribution mean (xfavorite), the better
estimate under noisy fitness.
"""

import numpy as np
import torch

import cma

SIGMA0 = 0.1
FULL_COVARIANCE_MAX_DIM = 200


def train(task, params, generator):
    x0 = task.to_vector(params).double().cpu().numpy()
    dim = x0.shape[0]
    seed = int(torch.randint(1, 2**31 - 1, (1,), generator=generator, device=task.device))
    options = {"seed": seed, "verbose": -9, "CMA_diagonal": dim > FULL_COVARIANCE_MAX_DIM, "maxfevals": task.budget}
    strategy = cma.CMAEvolutionStrategy(x0, SIGMA0, options)
    zero = {name: torch.zeros_like(value) for name, value in params.items()}
    while task.remaining >= strategy.popsize and not strategy.stop():
        samples = strategy.ask()
        members = torch.as_tensor(np.asarray(samples), dtype=torch.float32, device=task.device)
        fitness = task.fitness(zero, task.from_vector(members))
        strategy.tell(samples, (-fitness.double().cpu().numpy()).tolist())
    mean = torch.as_tensor(strategy.result.xfavorite, dtype=torch.float32, device=task.device)
    return task.from_vector(mean)
