"""What a call costs: dollars = prompt_tokens * price_in + completion_tokens * price_out.

Prices are dollars per million tokens. A model's own ``price_in_per_m``/``price_out_per_m``
win; then this small built-in table of list prices (which drift: override them when they
do); then litellm's bundled cost map when litellm is installed. A model behind an
``api_base`` (a local server, a proxy) skips both tables: its price is whatever the spec
says, since serving gpt-4o-mini's name does not make a local vLLM cost what OpenAI charges.
A model found in none of
them costs 0 and is reported as unpriced, because a silent guess would make ``--max-cost``
lie; ``LLMProposer`` refuses a ``max_cost`` budget for an unpriced model.
"""

from __future__ import annotations

from dataclasses import dataclass

from evolve.config.llm import LLMConfig, ModelSpec

# (input, output) dollars per 1M tokens, list prices of the provider's API.
BUILTIN_PRICES: dict[str, tuple[float, float]] = {
    "gpt-4o-mini": (0.15, 0.60),
    "gpt-4o": (2.50, 10.00),
    "gpt-4.1": (2.00, 8.00),
    "gpt-4.1-mini": (0.40, 1.60),
    "gpt-4.1-nano": (0.10, 0.40),
    "o3-mini": (1.10, 4.40),
    "o4-mini": (1.10, 4.40),
    "claude-3-5-haiku-latest": (0.80, 4.00),
    "claude-3-5-sonnet-latest": (3.00, 15.00),
    "claude-sonnet-4-20250514": (3.00, 15.00),
    "gemini-2.0-flash": (0.10, 0.40),
    "gemini-2.5-flash": (0.30, 2.50),
    "gemini-2.5-pro": (1.25, 10.00),
    "deepseek-chat": (0.27, 1.10),
}


@dataclass(frozen=True)
class Price:
    input_per_m: float
    output_per_m: float
    source: str  # "config" | "builtin" | "litellm" | "unknown"

    @property
    def known(self) -> bool:
        return self.source != "unknown"

    def cost(self, prompt_tokens: int, completion_tokens: int) -> float:
        return (prompt_tokens * self.input_per_m + completion_tokens * self.output_per_m) / 1e6


def price_for(spec: ModelSpec) -> Price:
    """The price of ``spec``; ``Price.known`` is False when no source has one."""
    if spec.price_in_per_m is not None or spec.price_out_per_m is not None:
        return Price(spec.price_in_per_m or 0.0, spec.price_out_per_m or 0.0, "config")
    if spec.gguf:
        return Price(0.0, 0.0, "local")  # served by evolve itself: no bill
    short = spec.name.split("/", 1)[1] if "/" in spec.name else spec.name
    if short in BUILTIN_PRICES and not spec.api_base:
        return Price(*BUILTIN_PRICES[short], "builtin")
    litellm_price = _litellm_price(spec.name) if not spec.api_base else None
    if litellm_price is not None:
        return Price(*litellm_price, "litellm")
    return Price(0.0, 0.0, "unknown")


def _litellm_price(name: str) -> tuple[float, float] | None:
    """Look ``name`` up in litellm's bundled cost map, if litellm is installed (no network)."""
    from evolve.proposers.llm.client import import_litellm

    litellm = import_litellm(required=False)
    if litellm is None:
        return None
    info = litellm.model_cost.get(name) or litellm.model_cost.get(name.split("/", 1)[-1])
    if not info or "input_cost_per_token" not in info:
        return None
    return float(info["input_cost_per_token"]) * 1e6, float(info.get("output_cost_per_token", 0.0)) * 1e6


def with_default_price(config: LLMConfig, input_per_m: float, output_per_m: float) -> LLMConfig:
    """``config`` with this price given to every model that has none (CLI ``--price``)."""
    models = [
        m if price_for(config.effective(m)).known else m.model_copy(update={"price_in_per_m": input_per_m, "price_out_per_m": output_per_m})
        for m in config.models
    ]
    return config.model_copy(update={"models": models})


def parse_price(text: str) -> tuple[float, float]:
    """``IN,OUT`` dollars per 1M tokens, e.g. ``0.15,0.6``."""
    parts = text.replace("/", ",").split(",")
    try:
        prompt, completion = (float(p) for p in parts)
    except ValueError:
        raise ValueError(f"--price {text!r}: expected IN,OUT in dollars per 1M tokens, e.g. 0.15,0.6") from None
    if prompt < 0 or completion < 0:
        raise ValueError(f"--price {text!r}: prices cannot be negative")
    return prompt, completion
