"""The run's LLM ledger: every model call committed as a row, and the running totals.

The ``llm_calls`` rows are the authoritative record of spending: on start (and resume) the
totals are read back from them and handed to the proposer's budget, and each proposal's
calls are committed with the proposal that made them, so the totals shown and the rows
stored never disagree.
"""

from __future__ import annotations

from evolve.records import ProposalUsage
from evolve.store.database import RunDatabase


class Ledger:
    def __init__(self, db: RunDatabase) -> None:
        self.db = db
        totals = db.totals()
        self.calls = totals.llm_calls
        self.cost = totals.llm_cost

    def reload(self) -> None:
        """Re-read the totals from the rows (after the seed, or anything else wrote calls)."""
        totals = self.db.totals()
        self.calls, self.cost = totals.llm_calls, totals.llm_cost

    def record(self, proposal_id: int, usage: ProposalUsage | None) -> None:
        """Commit the calls a proposal made and add them to the totals."""
        if usage is None or not usage.calls:
            return
        self.db.add_llm_calls(proposal_id, usage.calls, store_text=usage.store_text)
        self.calls += len(usage.calls)
        self.cost += usage.cost
