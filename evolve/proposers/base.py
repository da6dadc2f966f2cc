"""The proposer interface: given a parent (and inspirations), propose a new program.

Every proposer (the built-in AST mutator, an LLM client) takes a ``ProposalContext`` and
returns a ``evolve.records.Proposal`` carrying either a complete new program source or the
reason there is none. Proposers never raise for bad model output: a malformed reply, an
edit that does not apply, a provider error all become ``Proposal(error=...)`` so the
controller can record them and go on.
"""

from __future__ import annotations

import abc
from dataclasses import dataclass, field

from evolve.records import Proposal


@dataclass(frozen=True)
class ProgramView:
    """What a proposer may know about one program of the archive."""

    id: int
    code: str
    score: float | None
    metrics: dict[str, float] = field(default_factory=dict)  # never private metrics, never holdout
    feedback: str = ""  # evaluator feedback, or the failure text if it failed
    instances: dict[str, float] = field(default_factory=dict)  # per-workload scores of the search split
    failure_kind: str | None = None
    island: int = 0
    generation: int = 0


@dataclass(frozen=True)
class ProblemBrief:
    """The parts of a problem a proposer needs: what to optimise and which way."""

    name: str
    description: str
    objective: str
    maximize: bool


@dataclass(frozen=True)
class ProposalContext:
    """Everything one proposal is made from.

    ``seed`` makes a proposal reproducible: a deterministic proposer derives all its
    randomness from it. ``notes`` carry lineage history for the prompt (for example
    "the last edit proposed for this parent did not apply: SEARCH text not found").
    """

    problem: ProblemBrief
    parent: ProgramView
    inspirations: tuple[ProgramView, ...]
    island: int
    seed: int
    notes: tuple[str, ...] = ()


class Proposer(abc.ABC):
    """Proposes new programs. ``name`` is recorded with every proposal.

    ``propose`` is the one method a proposer must write. Every other hook the engine calls
    is declared here with a no-op default, and the engine calls each one unconditionally:

    * ``observe`` learns from outcomes (a model bandit rewards improvement per unit cost);
    * ``state`` / ``restore`` let that learning survive ``evolve resume`` (stored as JSON in
      the run database after every observation);
    * ``restore_spending`` seeds a spending cap from the run's recorded LLM calls on resume;
    * ``stop_reason`` says why the run must stop (a spent budget), or None;
    * ``unpriced_models`` names models whose calls cannot be priced (warned about at start);
    * ``aclose`` releases connections, on the event loop that opened them.
    """

    name: str = "proposer"

    @abc.abstractmethod
    async def propose(self, context: ProposalContext) -> Proposal:
        """Return a Proposal; never raise for bad model output or failed edits."""

    def observe(self, proposal: Proposal, parent_score: float | None, child_score: float | None) -> None:
        """Called once per proposal with its outcome (scores in the maximise direction; the
        child's is None when it failed or was never evaluated)."""

    def state(self) -> dict:
        """JSON-serialisable learning state; stored after every observe() when non-empty."""
        return {}

    def restore(self, state: dict) -> None:
        """Inverse of state(), called on resume."""

    def restore_spending(self, spent: float, calls: int) -> None:
        """On resume: the dollars and calls the run's ``llm_calls`` rows record (authoritative)."""

    @property
    def stop_reason(self) -> str | None:
        """Why the run must stop launching proposals (e.g. the LLM budget is spent), or None."""
        return None

    @property
    def unpriced_models(self) -> list[str]:
        """Models whose calls are recorded at cost 0 because no price is known."""
        return []

    async def aclose(self) -> None:
        """Release clients and connections; called once, on the run's event loop."""
