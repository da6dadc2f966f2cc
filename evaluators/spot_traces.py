"""Spot-instance availability traces: one boolean per tick, from named availability regimes.

The "Can't Be Late" study (Wu et al., NSDI'24) replays real AWS spot traces at 10-minute
ticks; those cannot be fetched here, so the regimes below are generative models fitted in
spirit to what such traces show: long stable stretches, flaky zones with frequent
preemptions, scarce capacity, a daily rhythm, and heavy-tailed outages.

Every regime is an alternating renewal process: an up period (spot available) of random
length, then a down period, and so on. Lengths are drawn in hours and rounded up to whole
ticks. Traces are deterministic in ``(regime, seed)``. Availability below is the mean over 200
traces of 92 hours (measured).

==============  =============================================  ===================
regime          up / down period lengths (hours)               availability (mean)
==============  =============================================  ===================
stable          exponential, mean 20 / 1.5                     ~0.93
flaky           exponential, mean 1.5 / 0.6                    ~0.70
scarce          exponential, mean 1.5 / 4                      ~0.28
diurnal         exponential, means follow a 24 h cycle          ~0.69
                (up 8 h at night .. 0.7 h at noon; down 0.5 .. 3 h)
bursty          Pareto (shape 1.5), mean 4 / 3                  ~0.57
regime_shift    alternates stable and scarce every 18 h        ~0.80
==============  =============================================  ===================
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

import numpy as np

TICK_HOURS = 1.0 / 6.0  # 10-minute ticks, as in the published traces


@dataclass(frozen=True)
class Regime:
    """A named availability regime: ``period(rng, up, t_hours)`` draws one period's length in hours."""

    name: str
    period: Callable[[np.random.Generator, bool, float], float]


def _exponential(mean_up: float, mean_down: float) -> Callable[[np.random.Generator, bool, float], float]:
    return lambda rng, up, t: float(rng.exponential(mean_up if up else mean_down))


def _diurnal(rng: np.random.Generator, up: bool, t: float) -> float:
    """Mean lengths follow cos(2 pi t / 24): spot is plentiful at night (t = 0) and scarce at noon."""
    night = 0.5 * (1.0 + math.cos(2.0 * math.pi * t / 24.0))  # 1 at midnight, 0 at noon
    mean = 0.7 + 7.3 * night if up else 3.0 - 2.5 * night
    return float(rng.exponential(mean))


def _pareto(mean_up: float, mean_down: float, shape: float = 1.5) -> Callable[[np.random.Generator, bool, float], float]:
    """Pareto (Lomax + scale) lengths with the given means: rare, very long outages."""

    def period(rng: np.random.Generator, up: bool, t: float) -> float:
        mean = mean_up if up else mean_down
        scale = mean * (shape - 1.0) / shape
        return float(scale * (1.0 + rng.pareto(shape)))

    return period


def _regime_shift(rng: np.random.Generator, up: bool, t: float) -> float:
    """Stable for the first ~18 h block, scarce for the next, and so on (blocks of 18 h)."""
    stable = int(t // 18.0) % 2 == 0
    if stable:
        return float(rng.exponential(20.0 if up else 1.0))
    return float(rng.exponential(1.0 if up else 4.0))


REGIMES: dict[str, Regime] = {
    regime.name: regime
    for regime in (
        Regime("stable", _exponential(20.0, 1.5)),
        Regime("flaky", _exponential(1.5, 0.6)),
        Regime("scarce", _exponential(1.5, 4.0)),
        Regime("diurnal", _diurnal),
        Regime("bursty", _pareto(4.0, 3.0)),
        Regime("regime_shift", _regime_shift),
    )
}


def availability_trace(regime: str, ticks: int, seed: int) -> np.ndarray:
    """A bool array of ``ticks``: True where spot capacity is available during that tick.

    The trace starts at a random phase: up with probability 0.5, first period drawn whole.
    """
    if regime not in REGIMES:
        raise KeyError(f"unknown availability regime {regime!r}; known: {', '.join(REGIMES)}")
    rng = np.random.default_rng([seed, _stable_hash(regime)])
    period = REGIMES[regime].period
    trace = np.zeros(ticks, dtype=bool)
    tick = 0
    up = bool(rng.random() < 0.5)
    while tick < ticks:
        length = max(1, math.ceil(period(rng, up, tick * TICK_HOURS) / TICK_HOURS))
        trace[tick : tick + length] = up
        tick += length
        up = not up
    return trace


def _stable_hash(text: str) -> int:
    """A hash of ``text`` that does not change between processes (unlike ``hash``)."""
    return int.from_bytes(text.encode(), "little") % (2**31)
