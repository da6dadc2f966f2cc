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
from typing import Collection

from evolve.loop.novelty import NoveltyIndex, fingerprint
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

    The novelty index holds the programs that became elites (``index``, called by the
    controller as they enter the archive), each fingerprinted once; ``judge`` is told which
    ids are elites *now*, so a displaced elite no longer blocks its near-duplicates. The
    fingerprint computed while judging a candidate is kept until that candidate is indexed
    or judged again, so a program that becomes an elite is never compiled twice.
    """

    def __init__(self, db: RunDatabase, *, novelty: bool, threshold: float) -> None:
        self.db = db
        self.novelty = novelty
        self.threshold = threshold
        self._index = NoveltyIndex(keep_code=threshold < 1.0)
        self._judged: dict[str, bytes | None] = {}

    def index(self, program_id: int, code: str) -> None:
        """Add a program that entered the archive to the novelty index."""
        if not self.novelty or program_id in self._index:
            return
        if code in self._judged:
            self._index.add_fingerprint(program_id, code, self._judged.pop(code))
        else:
            self._index.add(program_id, code)

    def index_fingerprint(self, program_id: int, code: str, digest: bytes | None) -> None:
        """``index`` with the fingerprint already known (from a resume checkpoint)."""
        if self.novelty:
            self._index.add_fingerprint(program_id, code, digest)

    def fingerprints(self, ids: Collection[int]) -> dict[int, str]:
        """Hex fingerprints of the indexed programs among ``ids`` (for the resume checkpoint)."""
        return {i: d.hex() for i in ids if (d := self._index.fingerprint_of(i)) is not None}

    def judge(self, proposal: Proposal, elite_ids: Collection[int]) -> Verdict:
        if not proposal.ok:
            return Verdict(ProposalOutcome.EDIT_FAILED, proposal.error or "the proposer returned no code")
        code = proposal.code or ""
        if (duplicate := self.db.has_code(code)) is not None:
            return Verdict(ProposalOutcome.DUPLICATE, f"identical to program {duplicate}")
        if self.novelty and (near := self._near_duplicate(code, elite_ids)) is not None:
            return Verdict(
                ProposalOutcome.NOVELTY_REJECTED, f"near-duplicate of archive program {near[0]} (similarity {near[1]:.3f})"
            )
        return Verdict(ProposalOutcome.CANDIDATE)

    def _near_duplicate(self, code: str, elite_ids: Collection[int]) -> tuple[int, float] | None:
        if self.threshold < 1.0:
            return self._index.nearest(code, among=elite_ids, floor=self.threshold)
        digest = fingerprint(code)
        if len(self._judged) > _PENDING:  # candidates never indexed (failed, or not elites): forget the oldest
            del self._judged[next(iter(self._judged))]
        self._judged[code] = digest
        if digest is None:
            return self._index.nearest(code, among=elite_ids, floor=self.threshold)
        return self._index.identical(digest, elite_ids.__contains__)


_PENDING = 4096
