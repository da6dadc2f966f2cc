"""Reading a streamed chat completion: silence timeout, early cut, partial text kept.

Streaming (``stream=True`` over the OpenAI-compatible API) changes what a timeout means:
``timeout_s`` bounds the *silence* between two events of the stream (the request sent,
the response headers, each chunk), not the reply's total length, so a slow model that
keeps producing tokens is never cut off by its timeout, while a stalled one is noticed
after ``timeout_s`` however long it had been talking.

``read_stream`` consumes one stream and returns a ``ChatResult``, or raises
``LLMCallError`` carrying the text that arrived before the failure (``partial``), so a
timed-out attempt still records what the model said. It closes the stream on every exit
(answer complete, timeout, error, cancellation): closing the HTTP response closes the
connection, which is how a server such as llama.cpp learns to stop generating for a
client that left.

Two cuts end a stream early, both recorded in ``finish_reason``:

- ``answer_complete``: the ``AnswerWatch`` says the expected block is complete; up to
  ``GRACE_CHUNKS`` more chunks are read first, so a model about to stop anyway ends on
  its own and its usage report arrives;
- ``length``: more than ``2 * max_tokens + 64`` chunks arrived, a server ignoring the cap.

Timings: ``first_token_s`` runs from the request to the first content token;
``decode_s`` from the first to the last, so ``tokens_per_s = (n - 1) / decode_s``.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any, Callable

from evolve.proposers.llm.answer import AnswerWatch
from evolve.proposers.llm.results import (
    BAD_RESPONSE, CONNECTION_ERROR, TIMEOUT, ChatResult, LLMCallError, estimate_tokens,
)

GRACE_CHUNKS = 8
ANSWER_COMPLETE = "answer_complete"


async def read_stream(
    stream: Any,
    messages: list[dict[str, str]],
    *,
    timeout: float,
    sent_at: float,
    max_tokens: int | None = None,
    watch: AnswerWatch | None = None,
    classify: Callable[[Exception], LLMCallError | None] | None = None,
) -> ChatResult:
    """Consume ``stream`` (an async iterator of chat-completion chunks); see the module docstring.

    ``classify(exc)`` maps an exception raised mid-stream to an ``LLMCallError`` (the
    client's own error mapping); anything it does not map is a connection error.
    """
    reader = _Reader(messages, sent_at, max_tokens, watch)
    iterator = stream.__aiter__()
    try:
        while True:
            try:
                chunk = await asyncio.wait_for(iterator.__anext__(), timeout)
            except StopAsyncIteration:
                break
            except asyncio.TimeoutError:
                raise reader.error(TIMEOUT, reader.silence_message(timeout)) from None
            except LLMCallError as exc:
                raise reader.error(exc.outcome, exc.message, exc) from None
            except Exception as exc:
                mapped = classify(exc) if classify is not None else None
                if mapped is None:
                    mapped = LLMCallError(CONNECTION_ERROR, f"stream broke: {type(exc).__name__}: {exc}")
                message = reader.silence_message(timeout) if mapped.outcome == TIMEOUT else mapped.message
                raise reader.error(mapped.outcome, message, mapped) from None
            if reader.take(chunk):
                break
    finally:
        await _close(stream)
    return reader.result()


class _Reader:
    def __init__(self, messages: list[dict[str, str]], sent_at: float, max_tokens: int | None,
                 watch: AnswerWatch | None) -> None:
        self.messages = messages
        self.sent_at = sent_at
        self.max_tokens = max_tokens
        self.watch = watch
        self.parts: list[str] = []
        self.tokens = 0  # content chunks: about one token each on llama.cpp, vLLM and OpenAI
        self.chunks = 0
        self.first_at: float | None = None
        self.last_at: float | None = None
        self.finish: str | None = None
        self.usage: tuple[int, int] | None = None
        self.grace: int | None = None  # chunks left after the answer completed

    def take(self, chunk: Any) -> bool:
        """Book one chunk; True when reading should stop."""
        self.chunks += 1
        usage = getattr(chunk, "usage", None)
        if usage is not None:
            prompt, completion = getattr(usage, "prompt_tokens", None), getattr(usage, "completion_tokens", None)
            if isinstance(prompt, int) and isinstance(completion, int):
                self.usage = (prompt, completion)
        content = None
        choices = getattr(chunk, "choices", None) or []
        if choices:
            choice = choices[0]
            delta = getattr(choice, "delta", None)
            content = getattr(delta, "content", None) if delta is not None else None
            if content:
                now = time.perf_counter()
                self.first_at = self.first_at if self.first_at is not None else now
                self.last_at = now
                self.parts.append(content)
                self.tokens += 1
            if getattr(choice, "finish_reason", None):
                self.finish = choice.finish_reason
        if self.grace is not None:
            if self.finish is None:  # still talking after its answer: a few more chunks, then cut
                self.grace -= 1
                if self.grace <= 0:
                    self.finish = ANSWER_COMPLETE
                    return True
            return False
        if self.max_tokens is not None and self.tokens > 2 * self.max_tokens + 64:
            self.finish = "length"
            return True
        if self.watch is not None and self.finish is None and content and "\n" in content:
            if self.watch.complete("".join(self.parts)):
                self.grace = GRACE_CHUNKS
        return False

    def silence_message(self, timeout: float) -> str:
        if self.tokens == 0:
            return (f"no token within {timeout:g}s of the last sign of life (the server may be queueing the request "
                    "or still reading a long prompt)")
        return f"the reply stalled: no token for {timeout:g}s after {self.tokens} tokens"

    def result(self) -> ChatResult:
        text = "".join(self.parts)
        if self.chunks == 0:
            raise LLMCallError(BAD_RESPONSE, "the stream ended without a single chunk (not a chat-completion stream)")
        decode = (self.last_at - self.first_at) if self.first_at is not None and self.last_at is not None else None
        first = (self.first_at - self.sent_at) if self.first_at is not None else None
        if self.usage is not None:
            prompt, completion = self.usage
            return ChatResult(text, prompt, completion, self.finish, True, first, decode, streamed=True)
        prompt = estimate_tokens("".join(m.get("content", "") for m in self.messages))
        return ChatResult(text, prompt, max(self.tokens, estimate_tokens(text)), self.finish, False, first, decode,
                          streamed=True)

    def error(self, outcome: str, message: str, cause: LLMCallError | None = None) -> LLMCallError:
        partial = None
        if self.parts:
            try:
                partial = self.result()
            except LLMCallError:
                partial = None
        return LLMCallError(
            outcome, message, status=cause.status if cause else None,
            retry_after=cause.retry_after if cause else None, partial=partial,
        )


async def _close(stream: Any) -> None:
    """Close the HTTP response (and so the connection) without letting a slow close hang the run."""
    for name in ("aclose", "close"):
        method = getattr(stream, name, None)
        if method is None:
            continue
        try:
            outcome = method()
            if asyncio.iscoroutine(outcome):
                await asyncio.wait_for(outcome, 5.0)
        except Exception:  # closing a broken stream: nothing more to do
            pass
        return
