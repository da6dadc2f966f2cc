"""evolve: LLM-driven algorithm discovery with MAP-Elites, trusted evaluators and sandboxed candidates.

One concept per module: ``config`` (typed settings), ``problem`` (a problem folder), ``program``
(records), ``database`` (SQLite), ``archive`` (MAP-Elites with islands), ``edits`` / ``replies``
(EVOLVE-BLOCK edits), ``proposers`` (mutator, LLMs), ``evaluation`` / ``executor`` (trusted scoring),
``controller`` (the async loop), ``progress`` / ``dashboard`` (what users see), ``engine`` (wiring).
"""

__version__ = "0.1.0"
