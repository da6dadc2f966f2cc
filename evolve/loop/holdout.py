"""Which programs are re-scored on the holdout split, and how their gap is reported.

After a run (or on ``evolve holdout``) the best program overall and, with
``[evaluation] holdout_cells``, the best of every occupied cell (over all islands) are
scored on the holdout split: data the search never saw. A discovery that generalises keeps
its score; one that overfits the search workloads shows a gap. Holdout verdicts live in
their own table and never reach a prompt: the loop builds prompts from search
evaluations only.
"""

from __future__ import annotations

from dataclasses import dataclass

from evolve.archive import Archive

BEST = "best"
CELL = "cell"


def holdout_targets(archive: Archive, *, cells: bool) -> list[tuple[int, str]]:
    """(program id, reason) to score: the best overall first, then each cell's best, no repeats."""
    best = archive.best()
    if best is None:
        return []
    targets = [(best.program_id, BEST)]
    if cells:
        by_cell: dict[tuple[int, ...], tuple[float, int]] = {}
        for island in archive.islands:
            for cell, elite in island.elites.items():
                key = (elite.fitness, -elite.program_id)
                if cell not in by_cell or key > by_cell[cell]:
                    by_cell[cell] = key
        chosen = sorted({-pid for _, pid in by_cell.values()} - {best.program_id})
        targets += [(pid, CELL) for pid in chosen]
    return targets


@dataclass(frozen=True)
class HoldoutGap:
    """The best program's scores on both splits; ``gap`` is holdout minus search, in score units."""

    program_id: int
    search: float
    holdout: float | None  # None: the holdout evaluation failed

    @property
    def gap(self) -> float | None:
        return None if self.holdout is None else self.holdout - self.search
