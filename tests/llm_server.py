"""A real OpenAI-compatible HTTP server on loopback, scripted per request, for tests and demos.

It serves ``POST /v1/chat/completions`` (a JSON body with ``usage``, or a server-sent-event
stream when the request says ``stream: true``), ``GET /v1/models`` and, when it has a slot
count, llama.cpp's ``GET /props`` (``total_slots``) and ``GET /slots``, from a thread on
127.0.0.1 with an ephemeral port, so the engine is tested through the real openai SDK and
real sockets with no paid API. Each request is answered by the next item of the script
queue, or by ``responder(request)`` when the queue is empty:

- ``Reply(text)``: a completion (``finish_reason`` "length" for truncated output); streamed
  as 4-character tokens, optionally paced (``tokens_per_s``) or stalling mid-reply
  (``stall_after`` tokens, then ``stall_s`` of silence);
- ``Status(429, retry_after=1)``, ``Status(500)``: an error status with an OpenAI error body;
- ``Raw(b"not json")``: a 200 with a broken body;
- ``Hang(seconds)``: accept and say nothing, then drop the connection; bounded, and
  released when the server stops, so a test always ends by itself.

Like llama.cpp, the server notices a client that closes its connection (a timeout, a cut
reply) and stops generating for it: the request is marked ``abandoned``. With ``slots=N``
it serves at most N chat requests at once and queues the rest, as a one-slot llama.cpp
server does. Every request is recorded (headers, parsed body, arrival time, time queued
for a slot, time spent answering, tokens sent).

Run it standalone for a demo: ``python tests/llm_server.py --reply-file r.txt --tokens-per-s 15 --slots 1``.
"""

from __future__ import annotations

import collections
import json
import select
import socket
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Callable, Union

TOKEN_CHARS = 4  # one streamed token is this many characters of the reply


@dataclass(frozen=True)
class Reply:
    text: str
    delay_s: float = 0.0  # silence before the response starts (prompt processing)
    finish_reason: str = "stop"
    prompt_tokens: int | None = None  # None: len(prompt) // 4
    completion_tokens: int | None = None  # None: len(text) // 4
    usage: bool = True  # False: omit the usage object, as some local servers do
    tokens_per_s: float | None = None  # streamed: pace of tokens; None: all at once
    stall_after: int | None = None  # streamed: after this many tokens go silent...
    stall_s: float = 0.0  # ...for this long, then go on


@dataclass(frozen=True)
class Status:
    code: int
    message: str = "scripted error"
    retry_after: float | None = None
    delay_s: float = 0.0


@dataclass(frozen=True)
class Raw:
    body: bytes
    code: int = 200
    content_type: str = "application/json"


@dataclass(frozen=True)
class Hang:
    seconds: float = 10.0


Action = Union[Reply, Status, Raw, Hang]


@dataclass
class RecordedRequest:
    method: str
    path: str
    headers: dict[str, str]  # names lower-cased
    body: dict[str, Any]
    arrived_at: float
    served_s: float = 0.0  # time the server spent on it, scripted delays and slot queueing included
    action: str = ""
    queued_s: float = 0.0  # time spent waiting for a free slot
    tokens_sent: int = 0  # streamed tokens written before the reply ended or the client left
    abandoned: bool = False  # the client closed the connection before the reply was complete
    finished_at: float = 0.0

    @property
    def model(self) -> str:
        return str(self.body.get("model", ""))

    @property
    def prompt(self) -> str:
        return "\n".join(str(m.get("content", "")) for m in self.body.get("messages", []))

    @property
    def stream(self) -> bool:
        return bool(self.body.get("stream"))


def truncated(text: str, keep: float = 0.5) -> Reply:
    """A reply cut off mid-way by the token limit."""
    return Reply(text[: max(1, int(len(text) * keep))], finish_reason="length")


@dataclass
class LLMServer:
    """Start with ``with LLMServer() as server:``; ``server.base_url`` is the ``/v1`` URL.

    ``slots``: serve at most this many chat requests at once (None: unlimited); the count is
    published at ``slot_endpoints`` (``/props`` and ``/slots``, as llama.cpp does).
    """

    responder: Callable[[RecordedRequest], Action] | None = None
    models: tuple[str, ...] = ("loopback-model",)
    requests: list[RecordedRequest] = field(default_factory=list)
    slots: int | None = None
    slot_endpoints: tuple[str, ...] = ("/props", "/slots")  # where the slot count is published; () for none

    def __post_init__(self) -> None:
        self._queue: collections.deque[Action] = collections.deque()
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._httpd: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._slots = threading.Semaphore(self.slots) if self.slots else None
        self._busy = 0
        self.peak_busy = 0  # most chat requests served at once
        self.peak_open = 0  # most chat requests open at once (served or queued)
        self._open = 0

    # -- lifecycle ------------------------------------------------------------------------
    def start(self) -> "LLMServer":
        server = self

        class Handler(_Handler):
            owner = server

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05}, name="llm-loopback", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopping.set()
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._httpd = None

    def __enter__(self) -> "LLMServer":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def port(self) -> int:
        assert self._httpd is not None, "server not started"
        return self._httpd.server_address[1]

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    # -- scripting ------------------------------------------------------------------------
    def script(self, *actions: Action) -> None:
        with self._lock:
            self._queue.extend(actions)

    def pending(self) -> int:
        with self._lock:
            return len(self._queue)

    def chat_requests(self) -> list[RecordedRequest]:
        with self._lock:
            return [r for r in self.requests if r.path.endswith("/chat/completions")]

    def abandoned(self) -> list[RecordedRequest]:
        """Chat requests whose client left before the reply was complete."""
        return [r for r in self.chat_requests() if r.abandoned]

    def _next_action(self, request: RecordedRequest) -> Action:
        with self._lock:
            if self._queue:
                return self._queue.popleft()
        if self.responder is not None:
            return self.responder(request)
        return Status(503, "loopback server: script exhausted and no responder set")

    def _record(self, request: RecordedRequest) -> None:
        with self._lock:
            self.requests.append(request)

    def _count(self, attr: str, delta: int) -> None:
        with self._lock:
            value = getattr(self, attr) + delta
            setattr(self, attr, value)
            peak = "peak_busy" if attr == "_busy" else "peak_open"
            setattr(self, peak, max(getattr(self, peak), value))

    def slot_states(self) -> list[dict[str, Any]]:
        with self._lock:
            busy = self._busy
        return [{"id": i, "is_processing": i < busy} for i in range(self.slots or 0)]


class _Handler(BaseHTTPRequestHandler):
    owner: LLMServer
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # headers and body are two writes: avoid the 40 ms delayed-ACK stall

    def log_message(self, format: str, *args: Any) -> None:  # keep test output clean
        return

    def do_GET(self) -> None:
        start = time.perf_counter()
        request = self._request({})
        path = self.path.rstrip("/")
        reports = self.owner.slot_endpoints if self.owner.slots is not None else ()
        if path.endswith("/models"):
            data = [{"id": m, "object": "model", "created": 0, "owned_by": "loopback"} for m in self.owner.models]
            self._json(200, {"object": "list", "data": data})
        elif path == "/props" and path in reports:
            self._json(200, {"total_slots": self.owner.slots, "model_path": self.owner.models[0]})
        elif path == "/slots" and path in reports:
            self._send(200, json.dumps(self.owner.slot_states()).encode(), "application/json", {})
        else:
            self._json(404, _error_body("no such route", "not_found"))
        request.served_s = time.perf_counter() - start

    def do_POST(self) -> None:
        start = time.perf_counter()
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        try:
            body = json.loads(raw or b"{}")
        except json.JSONDecodeError:
            body = {"_unparseable": raw.decode(errors="replace")}
        request = self._request(body)
        if not self.path.rstrip("/").endswith("/chat/completions"):
            self._json(404, _error_body("no such route", "not_found"))
            return
        held = {"open": True, "slot": False}

        def release() -> None:
            """This request's generation is over: free its slot and its counts (once).

            Called before the last bytes of a reply go out, as a real server frees a slot when
            generation ends: a client that waits for the end of one reply before sending the
            next is then never seen overlapping it, however the threads are scheduled.
            """
            with self.owner._lock:
                slot, still_open = held["slot"], held["open"]
                held["slot"] = held["open"] = False
            if slot:
                self.owner._count("_busy", -1)
                if self.owner._slots is not None:
                    self.owner._slots.release()
            if still_open:
                self.owner._count("_open", -1)

        self._release = release
        self.owner._count("_open", 1)
        try:
            if self._take_slot(request):
                held["slot"] = True
                self.owner._count("_busy", 1)
                action = self.owner._next_action(request)
                request.action = type(action).__name__
                self._act(action, request)
        finally:
            release()
            request.served_s = time.perf_counter() - start
            request.finished_at = time.time()

    def _take_slot(self, request: RecordedRequest) -> bool:
        """Wait for a free slot (none needed without ``slots``); False if the client left meanwhile."""
        slots = self.owner._slots
        if slots is None:
            return True
        started = time.perf_counter()
        while not slots.acquire(timeout=0.02):
            if self.owner._stopping.is_set() or self._client_gone():
                request.abandoned = True
                request.queued_s = time.perf_counter() - started
                self.close_connection = True
                return False
        request.queued_s = time.perf_counter() - started
        return True

    def _request(self, body: dict[str, Any]) -> RecordedRequest:
        request = RecordedRequest(self.command, self.path, {k.lower(): v for k, v in self.headers.items()}, body, time.time())
        self.owner._record(request)
        return request

    def _act(self, action: Action, request: RecordedRequest) -> None:
        if isinstance(action, Hang):
            self._wait(action.seconds, request)
            self.close_connection = True
            return
        delay = getattr(action, "delay_s", 0.0)
        if delay and self._wait(delay, request):
            self.close_connection = True
            return
        if isinstance(action, Status):
            headers = {"Retry-After": f"{action.retry_after:g}"} if action.retry_after is not None else {}
            kind = "rate_limit_exceeded" if action.code == 429 else "server_error"
            self._json(action.code, _error_body(action.message, kind), headers)
        elif isinstance(action, Raw):
            self._send(action.code, action.body, action.content_type, {})
        elif request.stream:
            self._stream(action, request)
        else:  # a paced reply takes as long as if it were streamed, then comes whole
            generation = len(_tokens(action.text)) / action.tokens_per_s if action.tokens_per_s else 0.0
            generation += action.stall_s if action.stall_after is not None else 0.0
            if generation and self._wait(generation, request):
                self.close_connection = True
                return
            self._release()
            self._json(200, _completion(action, request))

    # -- streaming --------------------------------------------------------------------------
    def _stream(self, reply: Reply, request: RecordedRequest) -> None:
        """Server-sent events as the OpenAI API sends them; stops when the client leaves."""
        self.close_connection = True  # the body ends when the connection does
        tokens = _tokens(reply.text)
        pause = 1.0 / reply.tokens_per_s if reply.tokens_per_s else 0.0
        try:
            self.send_response(200)
            self.send_header("Content-Type", "text/event-stream")
            self.send_header("Cache-Control", "no-cache")
            self.send_header("Connection", "close")
            self.end_headers()
            self._event(_chunk(request, {"role": "assistant", "content": ""}))
            for number, token in enumerate(tokens):
                if reply.stall_after is not None and number == reply.stall_after and self._wait(reply.stall_s, request):
                    return
                if pause and self._wait(pause, request):
                    return
                self._event(_chunk(request, {"content": token}))
                request.tokens_sent += 1
            self._release()  # generation is over: the slot is free before the client hears so
            self._event(_chunk(request, {}, reply.finish_reason))
            options = request.body.get("stream_options") or {}
            if reply.usage and options.get("include_usage"):
                self._event({**_chunk(request, {}), "choices": [], "usage": _usage(reply, request)})
            self.wfile.write(b"data: [DONE]\n\n")
            self.wfile.flush()
        except (BrokenPipeError, ConnectionResetError):
            request.abandoned = True

    def _event(self, payload: dict[str, Any]) -> None:
        self.wfile.write(b"data: " + json.dumps(payload).encode() + b"\n\n")
        self.wfile.flush()

    def _wait(self, seconds: float, request: RecordedRequest) -> bool:
        """Sleep ``seconds`` (in small steps); True when the wait ended because the client left
        or the server is stopping: the caller stops generating, as llama.cpp does."""
        deadline = time.monotonic() + seconds
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                return False
            if self.owner._stopping.wait(min(left, 0.02)):
                return True
            if self._client_gone():
                request.abandoned = True
                return True

    def _client_gone(self) -> bool:
        """The client closed its end: the socket reads as end-of-file (or reset)."""
        try:
            readable, _, _ = select.select([self.connection], [], [], 0)
            if not readable:
                return False
            return self.connection.recv(1, socket.MSG_PEEK) == b""
        except (OSError, ValueError):
            return True

    # -- plain responses --------------------------------------------------------------------
    def _json(self, code: int, payload: dict[str, Any], headers: dict[str, str] | None = None) -> None:
        self._send(code, json.dumps(payload).encode(), "application/json", headers or {})

    def _send(self, code: int, body: bytes, content_type: str, headers: dict[str, str]) -> None:
        try:
            self.send_response(code)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            for key, value in headers.items():
                self.send_header(key, value)
            self.end_headers()
            self.wfile.write(body)
        except (BrokenPipeError, ConnectionResetError):  # the client gave up (its timeout): fine
            self.close_connection = True


def _tokens(text: str) -> list[str]:
    return [text[i : i + TOKEN_CHARS] for i in range(0, len(text), TOKEN_CHARS)]


def _error_body(message: str, kind: str) -> dict[str, Any]:
    return {"error": {"message": message, "type": kind, "code": kind}}


def _usage(reply: Reply, request: RecordedRequest) -> dict[str, int]:
    prompt_tokens = reply.prompt_tokens if reply.prompt_tokens is not None else max(1, len(request.prompt) // 4)
    completion_tokens = reply.completion_tokens if reply.completion_tokens is not None else max(1, len(reply.text) // 4)
    return {"prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens, "total_tokens": prompt_tokens + completion_tokens}


def _chunk(request: RecordedRequest, delta: dict[str, Any], finish_reason: str | None = None) -> dict[str, Any]:
    return {
        "id": "chatcmpl-loopback-stream",
        "object": "chat.completion.chunk",
        "created": int(time.time()),
        "model": request.model or "loopback-model",
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish_reason}],
    }


def _completion(reply: Reply, request: RecordedRequest) -> dict[str, Any]:
    payload: dict[str, Any] = {
        "id": f"chatcmpl-loopback-{len(reply.text)}",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": request.model or "loopback-model",
        "choices": [
            {"index": 0, "message": {"role": "assistant", "content": reply.text}, "finish_reason": reply.finish_reason}
        ],
    }
    if reply.usage:
        payload["usage"] = _usage(reply, request)
    return payload


def main() -> None:  # pragma: no cover - demo entry point
    import argparse

    parser = argparse.ArgumentParser(description="Serve a fixed reply on an OpenAI-compatible loopback endpoint.")
    parser.add_argument("--reply-file", required=True, help="text every chat completion answers with")
    parser.add_argument("--seconds", type=float, default=600.0, help="stop after this long")
    parser.add_argument("--tokens-per-s", type=float, default=None, help="stream at this pace (a slow local model)")
    parser.add_argument("--slots", type=int, default=None, help="serve this many requests at once, queue the rest")
    args = parser.parse_args()
    text = open(args.reply_file).read()
    with LLMServer(responder=lambda _req: Reply(text, tokens_per_s=args.tokens_per_s), slots=args.slots) as server:
        print(f"serving {server.base_url} for {args.seconds:g}s", flush=True)
        time.sleep(args.seconds)


if __name__ == "__main__":  # pragma: no cover
    main()
