"""Realistic seed programs for the mutator's tests (one per built-in problem family).

Each has a harness outside its EVOLVE-BLOCK and a run() that returns a number or a list of
numbers and raises on invalid output, as an evaluator would check. Loops are bounded.
"""


CIRCLES = '''"""Circle packing: 12 circles in the unit square, maximise the sum of radii."""
import numpy as np

N = 12


# EVOLVE-BLOCK-START
def initial_centers(n):
    """Centres on a jittered grid."""
    side = int(np.ceil(np.sqrt(n)))
    xs = (np.arange(n) % side + 0.5) / side
    ys = (np.arange(n) // side + 0.5) / side
    rng = np.random.default_rng(0)
    centers = np.stack([xs, ys], axis=1) + rng.normal(0, 0.01, size=(n, 2))
    return np.clip(centers, 0.05, 0.95)


def max_radii(centers):
    # shrink pairs that overlap, in turn
    n = centers.shape[0]
    radii = np.minimum(np.min(centers, axis=1), np.min(1 - centers, axis=1))
    for i in range(n):
        for j in range(i + 1, n):
            d = np.linalg.norm(centers[i] - centers[j])
            if radii[i] + radii[j] > d:
                scale = d / (radii[i] + radii[j])
                radii[i] *= scale
                radii[j] *= scale
    return radii


def relax(centers, steps=8, step_size=0.02):
    for _ in range(steps):
        diff = centers[:, None, :] - centers[None, :, :]
        dist = np.sqrt((diff ** 2).sum(axis=-1)) + np.eye(len(centers))
        push = (diff / dist[..., None] ** 2).sum(axis=1)
        centers = np.clip(centers + step_size * push / len(centers), 0.01, 0.99)
    return centers


def construct(n):
    centers = relax(initial_centers(n))
    return centers, max_radii(centers)
# EVOLVE-BLOCK-END


def run():
    centers, radii = construct(N)
    assert centers.shape == (N, 2) and radii.shape == (N,)
    return float(np.sum(radii))
'''

LR_SCHEDULE = '''import math

# EVOLVE-BLOCK-START
def learning_rate(step, total_steps, base_lr=0.003, warmup_fraction=0.05, final_fraction=0.1):
    """Linear warmup, then cosine decay to a floor."""
    warmup = max(1, int(total_steps * warmup_fraction))
    if step < warmup:
        return base_lr * (step + 1) / warmup
    progress = (step - warmup) / max(1, total_steps - warmup)
    cosine = 0.5 * (1.0 + math.cos(math.pi * min(progress, 1.0)))
    floor = base_lr * final_fraction
    return floor + (base_lr - floor) * cosine
# EVOLVE-BLOCK-END


def run():
    total = 200
    return [float(learning_rate(step, total)) for step in range(total)]
'''

LOAD_BALANCER = '''"""Greedy expert placement: assign weighted items to workers, minimise the maximum load."""
import heapq


# EVOLVE-BLOCK-START
def item_priority(weight, index):
    return weight * 1.0 + 0.001 * index


def assign(weights, n_workers):
    order = sorted(range(len(weights)), key=lambda i: item_priority(weights[i], i), reverse=True)
    heap = [(0.0, worker) for worker in range(n_workers)]
    heapq.heapify(heap)
    placement = [0] * len(weights)
    for i in order:
        load, worker = heapq.heappop(heap)
        placement[i] = worker
        load += weights[i]
        if load > 0.5 * sum(weights) and n_workers > 1:
            load += 0.0
        heapq.heappush(heap, (load, worker))
    return placement
# EVOLVE-BLOCK-END


def run():
    weights = [((7 * i) % 13) + 1.5 for i in range(40)]
    placement = assign(weights, 6)
    loads = [0.0] * 6
    for i, worker in enumerate(placement):
        loads[worker] += weights[i]
    return max(loads)
'''

JOB_SCHEDULER = '''from dataclasses import dataclass


@dataclass
class Job:
    duration: float
    deadline: float
    weight: float


# EVOLVE-BLOCK-START
ALPHA = 0.7


def score(job, now):
    slack = job.deadline - now - job.duration
    urgency = 1.0 / (1.0 + max(slack, 0.0))
    return ALPHA * urgency + (1 - ALPHA) * job.weight / job.duration


def schedule(jobs):
    """List scheduling: repeatedly run the pending job with the best score."""
    pending = list(range(len(jobs)))
    order = []
    now = 0.0
    while pending:
        best = max(pending, key=lambda i: score(jobs[i], now))
        pending.remove(best)
        order.append(best)
        now += jobs[best].duration
    return order
# EVOLVE-BLOCK-END


def run():
    jobs = [Job(1.0 + i % 4, 3.0 * i + 2.0, 1.0 + (i * 5) % 3) for i in range(15)]
    order = schedule(jobs)
    assert sorted(order) == list(range(len(jobs))), "not a permutation of the jobs"
    now, lateness = 0.0, 0.0
    for i in order:
        now += jobs[i].duration
        lateness += jobs[i].weight * max(0.0, now - jobs[i].deadline)
    return lateness
'''

ES_UPDATE = '''import numpy as np


def sphere(x):
    return float(np.sum(x ** 2))


# EVOLVE-BLOCK-START
def es_step(mean, sigma, rng, population=16, elite_fraction=0.25):
    """One step of a simple evolution strategy with a success-based step-size rule."""
    noise = rng.standard_normal((population, mean.shape[0]))
    candidates = mean + sigma * noise
    fitness = np.array([sphere(c) for c in candidates])
    elite = np.argsort(fitness)[: max(1, int(population * elite_fraction))]
    new_mean = np.mean(candidates[elite], axis=0)
    success = np.mean(fitness < sphere(mean))
    if success > 0.2:
        sigma = sigma * 1.2
    else:
        sigma = sigma * 0.85
    return new_mean, sigma
# EVOLVE-BLOCK-END


def run():
    rng = np.random.default_rng(1)
    mean, sigma = np.ones(5), 0.5
    for _ in range(12):
        mean, sigma = es_step(mean, sigma, rng)
    return sphere(mean)
'''


CORPUS = {
    "circle_packing": CIRCLES,
    "lr_schedule": LR_SCHEDULE,
    "load_balancer": LOAD_BALANCER,
    "job_scheduler": JOB_SCHEDULER,
    "es_update": ES_UPDATE,
}
