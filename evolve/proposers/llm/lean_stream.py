"""Server-sent events of a streamed chat completion, read from a raw HTTP/1.1 response.

``EventStream`` is the async iterator ``evolve.proposers.llm.stream.read_stream`` consumes
(it reads chunks the way the openai SDK's stream yields them: objects with ``choices``,
``delta``, ``finish_reason`` and ``usage`` attributes; a text completion's ``text`` is read
as a delta's ``content``). It decodes the body (chunked
transfer encoding or read to the connection's end), splits it into ``data:`` events, stops
at ``data: [DONE]``, and closes the connection when closed, which is how the server learns
that the client left. Every size is bounded: an event may not exceed ``MAX_EVENT_BYTES``.
"""

from __future__ import annotations

import asyncio
import json
from types import SimpleNamespace
from typing import Any

MAX_EVENT_BYTES = 1 << 20


class EventStream:
    def __init__(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, headers: dict[str, str], *, text: bool = False
    ) -> None:
        self._text = text  # text completions: each choice's "text" is read as a chat delta's content
        self._reader = reader
        self._writer = writer
        self._chunked = "chunked" in headers.get("transfer-encoding", "").lower()
        self._buffer = b""
        self._eof = False
        self._done = False

    def __aiter__(self) -> "EventStream":
        return self

    async def __anext__(self) -> Any:
        while not self._done:
            event = self._take_event()
            if event is None:
                if self._eof:
                    self._done = True
                    break
                await self._fill()
                continue
            data = _data_of(event)
            if data is None:
                continue  # a comment or a field other than data: (keep-alives)
            if data.strip() == b"[DONE]":
                self._done = True
                break
            try:
                chunk = json.loads(data)
            except (ValueError, UnicodeDecodeError) as exc:
                raise ValueError(f"an event is not JSON: {exc}") from None
            if self._text and isinstance(chunk, dict):
                for choice in chunk.get("choices") or []:
                    if isinstance(choice, dict) and "text" in choice:
                        choice["delta"] = {"content": choice.pop("text")}
            return _namespace(chunk)
        raise StopAsyncIteration

    async def aclose(self) -> None:
        self._done = True
        self._writer.close()
        try:
            await asyncio.wait_for(self._writer.wait_closed(), 2.0)
        except (asyncio.TimeoutError, OSError):
            pass

    def _take_event(self) -> bytes | None:
        buffer = self._buffer.replace(b"\r\n", b"\n") if b"\r" in self._buffer else self._buffer
        end = buffer.find(b"\n\n")
        if end < 0:
            if len(buffer) > MAX_EVENT_BYTES:
                raise ValueError(f"an event is longer than {MAX_EVENT_BYTES} bytes")
            self._buffer = buffer
            return None
        self._buffer = buffer[end + 2 :]
        return buffer[:end]

    async def _fill(self) -> None:
        if self._chunked:
            line = await self._reader.readline()
            if not line:
                self._eof = True
                return
            size = int(line.split(b";")[0].strip() or b"0", 16)
            if size == 0:
                self._eof = True
                return
            if size > MAX_EVENT_BYTES:
                raise ValueError("a chunk is too large")
            self._buffer += await self._reader.readexactly(size)
            await self._reader.readline()
            return
        data = await self._reader.read(65536)
        if not data:
            self._eof = True
        self._buffer += data


def _data_of(event: bytes) -> bytes | None:
    lines = [line[5:].lstrip(b" ") for line in event.split(b"\n") if line.startswith(b"data:")]
    return b"\n".join(lines) if lines else None


def _namespace(value: Any) -> Any:
    if isinstance(value, dict):
        return SimpleNamespace(**{str(k): _namespace(v) for k, v in value.items()})
    if isinstance(value, list):
        return [_namespace(v) for v in value]
    return value
