"""evolve: LLM-driven algorithm discovery with MAP-Elites, trusted evaluators and sandboxed candidates.

One concept per module: ``config`` (typed settings), ``problem`` (a problem folder), ``program``
(records), ``database`` (SQLite), ``archive`` (MAP-Elites with islands), ``blocks`` / ``edits`` / ``search_replace`` /
``replies`` (EVOLVE-BLOCK edits), ``mutations`` / ``mutation_sites`` (the AST mutator's operators),
``novelty``, ``llm`` (model clients, prompts, budget, bandit), ``proposers`` (mutator, LLMs), ``evaluation`` / ``executor`` (trusted scoring),
``controller`` (the async loop), ``progress`` / ``dashboard`` (what users see), ``engine`` (wiring).
"""

__version__ = "0.1.0"
