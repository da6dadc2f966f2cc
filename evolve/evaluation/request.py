"""What one evaluation needs, as plain data that crosses into a trusted evaluator process.

``request_for`` is the one place a run's settings reach an evaluation: every limit, the
sandbox backend and the warm-start settings are taken from the config here and nowhere else,
so no setting is copied by hand on the way to the evaluator.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from sandbox import DEFAULT_PRELOAD, Limits

if TYPE_CHECKING:  # the trusted evaluator process imports this module; it needs no pydantic
    from evolve.config import ProblemConfig


@dataclass(frozen=True)
class EvaluationRequest:
    """Everything a trusted evaluator process needs; plain data so it can cross processes."""

    problem_dir: str
    code: str
    limits: Limits
    sandbox: str = "auto"
    required_features: tuple[str, ...] = ()
    warm_start: bool = True  # fork workers from the sandbox's zygote
    preload: tuple[str, ...] = DEFAULT_PRELOAD  # what that zygote imports


def request_for(config: "ProblemConfig", problem_dir: str, code: str, sandbox: str | None = None) -> EvaluationRequest:
    """The request scoring ``code`` under ``config``: the one place settings reach evaluations."""
    return EvaluationRequest(
        problem_dir=problem_dir,
        code=code,
        limits=config.limits.to_sandbox(),
        sandbox=sandbox or config.run.sandbox,
        required_features=tuple(axis.name for axis in config.features),
        warm_start=config.run.warm_start,
        preload=tuple(config.run.preload),
    )
