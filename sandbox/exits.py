"""Why a worker died on its own: from its wait status, resource usage and last output.

Shared by every backend (bwrap and docker translate their exit codes back into wait
statuses first), so a candidate that runs out of CPU time or memory is classified the same
way whichever sandbox it ran in.
"""

from __future__ import annotations

import os
import signal
from typing import Any

from sandbox.api import FailureKind

_MEMORY_WORDS = ("MemoryError", "Cannot allocate memory", "out of memory", "std::bad_alloc")


def classify_exit(
    status: int | None, usage: Any, tail: str, what: str, *, memory_mb: int, cpu_budget_s: float
) -> tuple[FailureKind, str]:
    """Why a worker died on its own, from its wait status, rusage and last output.

    TIMEOUT: SIGXCPU, which RLIMIT_CPU's soft limit sends once the call has used its CPU
    budget ``cpu_budget_s`` (the hard limit is unlimited, so a candidate that ignores
    SIGXCPU runs on until its wall-clock timeout). MEMORY: the last output mentions an
    allocation failure, or SIGKILL at 90% of the memory limit resident (an OOM killer).
    CRASH: the rest.
    """
    mentions_memory = any(word in tail for word in _MEMORY_WORDS)
    if status is not None and os.WIFSIGNALED(status):
        sig = os.WTERMSIG(status)
        name = _signal_name(sig)
        if sig == signal.SIGXCPU:
            return FailureKind.TIMEOUT, f"the worker used up its CPU-time limit of {cpu_budget_s:g} s during {what}"
        resident_mb = usage.ru_maxrss / 1024 if usage is not None else 0.0
        if mentions_memory or (sig == signal.SIGKILL and resident_mb >= 0.9 * memory_mb):
            return FailureKind.MEMORY, f"the worker was killed by {name}, out of memory, during {what}"
        return FailureKind.CRASH, f"the worker was killed by signal {name} during {what}"
    code = os.waitstatus_to_exitcode(status) if status is not None else "unknown"
    if mentions_memory and code != 0:
        return FailureKind.MEMORY, f"the worker exited with code {code}, out of memory, during {what}"
    return FailureKind.CRASH, f"the worker exited with code {code} during {what}"


def _signal_name(sig: int) -> str:
    try:
        return signal.Signals(sig).name
    except ValueError:
        return str(sig)
