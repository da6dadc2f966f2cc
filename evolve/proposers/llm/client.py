"""Chat clients: one request in, one reply (or one classified error) out.

A client does exactly one HTTP call, with no retries of its own, so that every attempt
is visible to the caller: the caller (``evolve.proposers.llm.caller``) retries, spends budget,
trips circuit breakers and records a row per attempt. Provider errors become
``LLMCallError`` with an ``outcome`` the run database stores.

``OpenAIChatClient`` speaks the OpenAI chat-completions API through the openai SDK to
any base URL (OpenAI, vLLM, ollama, llama.cpp server, OpenRouter). ``LiteLLMChatClient``
routes other providers through litellm, an optional extra imported only when used.
"""

from __future__ import annotations

import asyncio
import email.utils
import os
import time
from typing import Any, Protocol

from evolve.config.llm import ModelSpec
from evolve.proposers.llm.answer import AnswerWatch
from evolve.proposers.llm.results import (  # noqa: F401 - re-exported: the outcomes live with the clients
    AUTH_ERROR, BAD_REQUEST, BAD_RESPONSE, CONNECTION_ERROR, HTTP_ERROR, OK, RATE_LIMITED, RETRYABLE, TIMEOUT,
    ChatResult, LLMCallError, estimate_tokens, request_body,
)
from evolve.proposers.llm.stream import read_stream


class ChatClient(Protocol):
    async def complete(
        self, messages: list[dict[str, str]], *, timeout: float, max_tokens: int | None = None,
        watch: AnswerWatch | None = None,
    ) -> ChatResult:
        """One chat completion; raise LLMCallError on any failure. ``max_tokens`` overrides the
        spec's; ``watch`` lets a streamed reply end once its answer is complete."""

    async def aclose(self) -> None: ...


def api_key_for(spec: ModelSpec) -> str | None:
    """The key from the environment variable the spec names (OPENAI_API_KEY by default)."""
    return os.environ.get(spec.api_key_env or "OPENAI_API_KEY") or None


class OpenAIChatClient:
    """The openai SDK's AsyncOpenAI against ``spec.api_base`` (the SDK's default when unset)."""

    def __init__(self, spec: ModelSpec) -> None:
        import openai

        key = api_key_for(spec)
        if key is None:
            if not spec.api_base:
                var = spec.api_key_env or "OPENAI_API_KEY"
                raise LLMCallError(AUTH_ERROR, f"model {spec.name}: no API key; export {var} (keys come only from the environment)")
            key = "unused"  # local OpenAI-compatible servers accept any key
        self.spec = spec
        self._openai = openai
        self._key = key
        self._client: Any = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._no_stream_options = False

    def _sdk(self) -> Any:
        """The SDK client of the running event loop (its connection pool cannot outlive a loop)."""
        loop = asyncio.get_running_loop()
        if self._client is None or self._loop is not loop:
            self._client = self._openai.AsyncOpenAI(api_key=self._key, base_url=self.spec.api_base or None, max_retries=0)
            self._loop = loop
        return self._client

    async def complete(
        self, messages: list[dict[str, str]], *, timeout: float, max_tokens: int | None = None,
        watch: AnswerWatch | None = None,
    ) -> ChatResult:
        kwargs, limit = request_body(self.spec, messages, max_tokens)
        if self.spec.stream is not False:
            return await self._streamed(messages, kwargs, timeout, limit, watch)
        try:
            # The SDK's timeout bounds each read; wait_for bounds the whole call (a slow drip).
            response = await asyncio.wait_for(
                self._sdk().chat.completions.create(timeout=timeout, **kwargs), timeout=timeout + 0.5
            )
        except Exception as exc:
            mapped = self._classify(exc, f"no complete reply within {timeout:g}s")
            if mapped is None:
                raise
            raise mapped from None
        return _result_from(response, messages)

    async def _streamed(
        self, messages: list[dict[str, str]], kwargs: dict[str, Any], timeout: float, limit: int | None,
        watch: AnswerWatch | None,
    ) -> ChatResult:
        """Stream the reply: the timeout bounds each silence (see ``evolve.proposers.llm.stream``)."""
        while True:
            sent_at = time.perf_counter()
            options = {} if self._no_stream_options else {"stream_options": {"include_usage": True}}
            try:
                stream = await asyncio.wait_for(
                    self._sdk().chat.completions.create(timeout=timeout, stream=True, **options, **kwargs),
                    timeout=timeout + 0.5,
                )
                break
            except Exception as exc:
                mapped = self._classify(exc, f"no response within {timeout:g}s of sending the request")
                if mapped is None:
                    raise
                if options and mapped.outcome == BAD_REQUEST and "stream_options" in mapped.message:
                    self._no_stream_options = True  # an older server: stream without the usage report
                    continue
                raise mapped from None
        return await read_stream(
            stream, messages, timeout=timeout, sent_at=sent_at, max_tokens=limit, watch=watch,
            classify=lambda exc: self._classify(exc, f"no data for {timeout:g}s"),
        )

    def _classify(self, exc: BaseException, timeout_message: str) -> LLMCallError | None:
        """The LLMCallError for an exception of the SDK; None for one it does not know."""
        openai = self._openai
        if isinstance(exc, (asyncio.TimeoutError, openai.APITimeoutError)):
            return LLMCallError(TIMEOUT, timeout_message)
        if isinstance(exc, openai.APIConnectionError):
            return LLMCallError(CONNECTION_ERROR, f"connection failed: {_cause(exc)}")
        if isinstance(exc, openai.APIStatusError):
            return classify_status(exc.status_code, _body_text(exc), _headers(exc))
        if isinstance(exc, (openai.APIError, ValueError)):  # e.g. a 200 whose body is not JSON
            return LLMCallError(BAD_RESPONSE, f"unusable response: {type(exc).__name__}: {exc}")
        return None

    async def aclose(self) -> None:
        if self._client is not None and self._loop is asyncio.get_running_loop():
            await self._client.close()
        self._client = None


def import_litellm(*, required: bool = True) -> Any:
    """Import litellm with its bundled cost map (no network fetch at import), or explain how to install it."""
    os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
    try:
        import litellm
    except ImportError:
        if not required:
            return None
        raise LLMCallError(
            BAD_REQUEST,
            "this model needs the litellm extra: pip install 'evolve[litellm]' "
            "(or serve it behind an OpenAI-compatible api_base)",
        ) from None
    litellm.telemetry = False
    return litellm


class LiteLLMChatClient:
    """litellm.acompletion for providers without an OpenAI-compatible endpoint (Anthropic, Gemini, Bedrock...)."""

    def __init__(self, spec: ModelSpec) -> None:
        self.spec = spec
        self._litellm = import_litellm()

    async def complete(
        self, messages: list[dict[str, str]], *, timeout: float, max_tokens: int | None = None,
        watch: AnswerWatch | None = None,
    ) -> ChatResult:
        kwargs: dict[str, Any] = {"model": self.spec.served_name(), "messages": messages, "timeout": timeout, "num_retries": 0}
        if self.spec.api_base:
            kwargs["api_base"] = self.spec.api_base
        key = os.environ.get(self.spec.api_key_env) if self.spec.api_key_env else None
        if key:
            kwargs["api_key"] = key
        elif self.spec.api_base and self.spec.provider == "openai" and not os.environ.get("OPENAI_API_KEY"):
            kwargs["api_key"] = "unused"  # a local OpenAI-compatible server; other providers' keys litellm finds itself
        if self.spec.temperature is not None:
            kwargs["temperature"] = self.spec.temperature
        limit = max_tokens if max_tokens is not None else self.spec.max_tokens
        if limit is not None:
            kwargs["max_tokens"] = limit
        stream = self.spec.stream is not False
        if stream:
            kwargs.update(stream=True, stream_options={"include_usage": True})
        sent_at = time.perf_counter()
        try:
            response = await asyncio.wait_for(self._litellm.acompletion(**kwargs), timeout=timeout + 0.5)
        except asyncio.TimeoutError:
            raise LLMCallError(TIMEOUT, f"no complete reply within {timeout:g}s") from None
        except Exception as exc:  # litellm maps providers' errors onto openai-like classes
            raise _litellm_error(exc) from None
        if stream:
            return await read_stream(response, messages, timeout=timeout, sent_at=sent_at, max_tokens=limit,
                                     watch=watch, classify=_litellm_error)
        return _result_from(response, messages)

    async def aclose(self) -> None:
        return None


def _litellm_error(exc: BaseException) -> LLMCallError:
    """litellm maps providers' errors onto openai-like classes with a ``status_code``."""
    status = getattr(exc, "status_code", None)
    if isinstance(status, int):
        return classify_status(status, str(exc), _headers(exc))
    name = type(exc).__name__.lower()
    outcome = TIMEOUT if "timeout" in name else CONNECTION_ERROR if "connection" in name else HTTP_ERROR
    return LLMCallError(outcome, f"{type(exc).__name__}: {exc}")


def make_client(spec: ModelSpec) -> ChatClient:
    """The client for ``spec``'s route (see ModelSpec): an OpenAI-compatible ``api_base`` gets the
    lean client (``lean_client``, a tenth of the SDK's CPU per call), OpenAI itself the SDK."""
    if spec.gguf:
        from evolve.proposers.llm.local_model import LocalModelClient

        return LocalModelClient(spec)
    if spec.resolved_route() == "openai":
        if spec.api_base:
            from evolve.proposers.llm.lean_client import LeanChatClient

            return LeanChatClient(spec, api_key_for(spec) or "unused")  # local servers accept any key
        return OpenAIChatClient(spec)
    return LiteLLMChatClient(spec)


def classify_status(status: int, body: str, headers: dict[str, str]) -> LLMCallError:
    """Map an HTTP status to an outcome; 429 and 5xx are retryable, honouring Retry-After."""
    detail = f"HTTP {status}: {body[:300]}".strip()
    if status == 429:
        return LLMCallError(RATE_LIMITED, detail, status=status, retry_after=parse_retry_after(headers))
    if status in (401, 403):
        return LLMCallError(AUTH_ERROR, detail, status=status)
    if status >= 500 or status in (408, 409):
        return LLMCallError(HTTP_ERROR, detail, status=status, retry_after=parse_retry_after(headers))
    return LLMCallError(BAD_REQUEST, detail, status=status)


def parse_retry_after(headers: dict[str, str]) -> float | None:
    """Seconds from ``Retry-After`` (delta-seconds or an HTTP date) or ``retry-after-ms``; None if absent."""
    lowered = {k.lower(): v for k, v in headers.items()}
    if "retry-after-ms" in lowered:
        try:
            return max(0.0, float(lowered["retry-after-ms"]) / 1000)
        except ValueError:
            pass
    value = lowered.get("retry-after")
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
        return max(0.0, when.timestamp() - time.time())


def _result_from(response: Any, messages: list[dict[str, str]]) -> ChatResult:
    try:
        choice = response.choices[0]
        text = choice.message.content or ""
        finish = choice.finish_reason
    except (AttributeError, IndexError, TypeError, KeyError):
        raise LLMCallError(BAD_RESPONSE, "response has no choices[0].message") from None
    usage = getattr(response, "usage", None)
    prompt_tokens = getattr(usage, "prompt_tokens", None) if usage is not None else None
    completion_tokens = getattr(usage, "completion_tokens", None) if usage is not None else None
    if prompt_tokens is None or completion_tokens is None:
        prompt = "".join(m.get("content", "") for m in messages)
        return ChatResult(text, estimate_tokens(prompt), estimate_tokens(text), finish, usage_reported=False)
    return ChatResult(text, int(prompt_tokens), int(completion_tokens), finish)


def _headers(exc: Any) -> dict[str, str]:
    response = getattr(exc, "response", None)
    headers = getattr(response, "headers", None)
    try:
        return dict(headers.items()) if headers is not None else {}
    except Exception:  # a provider's exotic header object: no Retry-After then
        return {}


def _body_text(exc: Any) -> str:
    body = getattr(exc, "body", None)
    if isinstance(body, dict):
        err = body.get("error", body)
        return str(err.get("message", err) if isinstance(err, dict) else err)
    return str(body if body is not None else exc)


def _cause(exc: BaseException) -> str:
    cause = exc.__cause__ or exc.__context__
    return f"{type(cause).__name__}: {cause}" if cause else str(exc)
