"""What a problem's trusted ``evaluate.py`` returns, and how it rejects a candidate's output.

A problem folder's ``evaluate.py`` defines::

    def evaluate(candidate: evaluators.Candidate) -> evaluators.Evaluation

It runs in a trusted process, calls the candidate's functions through ``candidate`` (each
call crosses into the sandbox and returns data only), validates what comes back, and
computes the score itself. Raising ``InvalidOutput`` marks the candidate INVALID_OUTPUT with
the message; a ``sandbox.CandidateFailure`` propagating out keeps its own kind; any other
exception is an EVALUATOR_ERROR (a bug on the trusted side, not the candidate's fault).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field


class InvalidOutput(Exception):
    """The candidate returned data that fails the evaluator's checks; the message says why."""


@dataclass
class Evaluation:
    """A trusted evaluator's verdict on one candidate.

    ``score`` is the objective named in problem.toml (its direction says whether higher is
    better). ``features`` feed the MAP-Elites axes declared there. ``feedback`` is text for
    the next prompt about this candidate (what limited it, which case was worst).
    """

    score: float
    metrics: dict[str, float] = field(default_factory=dict)
    features: dict[str, float] = field(default_factory=dict)
    feedback: str = ""

    def validate(self) -> None:
        """Raise InvalidOutput unless the score, metrics and features are finite numbers."""
        if not isinstance(self.score, (int, float)) or isinstance(self.score, bool):
            raise InvalidOutput(f"score must be a number, got {type(self.score).__name__}")
        if not math.isfinite(self.score):
            raise InvalidOutput(f"score is {self.score}, not a finite number")
        for group_name, group in (("metric", self.metrics), ("feature", self.features)):
            for key, value in group.items():
                if not isinstance(value, (int, float)) or isinstance(value, bool) or not math.isfinite(value):
                    raise InvalidOutput(f"{group_name} {key!r} is {value!r}, not a finite number")
