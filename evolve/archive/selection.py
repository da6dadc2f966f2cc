"""Parent selection policies: which elite of an island becomes the next parent.

Each policy is a small strategy behind one method, ``weights(ranked, island, clock)``: the
relative chance of each elite of ``ranked`` (the island's elites best first) given the
island's history (how often each cell has already been a parent: ``island.visits``; when
each cell last improved: ``island.improved_at``, in archive insertions) and the current
``clock`` (insertions so far). The archive draws with those weights from the caller's
``random.Random`` (so a seed fixes every choice) and counts the visit.

* ``UniformSelection``: every elite equally likely (classic MAP-Elites, Mouret & Clune 2015).
* ``FitnessRankSelection``: w_r = exp(-r / (T * sqrt(n))) for rank r = 0 (best) .. n-1, so
  the best is most likely and the temperature T spreads the mass as the island grows.
* ``CuriositySelection``: the rank weight divided by sqrt(1 + visits of the elite's cell),
  so long-untried cells get their turn.
* ``GoExploreSelection`` (in the spirit of Go-Explore, Ecoffet et al. 2021: return to
  promising cells, then explore from them): the curiosity weight times
  (1 + B * exp(-age / H)), age being the insertions since the cell last improved, so cells
  that were just discovered or improved are revisited while their lineage is still paying
  off, and stale ones fade back to the curiosity weight.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Protocol, Sequence

if TYPE_CHECKING:
    from evolve.archive.grid import Elite, Island


class ParentSelection(Protocol):
    name: str

    def weights(self, ranked: Sequence["Elite"], island: "Island", clock: int) -> list[float]:
        """Relative selection weight of each elite of ``ranked`` (best first)."""


class UniformSelection:
    name = "uniform"

    def weights(self, ranked: Sequence["Elite"], island: "Island", clock: int) -> list[float]:
        return [1.0] * len(ranked)


class FitnessRankSelection:
    name = "fitness"

    def __init__(self, temperature: float = 1.0) -> None:
        if temperature <= 0:
            raise ValueError(f"fitness temperature must be positive, got {temperature}")
        self.temperature = temperature

    def weights(self, ranked: Sequence["Elite"], island: "Island", clock: int) -> list[float]:
        scale = self.temperature * math.sqrt(len(ranked))
        return [math.exp(-rank / scale) for rank in range(len(ranked))]


class CuriositySelection(FitnessRankSelection):
    name = "curiosity"

    def weights(self, ranked: Sequence["Elite"], island: "Island", clock: int) -> list[float]:
        base = super().weights(ranked, island, clock)
        return [w / math.sqrt(1 + island.visits.get(e.cell, 0)) for w, e in zip(base, ranked)]


class GoExploreSelection(CuriositySelection):
    name = "go_explore"

    def __init__(self, temperature: float = 1.0, recency_bonus: float = 2.0, horizon: float = 50.0) -> None:
        super().__init__(temperature)
        if recency_bonus < 0 or horizon <= 0:
            raise ValueError(f"go_explore needs recency_bonus >= 0 and horizon > 0, got {recency_bonus}, {horizon}")
        self.recency_bonus = recency_bonus
        self.horizon = horizon

    def weights(self, ranked: Sequence["Elite"], island: "Island", clock: int) -> list[float]:
        base = super().weights(ranked, island, clock)
        out = []
        for w, elite in zip(base, ranked):
            age = max(0, clock - island.improved_at.get(elite.cell, 0))
            out.append(w * (1.0 + self.recency_bonus * math.exp(-age / self.horizon)))
        return out


def make_selection(name: str, temperature: float = 1.0, recency_bonus: float = 2.0, horizon: float = 50.0) -> ParentSelection:
    """The policy called ``name`` (``[search] parent_selection``)."""
    if name == "uniform":
        return UniformSelection()
    if name == "fitness":
        return FitnessRankSelection(temperature)
    if name == "curiosity":
        return CuriositySelection(temperature)
    if name == "go_explore":
        return GoExploreSelection(temperature, recency_bonus, horizon)
    raise ValueError(f"unknown parent selection {name!r}; choose uniform, fitness, curiosity or go_explore")
