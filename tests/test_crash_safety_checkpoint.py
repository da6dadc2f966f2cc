"""The resume checkpoint rebuilds exactly what the full replay rebuilds, and falls back to it."""

from __future__ import annotations

import asyncio
import json

from evolve.evaluation.executor import LocalExecutor
from evolve.loop.controller import Controller
from evolve.problem import load_problem
from evolve.proposers import build_proposer
from evolve.store.run import create_run, open_run


def _state(controller: Controller) -> tuple:
    p = controller.progress
    return (
        controller.archive.snapshot(), controller.archive.fingerprint(), controller.archive.insertions,
        controller.cascade._seen, controller.cascade.stopped, p.evaluated, p.succeeded, dict(p.failures), p.best_score,
        p.best_program_id, [tuple(r.__dict__.values()) for r in p.recent], sorted(controller._elite_ids),
        [island.improved_at for island in controller.archive.islands],
    )


def _replayed(run_dir, *, checkpoint: object = "keep") -> Controller:
    reader = open_run(run_dir, readonly=True)
    if checkpoint != "keep":
        reader.db._db.execute("PRAGMA query_only=0")
    controller = Controller(reader, build_proposer(reader.config), LocalExecutor(1, 30))
    if checkpoint != "keep":
        original = reader.db.get_meta
        reader.db.get_meta = lambda key, default=None: checkpoint if key == "checkpoint" else original(key, default)
    controller.replay()
    return controller


def test_checkpoint_resume_equals_full_replay_with_a_tail_and_a_bad_checkpoint(tiny_problem, tmp_path, monkeypatch):
    problem = load_problem(tiny_problem)
    config = problem.config.with_overrides("run", budget=14, seed=9)
    run = create_run(problem, config, tmp_path / "runs")
    monkeypatch.setattr("evolve.loop.checkpoint.EVERY", 6)  # a checkpoint mid-run, then a tail after it
    executor = LocalExecutor(2, 30)
    live = Controller(run, build_proposer(config), executor)
    try:
        asyncio.run(live.run_loop())
    finally:
        executor.close()
    stored = run.db.get_meta("checkpoint")
    assert stored["evaluation_id"] == run.db.last_evaluation() == 15
    full = _replayed(run.directory, checkpoint=None)  # no checkpoint: the full replay, the definition
    fast = _replayed(run.directory)
    assert _state(fast) == _state(full)
    assert len(fast._programs) < len(full._programs)  # only elites were read back
    # The lineage notes are the live run's (replay cannot rebuild notes on rejected proposals).
    assert list(fast.notes._notes.items()) == list(live.notes._notes.items())

    tail = dict(stored, evaluation_id=7)  # as if killed after evaluation 7: restore, then replay the rest
    partial = _replayed(run.directory, checkpoint=None)
    partial_db = partial.run.db
    early = Controller(partial.run, build_proposer(config), LocalExecutor(1, 30))
    rows = list(partial_db.evaluated())
    for program in rows[:7]:
        early._programs[program.id] = program
        early._account(program, replay=True)
    early._refresh_grid()
    tail = json.loads(json.dumps(dict(
        tail, **{k: v for k, v in _capture(early).items() if k not in ("evaluation_id",)})))
    assert _state(_replayed(run.directory, checkpoint=tail)) == _state(full)

    broken = dict(stored, fingerprint="0" * 16)  # does not verify: full replay instead
    assert _state(_replayed(run.directory, checkpoint=broken)) == _state(full)
    assert _state(_replayed(run.directory, checkpoint={"version": 99})) == _state(full)
    run.close()


def _capture(controller: Controller) -> dict:
    from evolve.loop import checkpoint

    elites = {e.program_id for e in controller.archive.all_elites()}
    return checkpoint.capture(controller.archive, controller.cascade, controller.progress, controller.notes, 7,
                              controller.rules.fingerprints(elites))
