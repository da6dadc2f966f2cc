"""Evaluation: the trusted side of the trust boundary, and where it runs.

- ``request``: ``EvaluationRequest``, the plain data one evaluation needs, and ``request_for``;
- ``scoring``: ``evaluate_program``, which runs a problem's ``evaluate.py`` against a
  sandboxed candidate and classifies every failure;
- ``executor``: the ``Executor`` protocol and ``LocalExecutor``, a pool of trusted evaluator processes;
- ``ray_executor``: ``RayExecutor``, each evaluation a Ray task on a cluster (the ray extra;
  imported only when a run asks for it).
"""

from evolve.evaluation.request import EvaluationRequest, request_for
from evolve.evaluation.scoring import evaluate_program

__all__ = ["EvaluationRequest", "evaluate_program", "request_for"]
