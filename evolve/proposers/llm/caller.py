"""One logical LLM call: budget, circuit breaker, record/replay, timeout, retries, accounting.

``Caller.call(model, messages)`` makes at most ``retries + 1`` attempts and returns the
reply (or why there is none) together with one *row* per attempt, the dicts the run
database stores in ``llm_calls``. Invariant: every attempt that reached the network (or
the replay file) is one row and one call of the ``Budget``, so on resume
``Budget.restore(sum(cost), count(rows))`` continues exactly, and ``--max-calls N`` means
at most N rows. An attempt that never left (budget refused, circuit open) is no row: the
proposal's own record says why it has no code. (One exception: a call cancelled mid-flight
at shutdown counts against the live budget, since it may be billed, but leaves no row.)

Rows (``evolve.records.LLMCall``) carry the prompt and reply texts; the database keeps only
their sha256 and sizes when the run says ``store_text = false`` (``ProposalUsage.store_text``).
"""

from __future__ import annotations

import asyncio
import random
import time
from dataclasses import dataclass, field
from typing import Any, Callable

from evolve.proposers.llm.budget import Budget, BudgetExhausted
from evolve.proposers.llm.cache import ReplayMiss, ReplyCache
from evolve.proposers.llm.client import OK, ChatClient, ChatResult, LLMCallError, make_client
from evolve.config.llm import LLMConfig, ModelSpec
from evolve.proposers.llm.pricing import Price, price_for
from evolve.proposers.llm.prompt import render_text
from evolve.proposers.llm.reliability import OPEN, CircuitBreaker, RetryPolicy
from evolve.records import LLMCall

BUDGET = "budget"
CIRCUIT_OPEN = "circuit_open"
REPLAY_MISS = "replay_miss"
DEFAULT_COMPLETION_TOKENS = 2048  # budget estimate before any reply was seen


@dataclass
class CallOutcome:
    result: ChatResult | None
    outcome: str  # "ok" or the last attempt's failure outcome (or budget / circuit_open)
    error: str = ""
    rows: list[LLMCall] = field(default_factory=list)
    cost: float = 0.0


class Caller:
    """Calls the configured models; owns their clients, breakers, prices, the budget and the cache."""

    def __init__(
        self,
        config: LLMConfig,
        *,
        client_factory: Callable[[ModelSpec], ChatClient] = make_client,
        sleep: Callable[[float], Any] = asyncio.sleep,
    ) -> None:
        self.config = config
        self.specs = {m.name: config.effective(m) for m in config.models}
        self.prices: dict[str, Price] = {name: price_for(spec) for name, spec in self.specs.items()}
        self.breakers = {
            name: CircuitBreaker(config.breaker_failures, config.breaker_cooldown_s) for name in self.specs
        }
        self.policy = RetryPolicy(config.retries, config.backoff_s, config.max_backoff_s)
        self.budget = Budget(config.max_cost, config.max_calls)
        self.cache: ReplyCache | None = None
        if config.replay:
            self.cache = ReplyCache(config.replay, "replay")
        elif config.record:
            self.cache = ReplyCache(config.record, "record")
        self._sleep = sleep
        self._max_completion: dict[str, int] = {}
        # Clients are made up front so a missing key or extra fails before the run, not mid-way.
        self.clients: dict[str, ChatClient] = {}
        if not (self.cache and self.cache.mode == "replay"):
            self.clients = {name: client_factory(spec) for name, spec in self.specs.items()}

    @property
    def replaying(self) -> bool:
        return self.cache is not None and self.cache.mode == "replay"

    def usable(self) -> list[str]:
        """Models whose circuit is not open (closed, or half-open awaiting a trial)."""
        return [name for name, breaker in self.breakers.items() if breaker.state != OPEN]

    def seconds_until_any(self) -> float:
        return min((b.seconds_until_trial() for b in self.breakers.values()), default=0.0)

    async def wait_for_trial(self, cap: float) -> None:
        """Sleep until some model's circuit lets a trial through (at most ``cap`` seconds)."""
        await self._sleep(min(self.seconds_until_any(), cap))

    def estimate(self, name: str, prompt_chars: int) -> float:
        """Dollars one call is likely to cost at most: prompt at 4 chars/token plus a full-length reply."""
        spec = self.specs[name]
        completion = spec.max_tokens or self._max_completion.get(name, DEFAULT_COMPLETION_TOKENS)
        return self.prices[name].cost(prompt_chars // 4 + 1, completion)

    async def call(self, name: str, messages: list[dict[str, str]], rng: random.Random) -> CallOutcome:
        spec, breaker = self.specs[name], self.breakers[name]
        if not breaker.allow():
            wait = breaker.seconds_until_trial()
            return CallOutcome(None, CIRCUIT_OPEN, f"model {name}: circuit open after repeated failures; next trial in {wait:.0f}s")
        prompt = render_text(messages)
        estimate = self.estimate(name, len(prompt))
        rows: list[LLMCall] = []
        total = 0.0
        for attempt in range(self.policy.retries + 1):
            try:
                reservation = await self.budget.reserve(estimate)
            except BudgetExhausted as exc:
                breaker.cancel()
                return CallOutcome(None, BUDGET, str(exc), rows, total)
            started = time.perf_counter()
            row = LLMCall(model=name, prompt=prompt, created_at=time.time(), attempt=attempt)
            try:
                result, cost = await self._attempt(name, spec, messages, row)
            except ReplayMiss as exc:
                self.budget.settle(reservation, 0.0)
                breaker.cancel()
                rows.append(_finish(row, started, outcome=REPLAY_MISS, error=str(exc)))
                return CallOutcome(None, REPLAY_MISS, str(exc), rows, total)
            except LLMCallError as exc:
                self.budget.settle(reservation, 0.0)
                rows.append(_finish(row, started, outcome=exc.outcome, error=exc.message))
                if not exc.retryable or attempt == self.policy.retries:
                    breaker.record_failure()
                    tries = f" after {attempt + 1} attempts" if attempt else ""
                    return CallOutcome(None, exc.outcome, f"model {name}{tries}: {exc.message}", rows, total)
                await self._sleep(self.policy.delay(attempt, exc.retry_after, rng))
                continue
            except BaseException:  # cancelled mid-flight: the request may still be billed, so it counts
                self.budget.settle(reservation, 0.0)
                breaker.cancel()
                raise
            self.budget.settle(reservation, cost)
            total += cost
            self._max_completion[name] = max(self._max_completion.get(name, 0), result.completion_tokens)
            if self.cache is not None and not self.replaying:
                self.cache.store(name, messages, result, cost)
            breaker.record_success()
            rows.append(
                _finish(
                    row, started, outcome=OK, reply=result.text, prompt_tokens=result.prompt_tokens,
                    completion_tokens=result.completion_tokens, cost=cost, finish_reason=result.finish_reason,
                    usage_reported=result.usage_reported,
                )
            )
            return CallOutcome(result, OK, "", rows, total)
        raise AssertionError("unreachable: the last attempt returns")

    async def _attempt(
        self, name: str, spec: ModelSpec, messages: list[dict[str, str]], row: LLMCall
    ) -> tuple[ChatResult, float]:
        if self.replaying:
            assert self.cache is not None
            row.replayed = True
            return self.cache.lookup(name, messages)
        result = await self.clients[name].complete(messages, timeout=spec.timeout_s or self.config.timeout_s)
        return result, self.prices[name].cost(result.prompt_tokens, result.completion_tokens)

    async def ping(self, name: str, timeout: float | None = None) -> tuple[bool, float, str]:
        """One tiny request, no retries, no budget: (answered, latency in seconds, reply or error)."""
        from evolve.proposers.llm.templates import PING

        spec = self.specs[name]
        client = self.clients.get(name)
        if client is None:
            return False, 0.0, "replay mode: no network client"
        started = time.perf_counter()
        try:
            result = await client.complete([{"role": "user", "content": PING}], timeout=timeout or spec.timeout_s or 30.0)
        except LLMCallError as exc:
            return False, time.perf_counter() - started, f"{exc.outcome}: {exc.message}"
        return True, time.perf_counter() - started, result.text.strip()[:80]

    async def aclose(self) -> None:
        for client in self.clients.values():
            await client.aclose()


def _finish(row: LLMCall, started: float, **fields: Any) -> LLMCall:
    for name, value in fields.items():
        setattr(row, name, value)
    row.latency_s = time.perf_counter() - started
    return row
