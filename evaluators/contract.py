"""What a problem's trusted ``evaluate.py`` is told, what it returns, and how it rejects output.

A problem folder's ``evaluate.py`` defines one of::

    def evaluate(candidate: evaluators.Candidate) -> evaluators.Evaluation
    def evaluate(candidate: evaluators.Candidate, context: evaluators.EvaluationContext) -> evaluators.Evaluation

It runs in a trusted process, calls the candidate's functions through ``candidate`` (each
call crosses into the sandbox and returns data only), validates what comes back, and
computes the score itself. Raising ``InvalidOutput`` marks the candidate INVALID_OUTPUT with
the message; a ``sandbox.CandidateFailure`` propagating out keeps its own kind; any other
exception is an EVALUATOR_ERROR (a bug on the trusted side, not the candidate's fault).

The context says where the evaluation runs and what for (``EvaluationContext``):

* ``split``: ``"search"`` for every evaluation the search sees; ``"holdout"`` when the
  engine re-scores a finished run's best programs on data the search never saw (only for
  problems that declare ``[evaluation] holdout = true``). Holdout verdicts are stored
  apart and never reach a prompt, so the holdout data can stay unseen;
* ``stage`` / ``stages``: the cascade stage (0-based) of ``[[stages]]`` in problem.toml.
  The engine calls ``evaluate`` once per stage, in order, and stops when a stage's score
  misses that stage's bar; the program's score is that of the last stage it reached.
  ``previous`` is the verdict of the stage before. Holdout runs only the last stage, so
  the last stage must be self-contained;
* ``seed``: derived from the run seed and the program id, so a re-evaluation is identical;
* ``device`` / ``gpus``: ``"cuda:0"`` and the GPU ids assigned to this evaluation (the
  sandbox sees exactly those), or ``"cpu"`` and ``()``;
* ``scratch_dir``: a private directory of the trusted side for this evaluation (removed
  after it), e.g. for a checkpoint fetched from the candidate.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Literal

Split = Literal["search", "holdout"]
SPLITS: tuple[Split, ...] = ("search", "holdout")


class InvalidOutput(Exception):
    """The candidate returned data that fails the evaluator's checks; the message says why."""


@dataclass(frozen=True)
class EvaluationContext:
    """Where and what for one call of ``evaluate`` runs (see the module docstring)."""

    split: Split = "search"
    stage: int = 0
    stages: int = 1
    seed: int = 0
    device: str = "cpu"
    gpus: tuple[str, ...] = ()
    scratch_dir: str = ""
    previous: "Evaluation | None" = None

    @property
    def is_holdout(self) -> bool:
        return self.split == "holdout"

    @property
    def is_last_stage(self) -> bool:
        return self.stage >= self.stages - 1


@dataclass
class Evaluation:
    """A trusted evaluator's verdict on one candidate.

    ``score`` is the objective named in problem.toml (its direction says whether higher is
    better). ``features`` feed the MAP-Elites axes declared there. ``feedback`` is text for
    the next prompt about this candidate (what limited it, which case was worst).

    ``metrics`` are stored and shown in prompts; ``private`` metrics are stored and shown to
    the user, never to a model (put anything derived from held-out data there).
    ``instances`` are per-workload scores (workload name -> score), stored, and summarised
    in the prompt's feedback (which workload was worst). ``objectives`` are the values of the
    secondary objectives declared under ``[[objectives]]`` (e.g. runtime next to quality),
    from which ``evolve best`` and the report draw the Pareto front.
    """

    score: float
    metrics: dict[str, float] = field(default_factory=dict)
    features: dict[str, float] = field(default_factory=dict)
    feedback: str = ""
    instances: dict[str, float] = field(default_factory=dict)
    private: dict[str, float] = field(default_factory=dict)
    objectives: dict[str, float] = field(default_factory=dict)

    def validate(self) -> None:
        """Raise InvalidOutput unless the score and every number reported are finite."""
        _check_number("score", self.score)
        for group_name, group in self.groups().items():
            if not isinstance(group, dict):
                raise InvalidOutput(f"{group_name} must be a dict of str to number, got {type(group).__name__}")
            for key, value in group.items():
                if not isinstance(key, str):
                    raise InvalidOutput(f"{group_name} key {key!r} is not a string")
                _check_number(f"{group_name[:-1]} {key!r}", value)
        if not isinstance(self.feedback, str):
            raise InvalidOutput(f"feedback must be a string, got {type(self.feedback).__name__}")

    def groups(self) -> dict[str, dict[str, float]]:
        """The named number groups, for validation and storage."""
        return {
            "metrics": self.metrics,
            "features": self.features,
            "instances": self.instances,
            "private": self.private,
            "objectives": self.objectives,
        }


def _check_number(name: str, value: object) -> None:
    if not isinstance(value, (int, float)) or isinstance(value, bool):
        raise InvalidOutput(f"{name} must be a number, got {type(value).__name__}")
    try:
        finite = math.isfinite(value)
    except OverflowError:  # an int too large for a float
        finite = False
    if not finite:
        raise InvalidOutput(f"{name} is {value!r:.40}, not a finite number")
