"""Per-proposer statistics of an LLM run (through the loopback OpenAI-compatible server): calls, valid
edits, improvements and dollars agree with the llm_calls and proposals tables."""

import itertools
import shutil
import sqlite3
from pathlib import Path

import pytest

from evolve import api
from evolve.report.data import gather
from evolve.store import open_run
from llm_server import LLMServer, Reply

STAGED = Path(__file__).resolve().parent / "fixture_problems" / "staged"


def _replies():
    """Rewrites of guess() that approach the target, a reply that cannot be applied, and a repeat."""
    for i in itertools.count():
        if i % 4 == 3:
            yield Reply("I would rather not change anything.")  # no code: edit_failed
        else:
            value = 3.0 - 1.0 / (i + 2)
            yield Reply(f"```python\ndef guess():\n    return {value!r}\n```\n", prompt_tokens=1000, completion_tokens=100)


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    base = tmp_path_factory.mktemp("llm")
    problem = base / "staged"
    shutil.copytree(STAGED, problem)
    replies = _replies()
    mp = pytest.MonkeyPatch()
    mp.setenv("OPENAI_API_KEY", "sk-loopback")
    try:
        with LLMServer(responder=lambda _request: next(replies)) as server:
            view = api.start(problem, budget=8, seed=1, out=base / "runs", models=["openai/loopback-model"],
                             api_base=server.base_url, price="2,10")  # $2 / $10 per 1M tokens
            directory = view.directory
            view.close()
    finally:
        mp.undo()
    return directory


def test_the_model_is_the_proposer_and_its_dollars_add_up(run_dir):
    run = open_run(run_dir, readonly=True)
    data = gather(run, score_baselines=False)
    run.close()
    with sqlite3.connect(run_dir / "evolve.db") as db:
        calls, cost = db.execute("SELECT COUNT(*), SUM(cost) FROM llm_calls").fetchone()
        proposals, candidates = db.execute("SELECT COUNT(*), COUNT(program_id) FROM proposals").fetchone()
    (stats,) = data.proposers
    assert stats.proposer == "openai/loopback-model"
    assert (stats.proposals, stats.candidates, stats.llm_calls) == (proposals, candidates, calls)
    assert stats.cost == pytest.approx(cost) and cost > 0
    assert stats.candidates < stats.proposals  # the reply without code was an edit that failed
    assert stats.valid_edit_rate == pytest.approx(candidates / proposals)
    assert stats.improvements >= 1
    assert stats.cost_per_improvement == pytest.approx(cost / stats.improvements)
    assert data.llm_calls == calls and data.llm_cost == pytest.approx(cost)
    assert any(g.kind == "edit_failed" for g in data.rejections)
