"""The steady-state loop on a real (tiny) problem: real sandbox, real executor, real database."""

import asyncio
import io

import pytest

from evolve.loop.controller import Controller, RunError
from evolve.views.dashboard import PlainLog
from evolve.loop.engine import execute
from evolve.evaluation.executor import LocalExecutor
from evolve.problem import load_problem
from evolve.proposers import Proposer, build_proposer
from evolve.store.run import create_run, open_run


def _new_run(problem_dir, tmp_path, **run_overrides):
    problem = load_problem(problem_dir)
    config = problem.config.with_overrides("run", **run_overrides)
    return create_run(problem, config, tmp_path / "runs")


def test_run_spends_budget_commits_everything_and_improves(tiny_problem, tmp_path):
    run = _new_run(tiny_problem, tmp_path, budget=24, seed=3)
    log = io.StringIO()
    progress = execute(run, PlainLog(log))
    totals = run.db.totals()
    assert totals.programs == 25 and totals.evaluated == 25  # seed + budget, nothing pending
    assert run.db.unevaluated() == []
    assert progress.evaluated == 25 and progress.finished
    seed_score = run.db.program(1).score
    assert run.db.best(maximize=True)[0].score > seed_score
    assert run.db.get_meta("status") == "finished"
    assert "best=" in log.getvalue()
    run.close()


def test_archive_is_rebuilt_identically_from_the_database(tiny_problem, tmp_path):
    run = _new_run(tiny_problem, tmp_path, budget=16, seed=5)
    executor = LocalExecutor(2, 30)
    controller = Controller(run, build_proposer(run.config), executor)
    try:
        asyncio.run(controller.run_loop())
    finally:
        executor.close()
    original = controller.archive.snapshot()
    reopened = open_run(run.directory, readonly=True)  # a reader: the first handle still holds the lock
    replayed = Controller(reopened, build_proposer(reopened.config), LocalExecutor(1, 30))
    replayed.replay()
    assert replayed.archive.snapshot() == original
    assert replayed.archive.fingerprint() == reopened.db.get_meta("archive_fingerprint")
    assert replayed.archive.insertions == controller.archive.insertions
    assert replayed.progress.best_score == controller.progress.best_score
    reopened.close()
    run.close()


def test_resume_with_a_larger_budget_continues_where_it_stopped(tiny_problem, tmp_path):
    run = _new_run(tiny_problem, tmp_path, budget=6)
    execute(run)
    first = {p.id: p.code for p in run.db.evaluated()}
    run.close()
    again = open_run(run.directory)
    again.config = again.config.with_overrides("run", budget=12)
    execute(again)
    assert again.db.totals().evaluated == 13
    assert {p.id: p.code for p in again.db.evaluated() if p.id in first} == first
    again.close()


def test_a_failing_seed_stops_the_run_with_its_reason(tmp_path):
    folder = tmp_path / "broken"
    folder.mkdir()
    (folder / "problem.toml").write_text('[problem]\nname = "broken"\ndescription = "d"\n')
    (folder / "initial.py").write_text("# EVOLVE-BLOCK-START\ndef run():\n    return 1 / 0\n# EVOLVE-BLOCK-END\n")
    (folder / "evaluate.py").write_text(
        "from evaluators import Evaluation\n\ndef evaluate(candidate):\n    return Evaluation(score=candidate.call('run'))\n"
    )
    run = _new_run(folder, tmp_path)
    with pytest.raises(RunError, match="(?s)seed program .* exception: .*ZeroDivisionError"):
        execute(run)
    run.close()


def test_a_proposer_that_raises_is_recorded_not_fatal(tiny_problem, tmp_path):
    class Exploding(Proposer):
        name = "exploding"

        async def propose(self, context):
            raise RuntimeError("boom")

    run = _new_run(tiny_problem, tmp_path, budget=5, max_failed_proposals_in_row=7)
    executor = LocalExecutor(1, 30)
    controller = Controller(run, Exploding(), executor)
    try:
        progress = asyncio.run(controller.run_loop())
    finally:
        executor.close()
    width = run.config.run.max_concurrent_proposals + run.config.run.max_concurrent_evaluations
    failed = run.db.proposal_outcomes()["edit_failed"]
    assert 7 <= failed < 7 + width  # pipelines already in flight when the stop came finish
    assert "7 proposals in a row produced no candidate" in progress.message
    assert "boom" in progress.message
    assert run.db.get_meta("status") == "stopped"
    run.close()
