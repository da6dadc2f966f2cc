"""Trusted evaluator for evolution strategies: the candidate's ES trains, this side re-scores.

Each workload (``evaluators.es_workloads``) is one task under one instance seed. The task
runtime (``evaluators/es_runtime.py``) is appended to the candidate's program and
``run_es_task(spec)`` runs the candidate's whole ES inside one sandboxed worker; it returns
the final parameters as float32 arrays. This side checks them (names, shapes, dtype, device,
finite values, member evaluations within the budget) and scores them itself on held-out data
and episodes, so nothing the candidate reports about its own fitness is used.

Score: the mean over workloads of the normalised fitness s in [0, 1]. Stage 0 ("quick") is
one sphere instance, enough to reject a broken ES in well under a second; stage 1 ("full")
runs every task on two instance seeds and is self-contained (holdout re-runs only it, with
other instance seeds and the digits test split). Throughput, member evaluations per second
of the candidate's calls timed from outside, is a secondary objective.
"""

import math
import time

import torch

from evaluators import Evaluation, EvaluationContext
from evaluators import es_runtime
from evaluators.es_workloads import SEEDS, TASKS, check_gradient_free, checked_params, rescore, task_spec
from evaluators.injection import appended

TIMEOUT_S = {"cpu": 120.0, "cuda": 600.0}
NOISE_FLOOR = 1e-3


def workloads(context: EvaluationContext) -> list[tuple[str, int]]:
    """(task, instance seed) pairs of this stage and split."""
    seeds = SEEDS[context.split]
    if context.stages > 1 and not context.is_last_stage:
        return [("sphere", seeds[0])]
    return [(task, seed) for task in TASKS for seed in seeds]


def evaluate(candidate, context=None):
    context = context or EvaluationContext()
    check_gradient_free(candidate.source)
    torch.set_num_threads(1)
    timeout = TIMEOUT_S["cuda" if context.device.startswith("cuda") else "cpu"]
    scores, details, reports = {}, {}, []
    wall = 0.0
    with appended(candidate, es_runtime) as program, program.worker() as worker:
        for task, seed in workloads(context):
            spec = task_spec(task, seed, context.device)
            started = time.perf_counter()
            report = worker.call("run_es_task", spec, timeout=timeout)
            wall += time.perf_counter() - started
            params = checked_params(report, spec)
            name = f"{task}/seed{seed}"
            scores[name], details[name] = rescore(spec, params, context.split, eval_seed=seed * 31 + 7)
            reports.append(report)
    return verdict(scores, details, reports, wall)


def verdict(scores: dict, details: dict, reports: list, wall: float) -> Evaluation:
    score = sum(scores.values()) / len(scores)
    evaluations = sum(r["evaluations"] for r in reports)
    noise = sum(r["noise_fraction"] for r in reports) / len(reports)
    population = sum(max(1, r["max_population"]) for r in reports) / len(reports)
    per_task = {}
    for name, s in scores.items():
        per_task.setdefault(name.split("/")[0], []).append(s)
    metrics = {task: sum(v) / len(v) for task, v in per_task.items()}
    for name, extra in details.items():
        task = name.split("/")[0]
        for key in ("accuracy", "return", "decades"):
            if key in extra:
                metrics[f"{task}_{key}"] = metrics.get(f"{task}_{key}", 0.0) + extra[key] / len(per_task[task])
    throughput = evaluations / max(wall, 1e-9)
    metrics["members_per_second"] = throughput
    worst = min(scores, key=scores.get)
    feedback = (
        f"normalised fitness {score:.4f} (mean of {len(scores)} workloads); worst {worst} at {scores[worst]:.4f}; "
        + "; ".join(f"{task} {value:.3f}" for task, value in sorted(metrics.items()) if task in per_task)
        + f". Noise per member {noise:.3g} of the parameter count, mean largest population {population:.0f}, "
        f"{throughput:,.0f} member evaluations per second."
    )
    return Evaluation(
        score=score,
        metrics=metrics,
        features={"log10_noise_per_member": math.log10(max(noise, NOISE_FLOOR)), "log2_population": math.log2(population)},
        feedback=feedback,
        instances=scores,
        objectives={"members_per_second": throughput},
    )


if __name__ == "__main__":
    from evaluators.scoring_cli import main

    main(evaluate, thresholds=(0.1, None), preload=("numpy", "torch"))
