"""The LLM path: clients, reliability, budget, bandit, prompts, record/replay.

``LLMProposer`` (``proposer``) is the entry point the engine uses; the other modules are
its parts, each usable and tested on its own:

- ``client``: one HTTP call through the openai SDK (or litellm), errors classified;
- ``reliability``: retry delays and per-model circuit breakers;
- ``budget``: the dollar / call cap, safe under concurrency;
- ``pricing``: dollars per token;
- ``bandit``: which model to ask next;
- ``prompt`` + ``templates``: the messages for one proposal (and the lineage notes' text);
- ``cache``: record/replay of replies;
- ``caller``: one logical call, with all of the above applied;
- ``options``: what the CLI needs (apply options, check models, ping them).

The settings live in ``evolve.config.llm``. Nothing heavy is imported here: the openai SDK
loads only when a client is made.
"""

from evolve.proposers.llm.options import ModelHealth, apply_cli_options, check_models, ping_models

__all__ = ["ModelHealth", "apply_cli_options", "check_models", "ping_models"]
