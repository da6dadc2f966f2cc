"""The LLM path: model configuration, clients, reliability, budget, bandit, prompts, record/replay.

``LLMProposer`` (``evolve.llm.proposer``) is the entry point the engine uses; the other
modules are its parts, each usable and tested on its own:

- ``config``: ``ModelSpec`` / ``LLMConfig``, the ``[llm]`` table of problem.toml;
- ``client``: one HTTP call through the openai SDK (or litellm), errors classified;
- ``reliability``: retry delays and per-model circuit breakers;
- ``budget``: the dollar / call cap, safe under concurrency;
- ``pricing``: dollars per token;
- ``bandit``: which model to ask next;
- ``prompt`` + ``templates``: the messages for one proposal;
- ``cache``: record/replay of replies;
- ``caller``: one logical call, with all of the above applied.
"""

from evolve.llm.config import LLMConfig, ModelSpec, merge_cli_models, parse_model_arg

__all__ = ["LLMConfig", "ModelSpec", "merge_cli_models", "parse_model_arg"]
