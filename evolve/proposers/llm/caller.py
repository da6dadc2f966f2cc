"""One logical LLM call: budget, circuit breaker, record/replay, timeout, retries, accounting.

``Caller.call(model, messages)`` makes at most ``retries + 1`` attempts and returns the
reply (or why there is none) together with one *row* per attempt, the dicts the run
database stores in ``llm_calls``. Invariant: every attempt that reached the network (or
the replay file) is one row and one call of the ``Budget``, so on resume
``Budget.restore(sum(cost), count(rows))`` continues exactly, and ``--max-calls N`` means
at most N rows. An attempt that never left (budget refused, circuit open) is no row: the
proposal's own record says why it has no code. (One exception: a call cancelled mid-flight
at shutdown counts against the live budget, since it may be billed, but leaves no row.)

Each attempt first takes one of the model's slots (``slots.ModelGate``), so no more
requests are open to a server than it serves at once; the wait is ``LLMCall.queued_s`` and
does not count against ``timeout_s``, and a retry's backoff is slept outside the slot. A
timeout is retried at most ``timeout_retries`` times (of the ``retries``): a model that
was silent for ``timeout_s`` twice is too slow for that timeout, and waiting a third time
would only hide it. A timed-out attempt that had streamed tokens records them and their
estimated cost. Every attempt also feeds the model's ``advice.Advisor``, whose advice line
(after ``advise_after_timeouts`` timeouts in a row) rides on that attempt's row.

Rows (``evolve.records.LLMCall``) carry the prompt and reply texts; the database keeps only
their sha256 and sizes when the run says ``store_text = false`` (``ProposalUsage.store_text``).
"""

from __future__ import annotations

import asyncio
import random
import time
from dataclasses import dataclass, field
from typing import Any, Callable

from evolve.proposers.llm.advice import Advisor, Settings
from evolve.proposers.llm.answer import AnswerWatch
from evolve.proposers.llm.budget import Budget, BudgetExhausted
from evolve.proposers.llm.cache import ReplayMiss, ReplyCache
from evolve.proposers.llm.client import OK, TIMEOUT, ChatClient, ChatResult, LLMCallError, api_key_for, make_client
from evolve.config.llm import LLMConfig, ModelSpec
from evolve.proposers.llm.pricing import Price, price_for
from evolve.proposers.llm.prompt import render_text
from evolve.proposers.llm.reliability import CircuitBreaker, RetryPolicy
from evolve.proposers.llm.slots import ModelGate, Probe, probe_slots
from evolve.records import LLMCall

BUDGET = "budget"
CIRCUIT_OPEN = "circuit_open"
REPLAY_MISS = "replay_miss"
DEFAULT_COMPLETION_TOKENS = 2048  # budget estimate before any reply was seen
PING_TOKENS = 16


@dataclass
class CallOutcome:
    result: ChatResult | None
    outcome: str  # "ok" or the last attempt's failure outcome (or budget / circuit_open)
    error: str = ""
    rows: list[LLMCall] = field(default_factory=list)
    cost: float = 0.0


class Caller:
    """Calls the configured models; owns their clients, gates, breakers, prices, the budget and the cache."""

    def __init__(
        self,
        config: LLMConfig,
        *,
        client_factory: Callable[[ModelSpec], ChatClient] = make_client,
        sleep: Callable[[float], Any] = asyncio.sleep,
        probe: Probe = probe_slots,
    ) -> None:
        self.config = config
        self.specs = {m.name: config.effective(m) for m in config.models}
        self.prices: dict[str, Price] = {name: price_for(spec) for name, spec in self.specs.items()}
        self.breakers = {
            name: CircuitBreaker(config.breaker_failures, config.breaker_cooldown_s, max_trials=config.breaker_trials)
            for name in self.specs
        }
        self.advisors = {name: Advisor(name, config.advise_after_timeouts) for name in self.specs}
        self.policy = RetryPolicy(config.retries, config.backoff_s, config.max_backoff_s)
        self.budget = Budget(config.max_cost, config.max_calls)
        self.cache: ReplyCache | None = None
        if config.replay:
            self.cache = ReplyCache(config.replay, "replay")
        elif config.record:
            self.cache = ReplyCache(config.record, "record")
        self._sleep = sleep
        self._max_completion: dict[str, int] = {}
        self._last_failure: dict[str, str] = {}
        # A replayed run asks no server, so its gates neither probe nor limit.
        self.gates = {
            name: ModelGate(spec.model_copy(update={"api_base": None}) if self.replaying else spec, api_key_for(spec), probe)
            for name, spec in self.specs.items()
        }
        # Clients are made up front so a missing key or extra fails before the run, not mid-way.
        self.clients: dict[str, ChatClient] = {}
        if not self.replaying:
            self.clients = {name: client_factory(spec) for name, spec in self.specs.items()}

    @property
    def replaying(self) -> bool:
        return self.cache is not None and self.cache.mode == "replay"

    def usable(self) -> list[str]:
        """Models that would take a call now: circuit closed, or half-open with no trial in flight."""
        return [name for name, breaker in self.breakers.items() if breaker.accepting]

    def given_up(self) -> list[str]:
        """Models whose circuit failed ``breaker_trials`` trials in a row: no more calls this session."""
        return [name for name, breaker in self.breakers.items() if breaker.given_up]

    def why_given_up(self) -> str:
        """Why every model is given up, for the run's stop reason."""
        parts = [f"{name} ({self.breakers[name].failed_calls} failed calls in a row; last: {self._last_failure.get(name, '?')})"
                 for name in self.given_up()]
        return "every model stopped answering: " + "; ".join(parts)

    def seconds_until_any(self) -> float:
        return min((b.seconds_until_trial() for b in self.breakers.values()), default=0.0)

    async def wait_for_trial(self, cap: float) -> None:
        """Sleep until some model's circuit lets a trial through (at most ``cap`` seconds, at least a short poll)."""
        await self._sleep(max(0.05, min(self.seconds_until_any(), cap)))

    def estimate(self, name: str, prompt_chars: int, max_tokens: int | None = None) -> float:
        """Dollars one call is likely to cost at most: prompt at 4 chars/token plus a full-length reply."""
        spec = self.specs[name]
        completion = max_tokens or spec.max_tokens or self._max_completion.get(name, DEFAULT_COMPLETION_TOKENS)
        return self.prices[name].cost(prompt_chars // 4 + 1, completion)

    async def call(
        self, name: str, messages: list[dict[str, str]], rng: random.Random, *,
        max_tokens: int | None = None, watch: AnswerWatch | None = None,
    ) -> CallOutcome:
        """One logical call of ``name``; ``max_tokens`` caps the reply, ``watch`` may end it early."""
        spec, breaker = self.specs[name], self.breakers[name]
        admission = breaker.admit()
        trial = admission == "trial"
        if admission is None:
            wait = breaker.seconds_until_trial()
            last = self._last_failure.get(name)
            why = f" after {breaker.failed_calls} failed calls in a row (last: {last})" if last else " after repeated failures"
            return CallOutcome(None, CIRCUIT_OPEN, f"model {name}: circuit open{why}; next trial in {wait:.0f}s")
        prompt = render_text(messages)
        estimate = self.estimate(name, len(prompt), max_tokens)
        rows: list[LLMCall] = []
        total = 0.0
        timeouts = 0
        for attempt in range(self.policy.retries + 1):
            async with self.gates[name].slot() as queued:
                try:
                    reservation = await self.budget.reserve(estimate)
                except BudgetExhausted as exc:
                    breaker.cancel(trial)
                    return CallOutcome(None, BUDGET, str(exc), rows, total)
                started = time.perf_counter()
                row = LLMCall(model=name, prompt=prompt, created_at=time.time(), attempt=attempt, queued_s=queued)
                try:
                    result, cost = await self._attempt(name, spec, messages, row, max_tokens, watch)
                except ReplayMiss as exc:
                    self.budget.settle(reservation, 0.0)
                    breaker.cancel(trial)
                    rows.append(_finish(row, started, outcome=REPLAY_MISS, error=str(exc)))
                    return CallOutcome(None, REPLAY_MISS, str(exc), rows, total)
                except LLMCallError as exc:
                    cost = self._book_failure(name, row, started, exc)
                    self.budget.settle(reservation, cost)
                    total += cost
                    rows.append(row)
                    timeouts += exc.outcome == TIMEOUT
                    retry = exc.retryable and attempt < self.policy.retries
                    if exc.outcome == TIMEOUT and timeouts > self.config.timeout_retries:
                        retry = False
                    if not retry:
                        breaker.record_failure(trial)
                        tries = f" after {attempt + 1} attempts" if attempt else ""
                        self._last_failure[name] = f"{exc.outcome}: {exc.message}"
                        return CallOutcome(None, exc.outcome, f"model {name}{tries}: {exc.message}", rows, total)
                    delay = self.policy.delay(attempt, exc.retry_after, rng)
                except BaseException:  # cancelled mid-flight: the request may still be billed, so it counts
                    self.budget.settle(reservation, 0.0)
                    breaker.cancel(trial)
                    raise
                else:
                    self.budget.settle(reservation, cost)
                    total += cost
                    self._max_completion[name] = max(self._max_completion.get(name, 0), result.completion_tokens)
                    if self.cache is not None and not self.replaying:
                        self.cache.store(name, messages, result, cost)
                    breaker.record_success(trial)
                    rows.append(
                        _finish(
                            row, started, outcome=OK, reply=result.text, prompt_tokens=result.prompt_tokens,
                            completion_tokens=result.completion_tokens, cost=cost, finish_reason=result.finish_reason,
                            usage_reported=result.usage_reported, first_token_s=result.first_token_s,
                            tokens_per_s=result.tokens_per_s,
                        )
                    )
                    self._advise(name, row, max_tokens)
                    return CallOutcome(result, OK, "", rows, total)
            await self._sleep(delay)  # outside the gate: a retrying call does not hold the model's slot
        raise AssertionError("unreachable: the last attempt returns")

    def _book_failure(self, name: str, row: LLMCall, started: float, exc: LLMCallError) -> float:
        """Fill a failed attempt's row (with what streamed before it failed); its likely cost.

        A stream that delivered tokens was processed and probably billed: its estimated
        tokens are priced. One that delivered nothing costs 0, as before streaming."""
        partial = exc.partial
        cost = 0.0
        fields: dict[str, Any] = {"outcome": exc.outcome, "error": exc.message}
        if partial is not None and partial.text:
            cost = self.prices[name].cost(partial.prompt_tokens, partial.completion_tokens)
            fields.update(
                reply=partial.text, prompt_tokens=partial.prompt_tokens, completion_tokens=partial.completion_tokens,
                cost=cost, usage_reported=False, first_token_s=partial.first_token_s, tokens_per_s=partial.tokens_per_s,
            )
        _finish(row, started, **fields)
        self._advise(name, row, None)
        return cost

    def _advise(self, name: str, row: LLMCall, max_tokens: int | None) -> None:
        spec, gate = self.specs[name], self.gates[name]
        settings = Settings(
            timeout_s=spec.timeout_s or self.config.timeout_s, max_tokens=max_tokens or spec.max_tokens,
            capacity=gate.capacity, capacity_source=gate.source, peak_in_flight=gate.peak_in_flight,
            stream=spec.stream is not False,
        )
        row.advice = self.advisors[name].observe(row, settings)

    async def _attempt(
        self, name: str, spec: ModelSpec, messages: list[dict[str, str]], row: LLMCall,
        max_tokens: int | None = None, watch: AnswerWatch | None = None,
    ) -> tuple[ChatResult, float]:
        if self.replaying:
            assert self.cache is not None
            row.replayed = True
            return self.cache.lookup(name, messages)
        result = await self.clients[name].complete(
            messages, timeout=spec.timeout_s or self.config.timeout_s, max_tokens=max_tokens, watch=watch
        )
        return result, self.prices[name].cost(result.prompt_tokens, result.completion_tokens)

    async def ping(self, name: str, timeout: float | None = None) -> tuple[bool, float, str]:
        """One tiny request, no retries, no budget: (answered, latency in seconds, reply or error).

        Behind an api_base the reply is capped at ``PING_TOKENS``: a local model that does not
        stop would otherwise hold the server until its context is full."""
        from evolve.proposers.llm.templates import PING

        spec = self.specs[name]
        client = self.clients.get(name)
        if client is None:
            return False, 0.0, "replay mode: no network client"
        started = time.perf_counter()
        try:
            result = await client.complete(
                [{"role": "user", "content": PING}], timeout=timeout or spec.timeout_s or 30.0,
                max_tokens=spec.max_tokens if not spec.api_base else min(spec.max_tokens or PING_TOKENS, PING_TOKENS),
            )
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
