"""What one attempt gives back: a ``ChatResult``, or an ``LLMCallError`` with its outcome.

The outcome strings are what ``llm_calls.outcome`` stores. Shared by the clients and the
stream reader (``evolve.proposers.llm.client`` re-exports them).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

# Outcomes of one attempt, as stored in llm_calls.outcome.
OK = "ok"
RATE_LIMITED = "rate_limited"  # 429
HTTP_ERROR = "http_error"  # 5xx and other unexpected statuses
TIMEOUT = "timeout"
CONNECTION_ERROR = "connection_error"
AUTH_ERROR = "auth_error"  # 401/403: retrying cannot help
BAD_REQUEST = "bad_request"  # 400/404/422: the request itself is wrong
BAD_RESPONSE = "bad_response"  # 200 with a body that is not a chat completion
RETRYABLE = frozenset({RATE_LIMITED, HTTP_ERROR, TIMEOUT, CONNECTION_ERROR, BAD_RESPONSE})


@dataclass(frozen=True)
class ChatResult:
    """A reply. Streamed replies also carry their timings (``tokens_per_s`` derives from them)."""

    text: str
    prompt_tokens: int
    completion_tokens: int
    finish_reason: str | None = None
    usage_reported: bool = True  # False when the server sent no usage and tokens are estimates
    first_token_s: float | None = None  # from sending the request to the first content token
    decode_s: float | None = None  # from the first content token to the last
    streamed: bool = False

    @property
    def tokens_per_s(self) -> float | None:
        """(completion_tokens - 1) / decode_s: the generation rate, without the wait for the first token."""
        if not self.decode_s or self.decode_s <= 0 or self.completion_tokens < 2:
            return None
        return (self.completion_tokens - 1) / self.decode_s


class LLMCallError(Exception):
    """One failed attempt; ``outcome`` is one of the constants above. ``partial`` is what a
    stream delivered before it failed (None when nothing arrived)."""

    def __init__(self, outcome: str, message: str, *, status: int | None = None, retry_after: float | None = None,
                 partial: ChatResult | None = None):
        super().__init__(message)
        self.outcome = outcome
        self.message = message
        self.status = status
        self.retry_after = retry_after
        self.partial = partial

    @property
    def retryable(self) -> bool:
        return self.outcome in RETRYABLE


def estimate_tokens(text: str) -> int:
    """A rough token count (4 characters a token) for servers that report no usage."""
    return max(1, len(text) // 4) if text else 0


def request_body(spec: Any, messages: list[dict[str, str]], max_tokens: int | None) -> tuple[dict[str, Any], int | None]:
    """The JSON body of a chat completion for ``spec`` (model, messages, temperature, the token cap)
    and the cap applied: ``max_tokens`` when given, else the model's own (None: no cap)."""
    body: dict[str, Any] = {"model": spec.served_name(), "messages": messages}
    if spec.temperature is not None:
        body["temperature"] = spec.temperature
    limit = max_tokens if max_tokens is not None else spec.max_tokens
    if limit is not None:
        body["max_tokens"] = limit
    return body, limit
