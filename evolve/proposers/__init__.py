"""Proposers: the built-in AST mutator and LLM clients behind one interface (see ``base``)."""

from __future__ import annotations

from evolve.config import ConfigError, ProblemConfig
from evolve.proposers.base import ProblemBrief, ProgramView, ProposalContext, Proposer


def build_proposer(config: ProblemConfig) -> Proposer:
    """The proposer a run uses: the built-in mutator unless models are configured.

    Raises ConfigError when the models cannot be used (a missing key, a missing extra,
    a cost cap without prices), before any run time is spent.
    """
    if config.llm.enabled:
        from evolve.proposers.llm.client import LLMCallError
        from evolve.proposers.llm.proposer import LLMProposer

        try:
            return LLMProposer(config.llm)
        except (LLMCallError, ValueError, OSError) as exc:
            raise ConfigError(f"llm settings: {exc}") from None
    from evolve.proposers.mutator import MutatorProposer

    return MutatorProposer(call_groups=config.mutator.call_groups, adaptive=config.mutator.adaptive)


__all__ = ["ProblemBrief", "ProgramView", "ProposalContext", "Proposer", "build_proposer"]
