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
import functools
import math
import os
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


#: Limits a single call may override (``Worker.call(..., limits=...)``); the rest are fixed
#: when the worker starts (memory, processes, files, GPUs, scratch, message caps).
PER_CALL_LIMITS = ("timeout_s", "cpu_s")


@dataclass(frozen=True)
class Limits:
    """Resource limits for one worker. Applied inside the worker before candidate code runs.

    ``timeout_s`` bounds each call's wall-clock time, measured by the trusted side; on
    expiry every process the worker started is killed. ``cpu_s`` is each call's CPU-time
    budget (RLIMIT_CPU, charged per call: before a call the worker's soft limit becomes the
    CPU it has used so far plus the budget, so calls never add up to a per-worker cap);
    ``None`` derives it from the call's timeout as ``timeout x cores + 1``
    (``cpu_budget_s``), which no call can exhaust before its wall-clock timeout, so by
    default only the timeout binds. Start-up gets the same derived budget from
    ``startup_timeout_s``. The budget binds code that does not fight it; a candidate can
    raise its own soft limit, and is then bounded by its timeout alone.
    """

    timeout_s: float = 10.0
    memory_mb: int = 2048  # RLIMIT_AS of each process (RLIMIT_DATA with gpu_devices: CUDA reserves huge address space)
    cpu_s: float | None = None  # CPU-time budget of one call; None: timeout x cores + 1 (never before the timeout)
    max_processes: int = 64  # processes/threads the worker may have at once
    max_file_mb: int = 64  # largest file the candidate may write (RLIMIT_FSIZE)
    max_open_files: int = 256
    max_output_bytes: int = 1 << 20  # stdout+stderr kept; more is a SANDBOX_VIOLATION
    max_message_mb: int = 512  # largest reply (JSON header + arrays, tensors, bytes) the trusted side will read
    max_header_kb: int = 2048  # largest JSON header of a reply; bulk data belongs in arrays/tensors/bytes
    max_fetch_mb: int = 64  # largest file ``Worker.read_file`` fetches from the scratch dir
    startup_timeout_s: float = 30.0  # interpreter start + imports + module execution
    gpu_devices: tuple[str, ...] = ()  # CUDA devices the worker may see; empty hides all
    scratch_mb: int = 256  # private writable space: a tmpfs of this size (bwrap, docker); not enforced by process

    def __post_init__(self) -> None:
        for name in ("timeout_s", "startup_timeout_s"):
            if not getattr(self, name) > 0:
                raise ValueError(f"Limits.{name} must be positive (got {getattr(self, name)!r})")
        if self.cpu_s is not None and not self.cpu_s > 0:
            raise ValueError(f"Limits.cpu_s must be positive or None (got {self.cpu_s!r})")
        for name in ("memory_mb", "max_processes", "max_open_files", "max_message_mb", "max_header_kb", "scratch_mb"):
            if getattr(self, name) < 1:
                raise ValueError(f"Limits.{name} must be at least 1 (got {getattr(self, name)!r})")

    @property
    def max_message_bytes(self) -> int:
        return self.max_message_mb << 20

    @property
    def max_header_bytes(self) -> int:
        """The JSON header cap in bytes: ``max_header_kb``, never more than the message cap."""
        return min(self.max_header_kb << 10, self.max_message_bytes)

    def cpu_budget_s(self, timeout_s: float | None = None) -> int:
        """CPU seconds one call may use: ``cpu_s`` when set, else ``ceil(timeout x cores) + 1``.

        ``timeout_s``: the call's own timeout (default ``self.timeout_s``); cores: the CPUs
        this process may run on. A worker cannot use more CPU than that within its
        wall-clock timeout however many threads it runs, so the derived budget never ends a
        call before its timeout does.
        """
        if self.cpu_s is not None:
            return max(1, math.ceil(self.cpu_s))
        return math.ceil((self.timeout_s if timeout_s is None else timeout_s) * _cores()) + 1

    def startup_cpu_budget_s(self) -> int:
        """CPU seconds the start-up may use: ``ceil(startup_timeout_s x cores) + 1`` (``cpu_s`` is per call)."""
        return math.ceil(self.startup_timeout_s * _cores()) + 1

    def check_call_override(self, override: "Limits") -> None:
        """Raise ValueError naming a field of a call's ``override`` that differs but is fixed at start.

        Only ``PER_CALL_LIMITS`` may change per call, so no setting is silently dropped.
        """
        if override == self:
            return
        for name in self.__dataclass_fields__:
            if name not in PER_CALL_LIMITS and getattr(override, name) != getattr(self, name):
                raise ValueError(
                    f"limits.{name}={getattr(override, name)!r} differs from the worker's {getattr(self, name)!r}:"
                    f" only {', '.join(PER_CALL_LIMITS)} can change per call; start a worker with these limits"
                    " (candidate.worker(limits=...) or candidate.call(..., limits=...))"
                )


@functools.cache
def _cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


@dataclass
class CallStats:
    """Measurements of the last call, taken outside the candidate (``gpu_peak_mb`` excepted).

    ``gpu_peak_mb``: peak CUDA memory the last call allocated through torch
    (``torch.cuda.max_memory_allocated``, the maximum over visible devices), as the
    worker reports it; None when torch's CUDA was not initialised in the worker. It is a
    diagnostic a candidate could misreport, never part of a score.
    """

    wall_s: float = 0.0
    calls: int = 0
    total_wall_s: float = 0.0
    gpu_peak_mb: float | None = None
    max_gpu_peak_mb: float | None = None  # over all calls of this worker


@runtime_checkable
class Worker(Protocol):
    """A live sandboxed process holding one candidate module."""

    stats: CallStats

    def call(
        self, function: str, *args: Any, timeout: float | None = None, limits: Limits | None = None, **kwargs: Any
    ) -> Any:
        """Call ``function`` in the candidate with data-only arguments; return its data-only result.

        ``timeout`` (or ``limits.timeout_s``) and ``limits.cpu_s`` apply to this call only.
        Raises ``CandidateFailure``. After a TIMEOUT, MEMORY or CRASH the worker is dead
        and further calls raise CRASH; after an EXCEPTION or INVALID_OUTPUT it stays usable.
        """

    def read_file(self, path: str, max_bytes: int | None = None) -> bytes:
        """The bytes of ``path`` (relative, inside the worker's scratch dir), read by the worker itself.

        The worker opens it with its own uid and confinement, refusing ``..``, absolute
        paths and symlinks, so the trusted side never opens a path the candidate chose.
        At most ``max_bytes`` (default and ceiling ``Limits.max_fetch_mb``). A missing,
        oversized or non-regular file is INVALID_OUTPUT; a bad path is the caller's ValueError.
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
