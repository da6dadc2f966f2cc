"""How fast a model answers a real prompt, and the settings that follow, for ``evolve models``.

One streamed request per model with the first prompt a run would send (the problem's
seed as the parent, a rewrite task; circle_packing's when no problem is named), capped
at ``tokens`` completion tokens, measures:

- the time to the first token, ``first_token_s``: mostly the server reading the prompt
  (which starts with a fresh line, so no prompt cache shortens it);
- the generation rate, ``tokens_per_s = (n - 1) / (last token - first token)``;
- the server's slot count, where it reports one (``slots.probe_slots``).

From those, ``suggest`` derives settings for ``[[llm.models]]``:

- ``timeout_s = max(30, 3 * first_token_s)`` rounded up to 5 s: a run's prompts carry
  inspirations and feedback, so they are up to a few times longer than the seed's; the
  timeout bounds silence, and the first token is the longest one. Without streaming it must
  also cover a whole reply: ``+ max_tokens / tokens_per_s``;
- ``max_concurrent``: the reported slot count (else left to the user, who knows the server);
- ``max_tokens``: the derived cap for a diff of the seed (``reply_length``), and how long a
  reply of that length takes at the measured rate;
- proposals an hour, at least: ``slots * 3600 / (first_token_s + max_tokens / tokens_per_s)``
  (a reply stopping earlier, or cut once its answer is complete, is faster).
"""

from __future__ import annotations

import math
import secrets
import time
from dataclasses import dataclass

from evolve.config.llm import ModelSpec
from evolve.proposers.base import ProblemBrief, ProgramView, ProposalContext
from evolve.proposers.llm.client import ChatClient, LLMCallError
from evolve.proposers.llm.prompt import build_messages
from evolve.proposers.llm.reply_length import derived_max_tokens

MEASURE_TOKENS = 128


@dataclass(frozen=True)
class Measurement:
    """One model's measured speed (None where it could not be measured) or why it failed."""

    prompt_tokens: int = 0
    completion_tokens: int = 0
    first_token_s: float | None = None
    tokens_per_s: float | None = None
    total_s: float = 0.0
    error: str = ""


@dataclass(frozen=True)
class Suggestion:
    timeout_s: int
    max_tokens: int
    reply_s: float | None  # seconds a reply of max_tokens takes at the measured rate
    max_concurrent: int | None
    proposals_per_hour: float | None

    def toml(self, spec: ModelSpec) -> str:
        """The ``[[llm.models]]`` table for ``spec`` with these settings."""
        lines = ["[[llm.models]]", f'name = "{spec.name}"']
        if spec.api_base:
            lines.append(f'api_base = "{spec.api_base}"')
        lines.append(f"timeout_s = {self.timeout_s}")
        if self.max_concurrent is not None:
            lines.append(f"max_concurrent = {self.max_concurrent}")
        lines.append(f"max_tokens = {self.max_tokens}")
        return "\n".join(lines)


def measurement_messages(name: str, description: str, objective: str, maximize: bool, seed_code: str) -> list[dict[str, str]]:
    """The first prompt of a run: the seed as the parent, asked for a rewrite."""
    context = ProposalContext(
        problem=ProblemBrief(name, description, objective, maximize),
        parent=ProgramView(1, seed_code, 0.0, {}, ""), inspirations=(), island=0, seed=0,
    )
    messages = build_messages(context, "rewrite")
    # A fresh first line, so no server answers from a prompt cache (llama.cpp keeps the last
    # prompt's prefix): the first token then measures reading the whole prompt, the slow case.
    nonce = f"(speed measurement {secrets.token_hex(4)})\n"
    return [{**messages[0], "content": nonce + messages[0]["content"]}, *messages[1:]]


async def measure(client: ChatClient, messages: list[dict[str, str]], *, timeout: float,
                  tokens: int = MEASURE_TOKENS) -> Measurement:
    """One streamed request capped at ``tokens``; its timings (see the module docstring)."""
    started = time.perf_counter()
    try:
        result = await client.complete(messages, timeout=timeout, max_tokens=tokens)
    except LLMCallError as exc:
        return Measurement(total_s=time.perf_counter() - started, error=f"{exc.outcome}: {exc.message}")
    total = time.perf_counter() - started
    rate = result.tokens_per_s
    if rate is None and not result.streamed and result.completion_tokens and total > 0:
        rate = result.completion_tokens / total  # not streamed: the prompt's time is in it too
    return Measurement(result.prompt_tokens, result.completion_tokens, result.first_token_s, rate, total)


def suggest(measured: Measurement, seed_code: str, slots: int | None, *, stream: bool = True,
            floor: int = 512, cap: int = 4096) -> Suggestion:
    """Settings that fit the measured speed (see the module docstring)."""
    max_tokens = derived_max_tokens("diff", seed_code, floor=floor, cap=cap)
    first = measured.first_token_s if measured.first_token_s is not None else measured.total_s
    reply_s = max_tokens / measured.tokens_per_s if measured.tokens_per_s else None
    wanted = max(30.0, 3 * first)
    if not stream and reply_s is not None:
        wanted += reply_s
    per_hour = None
    if reply_s is not None:
        per_hour = (slots or 1) * 3600 / (first + reply_s)
    return Suggestion(int(math.ceil(wanted / 5) * 5), max_tokens, reply_s, slots, per_hour)
