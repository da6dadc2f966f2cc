"""Parent selection policies: which elite of an island becomes the next parent.

Each policy is a small strategy behind one method, ``weights(ranked, visits)``: the
relative chance of each elite of ``ranked`` (the island's elites best first) given how
often each cell has already been a parent. The archive draws with those weights from the
caller's ``random.Random`` (so a seed fixes every choice) and counts the visit.

* ``UniformSelection``: every elite equally likely (classic MAP-Elites, Mouret & Clune 2015).
* ``FitnessRankSelection``: w_r = exp(-r / (T * sqrt(n))) for rank r = 0 (best) .. n-1, so
  the best is most likely and the temperature T spreads the mass as the island grows.
* ``CuriositySelection``: the rank weight divided by sqrt(1 + visits of the elite's cell),
  so long-untried cells get their turn.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Protocol, Sequence

if TYPE_CHECKING:
    from evolve.archive.grid import Cell, Elite


class ParentSelection(Protocol):
    name: str

    def weights(self, ranked: Sequence["Elite"], visits: dict["Cell", int]) -> list[float]:
        """Relative selection weight of each elite of ``ranked`` (best first)."""


class UniformSelection:
    name = "uniform"

    def weights(self, ranked: Sequence["Elite"], visits: dict["Cell", int]) -> list[float]:
        return [1.0] * len(ranked)


class FitnessRankSelection:
    name = "fitness"

    def __init__(self, temperature: float = 1.0) -> None:
        if temperature <= 0:
            raise ValueError(f"fitness temperature must be positive, got {temperature}")
        self.temperature = temperature

    def weights(self, ranked: Sequence["Elite"], visits: dict["Cell", int]) -> list[float]:
        scale = self.temperature * math.sqrt(len(ranked))
        return [math.exp(-rank / scale) for rank in range(len(ranked))]


class CuriositySelection(FitnessRankSelection):
    name = "curiosity"

    def weights(self, ranked: Sequence["Elite"], visits: dict["Cell", int]) -> list[float]:
        base = super().weights(ranked, visits)
        return [w / math.sqrt(1 + visits.get(e.cell, 0)) for w, e in zip(base, ranked)]


def make_selection(name: str, temperature: float = 1.0) -> ParentSelection:
    """The policy called ``name`` (``[search] parent_selection``)."""
    if name == "uniform":
        return UniformSelection()
    if name == "fitness":
        return FitnessRankSelection(temperature)
    if name == "curiosity":
        return CuriositySelection(temperature)
    raise ValueError(f"unknown parent selection {name!r}; choose uniform, fitness or curiosity")
