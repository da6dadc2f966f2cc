"""Commit rules: what a proposal becomes before anything is spent on it.

A proposal is judged, in order:

1. no code (the proposer's ``error``): ``edit_failed``, with the proposer's reason;
2. the exact text of a program already stored: ``duplicate`` of that program;
3. the same code as an archive elite modulo comments, docstrings and formatting (or, with
   ``novelty_threshold`` below 1, nearly the same; ``evolve.loop.novelty``):
   ``novelty_rejected``;
4. otherwise a ``candidate``: committed as a program and evaluated.

Only candidates cost an evaluation; every outcome is committed as a proposal row with its
message, so nothing a proposer produced goes unrecorded.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Iterable

from evolve.loop.novelty import NoveltyIndex
from evolve.records import Proposal, ProposalOutcome
from evolve.store.database import RunDatabase


@dataclass(frozen=True)
class Verdict:
    outcome: ProposalOutcome
    message: str = ""

    @property
    def is_candidate(self) -> bool:
        return self.outcome is ProposalOutcome.CANDIDATE


class CommitRules:
    """Judges proposals against the stored programs and the archive's elites.

    ``elite_codes`` gives (program id, code) of the archive's current elites; their
    canonical forms are computed once per program and cached.
    """

    def __init__(self, db: RunDatabase, *, novelty: bool, threshold: float) -> None:
        self.db = db
        self.novelty = novelty
        self.threshold = threshold
        self._index = NoveltyIndex()

    def judge(self, proposal: Proposal, elite_codes: Callable[[], Iterable[tuple[int, str]]]) -> Verdict:
        if not proposal.ok:
            return Verdict(ProposalOutcome.EDIT_FAILED, proposal.error or "the proposer returned no code")
        code = proposal.code or ""
        if (duplicate := self.db.has_code(code)) is not None:
            return Verdict(ProposalOutcome.DUPLICATE, f"identical to program {duplicate}")
        if self.novelty and (near := self._near_duplicate(code, elite_codes())) is not None:
            return Verdict(
                ProposalOutcome.NOVELTY_REJECTED, f"near-duplicate of archive program {near[0]} (similarity {near[1]:.3f})"
            )
        return Verdict(ProposalOutcome.CANDIDATE)

    def _near_duplicate(self, code: str, elites: Iterable[tuple[int, str]]) -> tuple[int, float] | None:
        members = []
        for program_id, elite_code in elites:
            self._index.add(program_id, elite_code)
            members.append(program_id)
        return self._index.nearest(code, among=members, floor=self.threshold)
