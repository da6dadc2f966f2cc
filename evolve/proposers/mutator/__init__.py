"""The built-in mutator: AST-level program mutation, the proposer used when no LLM is set.

``proposer`` holds ``MutatorProposer`` (parsing blocks, drawing operators, crossover,
re-rendering only what changed); ``operators`` the moves; ``sites`` where they may act.
"""

from evolve.proposers.mutator.operators import DEFAULT_CALL_GROUPS, OPERATORS
from evolve.proposers.mutator.proposer import MutatorProposer, crossover, parse_blocks

__all__ = ["DEFAULT_CALL_GROUPS", "MutatorProposer", "OPERATORS", "crossover", "parse_blocks"]
