"""Isolation backends for untrusted candidate code (see ``sandbox.api`` for the contract).

Backends, by the name ``--sandbox`` and ``[run] sandbox`` take:

* ``auto`` (the default): ``bwrap`` where bubblewrap works on this machine, else
  ``process`` with a warning that says what is lost and how to get bwrap;
* ``bwrap``: the process backend inside bubblewrap (read-only system view, private
  tmpfs, own pid/net/IPC namespaces; ``sandbox.bwrap``); an error where it cannot run;
* ``process``: a confined child process (``sandbox.process``; its private filesystem view
  is ``sandbox.mounts``);
* ``docker``: a container per worker through the docker SDK (``sandbox.docker_backend``).

Every backend's worker runs ``sandbox.worker_main``, which installs ``sandbox.seccomp``
before the candidate's code, speaks ``sandbox.wire`` frames and moves its CPU limit per call.

``warm`` (process, bwrap): workers are forked from a zygote that has imported ``preload``
(``sandbox.zygote``), with the same confinement applied after the fork; where the zygote
cannot run, workers are spawned and a warning says why. ``get_sandbox`` shares one instance
per (name, warm, preload) in a process, so a trusted evaluator process keeps one zygote for
all its evaluations; shared instances are closed at exit.
"""

from __future__ import annotations

import atexit
import threading
import warnings
from typing import Sequence

from sandbox.api import (
    DEFAULT_PRELOAD,
    PER_CALL_LIMITS,
    CallStats,
    CandidateFailure,
    FailureKind,
    Limits,
    Sandbox,
    SandboxError,
    SandboxInfo,
    Worker,
)

BACKENDS = ("auto", "bwrap", "process", "docker")

_SHARED: dict[tuple[str, bool, tuple[str, ...]], Sandbox] = {}
_LOCK = threading.Lock()


def check_backend(name: str) -> str:
    """``name`` if it names a backend, else ValueError naming the choices."""
    if name not in BACKENDS:
        raise ValueError(f"unknown sandbox backend {name!r}; choose one of: {', '.join(BACKENDS)}")
    return name


def get_sandbox(name: str = "auto", *, warm: bool = True, preload: Sequence[str] = DEFAULT_PRELOAD) -> Sandbox:
    """The shared backend called ``name``; ValueError naming the choices for an unknown name.

    Raises SandboxError when ``bwrap`` is asked for explicitly and cannot run here.
    """
    check_backend(name)
    key = (name, warm, tuple(preload))
    with _LOCK:
        if key not in _SHARED:
            if not _SHARED:
                atexit.register(close_shared)
            _SHARED[key] = _make(name, warm, tuple(preload))
        return _SHARED[key]


def resolve(name: str) -> tuple[str, str]:
    """The concrete backend ``name`` stands for here, and why it is not the best one ('' if it is).

    ``auto`` is ``bwrap`` where a real bwrap worker starts, else ``process`` with the reason;
    ``bwrap`` asked for by name where it cannot run is a SandboxError, never a downgrade.
    """
    if name not in ("auto", "bwrap"):
        return name, ""
    from sandbox.bwrap import probe

    reason = probe()
    if not reason:
        return "bwrap", ""
    if name == "bwrap":
        raise SandboxError(f"the bwrap backend cannot run here: {reason}")
    return "process", (
        f"bubblewrap cannot run here ({reason}); falling back to the 'process' backend, which cannot hide"
        " world-readable files or give candidates a private /tmp. Install bubblewrap (apt-get install"
        " bubblewrap) or choose --sandbox process to silence this."
    )


def _make(name: str, warm: bool, preload: tuple[str, ...]) -> Sandbox:
    concrete, why = resolve(name)
    if why:
        warnings.warn(f"sandbox {name!r}: {why}", stacklevel=3)
    if concrete == "bwrap":
        from sandbox.bwrap import BwrapSandbox, WarmBwrapSandbox

        return WarmBwrapSandbox(preload=preload) if warm else BwrapSandbox()
    if concrete == "process":
        from sandbox.process import ProcessSandbox
        from sandbox.zygote import WarmProcessSandbox

        return WarmProcessSandbox(preload=preload) if warm else ProcessSandbox()
    from sandbox.docker_backend import DockerSandbox

    return DockerSandbox()


def close_shared() -> None:
    """Close the shared backends (stops their zygotes); they are made again on next use."""
    with _LOCK:
        while _SHARED:
            _SHARED.popitem()[1].close()


__all__ = [
    "BACKENDS",
    "CallStats",
    "CandidateFailure",
    "DEFAULT_PRELOAD",
    "FailureKind",
    "PER_CALL_LIMITS",
    "Limits",
    "Sandbox",
    "SandboxError",
    "SandboxInfo",
    "Worker",
    "check_backend",
    "close_shared",
    "get_sandbox",
    "resolve",
]
