"""Per-model concurrency: never more requests in flight than the server serves at once.

A llama.cpp server with one slot answers one request at a time and queues the rest
silently; a client that sends ``max_concurrent_proposals`` requests at once sees all but
one wait, time out and be retried, while the server may still generate for the ones it
abandoned. So each model has a ``ModelGate``: at most ``capacity`` requests are open to
it, the others wait here, on the client, where waiting is visible (``LLMCall.queued_s``)
and does not count against ``timeout_s``.

``capacity`` is the model's ``max_concurrent`` when set; otherwise, for a model behind an
``api_base``, the slot count its server reports, probed once on first use: llama.cpp's
``GET /props`` (``total_slots``), else ``GET /slots`` (one entry a slot). A server that
reports neither (vLLM, ollama, a provider) gets no limit beyond the run's
``max_concurrent_proposals``: vLLM batches continuously, and ollama's
``OLLAMA_NUM_PARALLEL`` is not published, so set ``max_concurrent`` for it.
"""

from __future__ import annotations

import asyncio
import json
import time
import urllib.error
import urllib.request
from contextlib import asynccontextmanager
from typing import AsyncIterator, Awaitable, Callable

from evolve.config.llm import ModelSpec

PROBE_TIMEOUT_S = 5.0


def server_root(api_base: str) -> str:
    """``http://host:port/v1`` -> ``http://host:port`` (llama.cpp serves /props at its root)."""
    root = api_base.rstrip("/")
    return root[: -len("/v1")] if root.endswith("/v1") else root


def _get_json(url: str, key: str | None, timeout: float) -> object | None:
    request = urllib.request.Request(url, headers={"Authorization": f"Bearer {key}"} if key else {})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310 - the configured server
            return json.loads(response.read(1_000_000))
    except (urllib.error.URLError, OSError, ValueError):
        return None


def probe_slots_sync(api_base: str, key: str | None = None, timeout: float = PROBE_TIMEOUT_S) -> int | None:
    """The number of requests the server serves at once, if it says; None otherwise."""
    root = server_root(api_base)
    props = _get_json(f"{root}/props", key, timeout)
    if isinstance(props, dict):
        slots = props.get("total_slots")
        if isinstance(slots, int) and not isinstance(slots, bool) and slots >= 1:
            return slots
    listed = _get_json(f"{root}/slots", key, timeout)
    if isinstance(listed, list) and listed and all(isinstance(s, dict) for s in listed):
        return len(listed)
    return None


async def probe_slots(api_base: str, key: str | None = None, timeout: float = PROBE_TIMEOUT_S) -> int | None:
    return await asyncio.to_thread(probe_slots_sync, api_base, key, timeout)


Probe = Callable[[str, "str | None"], Awaitable["int | None"]]


class ModelGate:
    """At most ``capacity`` requests in flight to one model (None: no limit).

    The semaphore belongs to the event loop that first waits on it; a gate used from a new
    loop (a second ``asyncio.run``) starts afresh, since no request of the old one is open.
    """

    def __init__(self, spec: ModelSpec, key: str | None = None, probe: Probe = probe_slots) -> None:
        self.name = spec.name
        self.capacity: int | None = spec.max_concurrent
        self.source = "config" if spec.max_concurrent else "none"
        self._api_base = spec.api_base
        self._key = key
        self._probe = probe
        self._probed = spec.max_concurrent is not None or not spec.api_base
        self._loop: asyncio.AbstractEventLoop | None = None
        self._semaphore: asyncio.Semaphore | None = None
        self._probe_lock: asyncio.Lock | None = None
        self.in_flight = 0
        self.peak_in_flight = 0

    async def resolve(self) -> int | None:
        """The capacity, probing the server the first time (one probe however many callers)."""
        self._bind()
        if not self._probed:
            assert self._probe_lock is not None
            async with self._probe_lock:
                if not self._probed:
                    slots = await self._probe(self._api_base or "", self._key)
                    if slots is not None:
                        self.capacity, self.source = slots, "server"
                    self._probed = True
        return self.capacity

    @asynccontextmanager
    async def slot(self) -> AsyncIterator[float]:
        """Hold one of the model's slots; yields the seconds spent waiting for it."""
        capacity = await self.resolve()
        started = time.perf_counter()
        if capacity is not None and self._semaphore is None:
            self._semaphore = asyncio.Semaphore(capacity)
        semaphore = self._semaphore
        if semaphore is not None:
            await semaphore.acquire()
        self.in_flight += 1
        self.peak_in_flight = max(self.peak_in_flight, self.in_flight)
        try:
            yield time.perf_counter() - started
        finally:
            self.in_flight -= 1
            if semaphore is not None:
                semaphore.release()

    def _bind(self) -> None:
        loop = asyncio.get_running_loop()
        if self._loop is not loop:
            self._loop, self._semaphore, self._probe_lock = loop, None, asyncio.Lock()
            self.in_flight = 0
