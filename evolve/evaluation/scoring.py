"""Scoring one program: the trusted side of the trust boundary.

``evaluate_program`` runs in a trusted evaluator process (never in the controller, never
in the candidate's process). It loads the problem's ``evaluate.py``, hands it a
``Candidate`` whose calls cross into the sandbox, and turns whatever happens into an
``EvaluationResult``: a score, or a classified failure with a message for the next prompt.

Failure mapping:
  source does not compile             -> syntax (no process is started)
  sandbox.CandidateFailure propagates  -> its own kind (timeout, memory, crash, ...)
  evaluators.InvalidOutput             -> invalid_output
  a non-finite score/metric/feature    -> invalid_output
  any other exception in evaluate.py   -> evaluator_error (a bug on the trusted side)
"""

from __future__ import annotations

import importlib.util
import sys
import time
import traceback
from pathlib import Path
from types import ModuleType

from evaluators import Candidate, Evaluation, InvalidOutput
from evolve.evaluation.request import EvaluationRequest
from evolve.records import EvaluationResult
from sandbox import CandidateFailure, FailureKind, get_sandbox

_MAX_TEXT = 4000  # characters of feedback/messages/output kept per evaluation


def evaluate_program(request: EvaluationRequest) -> EvaluationResult:
    """Score ``request.code`` with the problem's trusted evaluator; never raises."""
    started = time.perf_counter()
    candidate: Candidate | None = None
    try:
        try:
            compile(request.code, "candidate.py", "exec")
        except SyntaxError as exc:
            return _failed(FailureKind.SYNTAX, f"line {exc.lineno}: {exc.msg}", started)
        module = _load_evaluator(Path(request.problem_dir))
        sandbox = get_sandbox(request.sandbox, warm=request.warm_start, preload=request.preload)
        candidate = Candidate(request.code, sandbox, request.limits)
        verdict = module.evaluate(candidate)
        if not isinstance(verdict, Evaluation):
            raise TypeError(f"evaluate() returned {type(verdict).__name__}, expected evaluators.Evaluation")
        verdict.validate()
        missing = [name for name in request.required_features if name not in verdict.features]
        if missing:
            raise KeyError(f"evaluate() returned no feature {missing[0]!r} though problem.toml declares it")
    except CandidateFailure as failure:
        return _failed(failure.kind, failure.message, started, candidate, output=failure.output)
    except InvalidOutput as exc:
        return _failed(FailureKind.INVALID_OUTPUT, str(exc), started, candidate)
    except Exception as exc:  # the trusted evaluator's own bug: record, don't blame the candidate
        detail = "".join(traceback.format_exception(exc, limit=-3)).strip()
        return _failed(FailureKind.EVALUATOR_ERROR, detail, started, candidate)
    return EvaluationResult(
        ok=True,
        score=float(verdict.score),
        metrics={k: float(v) for k, v in verdict.metrics.items()},
        features={k: float(v) for k, v in verdict.features.items()},
        feedback=verdict.feedback[:_MAX_TEXT],
        duration_s=time.perf_counter() - started,
        candidate_s=candidate.total_call_seconds if candidate else 0.0,
    )


def _failed(
    kind: FailureKind, message: str, started: float, candidate: Candidate | None = None, output: str = ""
) -> EvaluationResult:
    return EvaluationResult(
        ok=False,
        failure_kind=kind.value,
        failure_message=message[-_MAX_TEXT:],
        output=output[-_MAX_TEXT:],
        duration_s=time.perf_counter() - started,
        candidate_s=candidate.total_call_seconds if candidate else 0.0,
    )


_EVALUATORS: dict[tuple[str, float], ModuleType] = {}


def _load_evaluator(problem_dir: Path) -> ModuleType:
    """Import ``evaluate.py`` once per process (re-imported if the file changes)."""
    path = (problem_dir / "evaluate.py").resolve()
    key = (str(path), path.stat().st_mtime)
    module = _EVALUATORS.get(key)
    if module is None:
        name = f"_evolve_evaluator_{abs(hash(key))}"
        spec = importlib.util.spec_from_file_location(name, path)
        if spec is None or spec.loader is None:
            raise ImportError(f"cannot import {path}")
        module = importlib.util.module_from_spec(spec)
        sys.path.insert(0, str(path.parent))  # let evaluate.py import helpers from its folder
        try:
            spec.loader.exec_module(module)
        finally:
            sys.path.remove(str(path.parent))
        if not callable(getattr(module, "evaluate", None)):
            raise AttributeError(f"{path} defines no evaluate(candidate) function")
        _EVALUATORS[key] = module
    return module
