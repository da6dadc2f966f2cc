"""A program's lineage: the chain of parents back to the seed, and the edit at each step.

Each program has one parent (a crossover's second parent is an inspiration, kept in its
proposal row), so the lineage is a path: seed -> ... -> program. Each step carries the
program's score, who proposed it and how (proposer, edit kind, the proposal's summary),
and the unified diff from its parent (``difflib``, 2 lines of context): the edit that made
it. ``delta`` is the improvement over the parent in the objective's direction (positive
is better), None where either has no complete score.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass

from evolve.records import Program
from evolve.report.queries import RunQueries
from evolve.store.run import Run

MAX_STEPS = 500  # a lineage longer than this is cut at its oldest end


@dataclass(frozen=True)
class Step:
    program_id: int
    parent_id: int | None
    generation: int
    island: int
    proposer: str
    kind: str
    score: float | None
    delta: float | None
    summary: str
    diff: str
    failure_kind: str | None = None


def unified_diff(before: str, after: str, before_name: str, after_name: str, context: int = 2) -> str:
    lines = difflib.unified_diff(
        before.splitlines(keepends=True), after.splitlines(keepends=True), before_name, after_name, n=context
    )
    return "".join(line if line.endswith("\n") else line + "\n" for line in lines)


def improvement(child: float | None, parent: float | None, maximize: bool) -> float | None:
    """child - parent in the direction of improvement (positive: better), or None."""
    if child is None or parent is None:
        return None
    return child - parent if maximize else parent - child


def lineage(run: Run, program_id: int, queries: RunQueries) -> list[Step]:
    """Steps from the oldest ancestor (the seed) to ``program_id``; KeyError if there is no such program."""
    chain: list[Program] = []
    seen: set[int] = set()
    current = run.db.program(program_id)
    if current is None:
        raise KeyError(program_id)
    while current is not None and current.id not in seen and len(chain) < MAX_STEPS:
        chain.append(current)
        seen.add(current.id)
        current = run.db.program(current.parent_id) if current.parent_id is not None else None
    chain.reverse()
    maximize = run.config.objective.maximize
    steps = []
    for index, program in enumerate(chain):
        parent = chain[index - 1] if index else None
        proposal = queries.proposal_of(program.id)
        diff = unified_diff(parent.code, program.code, f"program {parent.id}", f"program {program.id}") if parent else ""
        steps.append(Step(
            program_id=program.id, parent_id=program.parent_id, generation=program.generation, island=program.island,
            proposer=program.proposer, kind=program.kind, score=program.score,
            delta=improvement(program.score, parent.score, maximize) if parent else None,
            summary=proposal.summary if proposal else ("the seed program (initial.py)" if program.kind == "seed" else ""),
            diff=diff, failure_kind=program.evaluation.failure_kind if program.evaluation else None,
        ))  # fmt: skip
    return steps
