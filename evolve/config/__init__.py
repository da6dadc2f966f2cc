"""Typed configuration: the single source of truth for every setting.

``problem.toml`` is validated against ``ProblemConfig``; each of its tables is one module
here (``limits``, ``run``, ``search``, ``llm``), all built on ``base.StrictModel``. This
package is the ground floor of the engine: it imports nothing of ``evolve`` above it (only
the sandbox, whose limits it mirrors).
"""

from evolve.config.base import ConfigError, StrictModel
from evolve.config.evaluation import EvaluationSettings, SecondaryObjective, Stage
from evolve.config.limits import LimitSettings, Resources
from evolve.config.llm import EditWeights, LLMConfig, ModelSpec, merge_cli_models, parse_model_arg
from evolve.config.problem import (
    FeatureAxis,
    Objective,
    ProblemConfig,
    ProblemInfo,
    load_problem_config,
    parse_problem_config,
)
from evolve.config.run import RunSettings
from evolve.config.search import MutatorSettings, SearchSettings

__all__ = [
    "ConfigError",
    "EditWeights",
    "EvaluationSettings",
    "FeatureAxis",
    "LLMConfig",
    "LimitSettings",
    "ModelSpec",
    "MutatorSettings",
    "Objective",
    "ProblemConfig",
    "ProblemInfo",
    "Resources",
    "RunSettings",
    "SearchSettings",
    "SecondaryObjective",
    "Stage",
    "StrictModel",
    "load_problem_config",
    "merge_cli_models",
    "parse_model_arg",
    "parse_problem_config",
]
