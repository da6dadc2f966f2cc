"""Timing a candidate function from outside the sandbox.

The clock runs in the trusted process around ``worker.call`` (``worker.stats.wall_s``), so
a candidate that patches ``time`` or sleeps in another thread cannot shorten its own
figure. What is measured is the whole round trip: encoding the arguments, the candidate's
computation, encoding and decoding the result. Nothing is subtracted, because the transfer
cost cannot be measured separately for an arbitrary candidate; ``bench/`` scripts report
that floor for the problems that time calls.

Shared machines are noisy in one direction only (interference makes a call slower, never
faster), so the estimator is the minimum over repeats on a persistent, already-warm
worker.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sandbox import Worker


@dataclass
class Timings:
    """Wall-clock seconds of every timed call of one function; ``best`` is the estimator."""

    seconds: list[float] = field(default_factory=list)

    def add(self, seconds: float) -> None:
        self.seconds.append(seconds)

    @property
    def best(self) -> float:
        return min(self.seconds)

    @property
    def worst(self) -> float:
        return max(self.seconds)


def timed_call(worker: Worker, function: str, *args: Any, timings: Timings, timeout: float | None = None) -> Any:
    """Call ``function`` on ``worker``, record its round-trip wall time in ``timings``, return its result."""
    try:
        return worker.call(function, *args, timeout=timeout)
    finally:
        timings.add(worker.stats.wall_s)


def repeat_timing(
    worker: Worker, function: str, *args: Any, timings: Timings, repeats: int, budget_s: float, timeout: float | None = None
) -> None:
    """Call ``function`` again up to ``repeats`` times, stopping early once ``budget_s`` of calls are spent.

    Results are discarded: only the timings matter. A slow candidate is timed fewer times
    (its figure is dominated by its own cost, not by noise); a fast one gets all repeats.
    """
    spent = 0.0
    for _ in range(repeats):
        if spent >= budget_s:
            break
        timed_call(worker, function, *args, timings=timings, timeout=timeout)
        spent += timings.seconds[-1]
