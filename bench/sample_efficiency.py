"""Best score against evaluations spent, for the built-in mutator with each search strategy on and off.

For every problem, strategy and seed it runs ``evolve run`` in-process with the built-in
mutator and reads from the run's database:

* best@N: the best complete score among the first N evaluations (seed excluded), for each N
  of ``--at`` (default 100, 300, 1000; the run's budget is the largest);
* neutral: the share of evaluations that bought nothing new: the child scored exactly its
  parent's score (the waste behavioural-duplicate detection removes);
* holdout of best: the holdout-split score of the run's best program, scored when the run
  ends (problems with a holdout split; a dash elsewhere);
* saved: evaluations skipped (behavioural duplicates) and cascade stages not run.

Strategies (each is the default run plus one change, so their effects can be told apart):

* ``default``: the problem's settings;
* ``adaptive``: ``[mutator] adaptive = true`` (Thompson sampling over operators);
* ``fixed_operators``: ``[mutator] adaptive = false`` (for problems that turn it on, such as
  circle packing: the fixed operator weights, as before);
* ``go_explore``: ``[search] parent_selection = "go_explore"``;
* ``all``: both;
* ``no_dedup``: ``[evaluation] behavioural_duplicates = false`` (for problems with a probe).

    python bench/sample_efficiency.py [--problems circle_packing eplb] [--seeds 0 1 2] [--at 100 300 1000]

It prints one table (means over seeds, with min..max) and the command line that made it.
Runs take minutes: circle packing is ~15 s per 1000 candidates on 2 cores.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from evolve.loop import execute  # noqa: E402
from evolve.problem import load_problem  # noqa: E402
from evolve.store import create_run  # noqa: E402

STRATEGIES = {
    "default": {},
    "adaptive": {"mutator": {"adaptive": True}},
    "fixed_operators": {"mutator": {"adaptive": False}},
    "go_explore": {"search": {"parent_selection": "go_explore"}},
    "all": {"mutator": {"adaptive": True}, "search": {"parent_selection": "go_explore"}},
    "no_dedup": {"evaluation": {"behavioural_duplicates": False}},
}


def run_once(problem_name: str, strategy: str, seed: int, budget: int, out: Path) -> dict:
    problem = load_problem(problem_name)
    config = problem.config.with_overrides("run", budget=budget, seed=seed)
    for section, values in STRATEGIES[strategy].items():
        config = config.with_overrides(section, **values)
    run = create_run(problem, config, out)
    started = time.perf_counter()
    execute(run)
    elapsed = time.perf_counter() - started
    db = run.db._db  # noqa: SLF001 - a bench reads the run's tables directly
    maximize = config.objective.maximize
    rows = db.execute(
        "SELECT e.program_id, e.ok, e.score, e.stage, e.stages, p.parent_id FROM evaluations e"
        " JOIN programs p ON p.id = e.program_id ORDER BY e.id"
    ).fetchall()
    scores = {pid: score for pid, ok, score, stage, stages, _ in rows if ok and stage >= stages - 1}
    best_after: list[float | None] = []
    best = None
    neutral = 0
    for pid, ok, score, stage, stages, parent in rows[1:]:  # the seed is not a search evaluation
        complete = ok and stage >= stages - 1
        if complete and (best is None or (score > best if maximize else score < best)):
            best = score
        if complete and parent in scores and score == scores[parent]:
            neutral += 1
        best_after.append(best)
    outcomes = dict(db.execute("SELECT outcome, COUNT(*) FROM proposals GROUP BY outcome").fetchall())
    cascade = run.db.cascade_counts()
    saved = outcomes.get("behavioural_duplicate", 0) + cascade["saved"]
    best_program = run.db.best(maximize=maximize)
    held = run.db.holdout_results().get(best_program[0].id) if best_program else None
    run.close()
    return {
        "best_after": best_after,
        "neutral": neutral / max(1, len(rows) - 1),
        "saved": saved,
        "holdout": held.score if held is not None and held.ok else None,
        "seconds": elapsed,
    }


def summarise(values: list[float]) -> str:
    if not values:
        return "—"
    mean = statistics.mean(values)
    return f"{mean:.4f} ({min(values):.4f}..{max(values):.4f})" if len(values) > 1 else f"{mean:.4f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--problems", nargs="+", default=["circle_packing"])
    parser.add_argument("--strategies", nargs="+", default=list(STRATEGIES), choices=list(STRATEGIES))
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    parser.add_argument("--at", nargs="+", type=int, default=[100, 300, 1000])
    args = parser.parse_args()
    budget = max(args.at)
    header = ["problem", "strategy", *(f"best@{n}" for n in args.at), "holdout of best", "neutral", "saved", "s/run"]
    lines = [" | ".join(header), " | ".join("---" for _ in header)]
    with tempfile.TemporaryDirectory() as tmp:
        for problem in args.problems:
            for strategy in args.strategies:
                results = [run_once(problem, strategy, seed, budget, Path(tmp)) for seed in args.seeds]
                cells = [problem, strategy]
                for n in args.at:
                    at = [r["best_after"][min(n, len(r["best_after"])) - 1] for r in results if r["best_after"]]
                    cells.append(summarise([v for v in at if v is not None]))
                cells.append(summarise([r["holdout"] for r in results if r["holdout"] is not None]))
                cells.append(f"{statistics.mean(r['neutral'] for r in results):.1%}")
                cells.append(f"{statistics.mean(r['saved'] for r in results):.0f}")
                cells.append(f"{statistics.mean(r['seconds'] for r in results):.0f}")
                lines.append(" | ".join(cells))
                print(lines[-1], flush=True)
    print()
    print("\n".join(lines))
    print(f"\n(python bench/sample_efficiency.py --problems {' '.join(args.problems)} --seeds {' '.join(map(str, args.seeds))}"
          f" --at {' '.join(map(str, args.at))})")


if __name__ == "__main__":
    main()
