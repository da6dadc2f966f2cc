"""The router harness of ``evaluators.routing`` on a torch device, for larger streams on a GPU.

Same stream model, same metrics, same validation; only where the numbers live differs. The
small per-step state (mixture weights, router weights, hot offsets) comes from numpy's
generator exactly as in ``RouterStream.batches``; the per-token randomness (cluster draws,
token noise) is drawn on the device from a ``torch.Generator`` seeded by the stream, so a
device stream is deterministic too but not bit-identical to the numpy one. Per step, only
the E expert loads travel to the host (for the candidate's ``update_bias``) and the E biases
back.
"""

from __future__ import annotations

import math
from typing import Callable

import numpy as np

from evaluators.routing import RouterStream, RoutingOutcome, validate_update


def run_stream_torch(
    stream: RouterStream,
    update: Callable[[np.ndarray, np.ndarray, int, dict], tuple[np.ndarray, dict]],
    device: str,
) -> RoutingOutcome:
    """``evaluators.routing.run_stream`` computed with torch on ``device`` ("cuda:0", or "cpu" for tests)."""
    import torch

    e, k, tokens = stream.experts, stream.k, stream.tokens
    rng = np.random.default_rng(stream.seed)
    gen = torch.Generator(device=device).manual_seed(stream.seed)
    mu = torch.as_tensor(rng.standard_normal((stream.clusters, stream.dim)), dtype=torch.float32, device=device)
    weights = rng.standard_normal((stream.dim, e))
    offset = np.zeros(e)
    offset[rng.choice(e, stream.hot, replace=False)] = stream.hot_logit
    offset_t = torch.as_tensor(offset, dtype=torch.float32, device=device)
    theta = stream.mixture_spread * rng.standard_normal(stream.clusters)
    scale = stream.logit_scale / math.sqrt(stream.dim)
    bias = np.zeros(e)
    state: dict = {}
    total = torch.zeros(e, dtype=torch.float64, device=device)
    vio, kept, best, dropped = 0.0, 0.0, 0.0, 0.0
    capacity = 1.25 * tokens * k / e
    for step in range(stream.steps):
        if step and step % stream.shift_every == 0:
            theta = stream.mixture_spread * rng.standard_normal(stream.clusters)
        theta = theta + 0.05 * rng.standard_normal(stream.clusters)
        weights = weights + stream.drift * rng.standard_normal(weights.shape)
        p = np.exp(theta - theta.max())
        probs = torch.as_tensor(p / p.sum(), dtype=torch.float32, device=device)
        cluster = torch.multinomial(probs, tokens, replacement=True, generator=gen)
        noise = torch.randn((tokens, stream.dim), generator=gen, device=device)
        x = mu[cluster] + stream.token_noise * noise
        w = torch.as_tensor(weights, dtype=torch.float32, device=device)
        scores = torch.sigmoid(x @ w * scale + offset_t)
        chosen = torch.topk(scores + torch.as_tensor(bias, dtype=torch.float32, device=device), k, dim=1).indices
        load_t = torch.bincount(chosen.reshape(-1), minlength=e).to(torch.float64)
        kept += float(torch.gather(scores, 1, chosen).sum())
        best += float(torch.topk(scores, k, dim=1).values.sum())
        load = load_t.cpu().numpy()
        vio += load.max() / load.mean() - 1.0
        dropped += float(np.maximum(load - capacity, 0.0).sum())
        total += load_t
        bias, state = validate_update(update(bias.copy(), load, step, state), e, step)
    totals = total.cpu().numpy()
    return RoutingOutcome(
        maxvio_batch=vio / stream.steps,
        maxvio_global=float(totals.max() / totals.mean() - 1.0),
        retention=kept / best,
        drop_rate=dropped / (tokens * k * stream.steps),
        bias_range=float(bias.max() - bias.min()),
    )
