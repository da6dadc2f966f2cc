"""A trusted evaluator process: ``python -m evolve.evaluation.evaluator_main FD MEMORY_MB``.

Started by ``evolve.evaluation.executor`` with one end of a socket pair as ``FD``; it
evaluates the requests that arrive on it (``evaluate_program``) until the socket closes.
It is a fresh interpreter that imports only the trusted side (``evolve.evaluation.scoring``
and what a problem's ``evaluate.py`` imports): not the CLI, not the controller, which is
what a multiprocessing child would re-import. Both ends are trusted, so requests and
results travel as pickles (``multiprocessing.connection``); candidate data never does.

It dies with its parent (PR_SET_PDEATHSIG), ignores Ctrl-C (the controller's to handle),
turns SIGTERM into SystemExit so that ``evaluate.py`` unwinds and its sandboxes are closed,
and runs under RLIMIT_DATA = MEMORY_MB (0: no cap).
"""

from __future__ import annotations

import ctypes
import resource
import signal
import sys
from multiprocessing.connection import Connection

_PR_SET_PDEATHSIG = 1


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


def main(argv: list[str]) -> int:
    fd, memory_mb = int(argv[0]), int(argv[1])
    try:
        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)
    except (OSError, AttributeError):
        pass  # not Linux: the slot still stops its process on close
    signal.signal(signal.SIGTERM, _raise_system_exit)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    if memory_mb:
        cap_memory(memory_mb)
    from evolve.evaluation.scoring import evaluate_program

    conn = Connection(fd)
    conn.send("ready")
    while True:
        try:
            request = conn.recv()
        except (EOFError, OSError):
            signal.signal(signal.SIGTERM, signal.SIG_DFL)  # shutting down: a SIGTERM now just ends it, quietly
            return 0
        conn.send(evaluate_program(request))


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
