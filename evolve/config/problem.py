"""``problem.toml``: the whole configuration of a problem, validated strictly.

A problem's ``problem.toml`` is validated against ``ProblemConfig`` (unknown keys are
errors that name the key, so a typo never silently falls back to a default); the CLI's
options override fields through ``with_overrides``. The resolved config is stored in the
run database, so ``evolve resume`` continues with exactly the same settings.
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Literal

from pydantic import Field, ValidationError, model_validator

from evolve.config.base import ConfigError, StrictModel
from evolve.config.evaluation import EvaluationSettings, SecondaryObjective, Stage, check_stages
from evolve.config.limits import LimitSettings, Resources
from evolve.config.llm import LLMConfig
from evolve.config.messages import describe_errors
from evolve.config.run import RunSettings
from evolve.config.search import MutatorSettings, SearchSettings


class ProblemInfo(StrictModel):
    name: str = Field(description="The problem's name, shown by the dashboard, `evolve status` and reports.")
    description: str = Field(description="What is being optimised; goes into every LLM prompt.")


class Objective(StrictModel):
    """The primary objective: the score ``evaluate`` returns."""

    name: str = Field(default="score", description="What the score is called in the dashboard, reports and prompts.")
    direction: Literal["maximize", "minimize"] = Field(default="maximize", description="Whether a higher or a lower score is better.")

    @property
    def maximize(self) -> bool:
        return self.direction == "maximize"


class FeatureAxis(StrictModel):
    """One MAP-Elites axis: feature values in [min, max] are cut into ``bins`` equal cells.

    ``name`` is a key of the evaluator's ``features`` dict, or a generic feature the engine
    computes itself (``code_size``: characters of the evolvable block).
    """

    name: str = Field(description="A key of the evaluator's features, or code_size (characters of the evolvable block).")
    min: float = Field(description="Lower end of the axis; smaller values are clipped into the first bin.")
    max: float = Field(description="Upper end of the axis; larger values are clipped into the last bin.")
    bins: int = Field(default=8, ge=1, le=1000, description="Equal-width cells the range is cut into.")

    @model_validator(mode="after")
    def _check_range(self) -> "FeatureAxis":
        if not self.max > self.min:
            raise ValueError(f"feature {self.name!r}: max ({self.max}) must be greater than min ({self.min})")
        return self


class ProblemConfig(StrictModel):
    problem: ProblemInfo
    objective: Objective = Objective()
    objectives: list[SecondaryObjective] = Field(default_factory=list, description="Secondary objectives (Pareto front).")
    features: list[FeatureAxis] = Field(default_factory=list)
    stages: list[Stage] = Field(default_factory=list, description="Cascade stages; none: one stage.")
    evaluation: EvaluationSettings = EvaluationSettings()
    limits: LimitSettings = LimitSettings()
    resources: Resources = Resources()
    run: RunSettings = RunSettings()
    search: SearchSettings = SearchSettings()
    mutator: MutatorSettings = MutatorSettings()
    llm: LLMConfig = Field(default_factory=LLMConfig, description="Models to propose with; none: the built-in mutator.")

    @model_validator(mode="after")
    def _check(self) -> "ProblemConfig":
        check_stages(self.stages)
        names = [o.name for o in self.objectives]
        if self.objective.name in names or len(set(names)) != len(names):
            raise ValueError("objectives: each secondary objective needs a distinct name, other than the primary objective's")
        return self

    @property
    def stage_count(self) -> int:
        return max(1, len(self.stages))

    def feature_axes(self) -> list[FeatureAxis]:
        """Declared axes, plus ``code_size`` when fewer than two are declared and it is enabled."""
        axes = list(self.features)
        names = {a.name for a in axes}
        if self.search.code_size_feature and len(axes) < 2 and "code_size" not in names:
            axes.append(FeatureAxis(name="code_size", min=0, max=self.search.code_size_max, bins=self.search.code_size_bins))
        return axes

    def with_overrides(self, section: str, **values: object) -> "ProblemConfig":
        """A copy with ``section``'s fields replaced by the non-None ``values`` (validated)."""
        current = getattr(self, section)
        updated = current.updated(**values)
        return self if updated is current else self.model_copy(update={section: updated})


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
    """Validate ``data`` (a parsed problem.toml); ConfigError with one line per problem (``config.messages``)."""
    try:
        return ProblemConfig.model_validate(data)
    except ValidationError as exc:
        lines = [f"  {line}" for line in describe_errors(exc, ProblemConfig)]
        raise ConfigError(f"{source}: invalid configuration:\n" + "\n".join(lines)) from None
