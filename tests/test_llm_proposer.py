"""LLMProposer end to end through the real openai SDK against the loopback server."""

import asyncio
import time
from pathlib import Path

import pytest

from evolve.config.llm import EditWeights, LLMConfig, ModelSpec
from evolve.proposers.llm.proposer import LLMProposer, summarize
from evolve.proposers.base import ProblemBrief, ProgramView, ProposalContext
from llm_server import Hang, LLMServer, Raw, Reply, Status, truncated

SEED = (Path(__file__).resolve().parents[1] / "problems" / "circle_packing" / "initial.py").read_text()
DIFF = (
    "Move the inner ring outwards a little.\n\n```python\n<<<<<<< SEARCH\n"
    "        centers[i + 1] = [0.5 + 0.3 * np.cos(angle), 0.5 + 0.3 * np.sin(angle)]\n=======\n"
    "        centers[i + 1] = [0.5 + 0.32 * np.cos(angle), 0.5 + 0.32 * np.sin(angle)]\n>>>>>>> REPLACE\n```\n"
)
PRICED = ModelSpec(name="openai/loopback-model", price_in_per_m=1000.0, price_out_per_m=2000.0)


def config(server, **kw):
    kw.setdefault("models", [PRICED])
    kw.setdefault("edit_weights", EditWeights(diff=1, rewrite=0, crossover=0))
    for key, value in {"backoff_s": 0.01, "max_backoff_s": 0.05, "timeout_s": 2.0}.items():
        kw.setdefault(key, value)
    return LLMConfig(api_base=server.base_url, **kw)


def context(seed=1, inspirations=()):
    return ProposalContext(
        problem=ProblemBrief("circle_packing", "Pack 26 circles.", "sum_of_radii", True),
        parent=ProgramView(1, SEED, 0.96, {"sum_of_radii": 0.96}, "valid packing"),
        inspirations=inspirations, island=0, seed=seed,
    )


_RUNNER: list[asyncio.Runner] = []


def propose(proposer, ctx=None):
    """One proposal on the test's event loop (as in a run, every call of a test shares one loop)."""
    return _RUNNER[0].run(proposer.propose(ctx or context()))


@pytest.fixture(autouse=True)
def _one_event_loop_per_test():
    with asyncio.Runner() as runner:
        _RUNNER.append(runner)
        yield
        _RUNNER.clear()


@pytest.fixture
def server():
    with LLMServer() as s:
        yield s


def test_valid_diff_becomes_a_candidate_with_one_costed_call(server):
    server.script(Reply(DIFF, prompt_tokens=1000, completion_tokens=100))
    proposal = propose(LLMProposer(config(server)))
    assert proposal.ok and "0.32 * np.cos" in proposal.code and "0.3 * np.cos" not in proposal.code
    assert proposal.kind == "diff" and proposal.summary == "Move the inner ring outwards a little."
    assert proposal.proposer == "openai/loopback-model"  # recorded under the model that made it
    (call,) = proposal.usage.calls
    assert call.outcome == "ok" and call.model == "openai/loopback-model"
    assert (call.prompt_tokens, call.completion_tokens) == (1000, 100)
    assert call.cost == pytest.approx(1000 * 1000 / 1e6 + 100 * 2000 / 1e6)
    assert call.reply == DIFF and "sum_of_radii" in call.prompt and call.latency_s > 0
    assert proposal.usage.cost == pytest.approx(call.cost)


def test_full_rewrite_is_applied(server):
    body = SEED.split("# EVOLVE-BLOCK-START\n")[1].split("# EVOLVE-BLOCK-END")[0].replace("0.7 *", "0.45 *")
    server.script(Reply(f"Shrink the outer ring.\n```python\n{body}```\n"))
    proposal = propose(LLMProposer(config(server, edit_weights=EditWeights(diff=0, rewrite=1, crossover=0))))
    assert proposal.ok and proposal.kind == "rewrite" and "0.45 * np.cos" in proposal.code
    assert "rewritten" not in server.chat_requests()[0].prompt and "fenced block" in server.chat_requests()[0].prompt


def test_crossover_shows_the_second_parent(server):
    other = ProgramView(5, SEED.replace("0.7 *", "0.6 *"), 1.1)
    server.script(Reply(DIFF))
    proposer = LLMProposer(config(server, edit_weights=EditWeights(diff=0, rewrite=0, crossover=1)))
    proposal = propose(proposer, context(inspirations=(other,)))
    assert proposal.kind == "crossover" and proposal.ok
    assert "Program B (program 5" in server.chat_requests()[0].prompt
    # no scored inspiration: crossover falls back to a diff
    server.script(Reply(DIFF))
    assert propose(proposer, context(seed=2)).kind == "diff"


@pytest.mark.parametrize(
    "reply,reason",
    [
        (Reply("I think the packing is already optimal."), "neither SEARCH/REPLACE"),
        (truncated(DIFF, 0.35), "truncated"),
        (Reply(DIFF.replace("0.5 + 0.3 * np.cos", "0.5 + 0.25 * np.cos", 1)), "not found"),
    ],
)
def test_unusable_replies_are_errors_with_a_reason(server, reply, reason):
    server.script(reply)
    proposal = propose(LLMProposer(config(server)))
    assert not proposal.ok and reason in proposal.error
    assert proposal.usage.calls[0].outcome == "ok"  # the call itself worked
    if reply.finish_reason == "length":
        assert "cut off at the token limit" in proposal.error


def test_429_and_500_are_retried_and_every_attempt_is_a_row(server):
    server.script(Status(429, retry_after=0.2), Status(500), Reply(DIFF))
    proposer = LLMProposer(config(server, max_backoff_s=1.0))
    started = time.monotonic()
    proposal = propose(proposer)
    assert proposal.ok
    assert [c.outcome for c in proposal.usage.calls] == ["rate_limited", "http_error", "ok"]
    assert time.monotonic() - started >= 0.2  # Retry-After honoured
    assert proposer.caller.budget.calls == 3


def test_garbage_body_and_hang_are_retried(server):
    server.script(Raw(b"{not json"), Hang(3.0), Reply(DIFF))
    proposal = propose(LLMProposer(config(server, timeout_s=0.3)))
    assert proposal.ok
    assert [c.outcome for c in proposal.usage.calls] == ["bad_response", "timeout", "ok"]


def test_auth_error_is_not_retried(server):
    server.script(Status(401, "bad key"), Reply(DIFF))
    proposal = propose(LLMProposer(config(server)))
    assert not proposal.ok and "bad key" in proposal.error and len(proposal.usage.calls) == 1


def test_breaker_opens_and_a_second_model_takes_over(server):
    server.responder = lambda req: Status(500) if req.model == "flaky" else Reply(DIFF)
    models = [ModelSpec(name="openai/flaky", weight=2.0), ModelSpec(name="openai/steady", weight=1.0)]
    proposer = LLMProposer(config(server, models=models, retries=1, breaker_failures=2, breaker_cooldown_s=60))
    outcomes = [propose(proposer, context(seed=s)) for s in range(8)]
    flaky_calls = [r for r in server.chat_requests() if r.model == "flaky"]
    assert len(flaky_calls) == 4  # two failed calls of two attempts each, then the circuit is open
    assert proposer.caller.breakers["openai/flaky"].state == "open"
    assert all(p.ok and p.usage.model == "openai/steady" for p in outcomes[-3:])


def test_all_circuits_open_waits_then_says_so(server):
    server.responder = lambda req: Status(503)
    proposer = LLMProposer(config(server, retries=0, breaker_failures=1, breaker_cooldown_s=0.3))
    assert "HTTP 503" in propose(proposer).error
    started = time.monotonic()
    second = propose(proposer)  # waits for the half-open trial instead of spinning
    assert time.monotonic() - started >= 0.25 and "HTTP 503" in second.error
    assert len(server.chat_requests()) == 2


def test_cost_budget_stops_within_one_call(server):
    server.responder = lambda req: Reply("no idea", prompt_tokens=1000, completion_tokens=0)  # $1 a call
    proposer = LLMProposer(config(server, max_cost=2.5))
    results = [propose(proposer, context(seed=s)) for s in range(6)]
    assert len(server.chat_requests()) == 3 and proposer.caller.budget.spent == pytest.approx(3.0)
    assert proposer.stop_reason and "max-cost" in proposer.stop_reason
    assert results[-1].usage.calls == [] and "max-cost" in results[-1].error


def test_call_budget_counts_retries(server):
    server.script(Status(500), Status(500))
    server.responder = lambda req: Reply(DIFF)
    proposer = LLMProposer(config(server, max_calls=3))
    first = propose(proposer)
    assert first.ok and len(first.usage.calls) == 3
    assert "max-calls 3" in propose(proposer).error and len(server.chat_requests()) == 3


def test_max_cost_refuses_an_unpriced_model(server):
    with pytest.raises(ValueError, match="price_in_per_m"):
        LLMProposer(config(server, models=[ModelSpec(name="openai/local")], max_cost=1.0))
    assert LLMProposer(config(server, models=[ModelSpec(name="openai/local")])).unpriced_models == ["openai/local"]


def test_bandit_learns_from_observe_and_state_survives(server):
    server.responder = lambda req: Reply(DIFF)
    models = [ModelSpec(name="openai/a"), ModelSpec(name="openai/b")]
    proposer = LLMProposer(config(server, models=models, ucb_c=0.2))
    for s in range(30):
        p = propose(proposer, context(seed=s))
        proposer.observe(p, 1.0, 1.5 if p.usage.model == "openai/a" else 1.0)
        proposer.observe(p, 1.0, 9.0)  # a second observe of the same proposal is ignored
    arms = proposer.bandit.arms
    assert arms["openai/a"].pulls > 2 * arms["openai/b"].pulls and arms["openai/a"].observed == arms["openai/a"].pulls
    again = LLMProposer(config(server, models=models))
    again.restore(proposer.state())
    assert again.bandit.arms == arms and again.caller.budget.calls == 30


def test_no_store_text_blanks_the_reply_but_keeps_rows_for_hashing(server):
    server.script(Reply(DIFF))
    proposal = propose(LLMProposer(config(server, store_text=False)))
    assert proposal.ok and proposal.reply == "" and proposal.summary == "" and proposal.usage.store_text is False
    assert proposal.usage.calls[0].reply == DIFF  # the database stores only its hash and size


def test_record_then_replay_reproduces_the_proposals_offline(server, tmp_path):
    path = tmp_path / "replies.jsonl"
    server.script(Reply(DIFF), Reply("garbage"), Status(500), Reply(DIFF.replace("0.32", "0.31")))
    recorder = LLMProposer(config(server, record=str(path)))
    first = [propose(recorder, context(seed=s)) for s in range(3)]
    replay_config = config(server, replay=str(path))
    server.stop()  # no network from here on
    replayer = LLMProposer(replay_config)
    second = [propose(replayer, context(seed=s)) for s in range(3)]
    assert [(p.code, p.error) for p in first] == [(p.code, p.error) for p in second]
    assert all(c.replayed for p in second for c in p.usage.calls)
    assert [p.usage.cost for p in first] == [p.usage.cost for p in second]
    miss = propose(replayer, context(seed=99))
    assert "replay" in miss.error and miss.usage.calls[0].outcome == "replay_miss"


def test_api_key_never_reaches_a_prompt(server, monkeypatch):
    monkeypatch.setenv("EVOLVE_TEST_API_KEY", "sk-evolve-test-secret")
    server.script(Reply(DIFF))
    proposal = propose(LLMProposer(config(server, api_key_env="EVOLVE_TEST_API_KEY")))
    req = server.chat_requests()[0]
    assert req.headers["authorization"] == "Bearer sk-evolve-test-secret"
    assert "sk-evolve-test-secret" not in req.prompt and "sk-evolve-test-secret" not in str(proposal.usage)


def test_summarize_skips_code_and_markers():
    assert summarize("```python\nx = 1\n```\nIdea: use a grid.") == "Idea: use a grid."
    assert summarize("<<<<<<< SEARCH\n=======\n>>>>>>> REPLACE") == ""
