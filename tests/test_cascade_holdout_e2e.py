"""Cascades and the holdout split through the real CLI: stages reached are stored and shown,
holdout verdicts are stored apart, and no holdout (or private) number ever reaches a prompt."""

import itertools
import json
import os
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

from llm_server import LLMServer, Reply

ROOT = Path(__file__).resolve().parent.parent
STAGED = ROOT / "tests" / "fixture_problems" / "staged"


def evolve(*args, timeout=300):
    env = {**os.environ, "OPENAI_API_KEY": "sk-loopback", "COLUMNS": "200"}
    return subprocess.run([sys.executable, "-m", "cli", *map(str, args)], cwd=ROOT, capture_output=True, text=True,
                          timeout=timeout, env=env)


def run_dir_of(output: str) -> Path:
    line = next(line for line in output.splitlines() if line.startswith("run directory: "))
    return Path(line.removeprefix("run directory: ").strip())


def query(run_dir: Path, sql: str) -> list[tuple]:
    with sqlite3.connect(run_dir / "evolve.db") as db:
        return db.execute(sql).fetchall()


def test_a_mutator_run_stores_stages_and_scores_the_holdout_split(tmp_path):
    result = evolve("run", STAGED, "--budget", 30, "--seed", 2, "--out", tmp_path, "--plain")
    assert result.returncode == 0, result.stderr
    run_dir = run_dir_of(result.stdout)
    stages = dict(query(run_dir, "SELECT stage, COUNT(*) FROM evaluations WHERE ok = 1 GROUP BY stage"))
    assert stages.get(1, 0) >= 2  # the seed and at least one child went through both stages
    assert "holdout closeness of program" in result.stdout
    holdout = query(run_dir, "SELECT program_id, reason, ok, feedback FROM holdout ORDER BY id")
    assert holdout and holdout[0][1] == "best" and all(row[3] == "HOLDOUT-FEEDBACK-7781" for row in holdout if row[2])
    best_id = query(run_dir, "SELECT program_id FROM evaluations WHERE ok = 1 AND stage = 1 ORDER BY score DESC, program_id LIMIT 1")
    assert holdout[0][0] == best_id[0][0]

    best = json.loads(evolve("best", run_dir, "--json").stdout)[0]
    assert best["holdout_score"] is not None and best["search_score"] is not None
    assert best["holdout_gap"] == best["holdout_score"] - best["search_score"]
    assert best["holdout"]["private"] == {"secret_gauge": 424242.0}
    status = evolve("status", run_dir)
    assert status.returncode == 0 and "holdout" in status.stdout and "gap" in status.stdout
    summary = json.loads(evolve("status", run_dir, "--json").stdout)
    stopped = query(run_dir, "SELECT COUNT(*) FROM evaluations WHERE ok = 1 AND stage = 0")[0][0]
    assert summary["cascade_stopped"] == stopped and summary["holdout_scored"] == len(holdout)
    pareto = json.loads(evolve("best", run_dir, "--pareto", "--json").stdout)
    assert pareto and all(p["search"]["objectives"]["distance"] >= 0 for p in pareto)

    again = evolve("holdout", run_dir, "--json")  # on demand: nothing new to score, the same rows
    assert again.returncode == 0, again.stderr
    assert {row["program_id"] for row in json.loads(again.stdout)} == {row[0] for row in holdout}


def _rewrites():
    """Full rewrites of guess() with a new constant each time (some miss the quick stage's bar)."""
    for i in itertools.count():
        value = [2.5, 2.9, -7.0, 3.05, 2.2, 9.0, 2.99][i % 7] + i * 1e-4
        yield Reply(f"Try {value}.\n```python\ndef guess():\n    return {value!r}\n```\n")


def test_no_prompt_ever_contains_a_holdout_or_private_number(tmp_path):
    replies = _rewrites()
    problem = tmp_path / "staged"
    shutil.copytree(STAGED, problem)
    with LLMServer(responder=lambda _request: next(replies)) as server:
        llm = ["--model", "openai/loopback-model", "--api-base", server.base_url]
        first = evolve("run", problem, *llm, "--budget", 8, "--seed", 1, "--out", tmp_path / "runs", "--plain")
        assert first.returncode == 0, first.stderr
        run_dir = run_dir_of(first.stdout)
        assert query(run_dir, "SELECT COUNT(*) FROM holdout WHERE ok = 1")[0][0] >= 1
        resumed = evolve("resume", run_dir, "--budget", 16, "--plain")  # prompts made after holdout rows exist
        assert resumed.returncode == 0, resumed.stderr
    prompts = [row[0] for row in query(run_dir, "SELECT prompt FROM llm_calls ORDER BY id")]
    assert len(prompts) >= 16
    holdout_scores = [row[0] for row in query(run_dir, "SELECT score FROM holdout WHERE ok = 1")]
    forbidden = ["HOLDOUT-FEEDBACK-7781", "424242", "515151", "secret_gauge"]
    forbidden += [f"{score:.6g}" for score in holdout_scores if f"{score:.6g}" not in ("-0", "0")]
    for prompt in prompts:
        for text in forbidden:
            assert text not in prompt, f"{text!r} leaked into a prompt"
    assert any("Score per workload" in p for p in prompts)  # search instances do reach the prompt
    assert any("stopped at the cascade stage 'quick'" in p for p in prompts)  # so do cascade notes
