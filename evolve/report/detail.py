"""One program in full, for ``evolve show``: code, verdicts, where it sits, where it came from.

Everything a user asks about a single candidate: its code and metrics; the evaluator's
feedback, or its failure with the candidate's output; the proposal that made it (proposer,
edit kind, summary, LLM cost); its parent and the diff from it (the edit itself), its
children; its archive cell and whether it is an elite there; its holdout verdict.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from evolve.records import EvaluationResult, Program
from evolve.report.archive import ArchiveView, bin_range, cell_of_program
from evolve.report.lineage import improvement, unified_diff
from evolve.report.queries import ProposalRow, RunQueries
from evolve.store.run import Run
from evolve.views import summary as summary_views


@dataclass(frozen=True)
class ProgramDetail:
    program: Program
    parent: Program | None
    proposal: ProposalRow | None
    diff: str  # from the parent ("" for the seed)
    delta: float | None  # improvement over the parent (positive: better)
    children: tuple[int, ...]
    cell: tuple[int, ...] | None  # None unless the evaluation completed
    cell_ranges: dict[str, tuple[float, float]]
    elite_on: tuple[int, ...]  # islands where it is the cell's elite
    holdout: EvaluationResult | None
    holdout_reason: str | None


def program_detail(run: Run, program_id: int, queries: RunQueries, archive: ArchiveView) -> ProgramDetail:
    """The detail of ``program_id``; KeyError when the run has no such program."""
    program = run.db.program(program_id)
    if program is None:
        raise KeyError(program_id)
    parent = run.db.program(program.parent_id) if program.parent_id is not None else None
    diff = unified_diff(parent.code, program.code, f"program {parent.id} (parent)", f"program {program.id}") if parent else ""
    cell = cell_of_program(archive.axes, program) if program.score is not None else None
    ranges = {axis.name: bin_range(axis, index) for axis, index in zip(archive.axes, cell)} if cell is not None else {}
    elite_on = tuple(c.island for c in archive.cells if c.program_id == program.id)
    held = run.db.holdout(program.id)
    return ProgramDetail(
        program=program, parent=parent, proposal=queries.proposal_of(program.id), diff=diff,
        delta=improvement(program.score, parent.score, run.config.objective.maximize) if parent else None,
        children=tuple(queries.children(program.id)), cell=cell, cell_ranges=ranges, elite_on=elite_on,
        holdout=held[0] if held else None, holdout_reason=held[1] if held else None,
    )  # fmt: skip


def detail_data(run: Run, detail: ProgramDetail) -> dict[str, Any]:
    """The JSON of ``evolve show --json``: ``program_data`` plus where the program came from and sits."""
    data = summary_views.program_data(run, detail.program)
    proposal = detail.proposal
    data.update(
        parent_score=detail.parent.score if detail.parent else None,
        delta=detail.delta,
        diff=detail.diff,
        children=list(detail.children),
        cell=list(detail.cell) if detail.cell is not None else None,
        cell_ranges={k: list(v) for k, v in detail.cell_ranges.items()},
        elite_on_islands=list(detail.elite_on),
        holdout_reason=detail.holdout_reason,
        proposal=None if proposal is None else {
            "id": proposal.id, "proposer": proposal.proposer, "kind": proposal.kind, "summary": proposal.summary,
            "inspiration_ids": list(proposal.inspiration_ids), "latency_s": proposal.latency_s,
            "llm_calls": proposal.llm_calls, "cost": proposal.cost,
        },
    )  # fmt: skip
    return data
