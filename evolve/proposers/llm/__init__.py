"""The LLM path: clients, reliability, budget, bandit, prompts, record/replay.

``LLMProposer`` (``proposer``) is the entry point the engine uses; the other modules are
its parts, each usable and tested on its own:

- ``client``: one HTTP call through the openai SDK (or litellm), errors classified
  (``results``: what an attempt gives back);
- ``stream``: reading a streamed reply (silence timeout, early cut, partial text kept);
- ``answer``: when a streamed reply already holds its complete answer;
- ``reply_length``: the default ``max_tokens``, from the size of what the model must write;
- ``slots``: per-model concurrency, from the config or the server's slot count;
- ``reliability``: retry delays and per-model circuit breakers;
- ``advice``: what to change when a model keeps timing out, from its measured speed;
- ``budget``: the dollar / call cap, safe under concurrency;
- ``pricing``: dollars per token;
- ``bandit``: which model to ask next;
- ``prompt`` + ``templates``: the messages for one proposal (and the lineage notes' text);
- ``cache``: record/replay of replies;
- ``caller``: one logical call, with all of the above applied;
- ``options``: what the CLI needs (apply options, check models, ping and measure them);
- ``measure``: a model's speed on a real prompt and the settings that follow.

The settings live in ``evolve.config.llm``. Nothing heavy is imported here: the openai SDK
loads only when a client is made.
"""

from evolve.proposers.llm.options import MeasurePrompt, ModelHealth, apply_cli_options, check_models, ping_models

__all__ = ["MeasurePrompt", "ModelHealth", "apply_cli_options", "check_models", "ping_models"]
