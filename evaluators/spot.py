"""Deadline-aware spot scheduling ("Can't Be Late", Wu et al., NSDI'24): an exact lockstep simulator.

A job needs ``task`` hours of compute before its ``deadline``. Each tick (10 minutes) the
policy picks a cluster type for every simulated job at once: NONE (idle, free), SPOT
(cheap, only when available, preempted when capacity goes) or ON_DEMAND (expensive, never
preempted). Every launch, the first included, and every switch pays ``overhead`` hours of
restart time that cost money but make no progress.

Semantics of one tick of length g for one job, given the decision c:

* c = SPOT requires spot to be available this tick (otherwise the output is invalid);
* if c differs from the type still running, a new instance starts: pending overhead := O;
* with c != NONE the instance runs for ``used = min(g, pending + work_left)`` hours, costs
  ``price[c] * used``, makes ``max(0, used - pending)`` hours of progress, and the pending
  overhead drops by ``used``; with c = NONE nothing runs and nothing is paid;
* a spot instance whose capacity is gone at the next tick is preempted: ``running`` becomes
  NONE and the policy sees ``preempted``.

A job is done when ``work_left`` reaches 0 (finish time = tick start + ``used``); it has
missed when the deadline arrives first. All jobs advance in lockstep, so one policy call
decides for every job: arrays in, an int array out. The policy sees only the present (and
the fraction of ticks with spot so far), never the future of the trace.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

import numpy as np

from evaluators.contract import InvalidOutput
from evaluators.spot_traces import TICK_HOURS, availability_trace

NONE, SPOT, ON_DEMAND = 0, 1, 2
CLUSTER_NAMES = ("NONE", "SPOT", "ON_DEMAND")
SPOT_PRICE = 0.9731  # $/h, the published leaderboard's normalisation (V100 spot)
ON_DEMAND_PRICE = 3.06  # $/h, the matching on-demand price
_EPS = 1e-9


@dataclass(frozen=True)
class Jobs:
    """The jobs simulated together: per-job task length, deadline, restart overhead (hours), trace."""

    task: np.ndarray  # [N] hours of compute needed
    deadline: np.ndarray  # [N] hours from the start
    overhead: np.ndarray  # [N] hours of restart overhead per launch
    spot: np.ndarray  # [N, T] bool availability per tick, T >= max deadline / tick
    labels: tuple[str, ...] = ()  # a name per job, for feedback ("flaky/d52/o0.2/#3")

    def __post_init__(self) -> None:
        n = len(self.task)
        if not (len(self.deadline) == len(self.overhead) == self.spot.shape[0] == n):
            raise ValueError("Jobs: task, deadline, overhead and spot must describe the same number of jobs")
        if np.any(self.deadline < self.task + self.overhead):
            raise ValueError("Jobs: every deadline must leave room for the task and one launch overhead")
        if self.spot.shape[1] * TICK_HOURS < float(self.deadline.max()) - _EPS:
            raise ValueError("Jobs: traces are shorter than the latest deadline")

    @property
    def size(self) -> int:
        return len(self.task)


@dataclass
class Outcome:
    """What happened to every job: cost ($), finish time (hours; nan if missed), launches, hours on each type."""

    cost: np.ndarray
    finish: np.ndarray
    missed: np.ndarray
    launches: np.ndarray
    on_demand_hours: np.ndarray
    spot_hours: np.ndarray
    steps: int = 0  # ticks simulated until every job was done or missed


def on_demand_cost(jobs: Jobs) -> np.ndarray:
    """Cost of running on demand from the start: one launch, ``task + overhead`` hours."""
    return ON_DEMAND_PRICE * (jobs.task + jobs.overhead)


def ideal_spot_cost(jobs: Jobs) -> np.ndarray:
    """The unreachable floor: all work on spot, no restart overhead."""
    return SPOT_PRICE * jobs.task


def savings(jobs: Jobs, outcome: Outcome) -> np.ndarray:
    """Normalised saving per job: (C_od - C) / (C_od - C_ideal); 0 = all on demand, 1 = ideal spot."""
    od, ideal = on_demand_cost(jobs), ideal_spot_cost(jobs)
    return np.round((od - outcome.cost) / (od - ideal), 12)  # so all-on-demand is exactly 0, not -1e-16


@dataclass(frozen=True)
class JobGrid:
    """Every (regime, trace, deadline, overhead) combination; trace i of a regime uses ``seed + i``."""

    regimes: tuple[str, ...]
    traces: int
    deadlines: tuple[float, ...]
    overheads: tuple[float, ...]
    task: float = 48.0
    seed: int = 0

    def jobs(self) -> Jobs:
        """The grid's jobs, labelled ``regime/d<deadline>/o<overhead>/#<trace>``."""
        ticks = int(np.ceil(max(self.deadlines) / TICK_HOURS)) + 1
        rows: list[tuple[float, float, np.ndarray]] = []
        labels: list[str] = []
        for regime in self.regimes:
            for i in range(self.traces):
                trace = availability_trace(regime, ticks, self.seed + i)
                for deadline in self.deadlines:
                    for overhead in self.overheads:
                        rows.append((float(deadline), float(overhead), trace))
                        labels.append(f"{regime}/d{deadline:g}/o{overhead:g}/#{i}")
        return Jobs(
            task=np.full(len(rows), float(self.task)),
            deadline=np.array([r[0] for r in rows]),
            overhead=np.array([r[1] for r in rows]),
            spot=np.stack([r[2] for r in rows]),
            labels=tuple(labels),
        )


def schedule_score(jobs: Jobs, outcome: Outcome) -> float:
    """Mean normalised saving when no deadline is missed; otherwise minus the fraction missed.

    A miss is a hard failure: any policy that misses scores below always-on-demand (0),
    whatever it saved elsewhere, and fewer misses still rank higher.
    """
    if outcome.missed.any():
        return -float(outcome.missed.mean())
    return float(savings(jobs, outcome).mean())


def simulate(jobs: Jobs, decide: Callable[[dict[str, Any]], Any]) -> Outcome:
    """Run every job to completion or deadline, calling ``decide(observation)`` once per tick.

    ``decide`` gets the observation dict described by ``observation`` and returns one
    decision per job; decisions for jobs that are already done or missed are ignored.
    Raises InvalidOutput (naming the tick and job) for a malformed or infeasible decision.
    """
    n = jobs.size
    work_done = np.zeros(n)
    pending = np.zeros(n)  # restart overhead still to pay on the running instance
    running = np.full(n, NONE, dtype=np.int64)
    cost = np.zeros(n)
    finish = np.full(n, np.nan)
    done = np.zeros(n, dtype=bool)
    missed = np.zeros(n, dtype=bool)
    launches = np.zeros(n, dtype=np.int64)
    od_hours = np.zeros(n)
    spot_hours = np.zeros(n)
    spot_seen = np.zeros(n)
    preempted = np.zeros(n, dtype=bool)
    prices = np.array([0.0, SPOT_PRICE, ON_DEMAND_PRICE])
    steps = int(np.ceil(float(jobs.deadline.max()) / TICK_HOURS - _EPS))
    for step in range(steps):
        active = ~(done | missed)
        if not active.any():
            break
        elapsed = step * TICK_HOURS
        has_spot = jobs.spot[:, step]
        spot_seen += has_spot
        obs = observation(jobs, step, work_done, pending, running, preempted, has_spot, spot_seen / (step + 1), active)
        choice = validate_decisions(decide(obs), n, step, has_spot, active, jobs.labels)
        choice = np.where(active, choice, NONE)
        launch = (choice != NONE) & (choice != running)
        pending = np.where(launch, jobs.overhead, np.where(choice == NONE, 0.0, pending))
        launches += launch
        work_left = jobs.task - work_done
        used = np.where(choice != NONE, np.minimum(TICK_HOURS, pending + work_left), 0.0)
        progress = np.maximum(0.0, used - pending)
        pending = np.maximum(0.0, pending - used)
        cost += prices[choice] * used
        od_hours += np.where(choice == ON_DEMAND, used, 0.0)
        spot_hours += np.where(choice == SPOT, used, 0.0)
        work_done = np.minimum(jobs.task, work_done + progress)
        running = choice
        finished = active & (jobs.task - work_done <= _EPS)
        finish = np.where(finished, elapsed + used, finish)
        done |= finished
        missed |= active & ~finished & (elapsed + TICK_HOURS >= jobs.deadline - _EPS)
        if step + 1 < jobs.spot.shape[1]:
            preempted = (running == SPOT) & ~jobs.spot[:, step + 1]
            running = np.where(preempted, NONE, running)
            pending = np.where(preempted, 0.0, pending)
    missed |= ~done
    return Outcome(cost, finish, missed, launches, od_hours, spot_hours, steps=step + 1)


def observation(
    jobs: Jobs,
    step: int,
    work_done: np.ndarray,
    pending: np.ndarray,
    running: np.ndarray,
    preempted: np.ndarray,
    has_spot: np.ndarray,
    spot_fraction: np.ndarray,
    active: np.ndarray,
) -> dict[str, Any]:
    """What the policy sees at the start of a tick (hours throughout; arrays have one entry per job).

    ``running`` is the type still running (NONE after a preemption), ``overhead_left`` the
    restart overhead that instance has still to pay, ``spot_fraction`` the share of ticks
    so far (this one included) with spot available.
    """
    elapsed = step * TICK_HOURS
    return {
        "step": step,
        "gap": TICK_HOURS,
        "spot_price": SPOT_PRICE,
        "on_demand_price": ON_DEMAND_PRICE,
        "elapsed": np.full(jobs.size, elapsed),
        "task": jobs.task,
        "deadline": jobs.deadline,
        "overhead": jobs.overhead,
        "work_done": work_done.copy(),
        "work_left": jobs.task - work_done,
        "time_left": jobs.deadline - elapsed,
        "overhead_left": pending.copy(),
        "running": running.copy(),
        "preempted": preempted.copy(),
        "has_spot": has_spot.copy(),
        "spot_fraction": spot_fraction,
        "active": active.copy(),
    }


def validate_decisions(
    value: object, n: int, step: int, has_spot: np.ndarray, active: np.ndarray, labels: tuple[str, ...] = ()
) -> np.ndarray:
    """The decisions as an int64 array of shape [n], or InvalidOutput naming what is wrong."""
    where = f"decide() at tick {step}"
    try:
        array = np.asarray(value)
    except (TypeError, ValueError) as exc:
        raise InvalidOutput(f"{where} returned something that is not an array of decisions: {exc}") from None
    if array.dtype == object or array.dtype.kind not in "iub":
        raise InvalidOutput(
            f"{where} returned decisions of dtype {array.dtype}; return integers 0 (NONE), 1 (SPOT) or 2 (ON_DEMAND)"
        )
    if array.shape != (n,):
        raise InvalidOutput(f"{where} returned decisions of shape {array.shape}, expected ({n},): one per job")
    array = array.astype(np.int64)
    bad = np.flatnonzero(active & ((array < NONE) | (array > ON_DEMAND)))
    if bad.size:
        j = int(bad[0])
        raise InvalidOutput(f"{where}: decision {int(array[j])} for job {_name(j, labels)} is not 0, 1 or 2")
    unavailable = np.flatnonzero(active & (array == SPOT) & ~has_spot)
    if unavailable.size:
        j = int(unavailable[0])
        raise InvalidOutput(
            f"{where}: SPOT chosen for job {_name(j, labels)} while spot is unavailable (has_spot is False); "
            "choose NONE or ON_DEMAND there"
        )
    return array


def _name(j: int, labels: tuple[str, ...]) -> str:
    return f"{j} ({labels[j]})" if j < len(labels) else str(j)
