"""Where evaluations run: a bounded pool of trusted evaluator processes.

Each slot is one long-lived trusted process (so ``evaluate.py`` and its imports load once)
that runs ``evaluate_program`` for one request at a time; the candidate itself runs in a
sandbox the trusted process starts. The controller awaits ``LocalExecutor.evaluate`` from
asyncio; the blocking wait happens in a thread.

GPUs: with ``gpus_per_evaluation`` N > 0 each evaluation first leases N devices from a
``DevicePool`` (waiting while they are taken), and its request carries them: the sandbox sees
exactly those, the trusted evaluator is told the device to compute on. Each trusted process
runs under an RLIMIT_DATA of ``evaluator_memory_mb``, so a runaway evaluation (a hostile
reply, a leak in ``evaluate.py``) fails as ``memory`` instead of exhausting the host.

A whole evaluation is bounded by ``evaluation_timeout_s``: past it the slot's process gets
SIGTERM (which unwinds ``evaluate.py`` so its sandboxes are closed and their processes
killed), then SIGKILL after a grace period, and the slot restarts. A trusted process that
dies is restarted too; either way the evaluation becomes a recorded failure, never an
exception in the controller. Trusted processes die with the controller (PR_SET_PDEATHSIG).
"""

from __future__ import annotations

import asyncio
import ctypes
import multiprocessing
import resource
import signal
import threading
from multiprocessing.connection import Connection
from typing import Protocol

from evolve.evaluation.devices import DevicePool
from evolve.evaluation.request import EvaluationRequest
from evolve.evaluation.scoring import evaluate_program
from evolve.records import EvaluationResult
from sandbox import FailureKind

_GRACE_S = 5.0
_PR_SET_PDEATHSIG = 1


class Executor(Protocol):
    async def evaluate(self, request: EvaluationRequest) -> EvaluationResult: ...

    def close(self) -> None: ...


class LocalExecutor:
    """``workers`` trusted evaluator processes on this machine, and the GPUs they share."""

    def __init__(
        self,
        workers: int,
        evaluation_timeout_s: float,
        *,
        devices: list[str] | None = None,
        gpus_per_evaluation: int = 0,
        evaluator_memory_mb: int | None = None,
    ) -> None:
        self.evaluation_timeout_s = evaluation_timeout_s
        self.devices = DevicePool(list(devices or []), gpus_per_evaluation)
        context = multiprocessing.get_context("forkserver")
        context.set_forkserver_preload(["evolve.evaluation.scoring"])
        self._slots = [_Slot(context, evaluator_memory_mb) for _ in range(workers)]
        self._free: asyncio.Queue[_Slot] | None = None

    async def evaluate(self, request: EvaluationRequest) -> EvaluationResult:
        async with self.devices.lease() as (gpus, device):
            if gpus:
                request = request.with_devices(gpus, device)
            if self._free is None:
                self._free = asyncio.Queue()
                for slot in self._slots:
                    self._free.put_nowait(slot)
            slot = await self._free.get()
            try:
                return await asyncio.to_thread(slot.run, request, self.evaluation_timeout_s)
            finally:
                self._free.put_nowait(slot)

    def close(self) -> None:
        for slot in self._slots:
            slot.stop()


class _Slot:
    def __init__(self, context: multiprocessing.context.BaseContext, memory_mb: int | None) -> None:
        self._context = context
        self.memory_mb = memory_mb
        self._process: multiprocessing.process.BaseProcess | None = None
        self._conn: Connection | None = None
        self._lock = threading.Lock()

    def run(self, request: EvaluationRequest, timeout_s: float) -> EvaluationResult:
        with self._lock:
            conn = self._ensure_started()
            try:
                conn.send(request)
                if not conn.poll(timeout_s):
                    self.stop()
                    return _failure(FailureKind.TIMEOUT, f"evaluation exceeded {timeout_s:g} s (evaluation_timeout_s)", timeout_s)
                return conn.recv()
            except (EOFError, OSError, BrokenPipeError) as exc:
                code = self._process.exitcode if self._process else None
                self.stop()
                return _failure(FailureKind.EVALUATOR_ERROR, f"the trusted evaluator process died (exit {code}): {exc!r}", 0.0)

    def _ensure_started(self) -> Connection:
        if self._process is None or not self._process.is_alive():
            parent, child = self._context.Pipe()
            self._process = self._context.Process(
                target=_serve, args=(child, self.memory_mb), daemon=True, name="evolve-evaluator"
            )
            self._process.start()
            child.close()
            self._conn = parent
        assert self._conn is not None
        return self._conn

    def stop(self) -> None:
        process, self._process = self._process, None
        if self._conn is not None:
            self._conn.close()
            self._conn = None
        if process is None or not process.is_alive():
            return
        process.terminate()
        process.join(_GRACE_S)
        if process.is_alive():
            process.kill()
            process.join()


def _failure(kind: FailureKind, message: str, duration_s: float) -> EvaluationResult:
    return EvaluationResult(ok=False, failure_kind=kind.value, failure_message=message, duration_s=duration_s)


def _serve(conn: Connection, memory_mb: int | None) -> None:
    """Trusted evaluator process: evaluate requests until the pipe closes."""
    try:
        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)
    except (OSError, AttributeError):
        pass  # not Linux: the slot still stops its process on close
    if memory_mb:
        cap_memory(memory_mb)
    signal.signal(signal.SIGTERM, _raise_system_exit)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the controller's to handle
    while True:
        try:
            request = conn.recv()
        except (EOFError, OSError):
            return
        conn.send(evaluate_program(request))


def cap_memory(memory_mb: int) -> None:
    """RLIMIT_DATA of this process: heap and private mappings, not the address space a CUDA
    runtime reserves without touching (RLIMIT_AS would break torch on a GPU)."""
    limit = memory_mb << 20
    _, hard = resource.getrlimit(resource.RLIMIT_DATA)
    if hard != resource.RLIM_INFINITY:
        limit = min(limit, hard)
    resource.setrlimit(resource.RLIMIT_DATA, (limit, hard))


def _raise_system_exit(signum: int, frame: object) -> None:
    raise SystemExit(128 + signum)
