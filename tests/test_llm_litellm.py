"""The litellm route, when the optional extra is installed, against the loopback server."""

import asyncio

import pytest

from evolve.proposers.llm import client as C
from evolve.config.llm import ModelSpec
from evolve.proposers.llm.pricing import price_for
from llm_server import LLMServer, Reply, Status

litellm = pytest.importorskip("litellm")


def complete(server, **spec):
    async def go():
        client = C.make_client(ModelSpec(name="openai/loopback-model", api_base=server.base_url, route="litellm", **spec))
        assert isinstance(client, C.LiteLLMChatClient)
        return await client.complete([{"role": "user", "content": "hello"}], timeout=2.0)

    return asyncio.run(go())


def test_reply_and_usage_through_litellm():
    with LLMServer() as server:
        server.script(Reply("hi there", prompt_tokens=7, completion_tokens=2))
        result = complete(server, api_key_env="EVOLVE_TEST_API_KEY")
        assert (result.text, result.prompt_tokens, result.completion_tokens) == ("hi there", 7, 2)
        assert server.chat_requests()[0].model == "loopback-model"


def test_errors_are_classified_through_litellm():
    with LLMServer() as server:
        server.script(Status(429, retry_after=1), Status(500))
        for outcome in (C.RATE_LIMITED, C.HTTP_ERROR):
            with pytest.raises(C.LLMCallError) as info:
                complete(server)
            assert info.value.outcome == outcome


def test_cost_map_is_local_and_prices_known_models():
    import os

    assert os.environ.get("LITELLM_LOCAL_MODEL_COST_MAP") == "True"
    assert price_for(ModelSpec(name="anthropic/claude-3-5-haiku-20241022")).known
