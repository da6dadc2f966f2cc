"""The run store: a run directory, its SQLite database, and what is committed when.

- ``database``: ``RunDatabase``, every proposal, program, evaluation and LLM call;
- ``run``: ``Run``, a private directory holding the database and a snapshot of the problem;
- ``lock``: one writer per run (an flock the kernel drops when the writer dies).
"""

from evolve.store.database import RunDatabase, RunTotals
from evolve.store.lock import RunLocked, held_by
from evolve.store.run import Run, create_run, open_run

__all__ = ["Run", "RunDatabase", "RunLocked", "RunTotals", "create_run", "held_by", "open_run"]
