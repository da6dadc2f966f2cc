"""Trusted scoring harnesses that problems build on.

``Candidate`` is the handle a problem's ``evaluate(candidate)`` receives; ``Evaluation`` is
what it returns; ``InvalidOutput`` is how it rejects what the candidate returned.
"""

from evaluators.candidate import Candidate
from evaluators.contract import Evaluation, InvalidOutput
from sandbox import CandidateFailure, FailureKind

__all__ = ["Candidate", "CandidateFailure", "Evaluation", "FailureKind", "InvalidOutput"]
