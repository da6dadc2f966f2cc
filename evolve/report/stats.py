"""The run over time and per proposer: best-so-far curves and what each proposer bought.

*Best so far* after evaluation ``i`` is the best complete score among evaluations 1..i (in
commit order). Per island it counts the programs proposed on that island, with the seed
(inserted into every island) as every island's start; migrants are not counted twice.

Per proposer (the ``proposer`` of each proposal: ``mutator``, or the model that wrote it):
``proposals``; ``valid_edit_rate`` = proposals that became a candidate program / proposals;
``valid_rate`` = candidates whose evaluation completed / candidates evaluated;
``improvements`` = candidates with a complete score better than their parent's;
``new_bests`` = candidates that raised the run's best at the time; ``cost`` = dollars of
their LLM calls; ``cost_per_improvement`` = cost / improvements (None without one).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

from evolve.report.queries import EvaluationRow, ProposalRow

SEED = "seed"


@dataclass(frozen=True)
class Point:
    index: int  # evaluations committed so far (1-based)
    seconds: float  # since the first evaluation
    score: float
    program_id: int


@dataclass(frozen=True)
class ProposerStats:
    proposer: str
    proposals: int
    llm_calls: int
    candidates: int
    evaluated: int
    valid: int
    improvements: int
    new_bests: int
    cost: float

    @property
    def valid_edit_rate(self) -> float:
        return self.candidates / self.proposals if self.proposals else 0.0

    @property
    def valid_rate(self) -> float:
        return self.valid / self.evaluated if self.evaluated else 0.0

    @property
    def cost_per_improvement(self) -> float | None:
        return self.cost / self.improvements if self.improvements else None


def better(a: float, b: float | None, maximize: bool) -> bool:
    return b is None or (a > b if maximize else a < b)


def best_so_far(rows: list[EvaluationRow], maximize: bool, island: int | None = None) -> list[Point]:
    """The points where the best complete score improved (of ``island``'s programs and the seed, if given)."""
    points: list[Point] = []
    best: float | None = None
    start = rows[0].created_at if rows else 0.0
    for row in rows:
        if not row.complete or row.score is None:
            continue
        if island is not None and row.kind != SEED and row.island != island:
            continue
        if better(row.score, best, maximize):
            best = row.score
            points.append(Point(row.index, row.created_at - start, row.score, row.program_id))
    return points


def new_best_ids(rows: list[EvaluationRow], maximize: bool) -> set[int]:
    return {p.program_id for p in best_so_far(rows, maximize)}


def proposer_stats(proposals: list[ProposalRow], rows: list[EvaluationRow], maximize: bool) -> list[ProposerStats]:
    """One entry per proposer, most proposals first."""
    scores = {r.program_id: r.score for r in rows if r.complete}
    evaluated = {r.program_id: r for r in rows}
    bests = new_best_ids(rows, maximize) - {r.program_id for r in rows if r.kind == SEED}
    acc: dict[str, dict[str, float]] = defaultdict(lambda: defaultdict(float))
    for p in proposals:
        a = acc[p.proposer]
        a["proposals"] += 1
        a["llm_calls"] += p.llm_calls
        a["cost"] += p.cost
        if p.program_id is None:
            continue
        a["candidates"] += 1
        row = evaluated.get(p.program_id)
        if row is None:
            continue
        a["evaluated"] += 1
        if not row.complete or row.score is None:
            continue
        a["valid"] += 1
        parent = scores.get(p.parent_id) if p.parent_id is not None else None
        if parent is not None and better(row.score, parent, maximize):
            a["improvements"] += 1
        if p.program_id in bests:
            a["new_bests"] += 1
    stats = [
        ProposerStats(
            proposer=name, proposals=int(a["proposals"]), llm_calls=int(a["llm_calls"]), candidates=int(a["candidates"]),
            evaluated=int(a["evaluated"]), valid=int(a["valid"]), improvements=int(a["improvements"]),
            new_bests=int(a["new_bests"]), cost=float(a["cost"]),
        )
        for name, a in acc.items()
    ]
    return sorted(stats, key=lambda s: (-s.proposals, s.proposer))
