"""The run's MAP-Elites archive, rebuilt from its evaluations, as plain cells for tables and heat maps.

The archive is a pure function of the evaluation rows in commit order (``evolve.store``),
so the report replays it with the controller's own ``replay`` (one source of truth for
what enters a cell: no second copy of the insertion rule) and no proposer or evaluator ever
runs. ``tests/test_report.py`` checks that the replayed archive's fingerprint equals the
one the run stored when it ended.

A cell is a tuple of bin indices; bin ``b`` of an axis covers
``[min + b * (max - min) / bins, min + (b + 1) * (max - min) / bins)`` and values outside
``[min, max]`` are clipped into the edge bins (``evolve.archive.cell_of``).
"""

from __future__ import annotations

from dataclasses import dataclass

from evolve.archive import Archive, cell_of
from evolve.config import FeatureAxis
from evolve.edits import evolvable_text
from evolve.loop.controller import Controller
from evolve.proposers.base import ProposalContext, Proposer
from evolve.records import EvaluationResult, Program, Proposal
from evolve.store.run import Run

Cell = tuple[int, ...]


@dataclass(frozen=True)
class ArchiveCell:
    """One occupied cell of one island: its elite and the feature ranges the cell covers."""

    island: int
    cell: Cell
    program_id: int
    score: float  # in the objective's own units and direction
    ranges: tuple[tuple[float, float], ...]


@dataclass(frozen=True)
class ArchiveView:
    axes: tuple[FeatureAxis, ...]
    islands: int
    cells: tuple[ArchiveCell, ...]
    coverage: float
    qd_score: float
    fingerprint: str

    @property
    def cells_per_island(self) -> int:
        count = 1
        for axis in self.axes:
            count *= axis.bins
        return count

    def island_cells(self, island: int) -> list[ArchiveCell]:
        return [c for c in self.cells if c.island == island]


def bin_range(axis: FeatureAxis, index: int) -> tuple[float, float]:
    width = (axis.max - axis.min) / axis.bins
    return axis.min + index * width, axis.min + (index + 1) * width


def features_of(program: Program) -> dict[str, float]:
    """The features the archive bins a program by: the evaluator's plus the generic ``code_size``."""
    features = dict(program.evaluation.features) if program.evaluation else {}
    features["code_size"] = float(len(evolvable_text(program.code)))
    return features


def cell_of_program(axes: tuple[FeatureAxis, ...] | list[FeatureAxis], program: Program) -> Cell:
    return cell_of(list(axes), features_of(program))


def replay_archive(run: Run) -> Archive:
    """The archive as the controller held it after the last committed evaluation."""
    controller = Controller(run, _Idle(), _NoEvaluations())
    controller.replay()
    return controller.archive


def archive_view(run: Run) -> ArchiveView:
    archive = replay_archive(run)
    sign = 1.0 if run.config.objective.maximize else -1.0
    axes = tuple(archive.axes)
    cells = tuple(
        ArchiveCell(
            island=island.index, cell=cell, program_id=elite.program_id, score=sign * elite.fitness,
            ranges=tuple(bin_range(axis, index) for axis, index in zip(axes, cell)),
        )
        for island in archive.islands
        for cell, elite in sorted(island.elites.items())
    )
    return ArchiveView(axes, len(archive.islands), cells, archive.coverage(), archive.qd_score(), archive.fingerprint())


class _Idle(Proposer):
    """Replaying proposes nothing."""

    name = "replay"

    async def propose(self, context: ProposalContext) -> Proposal:  # pragma: no cover - never called by replay
        raise RuntimeError("replaying an archive proposes nothing")


class _NoEvaluations:
    """Replaying evaluates nothing."""

    async def evaluate(self, request: object) -> EvaluationResult:  # pragma: no cover - never called by replay
        raise RuntimeError("replaying an archive evaluates nothing")

    def close(self) -> None:
        pass
