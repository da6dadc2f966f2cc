"""What to change when a model keeps timing out, from what the run measured of it.

``Advisor`` watches every attempt of one model: the speed of the replies that arrived
(time to the first token, tokens a second), and the current streak of timeouts. When the
streak reaches ``advise_after_timeouts`` it writes one line of advice, attached to that
attempt's record so the run's progress view prints it. The suggestions:

- ``timeout_s``: the silence allowed. Suggested ``max(2 * timeout_s, 3 * slowest first
  token seen)``, rounded up to 5 s: the prompts of a run vary in length, so the first
  token's wait does too;
- ``max_concurrent``: when the server reports no slot count and several requests were in
  flight at once, 1 (or the server's parallel slots): requests beyond its slots wait on
  the server, silently, and time out there;
- ``max_tokens``: how long a full reply takes at the measured rate, ``max_tokens / rate``;
  without streaming ``timeout_s`` must cover that whole time.

The measured rates are reported with the advice, so the user can size the settings.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass, field

from evolve.records import LLMCall

TIMEOUT = "timeout"
OK = "ok"


@dataclass
class ModelPace:
    """The recent speed of one model (last ``window`` replies)."""

    window: int = 20
    first_token_s: deque = field(default_factory=deque)
    tokens_per_s: deque = field(default_factory=deque)

    def add(self, call: LLMCall) -> None:
        for values, value in ((self.first_token_s, call.first_token_s), (self.tokens_per_s, call.tokens_per_s)):
            if value is not None and math.isfinite(value) and value > 0:
                values.append(value)
                while len(values) > self.window:
                    values.popleft()

    @property
    def rate(self) -> float | None:
        """Median tokens a second, or None before any streamed reply."""
        return _median(self.tokens_per_s)

    @property
    def slowest_first_token(self) -> float | None:
        return max(self.first_token_s) if self.first_token_s else None


@dataclass
class Settings:
    """The settings of one model that the advice is about."""

    timeout_s: float
    max_tokens: int | None
    capacity: int | None  # None: unknown / unlimited
    capacity_source: str  # "config" | "server" | "none"
    peak_in_flight: int
    stream: bool


class Advisor:
    """One model's timeout streak and pace; ``observe`` returns advice when it is due."""

    def __init__(self, name: str, threshold: int) -> None:
        self.name = name
        self.threshold = threshold
        self.pace = ModelPace()
        self.streak = 0
        self.started_in_streak = 0  # timed-out attempts that had streamed some tokens

    def observe(self, call: LLMCall, settings: Settings) -> str:
        """Book one attempt; the advice line once the timeout streak reaches the threshold, else ""."""
        if call.outcome == OK:
            self.pace.add(call)
            self.streak = self.started_in_streak = 0
            return ""
        if call.outcome != TIMEOUT:
            return ""
        self.pace.add(call)  # a stalled stream still measured its rate
        self.streak += 1
        self.started_in_streak += call.completion_tokens > 0 and bool(call.reply)
        if self.streak != self.threshold:
            return ""
        return advise(self.name, self.streak, self.started_in_streak, self.pace, settings)


def advise(name: str, streak: int, started: int, pace: ModelPace, settings: Settings) -> str:
    """The advice line (see the module docstring); pure, so it is tested on its own."""
    rate, first = pace.rate, pace.slowest_first_token
    if started:
        what = f"{streak} attempts in a row timed out ({started} stalled mid-reply, {streak - started} before the first token)"
    else:
        what = f"{streak} attempts in a row timed out before the first token"
    measured = []
    if rate is not None:
        measured.append(f"{rate:.1f} tokens/s")
    if first is not None:
        measured.append(f"first token after up to {first:.1f} s")
    facts = f"measured {', '.join(measured)}" if measured else "no reply measured yet"
    fixes = [f"timeout_s = {_suggest_timeout(settings.timeout_s, first)} (now {settings.timeout_s:g})"]
    if settings.capacity is None and settings.peak_in_flight > 1:
        fixes.append(
            f"max_concurrent = 1 or the server's parallel slots ({settings.peak_in_flight} requests were in flight; "
            "the server reports no slot count, so the ones beyond its slots wait there silently)"
        )
    if settings.max_tokens is not None and rate:
        full = settings.max_tokens / rate
        reply = f"max_tokens = {settings.max_tokens} is {full:.0f} s of generation at that rate"
        if not settings.stream and full > settings.timeout_s:
            reply += f", more than timeout_s: set stream = true or timeout_s >= {_round_up(full * 1.5)}"
        fixes.append(reply)
    elif not settings.stream:
        fixes.append("stream = true (then timeout_s bounds silence, not the whole reply)")
    return f"{name}: {what}; {facts}. Try {'; '.join(fixes)} (under [[llm.models]] in problem.toml)."


def _suggest_timeout(timeout_s: float, slowest_first_token: float | None) -> int:
    wanted = 2 * timeout_s
    if slowest_first_token is not None:
        wanted = max(wanted, 3 * slowest_first_token)
    return _round_up(wanted)


def _round_up(seconds: float, step: int = 5) -> int:
    return int(math.ceil(seconds / step) * step)


def _median(values: deque) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    middle = len(ordered) // 2
    return ordered[middle] if len(ordered) % 2 else (ordered[middle - 1] + ordered[middle]) / 2
