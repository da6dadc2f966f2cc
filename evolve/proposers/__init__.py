"""Proposers: the built-in AST mutator and LLM clients behind one interface (see ``base``)."""

from __future__ import annotations

from evolve.config import ProblemConfig
from evolve.proposers.base import ProblemBrief, ProgramView, ProposalContext, Proposer, ProposerBase


def build_proposer(config: ProblemConfig) -> Proposer:
    """The proposer a run uses: the built-in mutator unless models are configured."""
    from evolve.proposers.mutator import MutatorProposer

    return MutatorProposer(call_groups=config.mutator.call_groups)


__all__ = ["ProblemBrief", "ProgramView", "ProposalContext", "Proposer", "ProposerBase", "build_proposer"]
