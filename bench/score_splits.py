"""Score a problem's seed, baselines and any other programs on every stage and split, in one run.

    python bench/score_splits.py problems/spot_scheduling [best.py ...] [--repeats 3] [--sandbox auto]

For each program: the quick stage (stage 0 of a two-stage cascade), the full search split
(the last stage) and the holdout split, each through the real sandbox and the problem's own
``evaluate.py``, as the engine calls it. ``--repeats`` evaluates each cell several times and
prints min..max where the score varies (runtime-dependent scores such as eplb's), so the
spread caused by timing noise is visible next to the value. Prints a markdown table.
"""

from __future__ import annotations

import argparse
import importlib.util
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from evaluators import Candidate, EvaluationContext  # noqa: E402
from sandbox import Limits, get_sandbox, resolve  # noqa: E402

CELLS = {
    "quick": EvaluationContext(split="search", stage=0, stages=2),
    "search": EvaluationContext(split="search", stage=1, stages=2),
    "holdout": EvaluationContext(split="holdout", stage=1, stages=2),
}


def load_evaluator(folder: Path):
    spec = importlib.util.spec_from_file_location("bench_evaluate", folder / "evaluate.py")
    module = importlib.util.module_from_spec(spec)
    sys.path.insert(0, str(folder))
    try:
        spec.loader.exec_module(module)
    finally:
        sys.path.remove(str(folder))
    return module


def cell(values: list[float]) -> str:
    low, high = min(values), max(values)
    return f"{low:.4f}" if high - low < 5e-5 else f"{low:.4f}..{high:.4f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("folder", type=Path)
    parser.add_argument("programs", nargs="*", type=Path, help="more programs to score (e.g. evolve best --code-only)")
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--sandbox", default="auto")
    parser.add_argument("--metric", action="append", default=[], help="also print this metric (search and holdout)")
    args = parser.parse_args()
    evaluator = load_evaluator(args.folder)
    backend, _ = resolve(args.sandbox)
    sandbox = get_sandbox(backend)
    programs = [args.folder / "initial.py", *sorted((args.folder / "baselines").glob("*.py")), *args.programs]
    metric_heads = [f"{m} ({split})" for m in args.metric for split in ("search", "holdout")]
    print(f"sandbox: {backend}; repeats: {args.repeats}\n")
    print("| program | " + " | ".join(CELLS) + " | " + " | ".join(metric_heads) + (" | " if metric_heads else "") + "seconds |")
    print("|" + " --- |" * (2 + len(CELLS) + len(metric_heads)))
    for program in programs:
        source = program.read_text()
        started = time.perf_counter()
        scores: dict[str, list[float]] = {name: [] for name in CELLS}
        metrics: dict[str, list[float]] = {head: [] for head in metric_heads}
        for _ in range(args.repeats):
            for name, context in CELLS.items():
                verdict = evaluator.evaluate(Candidate(source, sandbox, Limits(timeout_s=120)), context)
                scores[name].append(verdict.score)
                for m in args.metric:
                    if name != "quick" and m in verdict.metrics:
                        metrics[f"{m} ({name})"].append(verdict.metrics[m])
        name = str(program.relative_to(args.folder)) if program.is_relative_to(args.folder) else program.name
        row = [cell(scores[c]) for c in CELLS] + [cell(metrics[h]) if metrics[h] else "-" for h in metric_heads]
        print(f"| {name} | " + " | ".join(row) + f" | {time.perf_counter() - started:.1f} |")


if __name__ == "__main__":
    main()
