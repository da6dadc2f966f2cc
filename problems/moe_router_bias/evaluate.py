"""Trusted evaluator for auxiliary-loss-free MoE load balancing: stream router scores, route, measure.

The candidate's ``update_bias`` runs in one persistent sandboxed worker and is called after every
batch (``evaluators.routing.run_stream``); routing, loads and all metrics are computed here from
the streamed scores, and every returned bias and state is validated.

Per workload w (an expert count, a top-k, a drifting stream):

    S_w   = retention - 0.05 * MaxVio_batch - 0.2 * MaxVio_global
    score = mean over the split's workloads of S_w                      (maximised)

Stage 0 of the cascade runs one small workload (16 experts, top-2, 100 steps); the last stage the
search split; the holdout split has unseen expert counts (96, 256), faster drift and more frequent
mixture shifts. On a CUDA device (``context.device``, with torch installed) every workload runs with
8x the tokens per step and 2x the steps, routed with torch on that device
(``evaluators.routing_torch``): a lower noise floor for MaxVio_batch, closer to real batch sizes.
Scores of the two configurations are not comparable with each other.
"""

from __future__ import annotations

import dataclasses
import functools
import importlib.util

import numpy as np

from evaluators import Evaluation, EvaluationContext
from evaluators.routing import RouterStream, balance_score, run_stream, validate_update
from evaluators.routing_torch import run_stream_torch

SPLITS: dict[str, tuple[RouterStream, ...]] = {
    "quick": (RouterStream("e16k2", 16, 2, steps=100, hot=2, seed=10),),
    "search": (
        RouterStream("e64k6", 64, 6, hot=8, seed=1),
        RouterStream("e32k2", 32, 2, hot=4, seed=2),
        RouterStream("e128k8", 128, 8, hot=16, steps=150, seed=3),
    ),
    "holdout": (
        RouterStream("e64k6_fast", 64, 6, hot=8, drift=0.05, shift_every=50, seed=101),
        RouterStream("e96k4", 96, 4, hot=12, seed=102),
        RouterStream("e256k8", 256, 8, hot=32, steps=120, seed=103),
    ),
}


GPU_TOKENS, GPU_STEPS = 8, 2  # on a CUDA device: 8x the tokens per step, 2x the steps


def streams_for(name: str, device: str) -> tuple[RouterStream, ...]:
    """The split's workloads; the larger GPU configuration when ``device`` is CUDA and torch is installed."""
    if not on_gpu(device):
        return SPLITS[name]
    return tuple(dataclasses.replace(s, tokens=s.tokens * GPU_TOKENS, steps=s.steps * GPU_STEPS) for s in SPLITS[name])


def on_gpu(device: str) -> bool:
    return device.startswith("cuda") and importlib.util.find_spec("torch") is not None


@functools.lru_cache(maxsize=4)
def scores_of(stream: RouterStream) -> np.ndarray:
    """The stream's raw scores, generated once per evaluator process (quick and search: 165 MB in all).

    Holdout streams are generated on the fly instead: they are scored rarely and never evict these.
    """
    return stream.scores()


def split_name(context: EvaluationContext) -> str:
    if context.is_holdout:
        return "holdout"
    return "search" if context.is_last_stage else "quick"


PROBE_STEPS = 30


def fingerprint(candidate, context: EvaluationContext | None = None) -> list:
    """The bias trajectory of ``update_bias`` on fixed, skewed synthetic loads (16 and 64 experts,
    30 steps each, its own state carried): two rules with the same trajectory route every stream
    alike, so the second is a behavioural duplicate (``evaluators.fingerprint``). About 60 calls
    on one worker, where an evaluation streams thousands of routed batches."""
    rng = np.random.default_rng(7)
    trajectory = []
    with candidate.worker() as worker:
        for experts in (16, 64):
            popularity = rng.lognormal(0.0, 1.0, experts)
            bias, state = np.zeros(experts), {}
            for step in range(PROBE_STEPS):
                load = rng.poisson(200.0 * popularity / popularity.mean()).astype(np.float64) + 1.0
                bias, state = validate_update(worker.call("update_bias", bias.copy(), load, step, state), experts, step)
                trajectory.append(bias)
    return trajectory


def evaluate(candidate, context: EvaluationContext | None = None) -> Evaluation:
    context = context or EvaluationContext()
    name = split_name(context)
    gpu = on_gpu(context.device)
    outcomes = {}
    with candidate.worker() as worker:
        def update(*args):
            return worker.call("update_bias", *args)

        for stream in streams_for(name, context.device):
            if gpu:
                outcomes[stream.name] = run_stream_torch(stream, update, context.device)
            else:
                outcomes[stream.name] = run_stream(stream, update, None if name == "holdout" else scores_of(stream))
    instances = {w: balance_score(o) for w, o in outcomes.items()}
    mean = {field: float(np.mean([getattr(o, field) for o in outcomes.values()]))
            for field in ("retention", "maxvio_batch", "maxvio_global", "drop_rate", "bias_range")}
    score = float(np.mean(list(instances.values())))
    worst = min(instances, key=instances.get)
    feedback = (
        f"{name} split{' (GPU configuration: 8x tokens, 2x steps)' if gpu else ''}: score {score:.4f} = mean over workloads of retention - 0.05 MaxVio_batch - 0.2 MaxVio_global.\n"
        + "\n".join(
            f"  {w}: retention {o.retention:.4f}, MaxVio_batch {o.maxvio_batch:.3f}, MaxVio_global {o.maxvio_global:.3f}, "
            f"tokens over capacity 1.25: {o.drop_rate:.2%}, final bias range {o.bias_range:.3g} -> {instances[w]:.4f}"
            for w, o in outcomes.items()
        )
        + f"\nworst workload: {worst}."
    )
    return Evaluation(
        score=score,
        metrics=mean,
        features={"maxvio_global": mean["maxvio_global"], "retention": mean["retention"]},
        feedback=feedback,
        instances=instances,
        objectives={"maxvio_global": mean["maxvio_global"], "retention": mean["retention"]},
    )
