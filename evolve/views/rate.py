"""Throughput over a sliding window, and the time left at that pace.

A cumulative average (evaluations / elapsed) hides what is happening now: it lags a
slowdown (an LLM provider throttling, a harder region of the search) for as long as the
run has lasted. The windowed rate is ``(n_now - n_then) / (now - then)``, where *then* is
the oldest sample within the last ``window_s`` seconds; measuring to *now* rather than to
the last sample makes a stall show as a falling rate instead of a frozen one. The ETA is
``remaining / rate``.
"""

from __future__ import annotations

import time
from collections import deque
from typing import Callable


class WindowedRate:
    def __init__(self, window_s: float = 30.0, clock: Callable[[], float] = time.monotonic) -> None:
        if window_s <= 0:
            raise ValueError("window_s must be positive")
        self.window_s = window_s
        self._clock = clock
        self._samples: deque[tuple[float, int]] = deque()

    def observe(self, count: int) -> None:
        """Record that ``count`` items are done now (only changes are kept)."""
        now = self._clock()
        if not self._samples or self._samples[-1][1] != count:
            self._samples.append((now, count))
        while len(self._samples) > 2 and self._samples[1][0] < now - self.window_s:
            self._samples.popleft()

    def rate(self) -> float | None:
        """Items per second over the window; None before there are two samples."""
        if len(self._samples) < 2:
            return None
        then, first = self._samples[0]
        last = self._samples[-1][1]
        elapsed = self._clock() - then
        return (last - first) / elapsed if elapsed > 0 else None

    def eta(self, remaining: int) -> float | None:
        """Seconds until ``remaining`` more items are done at the current rate; None if unknown."""
        rate = self.rate()
        if remaining <= 0:
            return 0.0
        return remaining / rate if rate else None


def duration(seconds: float | None) -> str:
    """``75`` as ``1m15s``; None as ``—``."""
    if seconds is None:
        return "—"
    seconds = max(0, int(round(seconds)))
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours}h{minutes:02d}m"
    return f"{minutes}m{secs:02d}s" if minutes else f"{secs}s"
