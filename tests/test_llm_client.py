"""The openai-SDK client against the real loopback server: replies, usage, and every error class."""

import asyncio
import time

import pytest

from evolve.proposers.llm import client as C
from evolve.config.llm import ModelSpec
from llm_server import Hang, LLMServer, Raw, Reply, Status, truncated

MESSAGES = [{"role": "user", "content": "improve this program please"}]


@pytest.fixture
def server():
    with LLMServer() as s:
        yield s


def complete(server, timeout=2.0, **spec):
    async def go():
        client = C.make_client(ModelSpec(name="openai/loopback-model", api_base=server.base_url, **spec))
        try:
            return await client.complete(MESSAGES, timeout=timeout)
        finally:
            await client.aclose()

    return asyncio.run(go())


def error_of(server, **kw) -> C.LLMCallError:
    with pytest.raises(C.LLMCallError) as info:
        complete(server, **kw)
    return info.value


def test_reply_with_usage_and_request_shape(server):
    server.script(Reply("hello", prompt_tokens=11, completion_tokens=3))
    result = complete(server, temperature=0.2, max_tokens=50)
    assert (result.text, result.prompt_tokens, result.completion_tokens, result.finish_reason) == ("hello", 11, 3, "stop")
    req = server.chat_requests()[0]
    assert req.model == "loopback-model"  # the openai/ prefix is ours, not the server's
    assert req.body["temperature"] == 0.2 and req.body["max_tokens"] == 50
    assert req.body["messages"] == MESSAGES


def test_missing_usage_is_estimated_and_flagged(server):
    server.script(Reply("x" * 400, usage=False))
    result = complete(server)
    assert not result.usage_reported and result.completion_tokens == 100 and result.prompt_tokens > 0


def test_truncated_reply_reports_length(server):
    server.script(truncated("<<<<<<< SEARCH\na = 1\n=======\na = 2\n>>>>>>> REPLACE\n"))
    assert complete(server).finish_reason == "length"


def test_rate_limit_carries_retry_after(server):
    server.script(Status(429, retry_after=1.5))
    err = error_of(server)
    assert (err.outcome, err.status, err.retry_after, err.retryable) == (C.RATE_LIMITED, 429, 1.5, True)


@pytest.mark.parametrize(
    "status,outcome,retryable",
    [(500, C.HTTP_ERROR, True), (503, C.HTTP_ERROR, True), (401, C.AUTH_ERROR, False), (404, C.BAD_REQUEST, False)],
)
def test_statuses_are_classified(server, status, outcome, retryable):
    server.script(Status(status, message="scripted failure text"))
    err = error_of(server)
    assert (err.outcome, err.retryable) == (outcome, retryable)
    assert "scripted failure text" in err.message


def test_garbage_body_is_a_bad_response(server):
    server.script(Raw(b"<html>gateway says hi</html>"))
    assert error_of(server).outcome == C.BAD_RESPONSE


def test_hang_times_out_within_the_limit(server):
    server.script(Hang(5.0))
    started = time.monotonic()
    assert error_of(server, timeout=0.5).outcome == C.TIMEOUT
    assert time.monotonic() - started < 2.0


def test_slow_reply_beyond_the_timeout_is_a_timeout(server):
    server.script(Reply("late", delay_s=3.0))
    assert error_of(server, timeout=0.4).outcome == C.TIMEOUT


def test_connection_refused_is_a_connection_error():
    with LLMServer() as s:
        url = s.base_url
    err = error_of(type("S", (), {"base_url": url})())
    assert err.outcome == C.CONNECTION_ERROR and err.retryable


def test_key_comes_from_the_named_env_var_and_only_goes_in_the_header(server, monkeypatch):
    monkeypatch.setenv("EVOLVE_TEST_API_KEY", "sk-loopback-secret-123")
    server.script(Reply("ok"))
    complete(server, api_key_env="EVOLVE_TEST_API_KEY")
    req = server.chat_requests()[0]
    assert req.headers.get("authorization") == "Bearer sk-loopback-secret-123"
    assert "sk-loopback-secret-123" not in str(req.body)


def test_no_key_without_api_base_fails_before_any_call(monkeypatch):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    with pytest.raises(C.LLMCallError, match="export OPENAI_API_KEY"):
        C.make_client(ModelSpec(name="openai/gpt-4o-mini"))


def test_parse_retry_after_forms():
    assert C.parse_retry_after({"Retry-After": "3"}) == 3.0
    assert C.parse_retry_after({"retry-after-ms": "250"}) == 0.25
    assert C.parse_retry_after({}) is None
    assert C.parse_retry_after({"Retry-After": "soon"}) is None
    future = time.strftime("%a, %d %b %Y %H:%M:%S GMT", time.gmtime(time.time() + 30))
    assert 25 <= C.parse_retry_after({"Retry-After": future}) <= 31


def test_litellm_route_explains_the_extra_when_missing(monkeypatch):
    import builtins

    real_import = builtins.__import__

    def no_litellm(name, *args, **kwargs):
        if name == "litellm":
            raise ImportError("no litellm")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_litellm)
    with pytest.raises(C.LLMCallError, match=r"evolve\[litellm\]"):
        C.make_client(ModelSpec(name="anthropic/claude-3-5-haiku-latest"))
    assert C.import_litellm(required=False) is None
