"""Auxiliary-loss-free MoE load balancing (Wang et al. 2024, DeepSeek-V3): a streaming router harness.

A per-expert bias b is added to the router's scores for top-k *selection only* (the gate
weights still use the raw scores); after every batch a candidate rule updates b from the
batch's expert loads. The harness streams non-stationary sigmoid router scores:

    x_t   = mu[c] + noise * N(0, I_d),  c ~ softmax(theta_t)     a drifting data mixture
    W_t   = W_{t-1} + drift * N(0, 1)                              drifting router weights
    s_t   = sigmoid(scale * x_t W_t / sqrt(d) + hot)                hot experts get +hot_logit
    theta_t = theta_{t-1} + 0.05 N(0, 1), re-drawn as spread * N(0, 1) every ``shift_every`` steps

and measures, for the rule's bias sequence (loads c_i counted over the tokens' top-k picks):

    MaxVio_batch  = mean over steps of  max_i c_i / mean_i c_i - 1
    MaxVio_global = max_i C_i / mean_i C_i - 1,  C = sum over steps of c
    retention     = sum of the selected raw scores / sum of the unconstrained top-k raw scores

``retention`` (routing fidelity) is 1 without a bias and falls as the bias overrides the
router; the balance terms fall as the bias corrects the load. Streams are deterministic in
their seed and independent of the bias (the router is not trained here), so every rule sees
exactly the same tokens.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Callable, Iterator

import numpy as np

from evaluators.contract import InvalidOutput

MAX_STATE_VALUES = 4096  # numbers a rule may keep in its state between steps
MAX_ABS_BIAS = 1e3


@dataclass(frozen=True)
class RouterStream:
    """One workload: E experts, top-k, B tokens per step for ``steps`` steps."""

    name: str
    experts: int
    k: int
    tokens: int = 1024
    steps: int = 200
    hot: int = 8
    hot_logit: float = 1.0
    dim: int = 16
    clusters: int = 16
    logit_scale: float = 1.0
    token_noise: float = 2.0
    mixture_spread: float = 0.5
    drift: float = 0.02
    shift_every: int = 100
    seed: int = 0

    def scores(self) -> np.ndarray:
        """All raw router scores, float32 [steps, tokens, experts] (steps x tokens x experts x 4 bytes)."""
        return np.stack(list(self.batches()))

    def batches(self) -> Iterator[np.ndarray]:
        """Raw router scores, one float32 array [tokens, experts] per step."""
        rng = np.random.default_rng(self.seed)
        mu = rng.standard_normal((self.clusters, self.dim)).astype(np.float32)
        weights = rng.standard_normal((self.dim, self.experts)).astype(np.float32)
        offset = np.zeros(self.experts, dtype=np.float32)
        offset[rng.choice(self.experts, self.hot, replace=False)] = self.hot_logit
        theta = self.mixture_spread * rng.standard_normal(self.clusters)
        scale = np.float32(self.logit_scale / math.sqrt(self.dim))
        for step in range(self.steps):
            if step and step % self.shift_every == 0:
                theta = self.mixture_spread * rng.standard_normal(self.clusters)
            theta = theta + 0.05 * rng.standard_normal(self.clusters)
            weights += (self.drift * rng.standard_normal(weights.shape)).astype(np.float32)
            p = np.exp(theta - theta.max())
            cluster = rng.choice(self.clusters, self.tokens, p=p / p.sum())
            x = mu[cluster] + np.float32(self.token_noise) * rng.standard_normal((self.tokens, self.dim), dtype=np.float32)
            yield 1.0 / (1.0 + np.exp(-(x @ weights * scale + offset)))


@dataclass
class RoutingOutcome:
    maxvio_batch: float
    maxvio_global: float
    retention: float
    drop_rate: float  # tokens over capacity factor 1.25, as a share of all assignments
    bias_range: float  # max - min of the final bias


def top_k(scores: np.ndarray, k: int) -> np.ndarray:
    """Indices [tokens, k] of each row's k largest entries (unordered)."""
    return np.argpartition(scores, scores.shape[1] - k, axis=1)[:, -k:]


def run_stream(
    stream: RouterStream,
    update: Callable[[np.ndarray, np.ndarray, int, dict], tuple[np.ndarray, dict]],
    scores: np.ndarray | None = None,
) -> RoutingOutcome:
    """Route every batch with the current bias, then call ``update(bias, load, step, state)``.

    ``scores`` may hold the stream's ``scores()`` computed earlier (they do not depend on
    the rule, so an evaluator caches them). Raises InvalidOutput when ``update`` returns a
    malformed bias or state.
    """
    e, k = stream.experts, stream.k
    bias = np.zeros(e)
    state: dict = {}
    total = np.zeros(e)
    vio, kept, best, dropped = 0.0, 0.0, 0.0, 0.0
    capacity = 1.25 * stream.tokens * k / e
    for step, batch in enumerate(stream.batches() if scores is None else scores):
        chosen = top_k(batch + bias.astype(np.float32), k)
        load = np.bincount(chosen.ravel(), minlength=e).astype(np.float64)
        kept += float(np.take_along_axis(batch, chosen, axis=1).sum())
        best += float(np.take_along_axis(batch, top_k(batch, k), axis=1).sum())
        vio += load.max() / load.mean() - 1.0
        dropped += float(np.maximum(load - capacity, 0.0).sum())
        total += load
        bias, state = validate_update(update(bias.copy(), load, step, state), e, step)
    return RoutingOutcome(
        maxvio_batch=vio / stream.steps,
        maxvio_global=float(total.max() / total.mean() - 1.0),
        retention=kept / best,
        drop_rate=dropped / (stream.tokens * k * stream.steps),
        bias_range=float(bias.max() - bias.min()),
    )


def validate_update(result: object, experts: int, step: int) -> tuple[np.ndarray, dict]:
    """(bias, state) checked: bias a finite float array [experts], |bias| <= 1e3; state a small dict of numbers/arrays."""
    where = f"update_bias at step {step}"
    if not isinstance(result, (list, tuple)) or len(result) != 2:
        raise InvalidOutput(f"{where} must return (bias, state), got {type(result).__name__}")
    raw, state = result
    try:
        bias = np.asarray(raw, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise InvalidOutput(f"{where}: bias is not numeric: {exc}") from None
    if bias.shape != (experts,):
        raise InvalidOutput(f"{where}: bias has shape {bias.shape}, expected ({experts},): one value per expert")
    bad = np.flatnonzero(~np.isfinite(bias) | (np.abs(bias) > MAX_ABS_BIAS))
    if bad.size:
        i = int(bad[0])
        raise InvalidOutput(f"{where}: bias[{i}] = {float(bias[i])!r} is not a finite number within +-{MAX_ABS_BIAS:g}")
    if not isinstance(state, dict):
        raise InvalidOutput(f"{where}: state must be a dict of numbers and arrays, got {type(state).__name__}")
    size = 0
    for key, value in state.items():
        if not isinstance(key, str):
            raise InvalidOutput(f"{where}: state key {key!r} is not a string")
        size += _numeric_size(value, f"{where}: state[{key!r}]")
    if size > MAX_STATE_VALUES:
        raise InvalidOutput(f"{where}: state holds {size} numbers, more than the {MAX_STATE_VALUES} allowed")
    return bias, state


def _numeric_size(value: Any, where: str) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, float, list, np.ndarray, np.integer, np.floating)):
        raise InvalidOutput(f"{where} is a {type(value).__name__}; state values must be numbers or numeric arrays")
    try:
        array = np.asarray(value)
    except (TypeError, ValueError) as exc:
        raise InvalidOutput(f"{where} is not a numeric array: {exc}") from None
    if array.dtype.kind not in "iuf":
        raise InvalidOutput(f"{where} has dtype {array.dtype}; state values must be numbers or numeric arrays")
    return int(array.size)


def balance_score(outcome: RoutingOutcome, batch_weight: float = 0.05, global_weight: float = 0.2) -> float:
    """retention - 0.05 * MaxVio_batch - 0.2 * MaxVio_global (higher is better)."""
    return outcome.retention - batch_weight * outcome.maxvio_batch - global_weight * outcome.maxvio_global
