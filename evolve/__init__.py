"""evolve: LLM-driven algorithm discovery with MAP-Elites, trusted evaluators and sandboxed candidates.

The subpackages read like the loop:

- ``config``: typed settings, the ground floor (``problem.toml`` validated strictly);
- ``records``: the plain records passed around (programs, evaluations, proposals, LLM calls)
  and the status enums; ``problem``: a problem folder on disk, ``problem_checks``: what
  ``evolve check`` finds wrong with one, ``scaffold``: a new one from a template (``evolve init``);
- ``archive``: MAP-Elites grids with islands, and their selection, acceptance and
  migration policies;
- ``proposers``: the interface, the built-in AST ``mutator`` and the ``llm`` path;
- ``edits``: EVOLVE-BLOCKs, reply parsing, SEARCH/REPLACE, applying an edit safely;
- ``evaluation``: the trusted side (scoring a program against a sandboxed candidate) and
  the executor that runs it;
- ``store``: the run directory and its SQLite database;
- ``loop``: the controller, its commit rules, novelty, lineage notes, the LLM ledger, and
  the wiring (``execute``);
- ``views``: what users see of a running search (progress state, the rich dashboard with its
  windowed ``rate``, plain lines);
- ``report``: what users see of a run afterwards (the HTML/Markdown report, ``show``,
  ``lineage``, ``failures``, ``export``), read-only; ``api``: all of it from Python.

Dependencies point down this list, except that ``report`` and ``api`` sit on top and read
every layer (``config`` and ``records`` import nothing above them; ``views`` import only
``progress`` and ``rate``); the sandbox (``sandbox``) imports nothing of the engine.
"""

__version__ = "0.1.0"
