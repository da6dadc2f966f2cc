"""Retry delays and per-model circuit breakers: a flaky provider slows a run, never kills it.

Retry delay before retry ``k`` (k = 0, 1, ...) is ``min(cap, base * 2**k) * U(0.5, 1)``
(jittered exponential backoff, so concurrent proposals do not retry in lockstep), or the
server's ``Retry-After`` when it sends one, capped at ``cap`` as well so one bad header
cannot park a run for hours.

A circuit breaker counts consecutive failed *calls* (a call fails when all its retries
failed). At ``threshold`` failures it opens: the model is skipped for ``cooldown_s``.
Then it is half-open: one trial call is let through; success closes it, failure opens it
again with the cooldown doubled (up to 8x), so a dead endpoint costs a probe now and
then instead of a stream of timeouts. After ``max_trials`` failed trials in a row the
model is *given up*: its circuit stays open for the rest of the session (``given_up``),
so a run whose every model is gone can stop and say so instead of probing forever.

While a half-open trial is in flight the model is not ``accepting``: other proposals wait
for the trial's verdict rather than being refused on the spot, one after another.
"""

from __future__ import annotations

import random
import threading
import time
from dataclasses import dataclass


@dataclass(frozen=True)
class RetryPolicy:
    retries: int = 3
    backoff_s: float = 1.0
    max_backoff_s: float = 60.0

    def delay(self, retry: int, retry_after: float | None, rng: random.Random) -> float:
        """Seconds to wait before retry number ``retry`` (0-based)."""
        if retry_after is not None:
            return min(self.max_backoff_s, max(0.0, retry_after))
        base = min(self.max_backoff_s, self.backoff_s * (2**retry))
        return base * rng.uniform(0.5, 1.0)


CLOSED, OPEN, HALF_OPEN = "closed", "open", "half_open"


class CircuitBreaker:
    """Consecutive-failure breaker for one model; thread-safe, clock injectable for tests."""

    def __init__(
        self, threshold: int = 3, cooldown_s: float = 60.0, clock=time.monotonic, max_trials: int | None = None
    ) -> None:
        self.threshold = threshold
        self.cooldown_s = cooldown_s
        self.max_trials = max_trials
        self._clock = clock
        self._lock = threading.Lock()
        self._failures = 0
        self._opened_at: float | None = None
        self._trips = 0  # consecutive openings, for the growing cooldown
        self._trial_in_flight = False

    @property
    def state(self) -> str:
        with self._lock:
            return self._state()

    def _state(self) -> str:
        if self._opened_at is None:
            return CLOSED
        if self._given_up():
            return OPEN
        return HALF_OPEN if self._clock() >= self._opened_at + self._cooldown() else OPEN

    def _cooldown(self) -> float:
        return self.cooldown_s * min(8, 2 ** max(0, self._trips - 1))

    @property
    def given_up(self) -> bool:
        """``max_trials`` half-open trials failed in a row: no more calls this session."""
        with self._lock:
            return self._given_up()

    def _given_up(self) -> bool:
        return self.max_trials is not None and self._trips > self.max_trials

    @property
    def failed_calls(self) -> int:
        """Consecutive failed calls (trials included)."""
        with self._lock:
            return self._failures

    @property
    def accepting(self) -> bool:
        """Would ``allow`` let a call through now (closed, or half-open with no trial in flight)?"""
        with self._lock:
            state = self._state()
            return state == CLOSED or (state == HALF_OPEN and not self._trial_in_flight)

    def seconds_until_trial(self) -> float:
        """0 when a call may go now; otherwise how long until the half-open trial (inf once given up)."""
        with self._lock:
            if self._opened_at is None:
                return 0.0
            if self._given_up():
                return float("inf")
            return max(0.0, self._opened_at + self._cooldown() - self._clock())

    def allow(self) -> bool:
        """May a call go now? In half-open state only one trial at a time."""
        return self.admit() is not None

    def admit(self) -> str | None:
        """Let a call through: ``"call"`` (closed), ``"trial"`` (the half-open trial), or None.

        The caller reports the outcome with ``trial=`` its admission, so that a call let
        through while the circuit was closed, failing after it opened, is not taken for the
        trial (nor reopens the circuit with a longer cooldown)."""
        with self._lock:
            state = self._state()
            if state == CLOSED:
                return "call"
            if state == HALF_OPEN and not self._trial_in_flight:
                self._trial_in_flight = True
                return "trial"
            return None

    def record_success(self, trial: bool | None = None) -> None:
        with self._lock:
            self._failures = 0
            self._opened_at = None
            self._trips = 0
            self._trial_in_flight = False

    def record_failure(self, trial: bool | None = None) -> None:
        """One failed call; ``trial`` None: whether it was the trial is inferred (one in flight)."""
        with self._lock:
            self._failures += 1
            was_trial = self._trial_in_flight if trial is None else trial
            if was_trial:
                self._trial_in_flight = False
                self._trips += 1
                self._opened_at = self._clock()
            elif self._opened_at is None and self._failures >= self.threshold:
                self._trips += 1
                self._opened_at = self._clock()

    def cancel(self, trial: bool | None = None) -> None:
        """An allowed call was not made after all (budget refused it): free the half-open trial."""
        with self._lock:
            if trial is None or trial:
                self._trial_in_flight = False
