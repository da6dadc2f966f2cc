"""The whole engine through the real CLI, the real openai SDK and the loopback server.

Acceptance tests of the LLM path: a run improves when the scripted replies do and stores
every call with tokens and cost; every failure mode leaves the run alive, recorded and
resumable; the budget stops a run at its cap; a candidate cannot read the API key; a
recorded run replays offline.
"""

import os
import re
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from llm_server import Hang, LLMServer, Raw, Reply, Status, truncated

ROOT = Path(__file__).resolve().parent.parent
SEED = (ROOT / "problems" / "circle_packing" / "initial.py").read_text()
SECRET = "sk-e2e-loopback-SECRET-4242"
OUTER_DIFF = (
    "Pull the outer ring inside the square.\n```python\n<<<<<<< SEARCH\n"
    "        centers[i + 9] = [0.5 + 0.7 * np.cos(angle), 0.5 + 0.7 * np.sin(angle)]\n=======\n"
    "        centers[i + 9] = [0.5 + 0.42 * np.cos(angle), 0.5 + 0.42 * np.sin(angle)]\n>>>>>>> REPLACE\n```\n"
)
GRID_REWRITE = '''A square grid beats rings.
```python
def construct_packing():
    """A 5 x 5 grid of equal circles plus one in a gap: sum of radii 2.5414."""
    coords = 0.1 + 0.2 * np.arange(5)
    xs, ys = np.meshgrid(coords, coords)
    centers = np.column_stack([xs.ravel(), ys.ravel()])
    gap = (np.sqrt(2.0) - 1.0) * 0.1 * (1 - 1e-9)
    return np.vstack([centers, [0.2, 0.2]]), np.append(np.full(25, 0.1), gap)
```
'''
SNOOP_REWRITE = '''Check the environment.
```python
def construct_packing():
    import os, glob
    env = [k for k in os.environ if "KEY" in k or "TOKEN" in k or "SECRET" in k]
    proc = []
    for path in glob.glob("/proc/[0-9]*/environ"):
        try:
            with open(path, "rb") as f:
                if b"OPENAI_API_KEY" in f.read():
                    proc.append(path)
        except OSError:
            pass
    raise RuntimeError(f"SNOOP env={env} proc={proc} key={os.environ.get('OPENAI_API_KEY')!r}")
```
'''


def evolve(*args, timeout=240):
    env = {**os.environ, "OPENAI_API_KEY": SECRET, "COLUMNS": "250"}
    return subprocess.run([sys.executable, "-m", "cli", *map(str, args)], cwd=ROOT, capture_output=True, text=True,
                          timeout=timeout, env=env)


def run_dir_of(out: Path) -> Path:
    (db,) = out.glob("*/evolve.db")
    return db.parent


def rows(run_dir: Path, sql: str) -> list[tuple]:
    with sqlite3.connect(run_dir / "evolve.db") as db:
        return db.execute(sql).fetchall()


def problem_copy(tmp_path: Path, llm_table: str = "", concurrency: int = 2) -> Path:
    folder = tmp_path / "cp"
    shutil.copytree(ROOT / "problems" / "circle_packing", folder, ignore=shutil.ignore_patterns("__pycache__"))
    toml = (folder / "problem.toml").read_text()
    toml = re.sub(r"max_concurrent_(proposals|evaluations) = \d+", rf"max_concurrent_\1 = {concurrency}", toml)
    (folder / "problem.toml").write_text(toml + "\n[llm]\n" + llm_table)
    return folder


@pytest.fixture
def server():
    with LLMServer() as s:
        yield s


def test_llm_run_improves_and_stores_every_call(server, tmp_path):
    server.script(Reply(OUTER_DIFF, prompt_tokens=2000, completion_tokens=100), Status(429, retry_after=0.1),
                  Reply(GRID_REWRITE, prompt_tokens=2000, completion_tokens=200), Raw(b"<html>bad gateway</html>"),
                  Reply("I would keep the program as it is."), Status(500))
    server.responder = lambda req: Reply(OUTER_DIFF)  # later parents no longer contain the SEARCH text: rejected
    out = tmp_path / "runs"
    result = evolve("run", "problems/circle_packing", "--model", "openai/loopback-model", "--api-base", server.base_url,
                    "--price", "1000,2000", "--budget", 4, "--seed", 1, "--plain", "--out", out)
    assert result.returncode == 0, result.stderr
    run = run_dir_of(out)
    calls = rows(run, "SELECT model, prompt, reply, prompt_tokens, completion_tokens, cost, outcome FROM llm_calls ORDER BY id")
    assert len(calls) == len(server.chat_requests()) >= 6  # every HTTP call is a row, retries included
    outcomes = [c[6] for c in calls]
    assert {"ok", "rate_limited", "bad_response"} <= set(outcomes)
    for model, prompt, reply, p_tok, c_tok, cost, outcome in calls:
        assert model == "openai/loopback-model" and "sum_of_radii" in prompt
        if outcome == "ok":
            assert p_tok > 0 and c_tok > 0 and cost == pytest.approx((p_tok * 1000 + c_tok * 2000) / 1e6) and reply
        else:
            assert cost == 0
    (best,) = rows(run, "SELECT MAX(score) FROM evaluations WHERE ok = 1")
    (seed_score,) = rows(run, "SELECT score FROM evaluations WHERE program_id = 1")
    assert best[0] == pytest.approx(2.5414, abs=1e-3) and best[0] > seed_score[0] + 1.5
    assert "best sum_of_radii: 2.541" in result.stdout
    assert all(r.headers["authorization"] == f"Bearer {SECRET}" for r in server.chat_requests())
    assert SECRET.encode() not in (run / "evolve.db").read_bytes()  # never stored, never prompted
    assert all(SECRET not in r.prompt for r in server.chat_requests())
    assert any("rejected (edit_failed)" in r.prompt for r in server.chat_requests())  # the lineage is told
    state = rows(run, "SELECT value FROM meta WHERE key = 'proposer_state'")
    assert state and '"bandit"' in state[0][0]


def test_candidate_cannot_read_the_api_key(server, tmp_path):
    server.responder = lambda req: Reply(SNOOP_REWRITE)
    out = tmp_path / "runs"
    result = evolve("run", "problems/circle_packing", "--model", "openai/loopback-model", "--api-base", server.base_url,
                    "--budget", 1, "--plain", "--out", out)
    assert result.returncode == 0, result.stderr
    messages = [m for (m,) in rows(run_dir_of(out), "SELECT failure_message FROM evaluations WHERE ok = 0")]
    assert len(messages) == 1 and "SNOOP env=[] proc=" in messages[0] and "key=None" in messages[0], messages
    if os.geteuid() == 0:  # a private uid per worker: other processes' environments are unreadable
        assert "proc=[]" in messages[0], messages
    assert SECRET not in messages[0]
    assert server.chat_requests()[0].headers["authorization"] == f"Bearer {SECRET}"  # the engine itself had it


def test_no_store_text_keeps_only_hashes_and_sizes(server, tmp_path):
    server.responder = lambda req: Reply(GRID_REWRITE)
    out = tmp_path / "runs"
    result = evolve("run", "problems/circle_packing", "--model", "openai/loopback-model", "--api-base", server.base_url,
                    "--budget", 1, "--no-store-text", "--plain", "--out", out)
    assert result.returncode == 0, result.stderr
    ((prompt, reply, digest, chars, reply_chars),) = rows(
        run_dir_of(out), "SELECT prompt, reply, reply_sha256, prompt_chars, reply_chars FROM llm_calls")
    assert prompt is None and reply is None and len(digest) == 64 and chars > 1000 and reply_chars == len(GRID_REWRITE)
    assert b"A square grid beats rings" not in (run_dir_of(out) / "evolve.db").read_bytes()


def test_models_command_pings_each_model(server):
    server.responder = lambda req: Status(500, "down for maintenance") if req.model == "broken" else Reply("ready")
    result = evolve("models", "--model", "openai/loopback-model", "--model", "openai/broken", "--api-base", server.base_url,
                    "--price", "1,2", "--timeout", 2)
    assert result.returncode == 1 and "1 of 2 model(s) did not answer" in result.stderr
    lines = {line.split()[1]: line for line in result.stdout.splitlines() if "openai/" in line}
    assert re.search(r"ok .* \d+ ms .*ready", lines["openai/loopback-model"])
    assert "failed" in lines["openai/broken"] and "1 / 2 (config)" in lines["openai/loopback-model"]


@pytest.mark.slow
def test_call_budget_stops_the_run_cleanly_and_resume_continues(server, tmp_path):
    server.responder = lambda req: Reply("no change needed")
    out = tmp_path / "runs"
    result = evolve("run", "problems/circle_packing", "--model", "openai/loopback-model", "--api-base", server.base_url,
                    "--max-calls", 3, "--budget", 50, "--plain", "--out", out)
    assert result.returncode == 0, result.stderr
    assert "LLM call budget reached: 3 of --max-calls 3" in result.stdout
    run = run_dir_of(out)
    assert rows(run, "SELECT COUNT(*) FROM llm_calls") == [(3,)] and len(server.chat_requests()) == 3
    assert rows(run, "SELECT value FROM meta WHERE key = 'status'") == [('"stopped"',)]
    again = evolve("resume", run, "--plain")  # same cap: stops at once, no call made
    assert again.returncode == 0 and len(server.chat_requests()) == 3
    raised = evolve("resume", run, "--max-calls", 5, "--plain")
    assert raised.returncode == 0, raised.stderr
    assert rows(run, "SELECT COUNT(*) FROM llm_calls") == [(5,)] and len(server.chat_requests()) == 5


def test_cost_cap_is_never_exceeded_by_more_than_one_call(server, tmp_path):
    server.responder = lambda req: Reply("no change needed", prompt_tokens=1000, completion_tokens=0)  # $1 a call
    out = tmp_path / "runs"
    result = evolve("run", "problems/circle_packing", "--model", "openai/loopback-model", "--api-base", server.base_url,
                    "--price", "1000,0", "--max-cost", 2.5, "--budget", 50, "--plain", "--out", out)
    assert result.returncode == 0, result.stderr
    assert "LLM cost budget reached" in result.stdout
    ((spent, calls),) = rows(run_dir_of(out), "SELECT SUM(cost), COUNT(*) FROM llm_calls")
    assert 2.5 <= spent <= 2.5 + 1.0 and calls == 3


def test_max_cost_without_a_price_fails_before_the_run(server, tmp_path):
    result = evolve("run", "problems/circle_packing", "--model", "openai/loopback-model", "--api-base", server.base_url,
                    "--max-cost", 1, "--out", tmp_path / "runs")
    assert result.returncode == 2 and "price_in_per_m" in result.stderr and not (tmp_path / "runs").exists()


@pytest.mark.slow
def test_every_failure_mode_leaves_the_run_alive_recorded_and_resumable(server, tmp_path):
    problem = problem_copy(tmp_path, "timeout_s = 0.5\nretries = 1\nbackoff_s = 0.05\nmax_backoff_s = 0.2\n"
                                     "breaker_failures = 50\nedit_weights = { diff = 0, rewrite = 1, crossover = 0 }\n")
    server.script(Hang(2.0), Status(500), Status(429, retry_after=0.1), Status(503), Raw(b"{oops"), Status(502),
                  truncated(GRID_REWRITE), Reply("prose only, no code"), Reply(GRID_REWRITE, delay_s=2.0), Status(500),
                  Reply(GRID_REWRITE))
    server.responder = lambda req: Reply("nothing more")
    out = tmp_path / "runs"
    result = evolve("run", problem, "--model", "openai/loopback-model", "--api-base", server.base_url,
                    "--budget", 1, "--plain", "--out", out)
    assert result.returncode == 0, result.stderr
    run = run_dir_of(out)
    outcomes = [o for (o,) in rows(run, "SELECT outcome FROM llm_calls ORDER BY id")]
    assert {"timeout", "http_error", "rate_limited", "bad_response", "ok"} <= set(outcomes)
    failed = [m for (m,) in rows(run, "SELECT message FROM proposals WHERE outcome = 'edit_failed'")]
    assert any("truncated" in m or "token limit" in m for m in failed) and any("neither" in m for m in failed)
    assert rows(run, "SELECT COUNT(*) FROM evaluations WHERE ok = 1 AND score > 2.5") == [(1,)]
    server.responder = lambda req: Reply(GRID_REWRITE.replace("[0.2, 0.2]", "[0.4, 0.4]"))
    resumed = evolve("resume", run, "--budget", 2, "--plain")
    assert resumed.returncode == 0, resumed.stderr
    assert rows(run, "SELECT value FROM meta WHERE key = 'status'") == [('"finished"',)]


@pytest.mark.slow
def test_record_then_replay_offline_repeats_the_run(tmp_path):
    """Replay is exact when the schedule is: one proposal at a time and every reply a candidate."""
    problem = problem_copy(tmp_path, concurrency=1)
    record, first_out, second_out = tmp_path / "replies.jsonl", tmp_path / "a", tmp_path / "b"
    gaps = iter(["[0.2, 0.2]", "[0.4, 0.4]", "[0.6, 0.6]", "[0.8, 0.8]", "[0.2, 0.4]", "[0.4, 0.6]"])
    with LLMServer(responder=lambda req: Reply(GRID_REWRITE.replace("[0.2, 0.2]", next(gaps)))) as server:
        first = evolve("run", problem, "--model", "openai/loopback-model", "--api-base", server.base_url,
                       "--budget", 4, "--seed", 5, "--plain", "--out", first_out, "--record", record)
        assert first.returncode == 0, first.stderr
    second = evolve("run", problem, "--model", "openai/loopback-model", "--api-base", "http://127.0.0.1:9/v1",
                    "--budget", 4, "--seed", 5, "--plain", "--out", second_out, "--replay", record)
    assert second.returncode == 0, second.stderr
    programs = "SELECT parent_id, code FROM programs ORDER BY id"
    assert rows(run_dir_of(first_out), programs) == rows(run_dir_of(second_out), programs)
    assert len(rows(run_dir_of(second_out), programs)) == 5
    calls = "SELECT outcome, reply, prompt_tokens, cost FROM llm_calls ORDER BY id"
    assert rows(run_dir_of(second_out), calls) == rows(run_dir_of(first_out), calls)
