"""The archive: MAP-Elites grids with islands, and the policies that run them.

- ``grid``: ``Archive``, ``Island``, ``Elite``, ``cell_of`` and the statistics (coverage,
  QD score, fingerprint);
- ``selection``: which elite becomes a parent (uniform, fitness rank, curiosity, go_explore);
- ``acceptance``: when a program takes an occupied cell (strict, parsimony);
- ``migration``: how elites move between islands (ring, none).

``archive_for(config)`` builds the archive a run's settings describe.
"""

from __future__ import annotations

from evolve.archive.acceptance import Acceptance, Parsimony, StrictImprovement, make_acceptance
from evolve.archive.grid import Archive, Cell, Elite, Island, cell_of
from evolve.archive.migration import Migration, NoMigration, RingMigration, make_migration
from evolve.archive.selection import (
    CuriositySelection,
    FitnessRankSelection,
    GoExploreSelection,
    ParentSelection,
    UniformSelection,
    make_selection,
)
from evolve.config import ProblemConfig


def archive_for(config: ProblemConfig) -> Archive:
    """The archive of a run: its axes, islands and the three policies ``[search]`` names."""
    search = config.search
    sign = 1.0 if config.objective.maximize else -1.0
    return Archive(
        config.feature_axes(),
        search.islands,
        migration=make_migration(search.migration, search.migration_interval, search.migration_size),
        selection=make_selection(
            search.parent_selection, search.fitness_temperature, search.go_explore_recency_bonus, search.go_explore_horizon
        ),
        acceptance=make_acceptance(search.acceptance, search.parsimony_tolerance),
        qd_offset=sign * search.qd_score_offset,
    )


__all__ = [
    "Acceptance",
    "Archive",
    "Cell",
    "CuriositySelection",
    "Elite",
    "FitnessRankSelection",
    "GoExploreSelection",
    "Island",
    "Migration",
    "NoMigration",
    "Parsimony",
    "ParentSelection",
    "RingMigration",
    "StrictImprovement",
    "UniformSelection",
    "archive_for",
    "cell_of",
    "make_acceptance",
    "make_migration",
    "make_selection",
]
