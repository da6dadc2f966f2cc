"""What the command line needs of the LLM path, as three functions (so it never reaches inside).

* ``apply_cli_options``: ``--model``, ``--api-base``, ``--price`` and the budget options
  applied to an ``LLMConfig``, validated;
* ``check_models``: fail before a run starts when the models cannot be used, and name the
  unpriced ones;
* ``ping_models``: one tiny request per model, for ``evolve models``, and optionally a
  measured request on a problem's first prompt with the settings that fit (``measure``).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError

from evolve.config import ConfigError, LLMConfig, merge_cli_models
from evolve.proposers.llm.measure import MEASURE_TOKENS, Measurement, Suggestion, measure, measurement_messages, suggest


def apply_cli_options(
    llm: LLMConfig, models: list[str] | None, api_base: str | None, price: str | None = None, **overrides: Any
) -> LLMConfig:
    """``llm`` with the CLI's options applied; ConfigError (or ValueError) naming the option."""
    from evolve.proposers.llm.pricing import parse_price, with_default_price

    try:
        updated = merge_cli_models(llm, list(models or []), api_base).updated(**overrides)
        if price:
            updated = with_default_price(updated, *parse_price(price))
    except ValidationError as exc:
        raise ConfigError("invalid LLM options: " + "; ".join(e["msg"] for e in exc.errors())) from None
    return updated


def check_models(llm: LLMConfig) -> list[str]:
    """Build the LLM proposer once (a missing key or extra, or --max-cost without prices, is a
    ConfigError now rather than mid-run); return the models that have no known price."""
    from evolve.proposers.llm.client import LLMCallError
    from evolve.proposers.llm.proposer import LLMProposer

    try:
        return LLMProposer(llm).unpriced_models
    except (LLMCallError, ValueError, OSError) as exc:
        raise ConfigError(f"llm settings: {exc}") from None


@dataclass(frozen=True)
class ModelHealth:
    """One model's answer to a ping and, when measured, its speed and the settings that fit it."""

    name: str
    route: str
    endpoint: str
    price: str
    ok: bool
    latency_s: float
    reply: str
    slots: int | None = None
    measurement: Measurement | None = None
    suggestion: Suggestion | None = None
    toml: str = ""


@dataclass(frozen=True)
class MeasurePrompt:
    """What the measurement request is made of: a problem's brief and seed program."""

    name: str
    description: str
    objective: str
    maximize: bool
    seed_code: str


def ping_models(
    llm: LLMConfig, timeout: float, *, measure_with: MeasurePrompt | None = None, tokens: int = MEASURE_TOKENS
) -> list[ModelHealth]:
    """Ask every model of ``llm`` for a one-word reply (no retries, no budget); ConfigError if none is set.

    With ``measure_with``, each model that answered is also measured on that problem's first
    prompt (``evolve.proposers.llm.measure``) and its server's slots are probed.
    """
    from evolve.proposers.llm.caller import Caller
    from evolve.proposers.llm.client import LLMCallError

    if not llm.models:
        raise ConfigError(
            "no model configured: pass --model NAME (and --api-base URL for a local server), "
            "or a problem whose problem.toml lists llm.models"
        )
    try:
        caller = Caller(llm.model_copy(update={"record": None, "replay": None}))
    except (LLMCallError, ValueError) as exc:
        raise ConfigError(str(exc)) from None

    async def check(name: str) -> tuple[tuple[bool, float, str], int | None, Measurement | None]:
        pinged = await caller.ping(name, timeout)
        if not pinged[0] or measure_with is None:
            return pinged, None, None
        slots = await caller.gates[name].resolve()
        messages = measurement_messages(
            measure_with.name, measure_with.description, measure_with.objective, measure_with.maximize,
            measure_with.seed_code,
        )
        return pinged, slots, await measure(caller.clients[name], messages, timeout=timeout, tokens=tokens)

    async def check_all() -> list[tuple[tuple[bool, float, str], int | None, Measurement | None]]:
        try:
            return [await check(name) for name in caller.specs]
        finally:
            await caller.aclose()

    health = []
    for (name, spec), ((ok, latency, text), slots, measured) in zip(caller.specs.items(), asyncio.run(check_all())):
        price = caller.prices[name]
        cost = f"{price.input_per_m:g} / {price.output_per_m:g} ({price.source})" if price.known else "unknown (cost 0)"
        suggestion, toml = None, ""
        if measured is not None and not measured.error and measure_with is not None:
            suggestion = suggest(measured, measure_with.seed_code, slots, stream=spec.stream is not False,
                                 floor=llm.max_tokens_floor, cap=llm.max_tokens_cap)
            toml = suggestion.toml(spec)
        health.append(ModelHealth(name, spec.resolved_route(), spec.api_base or "provider default", cost, ok, latency,
                                  text, slots, measured, suggestion, toml))
    return health
