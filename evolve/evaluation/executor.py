"""Where evaluations run: a bounded pool of trusted evaluator processes.

Each slot is one long-lived trusted process (``evaluator_main``: a fresh interpreter that
imports only the trusted side, so ``evaluate.py`` and its imports load once, and the CLI
never) that runs ``evaluate_program`` for one request at a time; the slots' processes are
started as soon as the executor is made, so their start-up overlaps the run's; the candidate itself runs in a
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
import os
import socket
import subprocess
import sys
import threading
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Protocol

from evolve.evaluation.devices import DevicePool
from evolve.evaluation.request import EvaluationRequest
from evolve.records import EvaluationResult
from sandbox import FailureKind

_GRACE_S = 5.0
_START_TIMEOUT_S = 120.0  # interpreter start and imports of a trusted process (a loaded machine is slow)
_ROOT = str(Path(__file__).resolve().parents[2])  # the folder holding the evolve package


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
        self._slots = [_Slot(evaluator_memory_mb) for _ in range(workers)]
        for slot in self._slots:
            slot.start()  # in the background: interpreters start while the run sets up
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
    def __init__(self, memory_mb: int | None) -> None:
        self.memory_mb = memory_mb or 0
        self._process: subprocess.Popen[bytes] | None = None
        self._conn: Connection | None = None
        self._ready = False
        self._lock = threading.Lock()

    def start(self) -> None:
        """Start the trusted process (without waiting for it to be ready)."""
        ours, theirs = socket.socketpair()
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(p for p in (_ROOT, env.get("PYTHONPATH", "")) if p)
        try:
            self._process = subprocess.Popen(
                # -P: the working directory is not on sys.path (a folder there must not shadow evolve's packages)
                [sys.executable, "-P", "-m", "evolve.evaluation.evaluator_main", str(theirs.fileno()), str(self.memory_mb)],
                pass_fds=(theirs.fileno(),), stdin=subprocess.DEVNULL, env=env,
            )
        finally:
            theirs.close()
        self._conn = Connection(ours.detach())
        self._ready = False

    def run(self, request: EvaluationRequest, timeout_s: float) -> EvaluationResult:
        with self._lock:
            if self._process is None or self._process.poll() is not None:
                self.stop()
                self.start()
            conn = self._conn
            assert conn is not None
            try:
                if not self._ready:  # the interpreter's start is not the evaluation's time
                    if not conn.poll(_START_TIMEOUT_S) or conn.recv() != "ready":
                        raise EOFError("the trusted evaluator process did not start")
                    self._ready = True
                conn.send(request)
                if not conn.poll(timeout_s):
                    self.stop(busy=True)
                    return _failure(FailureKind.TIMEOUT, f"evaluation exceeded {timeout_s:g} s (evaluation_timeout_s)", timeout_s)
                return conn.recv()
            except (EOFError, OSError, BrokenPipeError) as exc:
                code = self._process.poll() if self._process else None
                self.stop(busy=True)
                return _failure(FailureKind.EVALUATOR_ERROR, f"the trusted evaluator process died (exit {code}): {exc!r}", 0.0)

    def stop(self, *, busy: bool = False) -> None:
        """End the process: an idle one exits by itself once its socket closes; a busy one (an
        evaluation past its time) gets SIGTERM, which unwinds evaluate.py and closes its
        sandboxes, then SIGKILL after a grace period."""
        process, self._process = self._process, None
        if self._conn is not None:
            self._conn.close()
            self._conn = None
        if process is None:
            return
        if not busy:
            try:
                process.wait(_GRACE_S)
            except subprocess.TimeoutExpired:
                pass
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(_GRACE_S)
            except subprocess.TimeoutExpired:
                process.kill()
        process.wait()


def _failure(kind: FailureKind, message: str, duration_s: float) -> EvaluationResult:
    return EvaluationResult(ok=False, failure_kind=kind.value, failure_message=message, duration_s=duration_s)
