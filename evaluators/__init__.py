"""Trusted scoring harnesses that problems build on.

``Candidate`` is the handle a problem's ``evaluate(candidate, context)`` receives;
``EvaluationContext`` says what the evaluation is for (split, cascade stage, seed, device);
``Evaluation`` is what it returns; ``InvalidOutput`` is how it rejects what the candidate
returned.
"""

from evaluators.candidate import Candidate
from evaluators.contract import SPLITS, Evaluation, EvaluationContext, InvalidOutput, Split
from sandbox import CandidateFailure, FailureKind

__all__ = [
    "Candidate",
    "CandidateFailure",
    "Evaluation",
    "EvaluationContext",
    "FailureKind",
    "InvalidOutput",
    "SPLITS",
    "Split",
]
