"""Plain records the engine passes around: programs, their evaluations, proposals, LLM calls.

These are data, not behaviour: the database stores them, the archive indexes them, the
prompt builder and the dashboard read them. The string enums are stored by value, so a
database written before they existed reads the same.
"""

from __future__ import annotations

import enum
import hashlib
import math
from dataclasses import dataclass, field

from sandbox import FailureKind

__all__ = [
    "EvaluationResult",
    "FailureKind",
    "LLMCall",
    "Program",
    "ProgramKind",
    "Proposal",
    "ProposalOutcome",
    "ProposalUsage",
    "RunStatus",
    "code_hash",
]


class ProgramKind(enum.StrEnum):
    """How a program came to be."""

    SEED = "seed"
    MUTATION = "mutation"  # the built-in mutator's operators
    CROSSOVER = "crossover"
    DIFF = "diff"  # an LLM's SEARCH/REPLACE edit
    REWRITE = "rewrite"  # an LLM's full rewrite of the EVOLVE-BLOCK
    UNKNOWN = "?"  # a proposer that failed before choosing


class ProposalOutcome(enum.StrEnum):
    """What became of a proposal: a candidate to evaluate, or why not."""

    CANDIDATE = "candidate"
    EDIT_FAILED = "edit_failed"  # no code: unparseable reply, edit did not apply, provider error
    DUPLICATE = "duplicate"  # the exact text of a program already stored
    NOVELTY_REJECTED = "novelty_rejected"  # a near-duplicate of an archive elite
    BEHAVIOURAL_DUPLICATE = "behavioural_duplicate"  # behaves exactly like an evaluated program on the probe


class RunStatus(enum.StrEnum):
    CREATED = "created"
    RUNNING = "running"
    FINISHED = "finished"  # the budget is spent
    STOPPED = "stopped"  # a stop was requested (LLM budget, too many failed proposals)
    INTERRUPTED = "interrupted"  # Ctrl-C; resume continues


def code_hash(code: str) -> str:
    """Stable identity of a program's text (used to skip exact duplicates)."""
    return hashlib.sha256(code.encode()).hexdigest()[:16]


@dataclass
class EvaluationResult:
    """The outcome of scoring one program. ``ok`` iff ``score`` is a finite number.

    With a cascade, ``stage`` is the last stage reached (0-based) of ``stages``, and
    ``stage_scores`` the score of each stage run; a program that missed a stage's bar is
    ``ok`` but not ``complete``: its score is that stage's, so it does not compete in the
    archive with programs scored by the last stage. ``private`` metrics are never shown to
    a model; ``instances`` are per-workload scores; ``objectives`` secondary objectives.
    """

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
    instances: dict[str, float] = field(default_factory=dict)
    private: dict[str, float] = field(default_factory=dict)
    objectives: dict[str, float] = field(default_factory=dict)
    stage: int = 0
    stages: int = 1
    stage_scores: list[float] = field(default_factory=list)
    gpu_peak_mb: float = 0.0  # peak GPU memory of a candidate call (torch workers on a GPU)
    fingerprint: str = ""  # behavioural fingerprint (evaluators.fingerprint), "" when the problem defines none

    def __post_init__(self) -> None:
        if self.ok and (self.score is None or not math.isfinite(self.score)):
            raise ValueError("an ok evaluation needs a finite score")

    @property
    def complete(self) -> bool:
        """Scored by the last stage (always, without a cascade)."""
        return self.ok and self.stage >= self.stages - 1

    @property
    def is_probe(self) -> bool:
        """A fingerprint probe's answer (``mode="fingerprint"``), not an evaluation: not ok, no failure."""
        return not self.ok and self.failure_kind is None


@dataclass
class Program:
    """A candidate program, as committed before it is evaluated."""

    id: int
    code: str
    parent_id: int | None
    island: int
    generation: int  # parent's generation + 1; the seed is 0
    proposer: str
    kind: str  # a ProgramKind value
    created_at: float
    evaluation: EvaluationResult | None = None

    @property
    def score(self) -> float | None:
        """The score of a complete evaluation (a cascade's last stage), else None."""
        return self.evaluation.score if self.evaluation and self.evaluation.complete else None


@dataclass
class LLMCall:
    """One HTTP attempt (or replayed answer): a row of the ``llm_calls`` table.

    A timed-out streamed attempt keeps what arrived before the silence in ``reply``. The
    stream timings and ``advice`` travel with the proposal to the run's progress view (the
    table stores the columns it has).
    """

    model: str
    prompt: str
    created_at: float
    attempt: int = 0
    reply: str = ""
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost: float = 0.0
    latency_s: float = 0.0
    outcome: str = "ok"  # ok | timeout | rate_limited | http_error | ... (evolve.proposers.llm.client)
    error: str = ""
    finish_reason: str | None = None
    usage_reported: bool = True  # False: the server sent no token counts; they are estimated
    replayed: bool = False
    queued_s: float = 0.0  # waited for a free slot of the model before the request was sent (not in latency_s)
    first_token_s: float | None = None  # streamed: from sending the request to the first token
    tokens_per_s: float | None = None  # streamed: generation rate, (completion_tokens - 1) / (last - first token)
    advice: str = ""  # set on the call after which the run should tell the user what to change


@dataclass
class ProposalUsage:
    """What an LLM proposal used: the model, the edit kind, and every call it made.

    ``store_text`` False: the database keeps only the sha256 and size of prompts and
    replies. ``observed`` marks a proposal whose reward the model bandit already has.
    """

    model: str | None = None
    edit_kind: str = ""
    calls: list[LLMCall] = field(default_factory=list)
    store_text: bool = True
    observed: bool = False

    @property
    def cost(self) -> float:
        return sum(call.cost for call in self.calls)

    @property
    def prompt_tokens(self) -> int:
        return sum(call.prompt_tokens for call in self.calls)

    @property
    def completion_tokens(self) -> int:
        return sum(call.completion_tokens for call in self.calls)


@dataclass
class Proposal:
    """What a proposer returns: a new full program source, or the reason there is none.

    ``kind`` names the edit format (a ``ProgramKind``). ``summary`` is a short human
    description of the change; ``reply`` is the raw LLM text, if any; ``usage`` is set by
    proposers that call models; ``operators`` names the moves used (the mutator's
    operators), which an adaptive proposer credits when the child is scored.
    """

    proposer: str
    kind: str
    code: str | None = None
    error: str | None = None  # why no code: unparseable reply, edit did not apply, ...
    summary: str = ""
    reply: str = ""
    usage: ProposalUsage | None = None
    operators: tuple[str, ...] = ()

    @property
    def ok(self) -> bool:
        return self.code is not None and self.error is None
