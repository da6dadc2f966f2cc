"""Trusted evaluator: call tour(cities) once in the sandbox, check the answer, score it here.

The pattern "a function called once": one ``candidate.call`` per evaluation. Everything
the candidate returns is data (a list of ints, here) and is checked before it is used: a
wrong answer raises InvalidOutput with a message the next prompt will show. The score is
computed here from the cities and the order, never taken from the candidate.
"""

import numpy as np

from evaluators import Evaluation, InvalidOutput

N_CITIES = 40
INSTANCE_SEED = 20240601  # fixed: every candidate sees the same cities


def cities() -> np.ndarray:
    return np.random.default_rng(INSTANCE_SEED).random((N_CITIES, 2))


def evaluate(candidate, context):
    points = cities()
    answer = candidate.call("tour", points)  # runs in the sandbox; arrays cross as arrays, tuples come back as lists
    order = _check_permutation(answer, N_CITIES)
    path = points[order]
    edges = np.sqrt(((path - np.roll(path, -1, axis=0)) ** 2).sum(axis=1))
    length = float(edges.sum())
    longest = float(edges.max())
    return Evaluation(
        score=length,
        metrics={"longest_edge_length": longest, "mean_edge_length": float(edges.mean())},
        features={"longest_edge": longest / length},
        feedback=f"closed tour of length {length:.4f}; its longest edge ({longest:.3f}) is "
        f"{longest / length:.1%} of it, between cities {order[int(edges.argmax())]} and "
        f"{order[(int(edges.argmax()) + 1) % N_CITIES]}.",
    )


def _check_permutation(answer, n: int) -> list[int]:
    if isinstance(answer, np.ndarray):
        answer = answer.tolist()
    if not isinstance(answer, list):
        raise InvalidOutput(f"tour() must return a list of city indices, got {type(answer).__name__}")
    if len(answer) != n:
        raise InvalidOutput(f"tour() returned {len(answer)} indices, expected {n} (every city exactly once)")
    if not all(isinstance(i, int) and not isinstance(i, bool) for i in answer):
        raise InvalidOutput("tour() must return integers (city indices)")
    missing = sorted(set(range(n)) - set(answer))
    if missing:
        raise InvalidOutput(f"tour() is not a permutation of 0..{n - 1}: city {missing[0]} is never visited")
    return answer
