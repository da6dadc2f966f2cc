"""Isolation backends for untrusted candidate code (see ``sandbox.api`` for the contract)."""

from __future__ import annotations

from sandbox.api import (
    CallStats,
    CandidateFailure,
    FailureKind,
    Limits,
    Sandbox,
    SandboxError,
    SandboxInfo,
    Worker,
)

BACKENDS = ("process",)


def get_sandbox(name: str = "process") -> Sandbox:
    """Return the backend called ``name``; raise ValueError naming the choices otherwise."""
    if name == "process":
        from sandbox.process import ProcessSandbox

        return ProcessSandbox()
    raise ValueError(f"unknown sandbox backend {name!r}; choose one of: {', '.join(BACKENDS)}")


__all__ = [
    "BACKENDS",
    "CallStats",
    "CandidateFailure",
    "FailureKind",
    "Limits",
    "Sandbox",
    "SandboxError",
    "SandboxInfo",
    "Worker",
    "get_sandbox",
]
