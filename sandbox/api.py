"""The one interface every isolation backend implements.

A *sandbox* starts a *worker*: a separate, confined process that holds one candidate
program (Python source) and answers calls to its functions. The trusted side passes
arguments and receives results as data only (see ``sandbox.wire``); nothing crosses the
boundary as pickle, so a candidate can neither run code in the trusted process nor hand it
objects with behaviour.

Every way a call can go wrong is a ``CandidateFailure`` with a ``FailureKind``; the
engine records the kind and the message and feeds the message to the next prompt.

This package imports nothing of the engine (``evolve``) so it can be used and audited on
its own.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Any, Mapping, Protocol, runtime_checkable


#: Modules a warm zygote imports before forking workers (``sandbox.zygote``).
DEFAULT_PRELOAD = ("numpy",)


class FailureKind(str, enum.Enum):
    """Why a candidate produced no score. Values are stored in the database."""

    SYNTAX = "syntax"  # the source does not compile
    EXCEPTION = "exception"  # the candidate raised
    TIMEOUT = "timeout"  # a call exceeded its wall-clock limit (or CPU-time limit)
    MEMORY = "memory"  # the candidate exceeded its memory limit
    INVALID_OUTPUT = "invalid_output"  # returned data the evaluator rejects (shape, NaN, infeasible)
    CRASH = "crash"  # the worker died (signal, os._exit, broken protocol)
    SANDBOX_VIOLATION = "sandbox_violation"  # tried something the sandbox forbids (output flood, file size)
    EVALUATOR_ERROR = "evaluator_error"  # the trusted evaluator itself failed: not the candidate's fault


class CandidateFailure(Exception):
    """A classified failure of candidate code, raised on the trusted side."""

    def __init__(self, kind: FailureKind, message: str, output: str = "") -> None:
        super().__init__(f"{kind.value}: {message}")
        self.kind = kind
        self.message = message
        self.output = output  # tail of the candidate's captured stdout/stderr


class SandboxError(RuntimeError):
    """The sandbox itself failed (could not start a worker, could not kill one): not the
    candidate's fault, so the engine records it as an EVALUATOR_ERROR, never as a score."""


@dataclass(frozen=True)
class Limits:
    """Resource limits for one worker. Applied inside the worker before candidate code runs.

    ``timeout_s`` bounds each call's wall-clock time, measured by the trusted side; on
    expiry every process the worker started is killed. ``cpu_s`` bounds the worker's
    total CPU time (RLIMIT_CPU) over its whole life; ``None`` derives it from the timeout.
    """

    timeout_s: float = 10.0
    memory_mb: int = 2048  # RLIMIT_AS of each process (RLIMIT_DATA with gpu_devices: CUDA reserves huge address space)
    cpu_s: float | None = None
    max_processes: int = 64  # processes/threads the worker may have at once
    max_file_mb: int = 64  # largest file the candidate may write (RLIMIT_FSIZE)
    max_open_files: int = 256
    max_output_bytes: int = 1 << 20  # stdout+stderr kept; more is a SANDBOX_VIOLATION
    max_message_mb: int = 512  # largest result the trusted side will read
    startup_timeout_s: float = 30.0  # interpreter start + imports + module execution
    gpu_devices: tuple[str, ...] = ()  # CUDA devices the worker may see; empty hides all
    scratch_mb: int = 256  # private writable space: a tmpfs of this size (bwrap, docker); not enforced by process

    def effective_cpu_s(self) -> int:
        if self.cpu_s is not None:
            return max(1, int(self.cpu_s))
        return int(max(self.timeout_s, self.startup_timeout_s) * 4) + 10


@dataclass
class CallStats:
    """Timing of the last call, measured outside the candidate."""

    wall_s: float = 0.0
    calls: int = 0
    total_wall_s: float = 0.0


@runtime_checkable
class Worker(Protocol):
    """A live sandboxed process holding one candidate module."""

    stats: CallStats

    def call(self, function: str, *args: Any, timeout: float | None = None, **kwargs: Any) -> Any:
        """Call ``function`` in the candidate with data-only arguments; return its data-only result.

        Raises ``CandidateFailure``. After a TIMEOUT, MEMORY or CRASH the worker is dead
        and further calls raise CRASH; after an EXCEPTION it stays usable.
        """

    def output(self) -> str:
        """The captured stdout/stderr of the candidate so far (capped)."""

    def close(self) -> None:
        """Kill the worker and everything it started; idempotent."""

    def __enter__(self) -> "Worker": ...

    def __exit__(self, *exc: object) -> None: ...


@runtime_checkable
class Sandbox(Protocol):
    """An isolation backend: starts workers for candidate sources."""

    name: str

    def start(
        self,
        source: str,
        limits: Limits,
        *,
        module_name: str = "candidate",
        extra_env: Mapping[str, str] | None = None,
    ) -> Worker:
        """Start a worker that has executed ``source`` as module ``module_name``.

        Raises ``CandidateFailure`` (SYNTAX, EXCEPTION at import, TIMEOUT, MEMORY, CRASH).
        ``extra_env`` adds variables to the scrubbed environment (never secrets).
        """

    def info(self) -> "SandboxInfo":
        """Whether the backend can run here, why not, and what it protects against."""

    def close(self) -> None:
        """Release what the backend holds between workers (a warm zygote); idempotent.
        Live workers are their owners' to close."""


@dataclass(frozen=True)
class SandboxInfo:
    """What a backend protects against, for ``evolve check`` and the docs."""

    name: str
    available: bool
    reason: str = ""
    protections: tuple[str, ...] = field(default_factory=tuple)
