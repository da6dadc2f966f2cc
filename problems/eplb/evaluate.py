"""Trusted evaluator for expert-parallel load balancing (EPLB): validate, score on the next window, time.

For every workload (``evaluators.moe_loads.LoadSpec``: a model shape, a cluster shape and a
drifting load trace) the candidate's ``rebalance_experts`` is called on load window i in one
persistent sandboxed worker; the placement is validated (``evaluators.moe_placement``) and
scored on window i + 1, so a placement must predict the next load, not fit the last one.

    balancedness = mean over workloads and windows of  sum_l mean_gpu load / sum_l max_gpu load
    runtime t    = min over repeated calls on the split's DeepSeek-V3-shaped workload, timed
                   from outside the sandbox (round trip, transfer included; evaluators.timing)
    score        = 90 * balancedness + 5 * min(0.002 / t, 2) - (min(20 t, 20) if t > 0.01 else 0)

The score is the ADRS leaderboard's. Stage 0 of the cascade scores 90 * balancedness on one
small workload (runtime not scored) so invalid or badly unbalanced placements stop there; the last
stage scores the full split. The holdout split has unseen shapes and faster drift. (The quick
stage's runtime feature is measured on its small workload, so it is smaller than a full stage's.)
"""

from __future__ import annotations

import functools

import numpy as np

from evaluators import Evaluation, EvaluationContext
from evaluators.moe_loads import LoadSpec
from evaluators.moe_placement import adrs_score, balancedness, gpu_loads, no_replication_balancedness, validate_placement
from evaluators.timing import Timings, repeat_timing, timed_call

SPLITS: dict[str, tuple[LoadSpec, ...]] = {
    "quick": (LoadSpec("quick", 8, 64, 80, 4, 2, 8, windows=3, seed=4),),
    "search": (
        LoadSpec("v3", 58, 256, 288, 8, 4, 32, seed=1),
        LoadSpec("mid", 24, 128, 160, 8, 2, 16, seed=2),
        LoadSpec("global", 16, 72, 96, 8, 3, 12, seed=3),
    ),
    "holdout": (
        LoadSpec("v3_drift", 58, 256, 288, 8, 4, 32, sigma=1.2, drift=0.5, seed=101),
        LoadSpec("wide", 26, 160, 192, 8, 4, 24, sigma=0.8, drift=0.4, seed=102),
        LoadSpec("odd_global", 16, 96, 128, 6, 4, 16, seed=103),
    ),
}
TIMED = {"search": "v3", "holdout": "v3_drift"}  # the workload whose calls give the runtime
TIMING_REPEATS = 20  # extra calls on the timed workload's first window ...
TIMING_BUDGET_S = 1.0  # ... until this much time has gone into them


@functools.lru_cache(maxsize=None)
def loads_of(spec: LoadSpec) -> np.ndarray:
    return spec.loads()


def split_name(context: EvaluationContext) -> str:
    if context.is_holdout:
        return "holdout"
    return "search" if context.is_last_stage else "quick"


def evaluate(candidate, context: EvaluationContext | None = None) -> Evaluation:
    context = context or EvaluationContext()
    name = split_name(context)
    per_workload: dict[str, float] = {}
    no_replication: dict[str, float] = {}
    timings = Timings()
    with candidate.worker() as worker:
        for spec in SPLITS[name]:
            loads = loads_of(spec)
            timed = spec.name == TIMED.get(name) or name == "quick"
            scores = []
            for i in range(spec.windows - 1):
                args = (loads[i], spec.replicas, spec.groups, spec.nodes, spec.gpus)
                result = timed_call(worker, "rebalance_experts", *args, timings=timings if timed else Timings())
                phy2log, _, logcnt = validate_placement(result, spec.layers, spec.experts, spec.replicas)
                scores.append(balancedness(gpu_loads(phy2log, logcnt, loads[i + 1], spec.gpus)))
            if timed:
                args = (loads[0], spec.replicas, spec.groups, spec.nodes, spec.gpus)
                repeat_timing(worker, "rebalance_experts", *args, timings=timings, repeats=TIMING_REPEATS, budget_s=TIMING_BUDGET_S)
            per_workload[spec.name] = float(np.mean(scores))
            no_replication[spec.name] = float(np.mean([no_replication_balancedness(w, spec.gpus) for w in loads[1:]]))
    balance = float(np.mean(list(per_workload.values())))
    if name == "quick":
        return Evaluation(
            score=90.0 * balance,
            metrics={"balancedness": balance},
            features={"balancedness": balance, "log10_runtime_s": float(np.log10(timings.best))},
            feedback=(
                f"quick stage (one small workload; runtime not scored): GPU balancedness {balance:.4f}, "
                f"score 90 x balancedness = {90 * balance:.2f}; {timings.best * 1e3:.2f} ms on this small workload."
            ),
            instances=per_workload,
        )
    runtime = timings.best
    score, speed, penalty = adrs_score(balance, runtime)
    worst = min(per_workload, key=per_workload.get)
    feedback = (
        f"{name} split: GPU balancedness {balance:.4f} (per workload: "
        + ", ".join(f"{k} {v:.4f}" for k, v in per_workload.items())
        + f"; without replication: {np.mean(list(no_replication.values())):.4f}); worst workload {worst}.\n"
        f"runtime {runtime * 1e3:.2f} ms on the {TIMED[name]} workload (min of {len(timings.seconds)} calls, timed outside the "
        f"sandbox, transfer included; slowest call {timings.worst * 1e3:.2f} ms): speed term +{speed:.3f}, penalty -{penalty:.3f}.\n"
        f"score = 90 x {balance:.4f} + {speed:.3f} - {penalty:.3f} = {score:.3f}"
    )
    return Evaluation(
        score=score,
        metrics={"balancedness": balance, "runtime_ms": runtime * 1e3, "speed_term": speed, "runtime_penalty": penalty},
        features={"balancedness": balance, "log10_runtime_s": float(np.log10(runtime))},
        feedback=feedback,
        instances=per_workload,
        private={"runtime_slowest_ms": timings.worst * 1e3, "timed_calls": float(len(timings.seconds))},
        objectives={"balancedness": balance, "runtime_ms": runtime * 1e3},
    )
