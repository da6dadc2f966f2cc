"""``[run]``: how much to evaluate, how much at once, and where candidates run."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator

from evolve.config.base import StrictModel
from sandbox import DEFAULT_PRELOAD, check_backend


class RunSettings(StrictModel):
    budget: int = Field(default=200, ge=1, description="Candidates to evaluate (proposals that fail to apply do not count).")
    seed: int = 0
    max_concurrent_evaluations: int = Field(default=2, ge=1)
    max_concurrent_proposals: int = Field(default=4, ge=1)
    sandbox: str = Field(
        default="auto",
        description="Isolation backend: auto = bwrap where bubblewrap works, else process with a warning (README: Security model).",
    )
    warm_start: bool = Field(default=True, description="Fork workers from a warm zygote (process, bwrap) instead of spawning each.")
    preload: list[str] = Field(
        default_factory=lambda: list(DEFAULT_PRELOAD),
        description="Modules the warm zygote imports once, e.g. add 'torch' for torch problems.",
    )
    executor: Literal["local", "ray"] = Field(
        default="local", description="Where evaluations run: local processes, or Ray tasks on a cluster (pip install 'evolve[ray]')."
    )
    ray_address: str | None = Field(
        default=None, description="Ray cluster to join (e.g. 10.0.0.5:6379 or ray://host:10001); unset: RAY_ADDRESS, else a local Ray."
    )
    stop_grace_s: float = Field(
        default=60.0, ge=0, description="On Ctrl-C or SIGTERM: how long in-flight evaluations may finish before they are cut off."
    )
    max_failed_proposals_in_row: int = Field(
        default=200, ge=1, description="Stop if this many proposals in a row produce no candidate."
    )

    @field_validator("sandbox")
    @classmethod
    def _known_sandbox(cls, name: str) -> str:
        return check_backend(name)
