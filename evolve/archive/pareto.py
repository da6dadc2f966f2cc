"""The Pareto front over several objectives: programs no other program beats on every one.

Point a dominates point b when a is at least as good on every objective and strictly
better on one (each objective with its own direction). The front is the set of points no
point dominates. O(n^2 k), fine for the few thousand programs of a run.
"""

from __future__ import annotations

from typing import Sequence


def pareto_front(points: Sequence[Sequence[float]], maximize: Sequence[bool]) -> list[int]:
    """Indices of the non-dominated points, in input order."""
    signed = [[v if up else -v for v, up in zip(point, maximize)] for point in points]

    def dominates(a: list[float], b: list[float]) -> bool:
        return all(x >= y for x, y in zip(a, b)) and any(x > y for x, y in zip(a, b))

    return [i for i, p in enumerate(signed) if not any(dominates(q, p) for j, q in enumerate(signed) if j != i)]
