"""Behavioural duplicates: a candidate that acts exactly like an evaluated program is not evaluated again."""

import sqlite3
from pathlib import Path

from evaluators.fingerprint import fingerprint_of
from evolve.loop import execute
from evolve.problem import load_problem
from evolve.store import create_run

PROBED = Path(__file__).resolve().parent / "fixture_problems" / "probed"


def _run(tmp_path, monkeypatch, **evaluation):
    problem = load_problem(PROBED)
    config = problem.config.with_overrides("run", budget=30, seed=4)
    if evaluation:
        config = config.with_overrides("evaluation", **evaluation)
    run = create_run(problem, config, tmp_path / "runs")
    progress = execute(run)
    with sqlite3.connect(run.directory / "evolve.db") as db:
        outcomes = dict(db.execute("SELECT outcome, COUNT(*) FROM proposals GROUP BY outcome").fetchall())
        messages = [m for (m,) in db.execute("SELECT message FROM proposals WHERE outcome = 'behavioural_duplicate'")]
        evaluated = db.execute("SELECT COUNT(*) FROM evaluations").fetchone()[0]
        fingerprints = db.execute("SELECT COUNT(*) FROM evaluations WHERE fingerprint != ''").fetchone()[0]
    run.close()
    calls = run.directory / "problem" / "calls.txt"  # written by the run's copy of evaluate.py
    full = calls.read_text().count("evaluate") if calls.exists() else 0
    return progress, outcomes, messages, evaluated, fingerprints, full


def test_behavioural_duplicates_are_recorded_and_not_evaluated(tmp_path, monkeypatch):
    progress, outcomes, messages, evaluated, fingerprints, full = _run(tmp_path, monkeypatch)
    duplicates = outcomes.get("behavioural_duplicate", 0)
    assert duplicates >= 5  # mutations of the dead code behave exactly like their parent
    assert all(m.startswith("behaves exactly like program ") for m in messages)
    assert evaluated == 31 and fingerprints == 31  # the budget still buys 30 evaluated candidates
    assert full == 31  # every full evaluation was a new behaviour (the duplicates cost only a probe)
    assert progress.behaviour_saved == duplicates


def test_problems_can_opt_out(tmp_path, monkeypatch):
    _, outcomes, _, evaluated, fingerprints, full = _run(tmp_path, monkeypatch, behavioural_duplicates=False)
    assert "behavioural_duplicate" not in outcomes and evaluated == 31 and fingerprints == 0 and full == 31


def test_fingerprints_are_exact_and_structural():
    import numpy as np

    assert fingerprint_of([1, 2.0, "x"]) == fingerprint_of([1, 2.0, "x"])
    assert fingerprint_of([1, 2.0]) != fingerprint_of([1, 2.0000000001])
    assert fingerprint_of(1) != fingerprint_of(1.0) != fingerprint_of(True)
    assert fingerprint_of({"a": 1, "b": 2}) == fingerprint_of({"b": 2, "a": 1})
    a = np.arange(6, dtype=np.float32).reshape(2, 3)
    assert fingerprint_of(a) == fingerprint_of(a.copy()) != fingerprint_of(a.reshape(3, 2))
    assert fingerprint_of(a) != fingerprint_of(a.astype(np.float64))
