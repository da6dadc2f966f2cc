"""The loop: select, propose, commit, evaluate, commit, insert, until the budget is spent.

- ``controller``: the asynchronous steady-state loop itself;
- ``commit``: what a proposal becomes (candidate, edit_failed, duplicate, novelty_rejected);
- ``novelty``: near-duplicate detection behind that rule;
- ``lineage``: bounded notes on a parent's failed edits and children, for its next prompts;
- ``ledger``: the run's LLM spending, committed as rows;
- ``cascade``: the bar each cascade stage's score must reach;
- ``holdout``: which programs are re-scored on the holdout split;
- ``checkpoint``: the controller's rebuilt state as JSON, so resume replays only a tail;
- ``engine``: wiring a run, its proposer, executor and observer together (``execute``),
  and the graceful stop on Ctrl-C / SIGTERM.
"""

from evolve.loop.controller import Controller, RunError
from evolve.loop.engine import Scored, execute, executor_for, holdout, score_problem

__all__ = ["Controller", "RunError", "Scored", "execute", "executor_for", "holdout", "score_problem"]
