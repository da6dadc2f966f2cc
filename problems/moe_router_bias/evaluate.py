"""Trusted evaluator for auxiliary-loss-free MoE load balancing: stream router scores, route, measure.

The candidate's ``update_bias`` runs in one persistent sandboxed worker and is called after every
batch (``evaluators.routing.run_stream``); routing, loads and all metrics are computed here from
the streamed scores, and every returned bias and state is validated.

Per workload w (an expert count, a top-k, a drifting stream):

    S_w   = retention - 0.05 * MaxVio_batch - 0.2 * MaxVio_global
    score = mean over the split's workloads of S_w                      (maximised)

Stage 0 of the cascade runs one small workload (16 experts, top-2, 100 steps); the last stage the
search split; the holdout split has unseen expert counts (96, 256), faster drift and more frequent
mixture shifts.
"""

from __future__ import annotations

import functools

import numpy as np

from evaluators import Evaluation, EvaluationContext
from evaluators.routing import RouterStream, balance_score, run_stream

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


def evaluate(candidate, context: EvaluationContext | None = None) -> Evaluation:
    context = context or EvaluationContext()
    name = split_name(context)
    outcomes = {}
    with candidate.worker() as worker:
        for stream in SPLITS[name]:
            outcomes[stream.name] = run_stream(stream, lambda *args: worker.call("update_bias", *args),
                                             None if name == "holdout" else scores_of(stream))
    instances = {w: balance_score(o) for w, o in outcomes.items()}
    mean = {field: float(np.mean([getattr(o, field) for o in outcomes.values()]))
            for field in ("retention", "maxvio_batch", "maxvio_global", "drop_rate", "bias_range")}
    score = float(np.mean(list(instances.values())))
    worst = min(instances, key=instances.get)
    feedback = (
        f"{name} split: score {score:.4f} = mean over workloads of retention - 0.05 MaxVio_batch - 0.2 MaxVio_global.\n"
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
