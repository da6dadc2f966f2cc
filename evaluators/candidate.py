"""The trusted side's handle to one candidate program.

Two patterns serve every problem (docs/architecture.md section 5):

* light functions called many times (a learning rate per step, a placement per load
  matrix): open one persistent worker with ``with candidate.worker() as w`` and call
  ``w.call(...)`` thousands of times; a call costs a pipe round-trip, not a process start;
* heavy jobs (an ES run): ``candidate.call("train", config, timeout=600)`` runs the job
  whole inside the sandbox and returns an artifact (arrays, tensors, bytes) that the
  evaluator re-scores itself; a job that writes a checkpoint file instead is run with
  ``candidate.call_and_fetch("train", config, files=["ckpt.pt"])``, which reads the files
  through the worker itself (its uid, its confinement) before the worker is stopped.

Limits: every call takes ``timeout=`` and ``limits=``; a call's own timeout also sets its
CPU budget (``Limits.cpu_budget_s``), so a long call its timeout allows is never cut short
by a per-worker CPU cap. ``total_call_seconds`` is the wall time of every call, on every
worker, measured outside the candidate.
"""

from __future__ import annotations

from typing import Any, Mapping, Sequence

from sandbox import Limits, Sandbox, Worker


class Candidate:
    """A candidate's source plus the sandbox and limits to run it under."""

    def __init__(
        self,
        source: str,
        sandbox: Sandbox,
        limits: Limits,
        *,
        extra_env: Mapping[str, str] | None = None,
    ) -> None:
        self.source = source
        self.sandbox = sandbox
        self.limits = limits
        self._extra_env = dict(extra_env or {})
        self.total_call_seconds = 0.0  # wall time of all candidate calls, on every worker, measured outside
        self.gpu_peak_mb = 0.0  # the largest peak CUDA memory any call reported (torch workers on a GPU)

    def worker(self, limits: Limits | None = None) -> Worker:
        """Start a persistent sandboxed worker holding this candidate (use as a context manager).

        ``limits`` replaces the candidate's limits for this worker (memory, processes, GPUs,
        caps: everything fixed at start); a call may still pass its own ``timeout``/``limits``.
        """
        inner = self.sandbox.start(self.source, limits or self.limits, extra_env=self._extra_env)
        return _AccountedWorker(inner, self)

    def call(
        self, function: str, *args: Any, timeout: float | None = None, limits: Limits | None = None, **kwargs: Any
    ) -> Any:
        """Start a worker, call ``function`` once, stop the worker; return the data it returned.

        ``limits`` applies to the whole worker (so any field may differ from the
        candidate's); ``timeout`` overrides ``limits.timeout_s`` for the call.
        """
        with self.worker(limits) as worker:
            return worker.call(function, *args, timeout=timeout, **kwargs)

    def call_and_fetch(
        self,
        function: str,
        *args: Any,
        files: Sequence[str],
        max_file_bytes: int | None = None,
        timeout: float | None = None,
        limits: Limits | None = None,
        **kwargs: Any,
    ) -> tuple[Any, dict[str, bytes]]:
        """``call``, then read ``files`` (paths relative to the worker's scratch dir) before stopping it.

        Returns ``(result, {path: bytes})``. Each file is read by the worker itself, at most
        ``max_file_bytes`` (default and ceiling: ``limits.max_fetch_mb``); a missing,
        oversized or symlinked file is an INVALID_OUTPUT ``CandidateFailure``.
        """
        if isinstance(files, str):
            raise TypeError("files must be a sequence of paths, not one string")
        with self.worker(limits) as worker:
            result = worker.call(function, *args, timeout=timeout, **kwargs)
            return result, {path: worker.read_file(path, max_file_bytes) for path in files}


class _AccountedWorker:
    """A worker whose calls add their wall time to the candidate's ``total_call_seconds`` (and
    their peak GPU memory to its ``gpu_peak_mb``).

    Everything else (``stats``, ``read_file``, ``output``, ``close``, attributes such as
    ``uid``) is the worker's own.
    """

    def __init__(self, inner: Worker, candidate: Candidate) -> None:
        self._inner = inner
        self._candidate = candidate

    def call(self, function: str, *args: Any, **kwargs: Any) -> Any:
        calls = self._inner.stats.calls
        try:
            return self._inner.call(function, *args, **kwargs)
        finally:
            stats = self._inner.stats
            if stats.calls != calls:  # a call that never started (bad arguments) took no time
                self._candidate.total_call_seconds += stats.wall_s
                if stats.gpu_peak_mb:
                    self._candidate.gpu_peak_mb = max(self._candidate.gpu_peak_mb, float(stats.gpu_peak_mb))

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)

    def __enter__(self) -> "_AccountedWorker":
        return self

    def __exit__(self, *exc: object) -> None:
        self._inner.close()
