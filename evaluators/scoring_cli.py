"""Score programs with a problem's evaluator on either split, outside a run.

``evolve check`` scores the seed and baselines on the search split; this is the small
command behind the README tables that also covers the holdout split, the way the engine
re-scores a run's best programs (holdout runs only the last cascade stage)::

    python problems/<name>/evaluate.py --split holdout problems/<name>/baselines/*.py

Search runs every stage in order and reports the last one reached (a stage whose
threshold is missed stops there, as in a run).
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import Callable, Sequence

from evaluators.candidate import Candidate
from evaluators.contract import Evaluation, EvaluationContext, InvalidOutput
from sandbox import CandidateFailure, Limits, get_sandbox


def score(
    evaluate: Callable[..., Evaluation], candidate: Candidate, split: str, thresholds: Sequence[float | None]
) -> tuple[Evaluation, int]:
    """(verdict of the last stage reached, that stage's index)."""
    stages = len(thresholds)
    order = [stages - 1] if split == "holdout" else list(range(stages))
    previous = None
    for stage in order:
        context = EvaluationContext(split=split, stage=stage, stages=stages, previous=previous)
        previous = evaluate(candidate, context)
        bar = thresholds[stage]
        if bar is not None and previous.score < bar:
            break
    assert previous is not None
    return previous, stage


def main(evaluate: Callable[..., Evaluation], thresholds: Sequence[float | None], preload: Sequence[str] = ("numpy",),
         argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("programs", nargs="+", type=Path)
    parser.add_argument("--split", choices=("search", "holdout"), default="search")
    parser.add_argument("--sandbox", default="auto")
    parser.add_argument("--timeout", type=float, default=120.0, help="seconds per candidate call")
    parser.add_argument("--memory-mb", type=int, default=4096)
    parser.add_argument("--feedback", action="store_true", help="print each verdict's feedback too")
    args = parser.parse_args(argv)
    sandbox = get_sandbox(args.sandbox, preload=tuple(preload))
    for path in args.programs:
        candidate = Candidate(path.read_text(), sandbox, Limits(timeout_s=args.timeout, memory_mb=args.memory_mb))
        started = time.perf_counter()
        try:
            verdict, stage = score(evaluate, candidate, args.split, thresholds)
        except (CandidateFailure, InvalidOutput) as exc:
            print(f"{path}: FAILED {type(exc).__name__}: {exc}")
            continue
        seconds = time.perf_counter() - started
        instances = ", ".join(f"{k} {v:.4f}" for k, v in verdict.instances.items())
        features = ", ".join(f"{k} {v:.3f}" for k, v in verdict.features.items())
        print(f"{path}: {args.split} score {verdict.score:.4f} (stage {stage}, {seconds:.1f} s) | {instances} | {features}")
        if args.feedback:
            print(f"    {verdict.feedback}")
