"""evolve: LLM-driven algorithm discovery with MAP-Elites, trusted evaluators and sandboxed candidates.

One concept per module:

- ``config`` (typed settings), ``problem`` (a problem folder), ``program`` (records),
  ``database`` (SQLite), ``run`` (a run directory);
- ``archive`` (MAP-Elites with islands), ``novelty`` (near-duplicate rejection);
- ``blocks`` / ``edits`` / ``search_replace`` / ``replies`` (EVOLVE-BLOCK edits and LLM replies);
- ``proposers`` (the interface), ``mutations`` / ``mutation_sites`` (the AST mutator's
  operators), ``llm`` (model clients, prompts, budget, bandit, record/replay);
- ``evaluation`` / ``executor`` (trusted scoring in a pool of evaluator processes);
- ``controller`` (the asynchronous loop), ``progress`` / ``dashboard`` (what users see),
  ``engine`` (wiring).
"""

__version__ = "0.1.0"
