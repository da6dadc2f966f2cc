"""Typed configuration: the single source of truth for every setting.

A problem's ``problem.toml`` is validated against ``ProblemConfig`` (unknown keys are
errors that name the key, so a typo never silently falls back to a default); the CLI's
options override fields of ``RunSettings`` and ``SearchSettings``. The resolved config is
stored in the run database, so ``evolve resume`` continues with exactly the same settings.
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from evolve.llm.config import LLMConfig
from sandbox import BACKENDS, Limits


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ProblemInfo(_Strict):
    name: str
    description: str = Field(description="What is being optimised; goes into every LLM prompt.")


class Objective(_Strict):
    name: str = "score"
    direction: Literal["maximize", "minimize"] = "maximize"

    @property
    def maximize(self) -> bool:
        return self.direction == "maximize"


class FeatureAxis(_Strict):
    """One MAP-Elites axis: feature values in [min, max] are cut into ``bins`` equal cells.

    ``name`` is a key of the evaluator's ``features`` dict, or a generic feature the engine
    computes itself (``code_size``: characters of the evolvable block).
    """

    name: str
    min: float
    max: float
    bins: int = Field(default=8, ge=1, le=1000)

    @model_validator(mode="after")
    def _check_range(self) -> "FeatureAxis":
        if not self.max > self.min:
            raise ValueError(f"feature {self.name!r}: max ({self.max}) must be greater than min ({self.min})")
        return self


class LimitSettings(_Strict):
    """Sandbox limits for each candidate worker (see sandbox.api.Limits)."""

    timeout_s: float = Field(default=10.0, gt=0, description="Wall-clock limit of one candidate call.")
    memory_mb: int = Field(default=2048, ge=64)
    max_processes: int = Field(default=64, ge=1)
    max_file_mb: int = Field(default=64, ge=0)
    max_output_kb: int = Field(default=1024, ge=1)
    scratch_mb: int = Field(default=256, ge=1, description="Private writable space per worker (a tmpfs under bwrap and docker).")
    evaluation_timeout_s: float = Field(
        default=300.0, gt=0, description="Wall-clock limit of one whole evaluation, trusted side included."
    )

    def to_sandbox(self, gpu_devices: tuple[str, ...] = ()) -> Limits:
        return Limits(
            timeout_s=self.timeout_s,
            memory_mb=self.memory_mb,
            max_processes=self.max_processes,
            max_file_mb=self.max_file_mb,
            max_output_bytes=self.max_output_kb * 1024,
            gpu_devices=gpu_devices,
            scratch_mb=self.scratch_mb,
        )


class Resources(_Strict):
    cpus: float = Field(default=1.0, gt=0)
    gpus: int = Field(default=0, ge=0)


class RunSettings(_Strict):
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
        default_factory=lambda: ["numpy"], description="Modules the warm zygote imports once, e.g. add 'torch' for torch problems."
    )
    max_failed_proposals_in_row: int = Field(
        default=200, ge=1, description="Stop if this many proposals in a row produce no candidate."
    )

    @field_validator("sandbox")
    @classmethod
    def _known_sandbox(cls, name: str) -> str:
        if name not in BACKENDS:
            raise ValueError(f"unknown sandbox backend {name!r}; choose one of: {', '.join(BACKENDS)}")
        return name


class SearchSettings(_Strict):
    islands: int = Field(default=3, ge=1)
    migration_interval: int = Field(default=25, ge=1, description="Evaluations between ring migrations.")
    migration_size: int = Field(default=1, ge=1, description="Elites copied to the next island per migration.")
    parent_selection: Literal["uniform", "fitness", "curiosity"] = "fitness"
    fitness_temperature: float = Field(
        default=1.0, gt=0, description="Softmax temperature over rank for fitness-weighted selection."
    )
    num_inspirations: int = Field(default=2, ge=0)
    code_size_feature: bool = Field(default=True, description="Add the generic code_size axis when <2 axes are declared.")
    code_size_max: int = Field(default=4000, ge=100)
    code_size_bins: int = Field(default=6, ge=1)
    novelty_rejection: bool = Field(default=True, description="Skip evaluating near-duplicates of archive elites.")
    novelty_threshold: float = Field(
        default=1.0, gt=0, le=1,
        description="Similarity at which a candidate is a near-duplicate (1.0: the same code modulo comments, "
        "docstrings and formatting; lower also rejects small perturbations; see evolve.novelty).",
    )


class MutatorSettings(_Strict):
    call_groups: list[list[str]] = Field(
        default_factory=list, description="Extra groups of interchangeable calls, e.g. [['np.sin', 'np.cos']]."
    )


class ProblemConfig(_Strict):
    problem: ProblemInfo
    objective: Objective = Objective()
    features: list[FeatureAxis] = Field(default_factory=list)
    limits: LimitSettings = LimitSettings()
    resources: Resources = Resources()
    run: RunSettings = RunSettings()
    search: SearchSettings = SearchSettings()
    mutator: MutatorSettings = MutatorSettings()
    llm: LLMConfig = Field(default_factory=LLMConfig, description="Models to propose with; none: the built-in mutator.")

    def feature_axes(self) -> list[FeatureAxis]:
        """Declared axes, plus ``code_size`` when fewer than two are declared and it is enabled."""
        axes = list(self.features)
        names = {a.name for a in axes}
        if self.search.code_size_feature and len(axes) < 2 and "code_size" not in names:
            axes.append(FeatureAxis(name="code_size", min=0, max=self.search.code_size_max, bins=self.search.code_size_bins))
        return axes

    def with_overrides(self, section: str, **values: object) -> "ProblemConfig":
        """Return a copy with ``section``'s fields replaced by the non-None ``values`` (validated)."""
        values = {k: v for k, v in values.items() if v is not None}
        if not values:
            return self
        current = getattr(self, section)
        updated = type(current).model_validate({**current.model_dump(), **values})
        return self.model_copy(update={section: updated})


class ConfigError(Exception):
    """A problem or run configuration is invalid; the message names the file, the field and the fix."""


def load_problem_config(path: Path) -> ProblemConfig:
    """Read and validate ``problem.toml``; raise ConfigError with a readable message."""
    try:
        data = tomllib.loads(path.read_text())
    except FileNotFoundError:
        raise ConfigError(f"{path}: not found (a problem folder needs a problem.toml)") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from None
    return parse_problem_config(data, source=str(path))


def parse_problem_config(data: dict, source: str = "problem.toml") -> ProblemConfig:
    try:
        return ProblemConfig.model_validate(data)
    except ValidationError as exc:
        lines = []
        for err in exc.errors():
            where = ".".join(str(p) for p in err["loc"]) or "(top level)"
            lines.append(f"  {where}: {err['msg']}")
        raise ConfigError(f"{source}: invalid configuration:\n" + "\n".join(lines)) from None
