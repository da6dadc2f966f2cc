"""The proposer interface: given a parent (and inspirations), propose a new program.

Every proposer (the built-in AST mutator, an LLM client) takes a ``ProposalContext`` and
returns a ``evolve.program.Proposal`` carrying either a complete new program source or the
reason there is none. Proposers never raise for bad model output: a malformed reply, an
edit that does not apply, a provider error all become ``Proposal(error=...)`` so the
controller can record them and go on.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

from evolve.program import Proposal


@dataclass(frozen=True)
class ProgramView:
    """What a proposer may know about one program of the archive."""

    id: int
    code: str
    score: float | None
    metrics: dict[str, float] = field(default_factory=dict)
    feedback: str = ""  # evaluator feedback, or the failure text if it failed
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


@runtime_checkable
class Proposer(Protocol):
    """Proposes new programs. ``name`` is recorded with every proposal."""

    name: str

    async def propose(self, context: ProposalContext) -> Proposal:
        """Return a Proposal; never raise for bad model output or failed edits."""


class ProposerBase:
    """Convenience base with the optional hooks the controller calls.

    ``observe`` learns from outcomes (a model bandit rewards improvement per unit cost);
    ``state``/``restore`` let that learning survive ``evolve resume`` (stored as JSON in
    the run database). A stateless proposer needs none of them.
    """

    name: str = "proposer"

    async def propose(self, context: ProposalContext) -> Proposal:  # pragma: no cover - abstract
        raise NotImplementedError

    def observe(self, proposal: Proposal, parent_score: float | None, child_score: float | None) -> None:
        """Called once the proposal's program is evaluated (scores in the maximise direction)."""

    def state(self) -> dict:
        """JSON-serialisable learning state; stored after every observe()."""
        return {}

    def restore(self, state: dict) -> None:
        """Inverse of state(), called on resume."""
