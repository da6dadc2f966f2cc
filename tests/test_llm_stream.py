"""Streamed replies through the real openai SDK and the loopback server.

The timeout measures silence, not length; a stalled stream is a timeout that keeps what
arrived; a complete answer ends the stream; every early end closes the connection, which
the server sees (as llama.cpp does) and stops generating.
"""

import asyncio
import random
import time
from pathlib import Path

import pytest

from evolve.config.llm import LLMConfig, ModelSpec
from evolve.proposers.llm import client as C
from evolve.proposers.llm.answer import AnswerWatch
from evolve.proposers.llm.caller import Caller
from evolve.proposers.llm.stream import ANSWER_COMPLETE, GRACE_CHUNKS
from llm_server import TOKEN_CHARS, LLMServer, Reply, Status

SEED = (Path(__file__).resolve().parents[1] / "problems" / "circle_packing" / "initial.py").read_text()
BODY = SEED.split("# EVOLVE-BLOCK-START\n")[1].split("# EVOLVE-BLOCK-END")[0].replace("0.7 *", "0.45 *")
ANSWER = f"Shrink the outer ring.\n```python\n{BODY}```\n"
MESSAGES = [{"role": "user", "content": "improve this program please"}]
WORDS = "the quick brown fox jumps over the lazy dog " * 10  # 440 characters: 110 streamed tokens


@pytest.fixture
def server():
    with LLMServer() as s:
        yield s


def complete(server, timeout=2.0, max_tokens=None, watch=None, **spec):
    async def go():
        client = C.make_client(ModelSpec(name="openai/loopback-model", api_base=server.base_url, **spec))
        try:
            return await client.complete(MESSAGES, timeout=timeout, max_tokens=max_tokens, watch=watch)
        finally:
            await client.aclose()

    return asyncio.run(go())


def settled(server, count=1):
    """The server's records of the last ``count`` chat requests, once their handlers are done."""
    for _ in range(200):
        requests = server.chat_requests()[-count:]
        if requests and all(r.finished_at for r in requests):
            return requests
        time.sleep(0.02)
    raise AssertionError("the server never finished the request")


def test_a_reply_longer_than_the_timeout_streams_through_because_the_timeout_bounds_silence(server):
    server.script(Reply(WORDS, tokens_per_s=60))  # about 1.8 s of tokens, each 17 ms after the last
    result = complete(server, timeout=0.6)
    assert result.text == WORDS and result.finish_reason == "stop" and result.streamed
    assert server.chat_requests()[0].body["stream"] is True
    assert server.chat_requests()[0].body["stream_options"] == {"include_usage": True}
    server.script(Reply(WORDS, tokens_per_s=60))  # the same reply, not streamed: the timeout is the whole call
    with pytest.raises(C.LLMCallError) as info:
        complete(server, timeout=0.6, stream=False)
    assert info.value.outcome == C.TIMEOUT


def test_a_stream_that_stalls_mid_reply_times_out_keeping_what_arrived(server):
    server.script(Reply(WORDS, stall_after=10, stall_s=30.0))
    with pytest.raises(C.LLMCallError) as info:
        complete(server, timeout=0.4)
    err = info.value
    assert err.outcome == C.TIMEOUT and "stalled" in err.message and "after 10 tokens" in err.message
    assert err.partial is not None and err.partial.text == WORDS[: 10 * TOKEN_CHARS]
    assert err.partial.completion_tokens == 10 and not err.partial.usage_reported
    (request,) = settled(server)
    assert request.abandoned and request.tokens_sent == 10  # the server saw the client leave and stopped
    assert request.served_s < 30.0


def test_a_complete_answer_ends_the_stream_and_the_server_stops_generating(server):
    ramble = "I could also explain the geometry of circle packings at length, " * 40
    server.script(Reply(ANSWER + ramble, tokens_per_s=400))
    result = complete(server, watch=AnswerWatch("rewrite", SEED))
    assert result.finish_reason == ANSWER_COMPLETE and not result.usage_reported
    assert result.text.startswith(ANSWER) and len(result.text) <= len(ANSWER) + (GRACE_CHUNKS + 1) * TOKEN_CHARS
    (request,) = settled(server)
    total = -(-len(ANSWER + ramble) // TOKEN_CHARS)
    assert request.abandoned and request.tokens_sent < total // 2


def test_a_model_that_stops_right_after_its_answer_is_not_cut(server):
    server.script(Reply(ANSWER + "Done.\n", prompt_tokens=50, completion_tokens=120))
    result = complete(server, watch=AnswerWatch("rewrite", SEED))
    assert result.finish_reason == "stop" and result.text == ANSWER + "Done.\n"
    assert (result.prompt_tokens, result.completion_tokens, result.usage_reported) == (50, 120, True)
    assert not settled(server)[0].abandoned


def test_a_server_that_ignores_max_tokens_is_cut_by_the_client(server):
    server.script(Reply("word " * 2000, tokens_per_s=2000))
    result = complete(server, max_tokens=10)
    assert result.finish_reason == "length" and result.completion_tokens == 2 * 10 + 65
    assert server.chat_requests()[0].body["max_tokens"] == 10
    assert settled(server)[0].abandoned


def test_a_server_that_rejects_stream_options_is_streamed_without_them(server):
    server.responder = lambda req: (Status(400, "Unrecognized request argument supplied: stream_options")
                                    if "stream_options" in req.body else Reply("hello there", usage=False))
    result = complete(server)
    assert result.text == "hello there" and not result.usage_reported
    assert ["stream_options" in r.body for r in server.chat_requests()] == [True, False]


def test_stream_timings(server):
    server.script(Reply(WORDS, delay_s=0.3, tokens_per_s=50))
    result = complete(server)
    assert result.first_token_s >= 0.3
    assert 0 < result.tokens_per_s <= 50 * 1.2  # tokens cannot come faster than the server sends them
    assert result.decode_s > 0


def caller(server, **kw):
    spec = ModelSpec(name="openai/loopback-model", price_in_per_m=1000.0, price_out_per_m=2000.0)
    settings = {"backoff_s": 0.01, "max_backoff_s": 0.02, "timeout_s": 0.4, "models": [spec], **kw}
    return Caller(LLMConfig(api_base=server.base_url, **settings))


def call(c: Caller, **kw):
    async def go():
        try:
            return await c.call("openai/loopback-model", MESSAGES, random.Random(0), **kw)
        finally:
            await c.aclose()

    return asyncio.run(go())


def test_a_timed_out_attempt_records_its_partial_reply_and_its_likely_cost(server):
    server.script(Reply(WORDS, stall_after=5, stall_s=30.0), Reply("ok then"))
    outcome = call(caller(server))
    first, second = outcome.rows
    assert (first.outcome, second.outcome) == ("timeout", "ok") and outcome.result.text == "ok then"
    assert first.reply == WORDS[:20] and first.completion_tokens == 5 and not first.usage_reported
    assert first.cost == pytest.approx((first.prompt_tokens * 1000 + 5 * 2000) / 1e6) and first.cost > 0
    assert outcome.cost == pytest.approx(first.cost + second.cost)


def test_timeouts_are_retried_timeout_retries_times_other_errors_retries_times(server):
    server.responder = lambda req: Reply("late", delay_s=5.0)
    outcome = call(caller(server, retries=3))
    assert [r.outcome for r in outcome.rows] == ["timeout", "timeout"]  # timeout_retries = 1 by default
    assert "after 2 attempts" in outcome.error and "no response within 0.4s" in outcome.error
    patient = call(caller(server, retries=3, timeout_retries=3))
    assert [r.outcome for r in patient.rows] == ["timeout"] * 4
    assert all(r.abandoned for r in settled(server, 6))  # every abandoned request was closed, and the server knew


def test_the_reply_length_cap_and_the_answer_watch_reach_the_server(server):
    server.script(Reply(ANSWER + "and more " * 300, tokens_per_s=500))
    outcome = call(caller(server), max_tokens=333, watch=AnswerWatch("rewrite", SEED))
    assert server.chat_requests()[0].body["max_tokens"] == 333
    (row,) = outcome.rows
    assert row.outcome == "ok" and row.finish_reason == ANSWER_COMPLETE and row.tokens_per_s and row.first_token_s
