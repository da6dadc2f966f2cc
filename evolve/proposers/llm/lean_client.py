"""A lean chat client for OpenAI-compatible servers: one POST over asyncio streams, kept alive.

Why: the openai SDK spends about 5 ms of CPU per call on loopback (request building through
its transform layer, httpx's connection pool, pydantic models of the reply), which at 64
concurrent proposals is most of a core. A chat completion is one JSON POST and one JSON
reply, so this client writes the request itself and parses the reply with ``json``:
about a tenth of that cost. It is the client for models with an ``api_base`` (vLLM,
ollama, llama.cpp, OpenRouter, a proxy); the SDK stays the client for the OpenAI default
endpoint.

Same contract as ``OpenAIChatClient``: exactly one HTTP call per ``complete`` (a kept-alive
connection that the server closed while idle is re-dialled once, before anything was
read, since the request never reached a handler), errors as ``LLMCallError`` with the same
outcomes (status codes through ``classify_status``, so ``Retry-After`` is honoured).
Replies stream by default (``spec.stream``): server-sent events read as they come, through
the same ``evolve.proposers.llm.stream.read_stream`` the SDK client uses, so ``timeout``
bounds each silence, a complete answer ends the stream early, and every exit closes the
connection (which tells a server such as llama.cpp to stop generating); a server that
refuses ``stream_options`` is streamed without them. Unstreamed, ``timeout`` bounds the
whole call. HTTP/1.1 with ``Content-Length`` or chunked replies; ``https`` through the
default SSL context. Connections belong to the event loop that opened them, as the SDK's do.
"""

from __future__ import annotations

import asyncio
import json
import ssl
import time
from typing import Any
from urllib.parse import urlsplit

from evolve.config.llm import ModelSpec
from evolve.proposers.llm.answer import AnswerWatch
from evolve.proposers.llm.client import (
    BAD_REQUEST,
    BAD_RESPONSE,
    CONNECTION_ERROR,
    TIMEOUT,
    ChatResult,
    LLMCallError,
    classify_status,
    estimate_tokens,
)
from evolve.proposers.llm.lean_stream import EventStream
from evolve.proposers.llm.results import request_body
from evolve.proposers.llm.stream import read_stream

_MAX_HEADER_BYTES = 64 * 1024
_MAX_BODY_BYTES = 64 * 1024 * 1024


class _Stale(Exception):
    """A kept-alive connection was closed by the server before it answered."""


class LeanChatClient:
    def __init__(self, spec: ModelSpec, key: str) -> None:
        assert spec.api_base, "the lean client needs an api_base"
        url = urlsplit(spec.api_base.rstrip("/"))
        if url.scheme not in ("http", "https") or not url.hostname:
            raise LLMCallError(CONNECTION_ERROR, f"model {spec.name}: api_base {spec.api_base!r} is not an http(s) URL")
        self.spec = spec
        self._tls = url.scheme == "https"
        self._host = url.hostname
        self._port = url.port or (443 if self._tls else 80)
        # completion style (a base model continuing a text) posts to /completions, chat to /chat/completions
        self._text = spec.prompt_style == "completion"
        self._path = f"{url.path}/completions" if self._text else f"{url.path}/chat/completions"
        authority = url.hostname if url.port is None else f"{url.hostname}:{url.port}"
        self._head = (
            f"POST {self._path} HTTP/1.1\r\nHost: {authority}\r\nAuthorization: Bearer {key}\r\n"
            "Content-Type: application/json\r\nAccept: application/json\r\nUser-Agent: evolve\r\n"
        )
        self._idle: list[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = []
        self._loop: asyncio.AbstractEventLoop | None = None
        self._ssl: ssl.SSLContext | None = None
        self._no_stream_options = False

    async def complete(
        self, messages: list[dict[str, str]], *, timeout: float, max_tokens: int | None = None,
        watch: AnswerWatch | None = None,
    ) -> ChatResult:
        body, limit = request_body(self.spec, messages, max_tokens)
        if self._text:  # the prompt is the messages' text, continued until the code block closes
            del body["messages"]
            body.update(prompt="".join(m["content"] for m in messages), stop=["```"])
        if self.spec.stream is not False:
            return await self._streamed(messages, body, timeout, limit, watch)
        payload = json.dumps(body).encode()
        request = (self._head + f"Content-Length: {len(payload)}\r\n\r\n").encode() + payload
        try:
            status, headers, raw = await asyncio.wait_for(self._exchange(request), timeout=timeout)
        except asyncio.TimeoutError:
            raise LLMCallError(TIMEOUT, f"no complete reply within {timeout:g}s") from None
        except (OSError, EOFError, asyncio.IncompleteReadError, ValueError, ssl.SSLError) as exc:
            raise LLMCallError(CONNECTION_ERROR, f"connection failed: {type(exc).__name__}: {exc}") from None
        if not 200 <= status < 300:
            raise classify_status(status, _error_text(raw), headers)
        try:
            data = json.loads(raw)
        except (ValueError, UnicodeDecodeError) as exc:
            raise LLMCallError(BAD_RESPONSE, f"unusable response: the body is not JSON ({exc})") from None
        return _result(data, messages, completion=self._text)

    async def _streamed(
        self, messages: list[dict[str, str]], body: dict[str, Any], timeout: float, limit: int | None,
        watch: AnswerWatch | None,
    ) -> ChatResult:
        """One streamed exchange on its own connection (closed on every exit, see the module docstring)."""
        while True:
            streamed = {**body, "stream": True}
            if not self._no_stream_options:
                streamed["stream_options"] = {"include_usage": True}
            payload = json.dumps(streamed).encode()
            request = (self._head.replace("Accept: application/json", "Accept: text/event-stream")
                       + f"Content-Length: {len(payload)}\r\n\r\n").encode() + payload
            sent_at = time.perf_counter()
            try:
                reader, writer = await asyncio.wait_for(self._dial(), timeout=timeout)
            except asyncio.TimeoutError:
                raise LLMCallError(TIMEOUT, f"no connection within {timeout:g}s") from None
            except (OSError, ssl.SSLError) as exc:
                raise LLMCallError(CONNECTION_ERROR, f"connection failed: {type(exc).__name__}: {exc}") from None
            try:
                writer.write(request)
                await writer.drain()
                status, headers = await asyncio.wait_for(_response_head(reader), timeout=timeout)
                if not 200 <= status < 300:
                    raw = await asyncio.wait_for(_body(reader, headers), timeout=timeout)
                    error = classify_status(status, _error_text(raw), headers)
                    if error.outcome == BAD_REQUEST and "stream_options" in error.message and not self._no_stream_options:
                        self._no_stream_options = True  # an older server: stream without the usage report
                        writer.close()
                        continue
                    raise error
                if "event-stream" not in headers.get("content-type", "").lower():  # the server did not stream
                    raw = await asyncio.wait_for(_body(reader, headers), timeout=timeout)
                    writer.close()
                    try:
                        return _result(json.loads(raw), messages, completion=self._text)
                    except (ValueError, UnicodeDecodeError) as exc:
                        raise LLMCallError(
                            BAD_RESPONSE, f"unusable response: neither an event stream nor JSON ({exc})"
                        ) from None
            except asyncio.TimeoutError:
                writer.close()
                raise LLMCallError(TIMEOUT, f"no response within {timeout:g}s of sending the request") from None
            except (OSError, EOFError, asyncio.IncompleteReadError, ValueError, ssl.SSLError) as exc:
                writer.close()
                raise LLMCallError(CONNECTION_ERROR, f"connection failed: {type(exc).__name__}: {exc}") from None
            except LLMCallError:
                writer.close()
                raise
            return await read_stream(
                EventStream(reader, writer, headers, text=self._text), messages, timeout=timeout, sent_at=sent_at,
                max_tokens=limit,
                watch=watch, classify=_classify_stream_error,
            )

    async def aclose(self) -> None:
        idle, self._idle = self._idle, []
        if self._loop is not asyncio.get_running_loop():
            return
        for _, writer in idle:
            writer.close()

    # -- one exchange -----------------------------------------------------------------------
    async def _exchange(self, request: bytes) -> tuple[int, dict[str, str], bytes]:
        loop = asyncio.get_running_loop()
        if self._loop is not loop:
            self._idle, self._loop = [], loop  # connections of another loop cannot be used here
        while self._idle:
            reader, writer = self._idle.pop()
            try:
                return await self._on(reader, writer, request, reused=True)
            except _Stale:
                continue
        reader, writer = await self._dial()
        return await self._on(reader, writer, request, reused=False)

    async def _dial(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        if self._tls and self._ssl is None:
            self._ssl = ssl.create_default_context()
        return await asyncio.open_connection(self._host, self._port, ssl=self._ssl if self._tls else None,
                                             limit=_MAX_HEADER_BYTES)

    async def _on(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, request: bytes,
                  *, reused: bool) -> tuple[int, dict[str, str], bytes]:
        keep = False
        try:
            writer.write(request)
            await writer.drain()
            line = await reader.readline()
            if not line:
                if reused:
                    raise _Stale()
                raise EOFError("the server closed the connection without answering")
            status = _status(line)
            headers = await _headers(reader)
            body = await _body(reader, headers)
            keep = headers.get("connection", "").lower() != "close"
            return status, headers, body
        except (ConnectionResetError, BrokenPipeError) as exc:
            if reused:
                raise _Stale() from exc
            raise
        finally:
            if keep:
                self._idle.append((reader, writer))
            else:
                writer.close()


async def _response_head(reader: asyncio.StreamReader) -> tuple[int, dict[str, str]]:
    line = await reader.readline()
    if not line:
        raise EOFError("the server closed the connection without answering")
    return _status(line), await _headers(reader)


def _classify_stream_error(exc: Exception) -> LLMCallError | None:
    if isinstance(exc, (OSError, EOFError, asyncio.IncompleteReadError, ssl.SSLError)):
        return LLMCallError(CONNECTION_ERROR, f"stream broke: {type(exc).__name__}: {exc}")
    if isinstance(exc, ValueError):
        return LLMCallError(BAD_RESPONSE, f"unusable stream: {exc}")
    return None


def _status(line: bytes) -> int:
    parts = line.split(None, 2)
    if len(parts) < 2 or not parts[0].startswith(b"HTTP/") or not parts[1].isdigit():
        raise ValueError(f"not an HTTP status line: {line[:80]!r}")
    return int(parts[1])


async def _headers(reader: asyncio.StreamReader) -> dict[str, str]:
    headers: dict[str, str] = {}
    size = 0
    while True:
        line = await reader.readline()
        size += len(line)
        if size > _MAX_HEADER_BYTES:
            raise ValueError("response headers too large")
        if line in (b"\r\n", b"\n", b""):
            return headers
        name, _, value = line.decode("latin-1").partition(":")
        headers[name.strip().lower()] = value.strip()


async def _body(reader: asyncio.StreamReader, headers: dict[str, str]) -> bytes:
    if "chunked" in headers.get("transfer-encoding", "").lower():
        chunks = []
        total = 0
        while True:
            size = int((await reader.readline()).split(b";")[0].strip() or b"0", 16)
            if size == 0:
                while (await reader.readline()) not in (b"\r\n", b"\n", b""):
                    pass  # trailers
                return b"".join(chunks)
            total += size
            if total > _MAX_BODY_BYTES:
                raise ValueError("response body too large")
            chunks.append(await reader.readexactly(size))
            await reader.readline()
    if "content-length" in headers:
        length = int(headers["content-length"])
        if length > _MAX_BODY_BYTES:
            raise ValueError("response body too large")
        return await reader.readexactly(length)
    headers["connection"] = "close"  # delimited by the end of the connection
    return await reader.read(_MAX_BODY_BYTES)


def _error_text(raw: bytes) -> str:
    try:
        data = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        return raw[:300].decode(errors="replace")
    err = data.get("error", data) if isinstance(data, dict) else data
    return str(err.get("message", err) if isinstance(err, dict) else err)


def _result(data: Any, messages: list[dict[str, str]], *, completion: bool = False) -> ChatResult:
    """A chat completion's reply (``choices[0].message.content``), or a text completion's (``choices[0].text``)."""
    try:
        choice = data["choices"][0]
        text = (choice["text"] if completion else choice["message"].get("content")) or ""
        finish = choice.get("finish_reason")
    except (KeyError, IndexError, TypeError, AttributeError):
        where = "choices[0].text" if completion else "choices[0].message"
        raise LLMCallError(BAD_RESPONSE, f"response has no {where}") from None
    if not isinstance(text, str):
        raise LLMCallError(BAD_RESPONSE, "choices[0].message.content is not text")
    usage = data.get("usage") if isinstance(data, dict) else None
    prompt_tokens = usage.get("prompt_tokens") if isinstance(usage, dict) else None
    completion_tokens = usage.get("completion_tokens") if isinstance(usage, dict) else None
    if not isinstance(prompt_tokens, int) or not isinstance(completion_tokens, int):
        prompt = "".join(m.get("content", "") for m in messages)
        return ChatResult(text, estimate_tokens(prompt), estimate_tokens(text), finish, usage_reported=False)
    return ChatResult(text, prompt_tokens, completion_tokens, finish)
