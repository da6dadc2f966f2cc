"""Shared helpers for the process-sandbox tests: starting workers, checking nothing is left."""

from __future__ import annotations

import os
import textwrap

import pytest

from sandbox import CandidateFailure, Limits, reaper
from sandbox.process import ProcessSandbox, ProcessWorker

ROOT = os.geteuid() == 0
needs_root = pytest.mark.skipif(not ROOT, reason="needs root: private uid per worker")

FAST = Limits(timeout_s=5.0, startup_timeout_s=10.0)


def start(sandbox: ProcessSandbox, source: str, limits: Limits = FAST, **kwargs) -> ProcessWorker:
    return sandbox.start(textwrap.dedent(source), limits, **kwargs)


def hidden_from_process_workers(path: str | os.PathLike) -> bool:
    """Whether process workers cannot see ``path`` at all: it lies under a world-writable
    directory (a checkout cloned into /tmp, say), which each worker sees as a private tmpfs."""
    from sandbox.mounts import read_mounts, world_writable_dirs

    real = os.path.realpath(path)
    return any(real == d or real.startswith(d.rstrip("/") + "/") for d in world_writable_dirs(read_mounts()))


def alive(pid: int) -> bool:
    """Whether ``pid`` exists and is not a zombie."""
    try:
        with open(f"/proc/{pid}/status", "rb") as f:
            state = [line for line in f.read().splitlines() if line.startswith(b"State:")][0]
    except (OSError, IndexError):
        return False
    return b"Z" not in state.split()[1]


def assert_nothing_left(worker: ProcessWorker) -> None:
    assert not alive(worker.pid)
    if ROOT:
        assert reaper.live_pids_of_uid(worker.uid) == []


def failure_of(worker: ProcessWorker, function: str, *args, **kwargs) -> CandidateFailure:
    with pytest.raises(CandidateFailure) as info:
        worker.call(function, *args, **kwargs)
    return info.value
