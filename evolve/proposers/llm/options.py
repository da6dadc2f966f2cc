"""What the command line needs of the LLM path, as three functions (so it never reaches inside).

* ``apply_cli_options``: ``--model``, ``--api-base``, ``--price`` and the budget options
  applied to an ``LLMConfig``, validated;
* ``check_models``: fail before a run starts when the models cannot be used, and name the
  unpriced ones;
* ``ping_models``: one tiny request per model, for ``evolve models``.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError

from evolve.config import ConfigError, LLMConfig, merge_cli_models


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
    """One model's answer to a ping, for ``evolve models``."""

    name: str
    route: str
    endpoint: str
    price: str
    ok: bool
    latency_s: float
    reply: str


def ping_models(llm: LLMConfig, timeout: float) -> list[ModelHealth]:
    """Ask every model of ``llm`` for a one-word reply (no retries, no budget); ConfigError if none is set."""
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

    async def ping_all() -> list[tuple[bool, float, str]]:
        try:
            return [await caller.ping(name, timeout) for name in caller.specs]
        finally:
            await caller.aclose()

    health = []
    for (name, spec), (ok, latency, text) in zip(caller.specs.items(), asyncio.run(ping_all())):
        price = caller.prices[name]
        cost = f"{price.input_per_m:g} / {price.output_per_m:g} ({price.source})" if price.known else "unknown (cost 0)"
        health.append(ModelHealth(name, spec.resolved_route(), spec.api_base or "provider default", cost, ok, latency, text))
    return health
