"""Trusted evaluator for deadline-aware spot scheduling: simulate the candidate's policy, score its cost.

The candidate's ``decide(obs)`` runs in one persistent sandboxed worker and is called once per
10-minute tick for all jobs of the split at once (``evaluators.spot.simulate``); the
simulation, the validation of every decision and the costs are computed here.

Score (maximised): the mean normalised saving ``(C_od - C) / (C_od - C_ideal)`` over all jobs,
where ``C_od = 3.06 $/h * (task + overhead)`` is running on demand from the start (saving 0) and
``C_ideal = 0.9731 $/h * task`` is all work on spot with no restart (saving 1, unreachable).
Missing any deadline is a hard failure: the score is then ``-(fraction of jobs missed)``, below
always-on-demand whatever was saved elsewhere.

Workloads (``GRIDS``): each is every combination of availability regime x trace x deadline x
restart overhead. Stage 0 of a two-stage cascade runs QUICK (12-hour jobs), the last stage
SEARCH; the holdout split runs HOLDOUT (regimes, deadlines and overheads the search never sees).
"""

from __future__ import annotations

import functools
import numpy as np

from evaluators import Evaluation, EvaluationContext
from evaluators.spot import JobGrid, Jobs, Outcome, on_demand_cost, savings, schedule_score, simulate


GRIDS = {
    "quick": JobGrid(("stable", "flaky", "scarce", "diurnal"), 2, (13.0, 17.5, 23.0), (0.02, 0.2), task=12.0, seed=500),
    "search": JobGrid(("stable", "flaky", "scarce", "diurnal"), 8, (52.0, 70.0, 92.0), (0.02, 0.2, 0.4), task=48.0, seed=0),
    "holdout": JobGrid(("bursty", "regime_shift"), 12, (60.0, 80.0), (0.1, 0.3), task=48.0, seed=1000),
}


@functools.lru_cache(maxsize=None)
def jobs_for(name: str) -> Jobs:
    return GRIDS[name].jobs()


def grid_name(context: EvaluationContext) -> str:
    if context.is_holdout:
        return "holdout"
    return "search" if context.is_last_stage else "quick"


def evaluate(candidate, context: EvaluationContext | None = None) -> Evaluation:
    context = context or EvaluationContext()
    name = grid_name(context)
    jobs = jobs_for(name)
    with candidate.worker() as worker:
        outcome = simulate(jobs, lambda obs: worker.call("decide", obs))
    return verdict(jobs, outcome, name)


def verdict(jobs: Jobs, outcome: Outcome, name: str) -> Evaluation:
    """Score, metrics, per-workload savings and feedback for one simulated split."""
    saved = savings(jobs, outcome)
    score = schedule_score(jobs, outcome)
    groups = [label.rsplit("/", 2)[0] for label in jobs.labels]  # regime/d<deadline>
    instances = {g: float(np.mean(saved[[i for i, h in enumerate(groups) if h == g]])) for g in dict.fromkeys(groups)}
    finished = ~outcome.missed
    slack = jobs.deadline - jobs.task
    slack_used = np.where(finished, (np.nan_to_num(outcome.finish) - jobs.task) / slack, 1.0)
    running_hours = outcome.on_demand_hours + outcome.spot_hours
    metrics = {
        "saving": float(saved.mean()),
        "mean_cost": float(outcome.cost.mean()),
        "on_demand_cost": float(on_demand_cost(jobs).mean()),
        "on_demand_share": float(outcome.on_demand_hours.sum() / max(running_hours.sum(), 1e-9)),
        "launches_per_job": float(outcome.launches.mean()),
        "missed": float(outcome.missed.sum()),
        "slack_used": float(slack_used.mean()),
    }
    worst = min(instances, key=instances.get)
    lines = [
        f"{name} split, {jobs.size} jobs: mean saving {saved.mean():.4f} "
        f"(0 = always on demand, 1 = all work on spot with no restart); "
        f"mean cost ${outcome.cost.mean():.2f} vs ${on_demand_cost(jobs).mean():.2f} on demand.",
        f"On-demand share of running hours {metrics['on_demand_share']:.1%}, {metrics['launches_per_job']:.2f} launches per job, "
        f"{metrics['slack_used']:.0%} of the slack used on average; worst workload {worst} (saving {instances[worst]:.4f}).",
    ]
    if outcome.missed.any():
        j = int(np.flatnonzero(outcome.missed)[0])
        lines.append(
            f"MISSED {int(outcome.missed.sum())} of {jobs.size} deadlines (first: {jobs.labels[j]}): a miss is a hard failure, "
            f"the score is -(fraction missed) = {score:.4f}. Keep enough slack to finish on demand after a last restart."
        )
    return Evaluation(
        score=score,
        metrics=metrics,
        features={"saving": float(np.clip(saved.mean(), 0.0, 1.0)), "slack_used": float(slack_used.mean())},
        feedback="\n".join(lines),
        instances=instances,
    )
