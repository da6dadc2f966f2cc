"""A GGUF model file served by evolve itself: no server for the user to manage.

``--model path/to/model.gguf`` (``ModelSpec.gguf``) makes the client a ``LocalModelClient``:
on its first call it starts llama.cpp (the ``local`` extra's ``xllamacpp``) in a child
process on a free loopback port (``local_server_main``; model loading takes seconds, and is
not charged to the call's timeout), then talks to it through the lean OpenAI-compatible
client like to any server. The model is served one request at a time (``max_concurrent``
defaults to 1 for such models) with ``threads`` CPU threads (one by default: on a busy
2-core machine two threads spin against each other). The child exits when ``aclose`` closes
its stdin, or when this process dies (its stdin closes with it).
"""

from __future__ import annotations

import asyncio
import importlib.util
import subprocess
import sys
import threading
import weakref

from evolve.config.llm import ModelSpec
from evolve.proposers.llm.answer import AnswerWatch
from evolve.proposers.llm.results import CONNECTION_ERROR, ChatResult, LLMCallError

CONTEXT_TOKENS = 8192
START_TIMEOUT_S = 180.0


def require_llamacpp() -> None:
    if importlib.util.find_spec("xllamacpp") is None:
        raise LLMCallError(
            CONNECTION_ERROR,
            "serving a .gguf model needs llama.cpp's Python wheel: pip install -e '.[local]' (xllamacpp)",
        )


class LocalModelServer:
    """The child process serving ``spec.gguf``; ``start`` returns its base URL (…/v1)."""

    def __init__(self, spec: ModelSpec) -> None:
        self.spec = spec
        self.api_base: str | None = None
        self._process: subprocess.Popen[str] | None = None
        self._lock = threading.Lock()

    def start(self) -> str:
        with self._lock:
            if self.api_base is not None and self._process is not None and self._process.poll() is None:
                return self.api_base
            self._process = subprocess.Popen(
                [sys.executable, "-m", "evolve.proposers.llm.local_server_main", str(self.spec.gguf),
                 str(self.spec.threads), str(CONTEXT_TOKENS)],
                stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
            )
            weakref.finalize(self, _stop, self._process)
            line = _first_line(self._process, START_TIMEOUT_S)
            if not line.startswith("http"):
                detail = ""
                if self._process.poll() is not None and self._process.stderr is not None:
                    detail = self._process.stderr.read()[-600:]
                _stop(self._process)
                raise LLMCallError(CONNECTION_ERROR, f"llama.cpp did not start serving {self.spec.gguf}: {line or detail}")
            self.api_base = line.rstrip("/") + "/v1"
            return self.api_base

    def stop(self) -> None:
        with self._lock:
            if self._process is not None:
                _stop(self._process)
                self._process = None
                self.api_base = None


def _first_line(process: subprocess.Popen[str], timeout: float) -> str:
    box: list[str] = []
    reader = threading.Thread(target=lambda: box.append(process.stdout.readline() if process.stdout else ""), daemon=True)
    reader.start()
    reader.join(timeout)
    return box[0].strip() if box else ""


def _stop(process: subprocess.Popen[str]) -> None:
    if process.poll() is None:
        try:
            if process.stdin is not None:
                process.stdin.close()
            process.wait(30)
        except (OSError, subprocess.TimeoutExpired):
            process.kill()
            process.wait()


class LocalModelClient:
    """The ChatClient of a ``gguf`` model: starts its server on first use, then delegates to the lean client."""

    def __init__(self, spec: ModelSpec) -> None:
        require_llamacpp()
        self.spec = spec
        self.server = LocalModelServer(spec)
        self._client = None

    async def complete(
        self, messages: list[dict[str, str]], *, timeout: float, max_tokens: int | None = None,
        watch: AnswerWatch | None = None,
    ) -> ChatResult:
        if self._client is None:
            from evolve.proposers.llm.lean_client import LeanChatClient

            api_base = await asyncio.to_thread(self.server.start)  # loading the model is not the call's time
            self._client = LeanChatClient(self.spec.model_copy(update={"api_base": api_base}), "unused")
        return await self._client.complete(messages, timeout=timeout, max_tokens=max_tokens, watch=watch)

    async def aclose(self) -> None:
        if self._client is not None:
            await self._client.aclose()
            self._client = None
        await asyncio.to_thread(self.server.stop)
