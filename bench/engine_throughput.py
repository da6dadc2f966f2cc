"""How much the engine itself costs per candidate, against the evaluations it schedules.

Three measurements in the same run, on the same machine:

1. engine only: the real controller, database, archive and built-in mutator, with an
   executor that answers instantly (no sandbox, no evaluator): the engine's own time per
   candidate (selection, mutation, novelty check, two SQLite commits, archive insert);
2. evaluations only: the same number of circle-packing evaluations run straight through
   the executor (trusted evaluator + sandboxed candidate), no proposals;
3. full run: `evolve run circle_packing` as a user runs it.

It prints candidates per second for each and the ratios: the full run should approach the
evaluation-only rate, and the engine-only time should be a small fraction of an evaluation.

    python bench/engine_throughput.py [--candidates 200] [--workers 2]
"""

from __future__ import annotations

import argparse
import asyncio
import random
import tempfile
import time
from pathlib import Path

from evolve.loop.controller import Controller
from evolve.loop.engine import execute
from evolve.evaluation import EvaluationRequest, request_for
from evolve.evaluation.executor import LocalExecutor
from evolve.problem import load_problem
from evolve.records import EvaluationResult
from evolve.proposers import build_proposer
from evolve.store.run import create_run


class InstantExecutor:
    """Scores a program by its length, instantly: isolates the engine's own cost."""

    async def evaluate(self, request: EvaluationRequest) -> EvaluationResult:
        rng = random.Random(len(request.code))
        return EvaluationResult(ok=True, score=rng.random(), features={"radius_cv": rng.random(), "border_fraction": rng.random()})

    def close(self) -> None:
        pass


def engine_only(candidates: int, out: Path) -> float:
    problem = load_problem("circle_packing")
    config = problem.config.with_overrides("run", budget=candidates)
    run = create_run(problem, config, out)
    controller = Controller(run, build_proposer(config), InstantExecutor())
    started = time.perf_counter()
    asyncio.run(controller.run_loop())
    elapsed = time.perf_counter() - started
    run.close()
    return elapsed


def evaluations_only(candidates: int, workers: int) -> float:
    problem = load_problem("circle_packing")
    request = request_for(problem.config, str(problem.root), problem.initial_code)
    executor = LocalExecutor(workers, 60)

    async def go() -> None:
        await executor.evaluate(request)  # warm the trusted processes (imports), as a run's seed does
        started = time.perf_counter()
        await asyncio.gather(*(executor.evaluate(request) for _ in range(candidates)))
        timings.append(time.perf_counter() - started)

    timings: list[float] = []
    try:
        asyncio.run(go())
    finally:
        executor.close()
    return timings[0]


def full_run(candidates: int, workers: int, out: Path) -> float:
    problem = load_problem("circle_packing")
    config = problem.config.with_overrides("run", budget=candidates, max_concurrent_evaluations=workers)
    run = create_run(problem, config, out)
    started = time.perf_counter()
    execute(run)
    elapsed = time.perf_counter() - started
    run.close()
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--candidates", type=int, default=200)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    n = args.candidates
    with tempfile.TemporaryDirectory() as tmp:
        engine = engine_only(n, Path(tmp) / "engine")
        evals = evaluations_only(n, args.workers)
        full = full_run(n, args.workers, Path(tmp) / "full")
    print(f"candidates: {n}, evaluation workers: {args.workers}")
    print(f"engine only (instant executor): {n / engine:8.1f} candidates/s  {engine / n * 1e3:7.2f} ms/candidate")
    print(f"evaluations only (no proposals): {n / evals:8.1f} candidates/s  {evals / n * 1e3:7.2f} ms/candidate")
    print(f"full run (evolve run):           {n / full:8.1f} candidates/s  {full / n * 1e3:7.2f} ms/candidate")
    print(f"engine time / evaluation time per candidate: {engine / evals:.3f}")
    print(f"full-run throughput / evaluation-only throughput: {evals / full:.3f}")


if __name__ == "__main__":
    main()
