"""What a run has done so far, in the form displays need: kept by the controller, read by views.

The controller updates one ``RunProgress`` as events happen and hands it to an observer
(the rich dashboard, plain log lines, or a test). Nothing here knows about terminals.
"""

from __future__ import annotations

import time
from collections import Counter, deque
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from evolve.loop.holdout import HoldoutGap


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
