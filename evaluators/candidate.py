"""The trusted side's handle to one candidate program.

Two patterns serve every problem (docs/architecture.md section 5):

* light functions called many times (a learning rate per step, a placement per load
  matrix): open one persistent worker with ``with candidate.worker() as w`` and call
  ``w.call(...)`` thousands of times; a call costs a pipe round-trip, not a process start;
* heavy jobs (an ES run): ``candidate.call("train", config, timeout=600)`` runs the job
  whole inside the sandbox and returns an artifact that the evaluator re-scores itself.
"""

from __future__ import annotations

from typing import Any, Mapping

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
        self.total_call_seconds = 0.0  # wall time spent in candidate calls, measured outside

    def worker(self, limits: Limits | None = None) -> Worker:
        """Start a persistent sandboxed worker holding this candidate (use as a context manager)."""
        return self.sandbox.start(self.source, limits or self.limits, extra_env=self._extra_env)

    def call(self, function: str, *args: Any, timeout: float | None = None, **kwargs: Any) -> Any:
        """Start a worker, call ``function`` once, stop the worker; return the data it returned."""
        with self.worker() as worker:
            try:
                return worker.call(function, *args, timeout=timeout, **kwargs)
            finally:
                self.total_call_seconds += worker.stats.total_wall_s
