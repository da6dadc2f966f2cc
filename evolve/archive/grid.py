"""MAP-Elites archive with islands, ring migration, parent and inspiration selection.

Each island keeps one *elite* per *cell* of a grid over the feature axes (Mouret & Clune,
2015): a program enters cell ``c`` if the cell is empty or the program's fitness beats the
incumbent's (ties keep the incumbent, so replay is order-stable). Fitness is the score in
the maximise direction (``-score`` for minimised objectives).

Islands evolve separately (proposals take turns over islands); the migration policy
(``evolve.archive.migration``) moves elites between them every ``interval`` insertions.
Who enters an occupied cell is the acceptance rule's call (``evolve.archive.acceptance``);
which elite becomes a parent is the selection policy's (``evolve.archive.selection``).

Determinism: the archive is a pure function of the sequence of ``insert`` calls. The run
database replays evaluated programs in commit order, so a resumed run rebuilds the same
archive bit for bit. Selection draws come from a caller-supplied ``random.Random``.

Statistics follow pyribs' names: *coverage* is filled cells / total cells, *QD score* is
the sum over filled cells of max(0, fitness - offset) with a fixed ``qd_offset`` (pyribs'
``qd_score_offset``), so it never decreases during a run and compares across runs.
"""

from __future__ import annotations

import hashlib
import math
import random
from dataclasses import dataclass, field
from typing import Sequence

from evolve.archive.acceptance import Acceptance, StrictImprovement
from evolve.archive.migration import Migration, RingMigration
from evolve.archive.selection import FitnessRankSelection, ParentSelection
from evolve.config import FeatureAxis

Cell = tuple[int, ...]


@dataclass
class Elite:
    program_id: int
    fitness: float
    cell: Cell
    code: str
    features: dict[str, float] = field(default_factory=dict)


def cell_of(axes: Sequence[FeatureAxis], features: dict[str, float]) -> Cell:
    """Bin index per axis: ``floor((v - min) / (max - min) * bins)``, clipped to [0, bins - 1]."""
    index = []
    for axis in axes:
        value = features.get(axis.name, axis.min)
        fraction = (value - axis.min) / (axis.max - axis.min)
        index.append(min(axis.bins - 1, max(0, math.floor(fraction * axis.bins))))
    return tuple(index)


class Island:
    """One MAP-Elites grid: cell -> elite, plus how often each cell has been a parent."""

    def __init__(self, index: int, acceptance: Acceptance | None = None) -> None:
        self.index = index
        self.acceptance = acceptance or StrictImprovement()
        self.elites: dict[Cell, Elite] = {}
        self.visits: dict[Cell, int] = {}  # times each cell's elite was chosen as a parent
        self.improved_at: dict[Cell, int] = {}  # archive insertion count when the cell last got a new elite
        self._ranked: list[Elite] | None = None  # ranked() until the next change

    def offer(self, elite: Elite) -> str:
        """Insert if the cell is empty or the acceptance rule says so. Returns new_cell | improved | rejected."""
        incumbent = self.elites.get(elite.cell)
        if incumbent is None:
            self.elites[elite.cell] = elite
            self._ranked = None
            return "new_cell"
        if self.acceptance.accepts(incumbent, elite):
            self.elites[elite.cell] = elite
            self._ranked = None
            return "improved"
        return "rejected"

    def ranked(self) -> list[Elite]:
        """Elites best first (ties broken by program id, for determinism); sorted once per change,
        so callers must not modify the list."""
        if self._ranked is None:
            self._ranked = sorted(self.elites.values(), key=lambda e: (-e.fitness, e.program_id))
        return self._ranked

    def best(self) -> Elite | None:
        ranked = self.ranked()
        return ranked[0] if ranked else None


class Archive:
    """Islands of MAP-Elites grids over ``axes``, with pluggable selection, acceptance and migration.

    ``migration`` defaults to a ring every ``migration_interval`` insertions moving
    ``migration_size`` elites; ``selection`` is the default parent-selection policy;
    ``qd_offset`` is in fitness units (the maximise direction).
    """

    def __init__(
        self,
        axes: Sequence[FeatureAxis],
        islands: int = 1,
        migration_interval: int = 25,
        migration_size: int = 1,
        *,
        migration: Migration | None = None,
        selection: ParentSelection | None = None,
        acceptance: Acceptance | None = None,
        qd_offset: float = 0.0,
    ) -> None:
        self.axes = list(axes)
        self.acceptance = acceptance or StrictImprovement()
        self.islands = [Island(i, self.acceptance) for i in range(islands)]
        self.migration = migration or RingMigration(migration_interval, migration_size)
        self.selection = selection or FitnessRankSelection()
        self.qd_offset = qd_offset
        self.insertions = 0
        self.migrations = 0

    # -- insertion ----------------------------------------------------------------------
    def insert(self, program_id: int, fitness: float, features: dict[str, float], code: str, island: int | None) -> str:
        """Offer a program to ``island`` (or to every island when None, as for the seed).

        Returns the outcome on its island (the best outcome when offered to all). Counts
        toward migration; migration happens right after the insertion that completes an interval.
        """
        elite = Elite(program_id, fitness, cell_of(self.axes, features), code, dict(features))
        targets = self.islands if island is None else [self.islands[island % len(self.islands)]]
        self.insertions += 1
        outcomes = [self._offer(target, elite) for target in targets]
        if len(self.islands) > 1 and self.insertions % self.migration.interval == 0:
            self.migrate()
        for outcome in ("new_cell", "improved"):
            if outcome in outcomes:
                return outcome
        return "rejected"

    def migrate(self) -> None:
        """Offer the migration policy's emigrants to their target islands (all chosen first)."""
        moves = self.migration.emigrants(self.islands)
        for elite, target in moves:
            self._offer(self.islands[target], Elite(elite.program_id, elite.fitness, elite.cell, elite.code, dict(elite.features)))
        if moves:
            self.migrations += 1

    def _offer(self, island: Island, elite: Elite) -> str:
        outcome = island.offer(elite)
        if outcome != "rejected":
            island.improved_at[elite.cell] = self.insertions
        return outcome

    # -- selection ----------------------------------------------------------------------
    def select_parent(self, island: int, rng: random.Random, selection: ParentSelection | None = None) -> Elite:
        """Draw a parent from ``island`` (falling back to the whole archive if it is empty)
        with ``selection`` (default: the archive's policy), and count the visit to its cell."""
        home = self.islands[island % len(self.islands)]
        ranked = home.ranked() or self.all_elites()
        if not ranked:
            raise LookupError("the archive is empty: nothing to select a parent from")
        weights = (selection or self.selection).weights(ranked, home, self.insertions)
        parent = rng.choices(ranked, weights=weights, k=1)[0]
        home.visits[parent.cell] = home.visits.get(parent.cell, 0) + 1
        return parent

    def inspirations(self, island: int, parent: Elite, k: int, rng: random.Random) -> list[Elite]:
        """Up to k elites other than the parent: the island's best, then random other cells,
        then (when the island is too small) elites of other islands."""
        if k <= 0:
            return []
        home = self.islands[island % len(self.islands)]
        others = [e for e in home.ranked() if e.program_id != parent.program_id]
        chosen = others[:1]
        rest = others[1:]
        rng.shuffle(rest)
        chosen += rest[: k - len(chosen)]
        if len(chosen) < k:
            taken = {e.program_id for e in chosen} | {parent.program_id}
            pool = [e for e in self.all_elites() if e.program_id not in taken]
            pool = list({e.program_id: e for e in pool}.values())
            rng.shuffle(pool)
            chosen += pool[: k - len(chosen)]
        return chosen

    # -- statistics ---------------------------------------------------------------------
    def all_elites(self) -> list[Elite]:
        return [e for island in self.islands for e in island.ranked()]

    def best(self) -> Elite | None:
        elites = self.all_elites()
        return max(elites, key=lambda e: (e.fitness, -e.program_id)) if elites else None

    @property
    def cells_per_island(self) -> int:
        return math.prod(axis.bins for axis in self.axes) if self.axes else 1

    def coverage(self) -> float:
        """Filled cells over all cells, across islands."""
        filled = sum(len(island.elites) for island in self.islands)
        return filled / (self.cells_per_island * len(self.islands))

    def qd_score(self) -> float:
        """Sum over filled cells of max(0, fitness - qd_offset)."""
        return sum(max(0.0, e.fitness - self.qd_offset) for e in self.all_elites())

    def fingerprint(self) -> str:
        """A hash of the snapshot: equal fingerprints mean identical archives."""
        canonical = [sorted(island.items()) for island in self.snapshot()]
        return hashlib.sha256(repr((canonical, self.insertions, self.migrations)).encode()).hexdigest()[:16]

    def snapshot(self) -> list[dict[Cell, tuple[int, float]]]:
        """Per island, cell -> (program id, fitness): what 'rebuilt identically' compares."""
        return [{c: (e.program_id, e.fitness) for c, e in island.elites.items()} for island in self.islands]
