"""Per-model concurrency: the server's slot count is probed and respected, so nothing queues on the server."""

import asyncio
import random

import pytest

from evolve.config.llm import LLMConfig, ModelSpec
from evolve.proposers.llm.caller import Caller
from evolve.proposers.llm.slots import ModelGate, probe_slots_sync, server_root
from llm_server import LLMServer, Reply

MESSAGES = [{"role": "user", "content": "improve this program please"}]
REPLY = "x" * 120  # 30 tokens


def test_the_slot_count_comes_from_props_or_slots_and_is_none_otherwise():
    assert server_root("http://127.0.0.1:8080/v1/") == "http://127.0.0.1:8080"
    with LLMServer(slots=3) as server:
        assert probe_slots_sync(server.base_url) == 3
        assert [r.path for r in server.requests] == ["/props"]
    with LLMServer(slots=2, slot_endpoints=("/slots",)) as server:  # no /props: counted from /slots
        assert probe_slots_sync(server.base_url) == 2
    with LLMServer(slots=2, slot_endpoints=()) as server:  # vLLM, ollama: they do not say
        assert probe_slots_sync(server.base_url) is None
    with LLMServer() as server:
        url = server.base_url
    assert probe_slots_sync(url, timeout=1.0) is None  # nothing listening


def gather_calls(server, n, **spec):
    """``n`` concurrent calls of one model through one Caller; their outcomes and the Caller."""
    model = ModelSpec(name="openai/loopback-model", **spec)
    c = Caller(LLMConfig(api_base=server.base_url, models=[model], timeout_s=0.8, retries=0, breaker_failures=50))

    async def go():
        try:
            return await asyncio.gather(*(c.call(model.name, MESSAGES, random.Random(i)) for i in range(n)))
        finally:
            await c.aclose()

    return asyncio.run(go()), c


def test_with_a_one_slot_server_no_request_waits_there_and_none_is_abandoned():
    with LLMServer(slots=1, responder=lambda req: Reply(REPLY, tokens_per_s=60)) as server:  # 0.5 s a reply
        outcomes, c = gather_calls(server, 4)
        assert [o.outcome for o in outcomes] == ["ok"] * 4  # 2 s of replies in all, timeout 0.8 s
        assert server.peak_open == 1 and not server.abandoned()
        assert c.gates["openai/loopback-model"].capacity == 1
        assert max(r.queued_s for o in outcomes for r in o.rows) >= 1.0  # the waiting happened here, visibly
        assert all(r.queued_s < 0.05 for r in server.chat_requests())


def test_without_the_limit_requests_queue_on_the_server_time_out_and_are_abandoned():
    """The control: told the server serves 4 at once, the client sends 4 and most time out."""
    with LLMServer(slots=1, responder=lambda req: Reply(REPLY, tokens_per_s=60)) as server:
        outcomes, _ = gather_calls(server, 4, max_concurrent=4)
        assert server.peak_open > 1
        assert sum(o.outcome == "timeout" for o in outcomes) >= 2 and server.abandoned()


def test_a_configured_max_concurrent_wins_over_the_server():
    with LLMServer(slots=4, responder=lambda req: Reply(REPLY, tokens_per_s=200)) as server:
        outcomes, c = gather_calls(server, 3, max_concurrent=1)
        assert all(o.outcome == "ok" for o in outcomes) and server.peak_busy == 1
        assert c.gates["openai/loopback-model"].source == "config"
        assert not [r for r in server.requests if r.path in ("/props", "/slots")]  # no probe needed


def test_the_gate_probes_once_and_works_across_event_loops():
    probes = []

    async def probe(api_base, key):
        probes.append(api_base)
        return 2

    gate = ModelGate(ModelSpec(name="m", api_base="http://127.0.0.1:1/v1"), probe=probe)

    async def hold_three():
        async def one():
            async with gate.slot():
                await asyncio.sleep(0.05)

        await asyncio.gather(one(), one(), one())

    asyncio.run(hold_three())
    asyncio.run(hold_three())
    assert probes == ["http://127.0.0.1:1/v1"] and gate.capacity == 2 and gate.peak_in_flight == 2
    assert ModelGate(ModelSpec(name="openai/gpt-4o-mini")).capacity is None  # a provider's model: never probed


def test_max_concurrent_is_validated_and_defaults_from_the_table():
    config = LLMConfig(max_concurrent=2, models=[ModelSpec(name="a"), ModelSpec(name="b", max_concurrent=5)])
    assert [config.effective(m).max_concurrent for m in config.models] == [2, 5]
    with pytest.raises(ValueError, match="max_concurrent"):
        ModelSpec(name="a", max_concurrent=0)
