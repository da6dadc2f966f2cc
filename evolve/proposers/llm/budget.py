"""The hard spending cap: dollars and/or HTTP calls, safe under concurrent proposals.

Every HTTP call first takes a ``Reservation``. The invariants:

- calls: a reservation is granted only while ``calls + in_flight < max_calls``, so the
  call count never exceeds the cap.
- dollars: a reservation is granted when ``spent + reserved + estimate <= max_cost``
  (``reserved`` sums the estimates of calls in flight), or when nothing is in flight and
  ``spent < max_cost``. The second clause lets a run make progress when the estimate is
  pessimistic; it means the overshoot is at most one call's cost. A caller that cannot
  be granted now but might be once in-flight calls settle waits; once ``spent`` reaches
  the cap the budget is exhausted and every reservation is refused.

State is guarded by a threading lock (usable from threads and any event loop); waiting
is a short async poll, which costs nothing next to an LLM call. ``restore`` seeds the
totals from the run database so a resumed run continues against the same cap.
"""

from __future__ import annotations

import asyncio
import threading
from dataclasses import dataclass


@dataclass
class Reservation:
    estimate: float
    settled: bool = False


class BudgetExhausted(Exception):
    """The cap is reached; the message says which and by how much."""


class Budget:
    def __init__(self, max_cost: float | None = None, max_calls: int | None = None) -> None:
        self.max_cost = max_cost
        self.max_calls = max_calls
        self._lock = threading.Lock()
        self.spent = 0.0
        self.calls = 0
        self._in_flight = 0
        self._reserved = 0.0

    @property
    def limited(self) -> bool:
        return self.max_cost is not None or self.max_calls is not None

    def restore(self, spent: float, calls: int) -> None:
        """Continue from totals recorded earlier (never lowers what this object already counted)."""
        with self._lock:
            self.spent = max(self.spent, float(spent))
            self.calls = max(self.calls, int(calls))

    def exhausted_reason(self) -> str | None:
        with self._lock:
            return self._exhausted()

    def _exhausted(self) -> str | None:
        if self.max_calls is not None and self.calls >= self.max_calls:
            return f"LLM call budget reached: {self.calls} of --max-calls {self.max_calls}"
        if self.max_cost is not None and self.spent >= self.max_cost:
            return f"LLM cost budget reached: ${self.spent:.4f} of --max-cost ${self.max_cost:.4f}"
        return None

    def try_reserve(self, estimate: float) -> Reservation | None | str:
        """A Reservation, None to wait for in-flight calls, or the exhaustion reason."""
        with self._lock:
            reason = self._exhausted()
            if reason:
                return reason
            if self.max_calls is not None and self.calls + self._in_flight >= self.max_calls:
                return None
            if self.max_cost is not None and self._in_flight > 0:
                if self.spent + self._reserved + estimate > self.max_cost:
                    return None
            self._in_flight += 1
            self._reserved += estimate
            return Reservation(estimate)

    async def reserve(self, estimate: float, poll_s: float = 0.02) -> Reservation:
        """Wait for a reservation; raise BudgetExhausted once the cap is reached."""
        while True:
            got = self.try_reserve(estimate)
            if isinstance(got, Reservation):
                return got
            if isinstance(got, str):
                raise BudgetExhausted(got)
            await asyncio.sleep(poll_s)

    def settle(self, reservation: Reservation, cost: float, *, sent: bool = True) -> None:
        """Book the call's real cost. ``sent`` False: the request never left (no call counted)."""
        with self._lock:
            if reservation.settled:
                return
            reservation.settled = True
            self._in_flight -= 1
            self._reserved -= reservation.estimate
            if sent:
                self.calls += 1
                self.spent += max(0.0, cost)

    def snapshot(self) -> dict[str, float | int | None]:
        with self._lock:
            return {"spent": self.spent, "calls": self.calls, "max_cost": self.max_cost, "max_calls": self.max_calls}
