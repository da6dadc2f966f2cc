"""The report's read model: the few questions about a run that ``RunDatabase`` does not answer.

A report needs the order and time of every evaluation, each program's proposal (its
summary, the rejection message), the proposals that produced no program, and the LLM cost
of each proposal. These are read through a separate read-only connection (``mode=ro``), so
a report can be made while the run's controller is still writing, and cannot change it.
"""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass
from pathlib import Path

from evolve.store.run import DB_NAME


@dataclass(frozen=True)
class EvaluationRow:
    """One evaluation in commit order: enough to draw the run over time."""

    index: int  # 1-based position in commit order (the archive's replay order)
    program_id: int
    created_at: float
    island: int
    kind: str
    proposer: str
    parent_id: int | None
    ok: bool
    complete: bool
    score: float | None
    failure_kind: str | None
    failure_message: str


@dataclass(frozen=True)
class ProposalRow:
    id: int
    created_at: float
    island: int
    parent_id: int | None
    inspiration_ids: tuple[int, ...]
    proposer: str
    kind: str
    outcome: str
    message: str
    summary: str
    latency_s: float
    program_id: int | None
    cost: float  # dollars of the LLM calls made for it
    llm_calls: int


class RunQueries:
    """Read-only queries over one run's ``evolve.db``; use as a context manager or ``close``."""

    def __init__(self, run_dir: Path) -> None:
        self._db = sqlite3.connect(f"file:{Path(run_dir) / DB_NAME}?mode=ro", uri=True)
        self._db.row_factory = sqlite3.Row
        self._db.execute("PRAGMA busy_timeout=5000")

    def __enter__(self) -> "RunQueries":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._db.close()

    def evaluations(self) -> list[EvaluationRow]:
        rows = self._db.execute(
            "SELECT e.program_id, e.created_at, e.ok, e.score, e.stage, e.stages, e.failure_kind, e.failure_message,"
            " p.island, p.kind, p.proposer, p.parent_id FROM evaluations e JOIN programs p ON p.id = e.program_id"
            " ORDER BY e.id"
        )
        return [
            EvaluationRow(
                index=i, program_id=r["program_id"], created_at=r["created_at"], island=r["island"], kind=r["kind"],
                proposer=r["proposer"], parent_id=r["parent_id"], ok=bool(r["ok"]),
                complete=bool(r["ok"]) and r["stage"] >= r["stages"] - 1, score=r["score"],
                failure_kind=r["failure_kind"], failure_message=r["failure_message"] or "",
            )
            for i, r in enumerate(rows, start=1)
        ]

    def proposals(self) -> list[ProposalRow]:
        rows = self._db.execute(
            "SELECT p.*, COALESCE(c.cost, 0) AS cost, COALESCE(c.calls, 0) AS calls FROM proposals p LEFT JOIN"
            " (SELECT proposal_id, SUM(cost) AS cost, COUNT(*) AS calls FROM llm_calls GROUP BY proposal_id) c"
            " ON c.proposal_id = p.id ORDER BY p.id"
        )
        return [_proposal(r) for r in rows]

    def proposal_of(self, program_id: int) -> ProposalRow | None:
        """The proposal that produced ``program_id`` (None for the seed)."""
        row = self._db.execute(
            "SELECT p.*, COALESCE((SELECT SUM(cost) FROM llm_calls WHERE proposal_id = p.id), 0) AS cost,"
            " (SELECT COUNT(*) FROM llm_calls WHERE proposal_id = p.id) AS calls FROM proposals p WHERE p.program_id = ?",
            (program_id,),
        ).fetchone()
        return _proposal(row) if row else None

    def children(self, program_id: int) -> list[int]:
        """Programs whose parent is ``program_id``."""
        return [r[0] for r in self._db.execute("SELECT id FROM programs WHERE parent_id = ? ORDER BY id", (program_id,))]

    def llm_models(self) -> dict[str, tuple[int, float]]:
        """Per model: (calls, dollars), for runs whose proposals name the LLM path, not the model."""
        rows = self._db.execute("SELECT model, COUNT(*), COALESCE(SUM(cost), 0) FROM llm_calls GROUP BY model ORDER BY model")
        return {str(model): (int(n), float(cost)) for model, n, cost in rows}


def _proposal(r: sqlite3.Row) -> ProposalRow:
    return ProposalRow(
        id=r["id"], created_at=r["created_at"], island=r["island"], parent_id=r["parent_id"],
        inspiration_ids=tuple(json.loads(r["inspiration_ids"] or "[]")), proposer=r["proposer"], kind=r["kind"],
        outcome=r["outcome"], message=r["message"] or "", summary=r["summary"] or "", latency_s=r["latency_s"],
        program_id=r["program_id"], cost=float(r["cost"]), llm_calls=int(r["calls"]),
    )
