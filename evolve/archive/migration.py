"""Migration policies: how elites move between islands.

Islands evolve apart (proposals take turns over islands); every ``interval`` insertions the
archive asks its migration policy for (elite, target island) pairs and offers each elite to
its target, where it competes for its cell like any newcomer.

* ``RingMigration``: each island sends its ``size`` best elites to the next island in a
  ring. Emigrants are chosen from every island before any arrives, so the order of islands
  does not matter.
* ``NoMigration``: islands never exchange (independent restarts).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol, Sequence

if TYPE_CHECKING:
    from evolve.archive.grid import Elite, Island


class Migration(Protocol):
    name: str
    interval: int

    def emigrants(self, islands: Sequence["Island"]) -> list[tuple["Elite", int]]:
        """The elites to move now, each with the index of its target island."""


class RingMigration:
    name = "ring"

    def __init__(self, interval: int = 25, size: int = 1) -> None:
        if interval < 1 or size < 1:
            raise ValueError(f"migration interval and size must be >= 1, got {interval} and {size}")
        self.interval = interval
        self.size = size

    def emigrants(self, islands: Sequence["Island"]) -> list[tuple["Elite", int]]:
        moves = []
        for i, island in enumerate(islands):
            target = (i + 1) % len(islands)
            moves += [(elite, target) for elite in island.ranked()[: self.size]]
        return moves


class NoMigration:
    name = "none"
    interval = 1

    def emigrants(self, islands: Sequence["Island"]) -> list[tuple["Elite", int]]:
        return []


def make_migration(name: str, interval: int = 25, size: int = 1) -> Migration:
    """The policy called ``name`` (``[search] migration``)."""
    if name == "ring":
        return RingMigration(interval, size)
    if name == "none":
        return NoMigration()
    raise ValueError(f"unknown migration policy {name!r}; choose ring or none")
