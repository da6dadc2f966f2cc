"""A real OpenAI-compatible HTTP server on loopback, scripted per request, for tests and demos.

It serves ``POST /v1/chat/completions`` (JSON with ``usage``) and ``GET /v1/models`` from
a thread on 127.0.0.1 with an ephemeral port, so the engine is tested through the real
openai SDK and real sockets with no paid API. Each request is answered by the next item
of the script queue, or by ``responder(request)`` when the queue is empty:

- ``Reply(text)``: a completion (``finish_reason`` "length" for truncated output);
- ``Status(429, retry_after=1)``, ``Status(500)``: an error status with an OpenAI error body;
- ``Raw(b"not json")``: a 200 with a broken body;
- ``Hang(seconds)``: accept and say nothing, then drop the connection; bounded, and
  released when the server stops, so a test always ends by itself.

Every request is recorded (headers, parsed body, arrival time, time spent answering).
Run it standalone for a demo: ``python tests/llm_server.py --reply-file r.txt``.
"""

from __future__ import annotations

import collections
import json
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Callable, Union


@dataclass(frozen=True)
class Reply:
    text: str
    delay_s: float = 0.0
    finish_reason: str = "stop"
    prompt_tokens: int | None = None  # None: len(prompt) // 4
    completion_tokens: int | None = None  # None: len(text) // 4
    usage: bool = True  # False: omit the usage object, as some local servers do


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
    served_s: float = 0.0  # time the server spent on it, scripted delays included
    action: str = ""

    @property
    def model(self) -> str:
        return str(self.body.get("model", ""))

    @property
    def prompt(self) -> str:
        return "\n".join(str(m.get("content", "")) for m in self.body.get("messages", []))


def truncated(text: str, keep: float = 0.5) -> Reply:
    """A reply cut off mid-way by the token limit."""
    return Reply(text[: max(1, int(len(text) * keep))], finish_reason="length")


@dataclass
class LLMServer:
    """Start with ``with LLMServer() as server:``; ``server.base_url`` is the ``/v1`` URL."""

    responder: Callable[[RecordedRequest], Action] | None = None
    models: tuple[str, ...] = ("loopback-model",)
    requests: list[RecordedRequest] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._queue: collections.deque[Action] = collections.deque()
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._httpd: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

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


class _Handler(BaseHTTPRequestHandler):
    owner: LLMServer
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # headers and body are two writes: avoid the 40 ms delayed-ACK stall

    def log_message(self, format: str, *args: Any) -> None:  # keep test output clean
        return

    def do_GET(self) -> None:
        start = time.perf_counter()
        request = self._request({})
        if self.path.rstrip("/").endswith("/models"):
            data = [{"id": m, "object": "model", "created": 0, "owned_by": "loopback"} for m in self.owner.models]
            self._json(200, {"object": "list", "data": data})
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
        action = self.owner._next_action(request)
        request.action = type(action).__name__
        self._act(action, request)
        request.served_s = time.perf_counter() - start

    def _request(self, body: dict[str, Any]) -> RecordedRequest:
        request = RecordedRequest(self.command, self.path, {k.lower(): v for k, v in self.headers.items()}, body, time.time())
        self.owner._record(request)
        return request

    def _act(self, action: Action, request: RecordedRequest) -> None:
        if isinstance(action, Hang):
            self.owner._stopping.wait(action.seconds)
            self.close_connection = True
            return
        delay = getattr(action, "delay_s", 0.0)
        if delay and self.owner._stopping.wait(delay):
            self.close_connection = True
            return
        if isinstance(action, Status):
            headers = {"Retry-After": f"{action.retry_after:g}"} if action.retry_after is not None else {}
            kind = "rate_limit_exceeded" if action.code == 429 else "server_error"
            self._json(action.code, _error_body(action.message, kind), headers)
        elif isinstance(action, Raw):
            self._send(action.code, action.body, action.content_type, {})
        else:
            self._json(200, _completion(action, request))

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


def _error_body(message: str, kind: str) -> dict[str, Any]:
    return {"error": {"message": message, "type": kind, "code": kind}}


def _completion(reply: Reply, request: RecordedRequest) -> dict[str, Any]:
    prompt_tokens = reply.prompt_tokens if reply.prompt_tokens is not None else max(1, len(request.prompt) // 4)
    completion_tokens = reply.completion_tokens if reply.completion_tokens is not None else max(1, len(reply.text) // 4)
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
        payload["usage"] = {
            "prompt_tokens": prompt_tokens,
            "completion_tokens": completion_tokens,
            "total_tokens": prompt_tokens + completion_tokens,
        }
    return payload


def main() -> None:  # pragma: no cover - demo entry point
    import argparse

    parser = argparse.ArgumentParser(description="Serve a fixed reply on an OpenAI-compatible loopback endpoint.")
    parser.add_argument("--reply-file", required=True, help="text every chat completion answers with")
    parser.add_argument("--seconds", type=float, default=600.0, help="stop after this long")
    args = parser.parse_args()
    text = open(args.reply_file).read()
    with LLMServer(responder=lambda _req: Reply(text)) as server:
        print(f"serving {server.base_url} for {args.seconds:g}s", flush=True)
        time.sleep(args.seconds)


if __name__ == "__main__":  # pragma: no cover
    main()
