"""Typed settings of the LLM path: which models, how they are called, what they may cost.

``LLMConfig`` is the ``[llm]`` table of ``problem.toml`` (``[[llm.models]]`` lists the
models); CLI options (``--model``, ``--api-base``, ``--max-cost``...) override it. API keys
are never part of the configuration: a model names the *environment variable* that holds
its key (``api_key_env``), so the key is never written to the run database, a recorded
cache, or a prompt.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, model_validator

from evolve.config.base import StrictModel


_KEY_FIELDS = ("api_key", "key", "token", "secret")


def _reject_inline_keys(data: Any, where: str) -> Any:
    if isinstance(data, dict):
        for name in _KEY_FIELDS:
            if name in data:
                raise ValueError(
                    f"{where}.{name}: API keys are read from the environment only; "
                    "set api_key_env = 'VARIABLE_NAME' and export that variable instead"
                )
    return data


class ModelSpec(StrictModel):
    """One model the search may call.

    ``name`` is ``provider/model``: ``openai/gpt-4o-mini``, ``anthropic/claude-3-5-haiku-latest``,
    or ``openai/<served-name>`` for any OpenAI-compatible server (vLLM, ollama, llama.cpp,
    OpenRouter) together with ``api_base``. A bare name means ``openai/<name>``.
    Routing (``route = "auto"``): the ``openai/`` prefix or an ``api_base`` goes through the
    openai SDK (with an ``api_base`` and another prefix, the whole name is sent as the
    served model name); anything else goes through litellm, an optional extra.
    """

    name: str = Field(min_length=1)
    weight: float = Field(default=1.0, ge=0, description="Prior share of proposals (weighted selection, tie-breaks).")
    api_base: str | None = Field(default=None, description="Base URL of an OpenAI-compatible server, e.g. http://127.0.0.1:8000/v1.")
    api_key_env: str | None = Field(default=None, description="Environment variable holding the key (default OPENAI_API_KEY on the openai route).")
    price_in_per_m: float | None = Field(default=None, ge=0, description="Dollars per 1M prompt tokens (overrides the built-in table).")
    price_out_per_m: float | None = Field(default=None, ge=0, description="Dollars per 1M completion tokens.")
    temperature: float | None = Field(default=None, ge=0, le=2)
    max_tokens: int | None = Field(
        default=None, ge=1,
        description="Reply length cap; default: derived from the EVOLVE-BLOCK's size for models behind an api_base.",
    )
    timeout_s: float | None = Field(default=None, gt=0)
    max_concurrent: int | None = Field(
        default=None, ge=1,
        description="Requests in flight to this model at once; default: the server's slot count where it reports "
        "one (llama.cpp /props), else no limit beyond [run] max_concurrent_proposals.",
    )
    stream: bool | None = Field(default=None, description="Stream replies (default: [llm] stream).")
    gguf: str | None = Field(
        default=None,
        description="A GGUF model file that evolve serves itself with llama.cpp (the 'local' extra, xllamacpp), "
        "one request at a time; --model path/to/model.gguf sets it.",
    )
    threads: int = Field(default=1, ge=1, description="CPU threads of a gguf model's llama.cpp server.")
    prompt_style: Literal["chat", "completion"] | None = Field(
        default=None,
        description="chat: system and user messages; completion: a few-shot 'original / improved program' text "
        "continued by the model (for small base models; full rewrites only). Default: [llm] prompt_style.",
    )
    route: Literal["auto", "openai", "litellm"] = "auto"

    @model_validator(mode="before")
    @classmethod
    def _no_keys(cls, data: Any) -> Any:
        return _reject_inline_keys(data, "llm.models[]")

    @property
    def provider(self) -> str:
        return self.name.split("/", 1)[0] if "/" in self.name else "openai"

    def resolved_route(self) -> Literal["openai", "litellm"]:
        if self.route != "auto":
            return self.route
        if self.provider == "openai" or self.api_base or self.gguf:
            return "openai"
        return "litellm"

    def served_name(self) -> str:
        """The model name sent to the server (the ``openai/`` prefix is ours, not the server's)."""
        if self.resolved_route() == "openai" and self.name.startswith("openai/"):
            return self.name[len("openai/"):]
        return self.name


class EditWeights(StrictModel):
    """Relative frequency of each edit kind. Crossover needs an inspiration; without one it falls back to diff."""

    diff: float = Field(default=0.7, ge=0)
    rewrite: float = Field(default=0.2, ge=0)
    crossover: float = Field(default=0.1, ge=0)

    @model_validator(mode="after")
    def _some_weight(self) -> "EditWeights":
        if self.diff + self.rewrite + self.crossover <= 0:
            raise ValueError("llm.edit_weights: at least one of diff, rewrite, crossover must be positive")
        return self

    def as_dict(self) -> dict[str, float]:
        return {"diff": self.diff, "rewrite": self.rewrite, "crossover": self.crossover}


class LLMConfig(StrictModel):
    """The ``[llm]`` table. With no ``models`` the engine uses the built-in mutator."""

    models: list[ModelSpec] = Field(default_factory=list)
    api_base: str | None = Field(default=None, description="Default api_base for models that set none.")
    api_key_env: str | None = Field(default=None, description="Default api_key_env for models that set none.")
    selection: Literal["ucb", "weighted"] = Field(
        default="ucb", description="ucb: bandit rewarding improvement per dollar; weighted: fixed shares by weight."
    )
    ucb_c: float = Field(default=0.5, ge=0, description="Exploration strength of the UCB1 bandit.")
    edit_weights: EditWeights = EditWeights()
    adaptive_edit_kinds: bool = Field(
        default=False,
        description="Learn which edit kinds (diff, rewrite, crossover) improve their parent: edit_weights become the "
        "priors of a Thompson-sampling bandit (evolve.proposers.operator_bandit).",
    )
    temperature: float = Field(default=0.8, ge=0, le=2)
    max_tokens: int | None = Field(default=None, ge=1, description="Reply length cap for every model (default: derived).")
    max_tokens_floor: int = Field(default=512, ge=1, description="Smallest derived max_tokens.")
    max_tokens_cap: int = Field(default=4096, ge=1, description="Largest derived max_tokens.")
    timeout_s: float = Field(
        default=120.0, gt=0,
        description="Longest silence in one HTTP call: until the first token and between tokens when streaming, "
        "the whole reply when not. Waiting for a free slot of the model does not count.",
    )
    stream: bool = Field(default=True, description="Stream replies, so the timeout measures silence and a complete answer is cut.")
    prompt_style: Literal["chat", "completion"] = Field(
        default="chat", description="The models' default prompt style (see ModelSpec.prompt_style)."
    )
    max_concurrent: int | None = Field(default=None, ge=1, description="Default max_concurrent of every model.")
    retries: int = Field(default=3, ge=0, description="Retries after a 429, 5xx, timeout or connection error.")
    timeout_retries: int = Field(
        default=1, ge=0, description="Of those, retries after a timeout: a model silent for timeout_s twice is too slow for it."
    )
    advise_after_timeouts: int = Field(
        default=3, ge=1, description="Consecutive timed-out calls of a model after which the run prints what to change."
    )
    backoff_s: float = Field(default=1.0, ge=0, description="First retry delay; doubles each retry (with jitter).")
    max_backoff_s: float = Field(default=60.0, ge=0, description="Cap on one retry delay, Retry-After included.")
    breaker_failures: int = Field(default=3, ge=1, description="Consecutive failed calls that open a model's circuit.")
    breaker_cooldown_s: float = Field(default=60.0, ge=0, description="How long an open circuit refuses calls.")
    breaker_trials: int | None = Field(
        default=4, ge=1,
        description="Failed half-open trials after which a model is given up for the session (about 15 minutes of "
        "failures with the default cooldown); when every model is given up the run stops and says why. None: never.",
    )
    max_cost: float | None = Field(default=None, ge=0, description="Stop the run once this many dollars are spent.")
    max_calls: int | None = Field(default=None, ge=0, description="Stop the run after this many HTTP calls.")
    store_text: bool = Field(default=True, description="Store prompts and replies; if false only their sha256 and sizes.")
    max_feedback_chars: int = Field(default=2000, ge=100, description="Evaluator feedback kept per program in a prompt.")
    record: str | None = Field(default=None, description="Append every reply to this JSONL file.")
    replay: str | None = Field(default=None, description="Answer calls from this JSONL file instead of the network.")

    @model_validator(mode="before")
    @classmethod
    def _no_keys(cls, data: Any) -> Any:
        return _reject_inline_keys(data, "llm")

    @model_validator(mode="after")
    def _check(self) -> "LLMConfig":
        names = [m.name for m in self.models]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"llm.models: model {dupes[0]!r} is listed twice; give each model once (use weight)")
        if self.models and sum(m.weight for m in self.models) <= 0:
            raise ValueError("llm.models: all weights are 0; give at least one model a positive weight")
        if self.max_tokens_floor > self.max_tokens_cap:
            raise ValueError(
                f"llm: max_tokens_floor {self.max_tokens_floor} is above max_tokens_cap {self.max_tokens_cap}; lower the floor"
            )
        if self.record and self.replay:
            raise ValueError("llm: record and replay are exclusive; replay a recording into a new run without record")
        return self

    @property
    def enabled(self) -> bool:
        return bool(self.models)

    def effective(self, spec: ModelSpec) -> ModelSpec:
        """``spec`` with the table-wide defaults (api_base, api_key_env, timeout...) filled in."""
        return spec.model_copy(
            update={
                "api_base": spec.api_base or self.api_base,
                "api_key_env": spec.api_key_env or self.api_key_env,
                "temperature": self.temperature if spec.temperature is None else spec.temperature,
                "max_tokens": spec.max_tokens or self.max_tokens,
                "timeout_s": spec.timeout_s or self.timeout_s,
                "max_concurrent": spec.max_concurrent or self.max_concurrent or (1 if spec.gguf else None),
                "stream": self.stream if spec.stream is None else spec.stream,
                "prompt_style": spec.prompt_style or self.prompt_style,
            }
        )


def parse_model_arg(text: str) -> ModelSpec:
    """Parse a CLI ``--model NAME[:WEIGHT]``.

    A trailing ``:<number>`` is a weight, anything else stays part of the name, so ollama
    tags survive: ``ollama-model:7b`` is a name, ``qwen2.5-coder:7b:2`` is that name with
    weight 2. A name ending in ``.gguf`` is a model file evolve serves itself: model
    ``local/<file stem>`` with ``gguf`` set to the file's absolute path.
    """
    text = text.strip()
    if not text:
        raise ValueError("--model: empty model name; expected NAME[:WEIGHT], e.g. openai/gpt-4o-mini:2")
    path, _, weight_text = text.rpartition(":") if text.rpartition(":")[2].replace(".", "", 1).isdigit() else (text, "", "")
    if path.lower().endswith(".gguf"):
        file = Path(path).expanduser().resolve()
        if not file.is_file():
            raise ValueError(f"--model {path}: no such GGUF file")
        return ModelSpec(name=f"local/{file.stem}", gguf=str(file), weight=float(weight_text) if weight_text else 1.0)
    name, sep, tail = text.rpartition(":")
    if sep and name:
        try:
            weight = float(tail)
        except ValueError:
            return ModelSpec(name=text)
        if not math.isfinite(weight) or weight < 0:
            raise ValueError(f"--model {text}: weight must be a finite number >= 0, got {tail!r}")
        return ModelSpec(name=name, weight=weight)
    return ModelSpec(name=text)


def merge_cli_models(config: LLMConfig, args: list[str], api_base: str | None = None) -> LLMConfig:
    """Apply ``--model`` options: a model named on the CLI replaces the file's list.

    A CLI model that the file also lists keeps the file's settings (prices, api_key_env)
    with the CLI's weight, so prices can live in ``problem.toml`` while the CLI picks models.
    """
    if not args:
        return config.updated(api_base=api_base)
    by_name = {m.name: m for m in config.models}
    models = []
    for arg in args:
        spec = parse_model_arg(arg)
        base = by_name.get(spec.name)
        models.append(base.model_copy(update={"weight": spec.weight}) if base else spec)
    return LLMConfig.model_validate({**config.model_dump(), "models": [m.model_dump() for m in models],
                                     **({"api_base": api_base} if api_base else {})})
