"""Plain records the engine passes around: programs, their evaluations, proposals.

These are data, not behaviour: the database stores them, the archive indexes them, the
prompt builder and the dashboard read them.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass, field
from typing import Any


def code_hash(code: str) -> str:
    """Stable identity of a program's text (used to skip exact duplicates)."""
    return hashlib.sha256(code.encode()).hexdigest()[:16]


@dataclass
class EvaluationResult:
    """The outcome of scoring one program. ``ok`` iff ``score`` is a finite number."""

    ok: bool
    score: float | None = None
    metrics: dict[str, float] = field(default_factory=dict)
    features: dict[str, float] = field(default_factory=dict)
    feedback: str = ""
    failure_kind: str | None = None  # a sandbox.FailureKind value when not ok
    failure_message: str = ""
    output: str = ""  # tail of the candidate's stdout/stderr
    duration_s: float = 0.0  # wall time of the whole evaluation
    candidate_s: float = 0.0  # wall time inside candidate calls, measured outside

    def __post_init__(self) -> None:
        if self.ok and (self.score is None or not math.isfinite(self.score)):
            raise ValueError("an ok evaluation needs a finite score")


@dataclass
class Program:
    """A candidate program, as committed before it is evaluated."""

    id: int
    code: str
    parent_id: int | None
    island: int
    generation: int  # parent's generation + 1; the seed is 0
    proposer: str
    kind: str  # seed | mutation | diff | rewrite | crossover | migration
    created_at: float
    evaluation: EvaluationResult | None = None

    @property
    def score(self) -> float | None:
        return self.evaluation.score if self.evaluation and self.evaluation.ok else None


@dataclass
class Proposal:
    """What a proposer returns: a new full program source, or the reason there is none.

    ``kind`` names the edit format (mutation, diff, rewrite, crossover). ``summary`` is a
    short human description of the change; ``reply`` is the raw LLM text, if any.
    """

    proposer: str
    kind: str
    code: str | None = None
    error: str | None = None  # why no code: unparseable reply, edit did not apply, ...
    summary: str = ""
    reply: str = ""
    usage: dict[str, Any] = field(default_factory=dict)  # tokens, cost, latency of LLM calls

    @property
    def ok(self) -> bool:
        return self.code is not None and self.error is None
