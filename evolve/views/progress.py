"""What a run has done so far, in the form displays need: kept by the controller, read by views.

The controller updates one ``RunProgress`` as events happen and hands it to an observer
(the rich dashboard, plain log lines, or a test). Nothing here knows about terminals.
"""

from __future__ import annotations

import time
from collections import Counter, deque
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Iterable

if TYPE_CHECKING:
    from evolve.loop.holdout import HoldoutGap
    from evolve.records import LLMCall

LLM_GROUPS = ("ok", "timeout", "rate-limited", "error")


@dataclass
class LLMHealth:
    """The run's LLM calls (this session) by outcome group, the latest failure and the advice.

    Groups: ``ok``, ``timeout``, ``rate-limited`` (HTTP 429) and ``error`` (every other
    outcome: 5xx, connection errors, unusable responses, auth...). ``failures`` counts the
    failed calls booked so far, so a view can tell when a new one arrived. ``advice`` is
    the latest advice line a model's advisor attached to a call (``LLMCall.advice``).
    """

    by_group: Counter = field(default_factory=Counter)
    failures: int = 0
    last_failure: str = ""
    advice: str = ""
    tokens_per_s: float | None = None  # of the latest streamed reply

    def observe(self, calls: "Iterable[LLMCall]") -> None:
        for call in calls:
            group = {"ok": "ok", "timeout": "timeout", "rate_limited": "rate-limited"}.get(call.outcome, "error")
            self.by_group[group] += 1
            if call.tokens_per_s:
                self.tokens_per_s = call.tokens_per_s
            if group != "ok":
                self.failures += 1
                self.last_failure = f"{call.model}: {call.outcome}: {call.error}"
            if call.advice:
                self.advice = call.advice

    @property
    def calls(self) -> int:
        return sum(self.by_group.values())

    def counts(self) -> str:
        """``ok 3, timeout 2, rate-limited 0, error 1``."""
        return ", ".join(f"{group} {self.by_group[group]}" for group in LLM_GROUPS)


@dataclass(frozen=True)
class CandidateRow:
    """One line of the 'recent candidates' table."""

    program_id: int
    island: int
    proposer: str
    kind: str
    status: str  # ok | a failure kind | an unapplied proposal's outcome
    score: float | None
    delta: float | None  # child - parent, in the objective's own direction of improvement
    seconds: float
    summary: str = ""


@dataclass
class RunProgress:
    budget: int
    maximize: bool
    started_at: float = field(default_factory=time.time)
    evaluated: int = 0
    succeeded: int = 0
    proposals: int = 0
    proposals_failed: int = 0
    in_flight: int = 0
    best_score: float | None = None
    best_program_id: int | None = None
    best_history: list[tuple[float, float]] = field(default_factory=list)  # (seconds since start, best score)
    failures: Counter = field(default_factory=Counter)
    proposal_failures: Counter = field(default_factory=Counter)
    recent: deque = field(default_factory=lambda: deque(maxlen=12))
    grid: list[dict[tuple[int, ...], float]] = field(default_factory=list)  # per island: cell -> score
    grid_shape: tuple[int, ...] = ()
    axis_names: tuple[str, ...] = ()
    coverage: float = 0.0
    qd_score: float = 0.0
    llm_cost: float = 0.0
    llm_calls: int = 0
    message: str = ""
    finished: bool = False
    evaluated_at_start: int = 0
    cascade_stopped: int = 0  # evaluations the cascade stopped before the last stage
    cascade_saved: int = 0  # stage runs those skipped
    behaviour_saved: int = 0  # evaluations skipped as behavioural duplicates (this session)
    holdout: "HoldoutGap | None" = None  # the best program's search and holdout scores
    holdout_scored: int = 0
    llm: LLMHealth = field(default_factory=LLMHealth)

    def is_better(self, score: float, than: float | None) -> bool:
        if than is None:
            return True
        return score > than if self.maximize else score < than

    def record_score(self, program_id: int, score: float) -> bool:
        """Track the best score; True when it improved."""
        if self.is_better(score, self.best_score):
            self.best_score, self.best_program_id = score, program_id
            self.best_history.append((time.time() - self.started_at, score))
            return True
        return False

    @property
    def elapsed(self) -> float:
        return time.time() - self.started_at

    @property
    def throughput(self) -> float:
        """Candidates evaluated per second in this session (resumed work excluded)."""
        done = self.evaluated - self.evaluated_at_start
        return done / self.elapsed if self.elapsed > 0 else 0.0
