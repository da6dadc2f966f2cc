"""Run and program summaries as plain data: what ``--json`` prints and the tables render.

Everything here reads a run (or results) and returns dicts and lists of plain values, so
the CLI's human output and its ``--json`` output say the same things.
"""

from __future__ import annotations

from typing import Any

from evolve.archive.pareto import pareto_front
from evolve.records import EvaluationResult, Program
from evolve.store.run import Run


def result_data(result: EvaluationResult | None) -> dict[str, Any] | None:
    if result is None:
        return None
    return {
        "ok": result.ok,
        "complete": result.complete,
        "score": result.score,
        "failure_kind": result.failure_kind,
        "failure_message": result.failure_message,
        "metrics": result.metrics,
        "features": result.features,
        "objectives": result.objectives,
        "instances": result.instances,
        "private": result.private,
        "feedback": result.feedback,
        "stage": result.stage,
        "stages": result.stages,
        "duration_s": result.duration_s,
        "candidate_s": result.candidate_s,
    }


def program_data(run: Run, program: Program, *, code: bool = True) -> dict[str, Any]:
    """A program with its search verdict and, where it has one, its holdout verdict and gap."""
    stored = run.db.holdout(program.id)
    holdout = stored[0] if stored else None
    search = program.evaluation.score if program.evaluation else None
    gap = holdout.score - search if holdout is not None and holdout.ok and search is not None else None
    data: dict[str, Any] = {
        "program_id": program.id,
        "parent_id": program.parent_id,
        "generation": program.generation,
        "island": program.island,
        "proposer": program.proposer,
        "kind": program.kind,
        "search_score": search,
        "holdout_score": holdout.score if holdout is not None and holdout.ok else None,
        "holdout_gap": gap,
        "search": result_data(program.evaluation),
        "holdout": result_data(holdout),
    }
    if code:
        data["code"] = program.code
    return data


def pareto_programs(run: Run, limit: int = 10_000) -> list[Program]:
    """The complete programs on the Pareto front of the primary and the secondary objectives."""
    config = run.config
    programs = [p for p in run.db.best(maximize=config.objective.maximize, limit=limit)]
    names = [o.name for o in config.objectives]
    usable = [p for p in programs if all(n in p.evaluation.objectives for n in names)]  # type: ignore[union-attr]
    points = [[p.score, *(p.evaluation.objectives[n] for n in names)] for p in usable]  # type: ignore[union-attr]
    directions = [config.objective.maximize, *(o.maximize for o in config.objectives)]
    return [usable[i] for i in pareto_front(points, directions)]


def run_summary(run: Run) -> dict[str, Any]:
    """What ``evolve status`` shows: progress, best, holdout gap, failures, proposals, spending."""
    db, config = run.db, run.config
    totals = db.totals()
    best = db.best(maximize=config.objective.maximize)
    cascade = db.cascade_counts()
    return {
        "problem": config.problem.name,
        "status": run.live_status(),
        "stop_reason": db.get_meta("stop_reason"),
        "evaluated": totals.evaluated,
        "budget": config.run.budget + 1,
        "valid": totals.succeeded,
        "pending": totals.programs - totals.evaluated,
        "objective": config.objective.name,
        "best": program_data(run, best[0], code=False) if best else None,
        "holdout_scored": len(db.holdout_results()),
        "cascade_stopped": cascade["stopped"],
        "cascade_saved_stage_runs": cascade["saved"],
        "failures": db.failure_counts(),
        "proposals": db.proposal_outcomes(),
        "llm_calls": totals.llm_calls,
        "llm_cost": totals.llm_cost,
        "sandbox": config.run.sandbox,
    }
