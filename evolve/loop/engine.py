"""Wiring: a run, its proposer, its executor and an observer, driven to completion.

The CLI (and tests, and anyone embedding evolve) call ``execute``; everything it builds is
derived from the run's stored config, so ``run`` and ``resume`` behave identically.
``holdout`` re-scores a run's best programs on the holdout split on demand, and
``score_problem`` scores a problem's seed and baselines for ``evolve check``.
"""

from __future__ import annotations

import asyncio
import signal
from dataclasses import dataclass

from evolve.config import ProblemConfig
from evolve.evaluation import request_for
from evolve.evaluation.devices import gpus_per_evaluation, visible_gpus
from evolve.evaluation.executor import Executor, LocalExecutor
from evolve.loop.controller import Controller, Observer
from evolve.loop.holdout import HoldoutGap
from evolve.problem import Problem
from evolve.proposers import Proposer, build_proposer
from evolve.records import EvaluationResult, RunStatus
from evolve.store.run import Run
from evolve.views.progress import RunProgress


def executor_for(config: ProblemConfig, workers: int | None = None) -> Executor:
    """The executor a run's settings describe: local processes (their slots, GPUs and trusted-side
    limits) or, with ``[run] executor = "ray"``, Ray tasks on a cluster.

    Raises ValueError when the problem needs more GPUs per evaluation than this machine has,
    or when Ray is asked for but not installed or not reachable.
    """
    if config.run.executor == "ray":
        from evolve.evaluation.ray_executor import RayExecutor

        return RayExecutor.for_config(config, workers)
    available = visible_gpus()
    return LocalExecutor(
        workers or config.run.max_concurrent_evaluations,
        config.limits.evaluation_timeout_s,
        devices=available,
        gpus_per_evaluation=gpus_per_evaluation(config.resources.gpus, available),
        evaluator_memory_mb=config.limits.evaluator_memory_mb,
    )


STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


def execute(run: Run, observer: Observer | None = None) -> RunProgress:
    """Run the search loop until the budget is spent or it is stopped; return its progress.

    Graceful stop: the first Ctrl-C or SIGTERM stops launching proposals and lets in-flight
    work finish for up to ``[run] stop_grace_s`` (then it is cut off); a second one stops at
    once. Either way the run's status becomes "interrupted", every committed candidate is
    safe and ``evolve resume`` continues (programs cut off mid-evaluation are evaluated
    then). Where signal handlers cannot be installed (not the main thread) KeyboardInterrupt
    propagates after the status is stored, as before.
    """
    config = run.config
    executor = executor_for(config)
    proposer = build_proposer(config)
    controller = Controller(run, proposer, executor, observer)

    async def loop() -> RunProgress:
        installed = _stop_on_signals(controller, config.run.stop_grace_s)
        try:
            return await controller.run_loop()
        finally:
            running = asyncio.get_running_loop()
            for signum in installed:
                running.remove_signal_handler(signum)
            await proposer.aclose()  # HTTP clients close on the loop that opened them

    try:
        return asyncio.run(loop())
    except KeyboardInterrupt:
        run.db.set_meta("status", RunStatus.INTERRUPTED)
        raise
    finally:
        executor.close()


def _stop_on_signals(controller: Controller, grace_s: float) -> list[int]:
    """First signal: graceful stop, cut off after ``grace_s``; second: stop at once."""
    loop = asyncio.get_running_loop()
    received: list[str] = []

    def on_signal(signum: int) -> None:
        name = signal.Signals(signum).name
        received.append(name)
        if len(received) == 1:
            controller.interrupt(f"stopped by {name}: in-flight work finished (grace {grace_s:g} s)")
            loop.call_later(grace_s, controller.abort, f"stopped by {name}: in-flight work cut off after {grace_s:g} s")
            controller.progress.message = f"{name}: stopping, finishing in-flight work (again to stop at once)"
            controller.observer(controller.progress)
        else:
            controller.abort(f"stopped at once by a second {name}")

    installed = []
    for signum in STOP_SIGNALS:
        try:
            loop.add_signal_handler(signum, on_signal, signum)
        except (ValueError, RuntimeError, NotImplementedError):  # not the main thread, or no signals here
            continue
        installed.append(signum)
    return installed


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
