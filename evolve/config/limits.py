"""Limits of one evaluation: the sandbox's per-worker limits plus the whole evaluation's wall clock.

One source for every default: each field's default is read from ``sandbox.Limits()``, so
the problem settings and the sandbox cannot disagree (``tests/test_config.py`` checks that
``LimitSettings().to_sandbox() == sandbox.Limits()`` and that every sandbox limit has a
setting). Units follow what users write: kilobytes of output, megabytes of memory.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator

from evolve.config.base import StrictModel
from sandbox import Limits

_SANDBOX = Limits()
_KB = 1024


class LimitSettings(StrictModel):
    """``[limits]``: sandbox limits for each candidate worker (see ``sandbox.api.Limits``)."""

    timeout_s: float = Field(default=_SANDBOX.timeout_s, gt=0, description="Wall-clock limit of one candidate call.")
    memory_mb: int = Field(default=_SANDBOX.memory_mb, ge=64, description="Address space of each candidate process.")
    cpu_s: float | None = Field(
        default=_SANDBOX.cpu_s, gt=0,
        description="CPU-time budget of one candidate call (RLIMIT_CPU, charged per call); unset: timeout x cores + 1, "
        "so a call its timeout allows is never cut short.",
    )
    max_processes: int = Field(default=_SANDBOX.max_processes, ge=1, description="Processes and threads a worker may have at once.")
    max_file_mb: int = Field(default=_SANDBOX.max_file_mb, ge=0, description="Largest file a candidate may write.")
    max_open_files: int = Field(default=_SANDBOX.max_open_files, ge=16, description="Open file descriptors per worker process.")
    max_output_kb: int = Field(
        default=_SANDBOX.max_output_bytes // _KB, ge=1, description="Candidate stdout+stderr kept; more is a sandbox_violation."
    )
    max_message_mb: int = Field(
        default=_SANDBOX.max_message_mb, ge=1, description="Largest reply (arrays, tensors, bytes included) the trusted side reads."
    )
    max_header_kb: int = Field(
        default=_SANDBOX.max_header_kb, ge=16,
        description="Largest JSON part of a reply (bulk data travels as arrays, tensors or bytes); bounds the trusted side's parsing.",
    )
    max_fetch_mb: int = Field(
        default=_SANDBOX.max_fetch_mb, ge=1, description="Largest file an evaluator fetches from a worker's scratch dir.",
    )
    startup_timeout_s: float = Field(
        default=_SANDBOX.startup_timeout_s, gt=0, description="Interpreter start, imports and the candidate's module code."
    )
    scratch_mb: int = Field(
        default=_SANDBOX.scratch_mb, ge=1, description="Private writable space per worker (a tmpfs under bwrap and docker)."
    )
    evaluation_timeout_s: float = Field(
        default=300.0, gt=0, description="Wall-clock limit of one whole evaluation, trusted side included."
    )
    evaluator_memory_mb: int = Field(
        default=8192, ge=256,
        description="Memory (RLIMIT_DATA) of each trusted evaluator process: a runaway evaluation fails as "
        "'memory' instead of taking the host down.",
    )

    def to_sandbox(self, gpu_devices: tuple[str, ...] = ()) -> Limits:
        """The sandbox's view of these settings, with the GPUs the executor assigned."""
        return Limits(
            timeout_s=self.timeout_s,
            memory_mb=self.memory_mb,
            cpu_s=self.cpu_s,
            max_processes=self.max_processes,
            max_file_mb=self.max_file_mb,
            max_open_files=self.max_open_files,
            max_output_bytes=self.max_output_kb * _KB,
            max_message_mb=self.max_message_mb,
            max_header_kb=self.max_header_kb,
            max_fetch_mb=self.max_fetch_mb,
            startup_timeout_s=self.startup_timeout_s,
            gpu_devices=gpu_devices,
            scratch_mb=self.scratch_mb,
        )


class Resources(StrictModel):
    """``[resources]``: what one evaluation needs from the machine (the executor schedules by it).

    ``gpus = N`` gives every evaluation exactly N devices (the trusted evaluator and the
    sandbox see those; evaluations wait for free ones); a run on a machine with fewer fails
    at start. ``gpus = "auto"``: one device per evaluation where the machine has any, else
    the CPU (problems that pick a larger configuration on a GPU).
    """

    cpus: float = Field(default=1.0, gt=0, description="CPU cores one evaluation uses (Ray's num_cpus).")
    gpus: int | Literal["auto"] = Field(
        default=0, description="GPUs each evaluation gets (0: none; 'auto': one where the machine has any)."
    )

    @field_validator("gpus")
    @classmethod
    def _non_negative(cls, value: int | str) -> int | str:
        if isinstance(value, int) and value < 0:
            raise ValueError("gpus must be >= 0 or 'auto'")
        return value
