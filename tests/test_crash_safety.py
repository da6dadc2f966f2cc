"""Crash safety through the real CLI: SIGKILL at random points, graceful and immediate stops.

Every run here is a real ``evolve run`` / ``evolve resume`` process with real evaluator
processes and sandboxes and a real SQLite file; the test reads the database between
kills (read-only) and checks that nothing committed ever changes or disappears.
"""

from __future__ import annotations

import os
import random
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
TINY = ROOT / "tests" / "fixture_problems" / "tiny"
SLOW_EVALUATE = '''"""tiny, but every candidate other than the seed takes SLOW_S seconds to score."""

import os
import time

from evaluators import Evaluation


def evaluate(candidate):
    value = float(candidate.call("run"))
    if value != 0.75:
        time.sleep(float(os.environ.get("SLOW_S", "0")))
    return Evaluation(score=-(value - 3.0) ** 2)
'''


def start(*args: object, env: dict[str, str] | None = None) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "cli", *map(str, args)], cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        text=True, env={**os.environ, **(env or {})},
    )


def committed(run_dir: Path) -> tuple[dict[int, str], dict[int, tuple]]:
    """Programs (id -> code) and evaluations (program id -> verdict) committed so far."""
    db = sqlite3.connect(f"file:{run_dir / 'evolve.db'}?mode=ro", uri=True)
    try:
        programs = dict(db.execute("SELECT id, code FROM programs"))
        evaluations = {r[0]: r[1:] for r in db.execute("SELECT program_id, ok, score, failure_kind FROM evaluations")}
    finally:
        db.close()
    return programs, evaluations


def wait_for(predicate, timeout: float = 180.0, what: str = "") -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


def run_dir_from(process: subprocess.Popen) -> Path:
    assert process.stdout is not None
    line = process.stdout.readline()
    assert line.startswith("run directory: "), line
    return Path(line.split(": ", 1)[1].strip())


def slow_problem(tmp_path: Path) -> Path:
    folder = tmp_path / "slow"
    shutil.copytree(TINY, folder)
    (folder / "evaluate.py").write_text(SLOW_EVALUATE)
    return folder


@pytest.mark.slow
def test_sigkill_five_times_then_the_budget_completes_with_nothing_lost(tmp_path):
    rng = random.Random(2024)
    budget = 40
    env = {"TINY_DELAY": "0.05"}  # evaluations long enough for kills to land mid-evaluation
    process = start("run", TINY, "--budget", budget, "--seed", 3, "--plain", "--out", tmp_path / "runs", env=env)
    run_dir = run_dir_from(process)
    seen_programs: dict[int, str] = {}
    seen_evaluations: dict[int, tuple] = {}
    for kill in range(5):
        before = len(seen_evaluations)
        wait_for(lambda: (run_dir / "evolve.db").exists() and len(committed(run_dir)[1]) > before or process.poll() is not None,
                 what=f"progress before kill {kill + 1}")
        time.sleep(rng.uniform(0.0, 0.6))
        process.send_signal(signal.SIGKILL)
        process.communicate(timeout=60)
        programs, evaluations = committed(run_dir)
        assert {i: programs[i] for i in seen_programs} == seen_programs, "a committed program changed or vanished"
        assert {i: evaluations[i] for i in seen_evaluations} == seen_evaluations, "a committed evaluation changed or vanished"
        assert set(evaluations) <= set(programs)
        seen_programs, seen_evaluations = programs, evaluations
        process = start("resume", run_dir, "--plain", env=env)
    _, err = process.communicate(timeout=300)
    assert process.returncode == 0, err
    programs, evaluations = committed(run_dir)
    assert {i: programs[i] for i in seen_programs} == seen_programs
    assert {i: evaluations[i] for i in seen_evaluations} == seen_evaluations
    assert len(programs) == budget + 1 and set(evaluations) == set(programs)  # the seed, the budget, all evaluated
    db = sqlite3.connect(run_dir / "evolve.db")
    ids = [r[0] for r in db.execute("SELECT program_id FROM proposals WHERE program_id IS NOT NULL")]
    assert len(ids) == len(set(ids)) == budget  # every proposal's program is its own
    assert db.execute("SELECT value FROM meta WHERE key = 'status'").fetchone()[0] == '"finished"'
    db.close()


@pytest.mark.slow
def test_sigterm_stops_gracefully_finishing_in_flight_work(tmp_path):
    problem = slow_problem(tmp_path)
    process = start("run", problem, "--budget", 30, "--plain", "--out", tmp_path / "runs", env={"SLOW_S": "1.0"})
    run_dir = run_dir_from(process)
    wait_for(lambda: (run_dir / "evolve.db").exists() and len(committed(run_dir)[0]) >= 3, what="candidates in flight")
    process.send_signal(signal.SIGTERM)
    _, err = process.communicate(timeout=120)
    assert process.returncode == 130, err
    assert f"evolve resume {run_dir}" in err and "SIGTERM" in err
    programs, evaluations = committed(run_dir)
    assert set(evaluations) == set(programs)  # in-flight evaluations were finished and committed
    assert len(programs) < 31
    resumed = start("resume", run_dir, "--plain", env={"SLOW_S": "0"})
    _, err = resumed.communicate(timeout=240)
    assert resumed.returncode == 0, err
    programs, evaluations = committed(run_dir)
    assert len(programs) == 31 and set(evaluations) == set(programs)


@pytest.mark.slow
def test_a_second_ctrl_c_stops_at_once_and_resume_evaluates_what_was_cut_off(tmp_path):
    problem = slow_problem(tmp_path)
    process = start("run", problem, "--budget", 10, "--plain", "--out", tmp_path / "runs", env={"SLOW_S": "600"})
    run_dir = run_dir_from(process)
    wait_for(lambda: (run_dir / "evolve.db").exists() and len(committed(run_dir)[0]) >= 3, what="candidates in flight")
    process.send_signal(signal.SIGINT)
    time.sleep(0.3)
    process.send_signal(signal.SIGINT)
    _, err = process.communicate(timeout=120)  # far less than one 600 s evaluation: it did not wait
    assert process.returncode == 130, err
    assert "second SIGINT" in err
    programs, evaluations = committed(run_dir)
    cut_off = set(programs) - set(evaluations)
    assert cut_off  # committed programs without an evaluation: resume's to evaluate
    resumed = start("resume", run_dir, "--plain", env={"SLOW_S": "0"})
    _, err = resumed.communicate(timeout=240)
    assert resumed.returncode == 0, err
    after, evaluations = committed(run_dir)
    assert {i: after[i] for i in programs} == programs and cut_off <= set(evaluations)
    assert len(after) == 11 and set(evaluations) == set(after)
