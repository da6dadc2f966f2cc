"""The trusted side's handle to one live worker: calls, file fetch, and how failures are classified.

Shared by every backend (``sandbox.process`` spawns the worker, ``sandbox.zygote`` forks it,
``sandbox.bwrap`` wraps it, ``sandbox.docker_backend`` runs it in a container); the handle
only needs the worker's ``Workspace`` (process, pipes, scratch, uid) and its ``Limits``.
Classification is described in ``sandbox.process``.
"""

from __future__ import annotations

import math
import os
import time
import weakref
from typing import Any

from sandbox import wire
from sandbox.api import CallStats, CandidateFailure, FailureKind, Limits
from sandbox.channel import ChannelTimeout, OutputFlood, ProtocolError, WorkerExited
from sandbox.exits import classify_exit
from sandbox.workspace import Workspace

_MB = 1 << 20


class ProcessWorker:
    """A live worker process holding one candidate module (implements ``sandbox.api.Worker``).

    Not thread-safe: one call at a time. ``uid`` is the uid candidate code runs as,
    ``network_isolated`` whether it got its own network namespace, ``seccomp`` why the
    worker has no seccomp filter ("" when it has one).
    """

    def __init__(self, workspace: Workspace, limits: Limits, module_name: str) -> None:
        assert workspace.proc is not None and workspace.channel is not None and workspace.scratch is not None
        self.limits = limits
        self.module_name = module_name
        self.pid = workspace.proc.pid
        self.uid = workspace.uid if workspace.uid is not None else os.getuid()
        self.scratch = workspace.scratch
        self.network_isolated = _has_own_netns(self.pid)
        self.seccomp: str | None = None  # set from the start-up reply
        self.stats = CallStats()
        self._workspace = workspace
        self._channel = workspace.channel
        self._dead: str | None = None  # why the worker died, once it has
        self._finalizer = weakref.finalize(self, workspace.release)
        self._next_id = 0
        self._cpu_budget = limits.startup_cpu_budget_s()  # of the start-up, then of the last call

    def call(
        self, function: str, *args: Any, timeout: float | None = None, limits: Limits | None = None, **kwargs: Any
    ) -> Any:
        if limits is None:
            limits = self.limits
        elif limits is not self.limits:
            self.limits.check_call_override(limits)
        call_id = self._begin(function)
        limit = limits.timeout_s if timeout is None else timeout
        cpu = limits.cpu_budget_s(limit)
        meta = {"id": call_id, "function": function, "cpu": cpu}
        buffers = wire.encode(meta, {"args": args, "kwargs": kwargs}, name=function)
        size = sum(len(b) for b in buffers)
        if size > self.limits.max_message_bytes:
            limit_mb = self.limits.max_message_mb
            raise ValueError(f"arguments of {function} encode to {size} bytes, over max_message_mb={limit_mb}")
        what = f"call to {function}"
        started = time.perf_counter()
        try:
            meta, value = self._exchange(buffers, call_id, limit, cpu, what)
        finally:
            self.stats.wall_s = time.perf_counter() - started
            self.stats.calls += 1
            self.stats.total_wall_s += self.stats.wall_s
        if meta["ok"]:
            self._record_gpu(meta.get("gpu_peak_mb"))
            return value
        raise self._refusal(meta, what)

    def read_file(self, path: str, max_bytes: int | None = None) -> bytes:
        _check_relative(path)
        ceiling = min(self.limits.max_fetch_mb * _MB, self.limits.max_message_bytes - (64 << 10))
        limit = ceiling if max_bytes is None else max_bytes
        if not 0 <= limit <= ceiling:
            raise ValueError(f"max_bytes={max_bytes} must be between 0 and {ceiling} (max_fetch_mb, max_message_mb)")
        call_id = self._begin("read_file")
        cpu = self.limits.cpu_budget_s()
        buffers = wire.encode({"id": call_id, "op": "read_file", "path": path, "max_bytes": limit, "cpu": cpu})
        what = f"read_file({path!r})"
        meta, value = self._exchange(buffers, call_id, self.limits.timeout_s, cpu, what)
        if not meta["ok"]:
            raise self._refusal(meta, what)
        if type(value) is not bytes or len(value) > limit:
            raise self._fail(FailureKind.CRASH, f"broken protocol during {what}: the reply is not at most {limit} bytes")
        return value

    def output(self) -> str:
        if self._finalizer.alive and self._channel.output_fd is not None:
            self._channel.drain_output()
        return self._channel.output.text()

    def close(self) -> None:
        """Kill the worker and everything it started, delete its scratch dir; idempotent.

        Raises SandboxError if processes survive SIGKILL (their uid is then never reused).
        """
        if self._finalizer.alive:
            self.output()  # keep its last words readable after close
        self._finalizer()

    def __enter__(self) -> ProcessWorker:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _begin(self, what: str) -> int:
        if not self._finalizer.alive:
            raise RuntimeError(f"call to {what} on a closed worker")
        if self._dead is not None:
            raise CandidateFailure(FailureKind.CRASH, f"worker is dead: {self._dead}", self.output())
        self._next_id += 1
        return self._next_id

    def _exchange(
        self, buffers: list[bytes | memoryview], call_id: int, timeout: float, cpu_budget: int, what: str
    ) -> tuple[dict[str, Any], Any]:
        """Send a request (carrying ``cpu_budget``), return the reply checked for id and status."""
        self._cpu_budget = cpu_budget
        try:
            if self._channel.output.exceeded:  # flooded between calls (a background thread)
                raise OutputFlood
            meta, value = self._channel.exchange(buffers, time.monotonic() + timeout)
        except ChannelTimeout:
            raise self._fail(FailureKind.TIMEOUT, f"{what} exceeded {float(timeout)} s") from None
        except BaseException as exc:
            raise self._classify(exc, what) from None
        if meta.get("id") != call_id or type(meta.get("ok")) is not bool:
            message = f"broken protocol during {what}: reply {meta!r:.200} to request {call_id}"
            raise self._fail(FailureKind.CRASH, message)
        return meta, value

    def _refusal(self, meta: dict[str, Any], what: str) -> CandidateFailure:
        """The failure an ``ok: false`` reply stands for (killing the worker for memory and garbage)."""
        kind, message = meta.get("kind"), meta.get("message")
        if kind not in ("exception", "invalid_output", "memory") or not isinstance(message, str):
            return self._fail(FailureKind.CRASH, f"broken protocol during {what}: reply {meta!r:.200}")
        if kind == "memory":
            message = f"{what} ran out of memory (limit {self.limits.memory_mb} MB):\n{message}"
            return self._fail(FailureKind.MEMORY, message)
        if kind == "invalid_output" and what.startswith("call to "):
            message = f"{what} returned a value that cannot cross the sandbox boundary: {message}"
        return CandidateFailure(FailureKind(kind), message, self.output())

    def _record_gpu(self, peak: Any) -> None:
        if type(peak) in (int, float) and math.isfinite(peak) and peak >= 0:
            self.stats.gpu_peak_mb = float(peak)
            self.stats.max_gpu_peak_mb = max(self.stats.max_gpu_peak_mb or 0.0, float(peak))
        else:
            self.stats.gpu_peak_mb = None

    def _wait_ready(self) -> None:
        """Wait for the start-up message; raise CandidateFailure if the candidate did not load."""
        limit = self.limits.startup_timeout_s
        what = "start-up (interpreter, imports and the candidate's module code)"
        try:
            meta, _ = self._channel.receive(time.monotonic() + limit)
        except ChannelTimeout:
            raise self._fail(FailureKind.TIMEOUT, f"{what} exceeded {float(limit)} s") from None
        except BaseException as exc:
            raise self._classify(exc, what) from None
        if meta.get("id") == 0 and meta.get("ok") is True:
            seccomp = meta.get("seccomp")
            self.seccomp = seccomp if isinstance(seccomp, str) else "the worker did not say"
            return
        kind, message = meta.get("kind"), meta.get("message")
        if kind not in _STARTUP_PREFIX or not isinstance(message, str):
            raise self._fail(FailureKind.CRASH, f"broken protocol during {what}: {meta!r:.200}")
        raise self._fail(FailureKind(kind), _STARTUP_PREFIX[kind] + message)

    def _classify(self, exc: BaseException, what: str) -> BaseException:
        """Turn a channel failure into the CandidateFailure to raise (killing the worker)."""
        limits = self.limits
        if isinstance(exc, OutputFlood):
            message = f"output exceeded max_output_bytes={limits.max_output_bytes} during {what}"
            return self._fail(FailureKind.SANDBOX_VIOLATION, message)
        if isinstance(exc, wire.MessageTooLarge):
            message = f"reply of {exc.size} bytes exceeds max_message_mb={limits.max_message_mb} during {what}"
            return self._fail(FailureKind.SANDBOX_VIOLATION, message)
        if isinstance(exc, wire.HeaderRefused):
            message = (
                f"reply refused during {what} (max_header_kb={limits.max_header_kb}): {exc};"
                " the worker's encoder never sends such a frame, so the candidate wrote it to the protocol pipe itself"
            )
            return self._fail(FailureKind.SANDBOX_VIOLATION, message)
        if isinstance(exc, WorkerExited):
            status, usage = self._workspace.stop()
            tail = self._channel.output.text()[-4096:]
            verdict = classify_exit(status, usage, tail, what, memory_mb=limits.memory_mb, cpu_budget_s=self._cpu_budget)
            return self._fail(*verdict)
        if isinstance(exc, wire.ValueRefused):  # framed like a reply, but the value in it is malformed
            return self._fail(FailureKind.INVALID_OUTPUT, f"{what} returned a malformed value: {exc}")
        if isinstance(exc, (ProtocolError, wire.WireError)):
            return self._fail(FailureKind.CRASH, f"broken protocol during {what}: {exc}")
        self._fail(FailureKind.CRASH, f"{what} interrupted by {type(exc).__name__}")
        return exc  # e.g. KeyboardInterrupt in the trusted process: kill the worker, re-raise

    def _fail(self, kind: FailureKind, message: str) -> CandidateFailure:
        """Mark the worker dead, kill everything it started, and return the failure to raise."""
        self._dead = f"{kind.value}: {message.splitlines()[0] if message else ''}"
        self._workspace.stop()
        return CandidateFailure(kind, message, self.output())


def _check_relative(path: str) -> None:
    """The caller's side of ``read_file``'s path rule (the worker checks again, opening it)."""
    parts = path.split("/") if isinstance(path, str) else []
    if not parts or path.startswith("/") or "\0" in path or any(part in ("", ".", "..") for part in parts):
        raise ValueError(
            f"read_file path {path!r} must be relative to the worker's scratch dir, without '.', '..' or empty parts"
        )


_STARTUP_PREFIX = {
    "syntax": "",
    "exception": "importing the candidate raised:\n",
    "memory": "importing the candidate ran out of memory:\n",
}


def _has_own_netns(pid: int) -> bool:
    try:
        return os.stat(f"/proc/{pid}/ns/net").st_ino != os.stat("/proc/self/ns/net").st_ino
    except OSError:
        return False
