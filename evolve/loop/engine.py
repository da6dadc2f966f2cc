"""Wiring: a run, its proposer, its executor and an observer, driven to completion.

The CLI (and tests, and anyone embedding evolve) call ``execute``; everything it builds is
derived from the run's stored config, so ``run`` and ``resume`` behave identically.
``holdout`` re-scores a run's best programs on the holdout split on demand, and
``score_problem`` scores a problem's seed and baselines for ``evolve check``.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from evolve.config import ProblemConfig
from evolve.evaluation import request_for
from evolve.evaluation.devices import gpus_per_evaluation, visible_gpus
from evolve.evaluation.executor import LocalExecutor
from evolve.loop.controller import Controller, Observer
from evolve.loop.holdout import HoldoutGap
from evolve.problem import Problem
from evolve.proposers import Proposer, build_proposer
from evolve.records import EvaluationResult, RunStatus
from evolve.store.run import Run
from evolve.views.progress import RunProgress


def executor_for(config: ProblemConfig, workers: int | None = None) -> LocalExecutor:
    """The local executor a run's settings describe: its slots, GPUs and trusted-side limits.

    Raises ValueError when the problem needs more GPUs per evaluation than this machine has.
    """
    available = visible_gpus()
    return LocalExecutor(
        workers or config.run.max_concurrent_evaluations,
        config.limits.evaluation_timeout_s,
        devices=available,
        gpus_per_evaluation=gpus_per_evaluation(config.resources.gpus, available),
        evaluator_memory_mb=config.limits.evaluator_memory_mb,
    )


def execute(run: Run, observer: Observer | None = None) -> RunProgress:
    """Run the search loop until the budget is spent or it is stopped; return its progress.

    KeyboardInterrupt propagates after the run's status is stored as "interrupted": every
    committed candidate is safe and ``evolve resume`` continues.
    """
    config = run.config
    executor = executor_for(config)
    proposer = build_proposer(config)
    controller = Controller(run, proposer, executor, observer)

    async def loop() -> RunProgress:
        try:
            return await controller.run_loop()
        finally:
            await proposer.aclose()  # HTTP clients close on the loop that opened them

    try:
        return asyncio.run(loop())
    except KeyboardInterrupt:
        run.db.set_meta("status", RunStatus.INTERRUPTED)
        raise
    finally:
        executor.close()


class _NoProposals(Proposer):
    name = "none"

    async def propose(self, context):  # pragma: no cover - holdout scoring proposes nothing
        raise RuntimeError("no proposals while scoring the holdout split")


def holdout(run: Run) -> HoldoutGap | None:
    """Score a run's best programs on the holdout split (those not scored yet); the best's gap."""
    if not run.config.evaluation.holdout:
        raise ValueError(f"{run.config.problem.name} has no holdout split ([evaluation] holdout = true in problem.toml)")
    executor = executor_for(run.config)
    controller = Controller(run, _NoProposals(), executor)
    controller.replay()
    try:
        return asyncio.run(controller.score_holdout())
    finally:
        executor.close()


@dataclass(frozen=True)
class Scored:
    """One program of a problem folder scored on one split, for ``evolve check``."""

    name: str
    split: str
    result: EvaluationResult


def score_problem(problem: Problem, sandbox: str | None = None) -> list[Scored]:
    """The seed and every baseline, on the search split and (if the problem has one) the holdout split.

    Each evaluation runs in a trusted evaluator process under ``evaluation_timeout_s``, as
    in a run, so a hanging evaluator is a recorded timeout here too.
    """
    config = problem.config
    programs = [("initial.py", problem.initial_code)] + [(f"baselines/{k}.py", v) for k, v in problem.baselines.items()]
    splits = ["search", "holdout"] if config.evaluation.holdout else ["search"]
    executor = executor_for(config, workers=1)

    async def score_all() -> list[Scored]:
        rows = []
        for split in splits:
            for name, code in programs:
                request = request_for(config, str(problem.root), code, sandbox, split=split)
                rows.append(Scored(name, split, await executor.evaluate(request)))
        return rows

    try:
        return asyncio.run(score_all())
    finally:
        executor.close()
