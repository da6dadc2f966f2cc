"""Everything a report shows, gathered from a run into one plain record (no rendering here).

``gather`` reads the run read-only (the database through ``RunQueries`` and
``RunDatabase``, the archive by replay) and, unless told not to, scores the problem's
baselines from the run's snapshot (``references``). The HTML and Markdown renderers, the
plots and the notebook API all work from the ``ReportData`` it returns, so they show the
same numbers.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from evolve import __version__
from evolve.records import Program
from evolve.report.archive import ArchiveView, archive_view
from evolve.report.failures import FailureGroup, evaluation_failures, proposal_failures, timeline
from evolve.report.lineage import Step, lineage, unified_diff
from evolve.report.queries import EvaluationRow, RunQueries
from evolve.report.references import References, references
from evolve.report.stats import Point, ProposerStats, best_so_far, proposer_stats
from evolve.store.run import Run


@dataclass(frozen=True)
class HoldoutRow:
    """A program scored on the holdout split; ``gap`` = holdout - search (score units)."""

    program_id: int
    reason: str  # best | cell
    search: float | None
    holdout: float | None
    failure: str

    @property
    def gap(self) -> float | None:
        return None if self.search is None or self.holdout is None else self.holdout - self.search


@dataclass(frozen=True)
class ReportData:
    problem: str
    description: str
    objective: str
    maximize: bool
    run_dir: str
    status: str
    stop_reason: str | None
    budget: int
    evaluated: int
    valid: int
    pending: int
    sandbox: str
    started_at: float | None
    last_at: float | None
    llm_calls: int
    llm_cost: float
    best: Program | None
    seed: Program | None
    rows: tuple[EvaluationRow, ...]
    overall: tuple[Point, ...]
    per_island: dict[int, tuple[Point, ...]]
    references: References
    archive: ArchiveView
    lineage: tuple[Step, ...]
    best_vs_seed: str
    proposers: tuple[ProposerStats, ...]
    failures: tuple[FailureGroup, ...]
    rejections: tuple[FailureGroup, ...]
    failure_spans: tuple[tuple[int, int], ...]
    failure_counts: dict[str, list[int]]
    holdout: tuple[HoldoutRow, ...]
    has_holdout: bool
    generated_at: float
    version: str = __version__

    @property
    def seconds(self) -> float:
        return (self.last_at - self.started_at) if self.started_at and self.last_at else 0.0


def gather(run: Run, *, score_baselines: bool = True) -> ReportData:
    """Read everything the report shows from ``run`` (scoring its baselines unless told not to)."""
    db, config = run.db, run.config
    maximize = config.objective.maximize
    with RunQueries(run.directory) as queries:
        rows = queries.evaluations()
        proposals = queries.proposals()
        best_list = db.best(maximize=maximize)
        best = best_list[0] if best_list else None
        steps = lineage(run, best.id, queries) if best else []
    seed = db.program(1)
    totals = db.totals()
    spans, counts = timeline(rows)
    refs = references(run, score_baselines=score_baselines)
    return ReportData(
        problem=config.problem.name, description=config.problem.description.strip(), objective=config.objective.name,
        maximize=maximize, run_dir=str(run.directory), status=run.live_status(), stop_reason=db.get_meta("stop_reason"),
        budget=config.run.budget + 1, evaluated=totals.evaluated, valid=totals.succeeded,
        pending=totals.programs - totals.evaluated, sandbox=config.run.sandbox,
        started_at=db.get_meta("created_at"), last_at=rows[-1].created_at if rows else None,
        llm_calls=totals.llm_calls, llm_cost=totals.llm_cost, best=best, seed=seed, rows=tuple(rows),
        overall=tuple(best_so_far(rows, maximize)),
        per_island={i: tuple(best_so_far(rows, maximize, island=i)) for i in range(config.search.islands)},
        references=refs, archive=archive_view(run), lineage=tuple(steps),
        best_vs_seed=unified_diff(seed.code, best.code, "seed (initial.py)", f"best (program {best.id})")
        if best and seed and best.id != seed.id else "",
        proposers=tuple(proposer_stats(proposals, rows, maximize)),
        failures=tuple(evaluation_failures(rows)), rejections=tuple(proposal_failures(proposals)),
        failure_spans=tuple(spans), failure_counts=counts,
        holdout=tuple(_holdout_rows(run)), has_holdout=config.evaluation.holdout, generated_at=time.time(),
    )  # fmt: skip


def _holdout_rows(run: Run) -> list[HoldoutRow]:
    rows = []
    for program_id, result in run.db.holdout_results().items():
        program = run.db.program(program_id)
        stored = run.db.holdout(program_id)
        reason = stored[1] if stored else "?"
        failure = "" if result.ok else f"{result.failure_kind}: {(result.failure_message or '').strip()[-200:]}"
        rows.append(HoldoutRow(program_id, reason, program.score if program else None,
                               result.score if result.ok else None, failure))
    return sorted(rows, key=lambda r: (r.reason != "best", r.program_id))
