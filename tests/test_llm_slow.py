"""Slow models through the real CLI and the loopback server: a run that waits on its model says so.

Acceptance of issue 15: with a server that answers slower than the timeout, the plain
output names the timeouts as soon as the first proposal has failed (not only in the
database), prints what to change, and the run ends by itself with a clear reason; with a
one-slot server and several proposals at once, no request waits on the server, so none
times out or is abandoned.
"""

import itertools
import os
import re
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from llm_server import LLMServer, Reply

ROOT = Path(__file__).resolve().parent.parent
GRID_REWRITE = '''A square grid beats rings.
```python
def construct_packing():
    """A 5 x 5 grid of equal circles plus one in a gap."""
    coords = 0.1 + 0.2 * np.arange(5)
    xs, ys = np.meshgrid(coords, coords)
    centers = np.column_stack([xs.ravel(), ys.ravel()])
    gap = (np.sqrt(2.0) - 1.0) * 0.1 * (1 - 1e-9)
    return np.vstack([centers, [0.2, 0.2]]), np.append(np.full(25, 0.1), gap)


def compute_max_radii(centers):
    return np.full(len(centers), 0.1)
```
'''
GAPS = ["[0.2, 0.2]", "[0.4, 0.4]", "[0.6, 0.6]", "[0.8, 0.8]", "[0.2, 0.4]", "[0.4, 0.6]", "[0.6, 0.8]", "[0.2, 0.6]"]


def problem_copy(tmp_path: Path, llm_table: str, proposals: int) -> Path:
    folder = tmp_path / "cp"
    shutil.copytree(ROOT / "problems" / "circle_packing", folder, ignore=shutil.ignore_patterns("__pycache__"))
    toml = (folder / "problem.toml").read_text()
    toml = re.sub(r"max_concurrent_proposals = \d+", f"max_concurrent_proposals = {proposals}", toml)
    (folder / "problem.toml").write_text(toml + "\n[llm]\n" + llm_table)
    return folder


def rows(run_dir: Path, sql: str) -> list[tuple]:
    with sqlite3.connect(run_dir / "evolve.db") as db:
        return db.execute(sql).fetchall()


def run_live(server: LLMServer, problem: Path, out: Path, *args) -> tuple[int, list[tuple[str, int]]]:
    """``evolve run --plain`` with its output read line by line as it comes; each line with the
    number of chat requests the server had seen when it was printed."""
    env = {**os.environ, "COLUMNS": "250", "PYTHONUNBUFFERED": "1"}
    command = [sys.executable, "-m", "cli", "run", str(problem), "--model", "openai/loopback-model",
               "--api-base", server.base_url, "--plain", "--out", str(out), *map(str, args)]
    process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    lines = []
    try:
        assert process.stdout is not None
        for line in process.stdout:
            lines.append((line.rstrip("\n"), len(server.chat_requests())))
        return process.wait(timeout=240), lines
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


@pytest.mark.slow
def test_a_model_slower_than_the_timeout_is_named_advised_on_and_ends_the_run(tmp_path):
    problem = problem_copy(tmp_path, "timeout_s = 1\nbackoff_s = 0.05\nmax_backoff_s = 0.1\nbreaker_failures = 2\n"
                                     "breaker_cooldown_s = 0.5\nbreaker_trials = 1\n", proposals=2)
    with LLMServer(slots=1, responder=lambda req: Reply(GRID_REWRITE, delay_s=30.0)) as server:
        code, lines = run_live(server, problem, tmp_path / "runs", "--budget", 8)
        requests = server.chat_requests()
        abandoned = [r.abandoned for r in requests]
    text = "\n".join(line for line, _ in lines)
    assert code == 0, text
    first = next(i for i, (line, _) in enumerate(lines) if line.startswith("llm calls:") and "timeout" in line)
    # Named once the first proposal's two attempts failed: by then at most two per proposal in flight.
    assert lines[first][1] <= 2 * 2 and re.search(r"timeout [1-9]", lines[first][0]), text
    assert "no response within 1s" in lines[first][0] or "no token within 1s" in lines[first][0]
    advice = [line for line, _ in lines if line.startswith("advice: openai/loopback-model: 3 attempts in a row timed out")]
    assert len(advice) == 1 and "timeout_s = 5 (now 1)" in advice[0], text
    stopped = [line for line, _ in lines if line.startswith("stopped: ")]
    assert stopped and "every model stopped answering: openai/loopback-model" in stopped[0] and "timeout" in stopped[0]
    (run,) = (p.parent for p in (tmp_path / "runs").glob("*/evolve.db"))
    assert rows(run, "SELECT value FROM meta WHERE key = 'status'") == [('"stopped"',)]
    outcomes = [o for (o,) in rows(run, "SELECT outcome FROM llm_calls")]
    assert outcomes == ["timeout"] * len(requests)  # every request is a recorded call, honestly a timeout
    assert all(abandoned)  # each one closed by the client, and the server saw it and stopped
    # One at a time: a request waits on the server only the moment it takes to notice the last one's close.
    assert all(r.queued_s < 0.5 for r in requests)
    ((proposals,),) = rows(run, "SELECT COUNT(*) FROM proposals")
    # The calls' proposals and those already waiting when the run stopped: proposals wait for the
    # circuit's trial instead of failing one after another while it runs (hundreds, before).
    assert proposals <= len(requests) // 2 + 4


@pytest.mark.slow
def test_a_one_slot_server_with_three_proposals_at_once_never_queues_a_request(tmp_path):
    """Three replies of about a second each, timeout 0.8 s: only waiting on the client can work."""
    problem = problem_copy(tmp_path, "timeout_s = 0.8\nedit_weights = { diff = 0, rewrite = 1, crossover = 0 }\n",
                           proposals=3)
    gaps = itertools.cycle(GAPS)
    with LLMServer(slots=1, responder=lambda req: Reply(GRID_REWRITE.replace("[0.2, 0.2]", next(gaps)),
                                                         tokens_per_s=150)) as server:
        code, lines = run_live(server, problem, tmp_path / "runs", "--budget", 4)
        requests = server.chat_requests()
        peak, abandoned = server.peak_open, server.abandoned()
    text = "\n".join(line for line, _ in lines)
    assert code == 0, text
    (run,) = (p.parent for p in (tmp_path / "runs").glob("*/evolve.db"))
    outcomes = [o for (o,) in rows(run, "SELECT outcome FROM llm_calls")]
    assert outcomes == ["ok"] * len(requests) and len(requests) >= 4
    assert peak == 1 and not abandoned and all(r.queued_s < 0.05 for r in requests)
    assert rows(run, "SELECT value FROM meta WHERE key = 'status'") == [('"finished"',)]
    assert not any(line.startswith("llm calls:") for line, _ in lines)  # nothing failed, nothing to report
