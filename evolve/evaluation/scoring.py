"""Scoring one program: the trusted side of the trust boundary.

``evaluate_program`` runs in a trusted evaluator process (never in the controller, never
in the candidate's process). It loads the problem's ``evaluate.py``, hands it a
``Candidate`` whose calls cross into the sandbox, and turns whatever happens into an
``EvaluationResult``: a score, or a classified failure with a message for the next prompt.

The evaluator is called once per cascade stage with an ``EvaluationContext`` (split,
stage, seed, device, scratch dir; an ``evaluate(candidate)`` without a context parameter
is called the old way), and a stage score below its bar ends the evaluation there: the
result is ok but incomplete. The holdout split runs only the last stage.

``mode="fingerprint"`` runs only the problem's ``fingerprint(candidate, context)`` probe
(``evaluators.fingerprint``) and returns its hash in a result that is neither ok nor a
failure (``EvaluationResult.is_probe``); a candidate that fails during the probe gets an
ordinary failure result, which is its evaluation.

Failure mapping:
  source does not compile             -> syntax (no process is started)
  sandbox.CandidateFailure propagates  -> its own kind (timeout, memory, crash, ...)
  evaluators.InvalidOutput             -> invalid_output
  a non-finite score/metric/feature    -> invalid_output
  OverflowError (a candidate's huge int converted to float) -> invalid_output
  MemoryError in the trusted process   -> memory (the process is capped: evaluator_memory_mb)
  any other exception in evaluate.py   -> evaluator_error (a bug on the trusted side)
"""

from __future__ import annotations

import importlib.util
import inspect
import shutil
import sys
import tempfile
import time
import traceback
from pathlib import Path
from types import ModuleType

from evaluators import Candidate, Evaluation, EvaluationContext, InvalidOutput
from evaluators.fingerprint import fingerprint_of
from evolve.evaluation.request import EvaluationRequest
from evolve.records import EvaluationResult
from sandbox import CandidateFailure, FailureKind, get_sandbox

_MAX_TEXT = 4000  # characters of feedback/messages/output kept per evaluation


def evaluate_program(request: EvaluationRequest) -> EvaluationResult:
    """Score ``request.code`` with the problem's trusted evaluator, stage by stage; never raises."""
    run = _Scoring(request)
    try:
        return run.score()
    finally:
        run.close()


class _Scoring:
    """One evaluation: the cascade loop, the context each stage is told, and failure mapping."""

    def __init__(self, request: EvaluationRequest) -> None:
        self.request = request
        self.started = time.perf_counter()
        self.candidate: Candidate | None = None
        self.scratch = tempfile.mkdtemp(prefix="evolve-evaluation-")
        self.stage = 0
        self.stage_scores: list[float] = []
        self.fingerprint = request.fingerprint

    def close(self) -> None:
        shutil.rmtree(self.scratch, ignore_errors=True)

    def score(self) -> EvaluationResult:
        try:
            try:
                compile(self.request.code, "candidate.py", "exec")
            except SyntaxError as exc:
                return self._failed(FailureKind.SYNTAX, f"line {exc.lineno}: {exc.msg}")
            verdict = self._run_stages()
            if verdict is None:  # a fingerprint probe: no verdict
                return EvaluationResult(ok=False, **self._accounting())
        except CandidateFailure as failure:
            return self._failed(failure.kind, failure.message, output=failure.output)
        except InvalidOutput as exc:
            return self._failed(FailureKind.INVALID_OUTPUT, str(exc))
        except OverflowError as exc:  # an int from the candidate too large for a float: its output, its fault
            detail = "".join(traceback.format_exception_only(exc)).strip()
            return self._failed(FailureKind.INVALID_OUTPUT, f"a number the candidate returned is out of range: {detail}")
        except MemoryError:
            return self._failed(FailureKind.MEMORY, "the trusted evaluator ran out of memory scoring this candidate "
                                                    "([limits] evaluator_memory_mb)")
        except Exception as exc:  # the trusted evaluator's own bug: record, don't blame the candidate
            detail = "".join(traceback.format_exception(exc, limit=-3)).strip()
            return self._failed(FailureKind.EVALUATOR_ERROR, detail)
        return EvaluationResult(
            ok=True,
            score=float(verdict.score),
            metrics=_floats(verdict.metrics),
            features=_floats(verdict.features),
            feedback=verdict.feedback[:_MAX_TEXT],
            instances=_floats(verdict.instances),
            private=_floats(verdict.private),
            objectives=_floats(verdict.objectives),
            **self._accounting(),
        )

    def _run_stages(self) -> Evaluation | None:
        request = self.request
        module = _load_evaluator(Path(request.problem_dir))
        takes_context = _takes_context(module.evaluate)
        if request.stages > 1 and not takes_context:
            raise TypeError(
                f"problem.toml declares {request.stages} stages but evaluate() takes no context: "
                "define evaluate(candidate, context) and branch on context.stage"
            )
        sandbox = get_sandbox(request.sandbox, warm=request.warm_start, preload=request.preload)
        self.candidate = Candidate(request.code, sandbox, request.limits)
        probe = getattr(module, "fingerprint", None)
        if request.mode == "fingerprint" or (request.want_fingerprint and not self.fingerprint and probe is not None):
            if probe is not None:
                context = EvaluationContext(seed=request.seed, device=request.device, gpus=request.limits.gpu_devices,
                                            scratch_dir=self.scratch, stages=request.stages)
                self.fingerprint = fingerprint_of(probe(self.candidate, context))
            if request.mode == "fingerprint":
                return None
        last = request.stages - 1
        order = [last] if request.split == "holdout" else range(request.stages)
        previous: Evaluation | None = None
        for stage in order:
            self.stage = stage
            context = EvaluationContext(
                split=request.split, stage=stage, stages=request.stages, seed=request.seed, device=request.device,
                gpus=request.limits.gpu_devices, scratch_dir=self.scratch, previous=previous,
            )  # fmt: skip
            verdict = module.evaluate(self.candidate, context) if takes_context else module.evaluate(self.candidate)
            if not isinstance(verdict, Evaluation):
                raise TypeError(f"evaluate() returned {type(verdict).__name__}, expected evaluators.Evaluation")
            verdict.validate()
            self.stage_scores.append(float(verdict.score))
            previous = verdict
            bar = request.stage_bars[stage]
            if stage < last and bar is not None and not reaches(verdict.score, bar, request.maximize):
                return verdict  # stopped by the cascade: an ok, incomplete evaluation
        missing = [name for name in request.required_features if name not in previous.features]
        if missing and request.split == "search":
            raise KeyError(f"evaluate() returned no feature {missing[0]!r} though problem.toml declares it")
        return previous

    def _accounting(self) -> dict:
        candidate = self.candidate
        return dict(
            duration_s=time.perf_counter() - self.started,
            candidate_s=candidate.total_call_seconds if candidate else 0.0,
            gpu_peak_mb=candidate.gpu_peak_mb if candidate else 0.0,
            stage=self.stage,
            stages=self.request.stages,
            stage_scores=list(self.stage_scores),
            fingerprint=self.fingerprint,
        )

    def _failed(self, kind: FailureKind, message: str, output: str = "") -> EvaluationResult:
        return EvaluationResult(
            ok=False, failure_kind=kind.value, failure_message=message[-_MAX_TEXT:], output=output[-_MAX_TEXT:],
            **self._accounting(),
        )


def reaches(score: float, bar: float, maximize: bool) -> bool:
    """Whether a stage score clears its bar (>= when maximising, <= when minimising)."""
    return score >= bar if maximize else score <= bar


def _floats(group: dict) -> dict[str, float]:
    return {k: float(v) for k, v in group.items()}


def _takes_context(evaluate: object) -> bool:
    """Whether ``evaluate`` accepts a second positional argument (the context)."""
    try:
        parameters = list(inspect.signature(evaluate).parameters.values())  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return False
    positional = [p for p in parameters if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    return len(positional) >= 2 or any(p.kind is p.VAR_POSITIONAL for p in parameters)


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
        sys.modules[name] = module  # dataclasses, pickling and typing look their module up by name
        sys.path.insert(0, str(path.parent))  # let evaluate.py import helpers from its folder
        try:
            spec.loader.exec_module(module)
        except BaseException:
            del sys.modules[name]
            raise
        finally:
            sys.path.remove(str(path.parent))
        if not callable(getattr(module, "evaluate", None)):
            raise AttributeError(f"{path} defines no evaluate(candidate) function")
        _EVALUATORS[key] = module
    return module
