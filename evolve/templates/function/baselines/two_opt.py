"""Reference: nearest neighbour improved by 2-opt until no reversal shortens the tour.

A baseline is scored by the same evaluator as the seed (``evolve check``; ``evolve report``
draws it as a reference line). It needs no EVOLVE-BLOCK markers, only the same entry point.
"""

import numpy as np


def tour(cities):
    cities = np.asarray(cities, dtype=float)
    n = len(cities)
    distance = np.sqrt(((cities[:, None, :] - cities[None, :, :]) ** 2).sum(axis=-1))
    order = [0]
    visited = np.zeros(n, dtype=bool)
    visited[0] = True
    for _ in range(n - 1):
        nearest = int(np.argmin(np.where(visited, np.inf, distance[order[-1]])))
        order.append(nearest)
        visited[nearest] = True
    improved = True
    while improved:
        improved = False
        for i in range(1, n - 1):
            for j in range(i + 1, n):
                a, b, c, d = order[i - 1], order[i], order[j], order[(j + 1) % n]
                if distance[a, c] + distance[b, d] < distance[a, b] + distance[c, d] - 1e-12:
                    order[i : j + 1] = order[i : j + 1][::-1]
                    improved = True
    return order
