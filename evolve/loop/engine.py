"""Wiring: a run, its proposer, its executor and an observer, driven to completion.

The CLI (and tests, and anyone embedding evolve) call ``execute``; everything it builds is
derived from the run's stored config, so ``run`` and ``resume`` behave identically.
"""

from __future__ import annotations

import asyncio

from evolve.loop.controller import Controller, Observer
from evolve.evaluation import evaluate_program, request_for
from evolve.evaluation.executor import LocalExecutor
from evolve.problem import Problem
from evolve.records import EvaluationResult, RunStatus
from evolve.views.progress import RunProgress
from evolve.proposers import build_proposer
from evolve.store.run import Run


def execute(run: Run, observer: Observer | None = None) -> RunProgress:
    """Run the search loop until the budget is spent or it is stopped; return its progress.

    KeyboardInterrupt propagates after the run's status is stored as "interrupted": every
    committed candidate is safe and ``evolve resume`` continues.
    """
    config = run.config
    executor = LocalExecutor(config.run.max_concurrent_evaluations, config.limits.evaluation_timeout_s)
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


def score_source(problem: Problem, code: str, sandbox: str | None = None) -> EvaluationResult:
    """Evaluate one program with the problem's evaluator in this process (for `evolve check`)."""
    request = request_for(problem.config, str(problem.root), code, sandbox)
    return evaluate_program(request)
