"""Validating and scoring an expert-parallel placement (EPLB), vectorised.

A placement of one model, as returned by ``rebalance_experts`` (DeepSeek's EPLB contract):

* ``phy2log[L, R]``: the logical expert held by physical slot r of layer l; slot r lives on
  GPU ``r // (R / num_gpus)``, so every GPU holds exactly R / num_gpus slots by construction;
* ``logcnt[L, E]``: how many replicas each logical expert has;
* ``log2phy[L, E, X]``: the slots of each logical expert's replicas, padded with -1.

Invariants checked (each failure names the array, the index and the fix): integer arrays of
exactly these shapes, with ``max(logcnt) <= X <= R - E + 1``; ids in range; every logical
expert has at least one replica (tokens routed to an unplaced expert would be dropped);
``logcnt[l, e]`` equals the number of slots of layer l holding e (so each row sums to R);
the first ``logcnt[l, e]`` entries of ``log2phy[l, e]`` are exactly the slots holding e and
the rest are -1.

Scoring, the ADRS/vLLM convention: each expert's load in the *next* window is split evenly
over its replicas; a GPU's load is the sum over its slots; per layer, balancedness is
mean over GPUs / max over GPUs, and over layers

    balancedness = sum_l mean_g load[l, g] / sum_l max_g load[l, g]      (1.0 = perfect).

It is one gather and one reshape-sum, so scoring costs far less than any placement algorithm.
"""

from __future__ import annotations

import numpy as np

from evaluators.contract import InvalidOutput


def as_int_array(value: object, name: str, shape: tuple[int, ...] | None = None, ndim: int | None = None) -> np.ndarray:
    """``value`` as an int64 array (of ``shape``, or of ``ndim`` dimensions), or InvalidOutput naming ``name``."""
    try:
        array = np.asarray(value)
    except (TypeError, ValueError) as exc:
        raise InvalidOutput(f"{name} is not an array: {exc}") from None
    if array.dtype == object or array.dtype.kind not in "iu":
        raise InvalidOutput(f"{name} has dtype {array.dtype}; return an integer array (e.g. np.int64)")
    if shape is not None and array.shape != shape:
        raise InvalidOutput(f"{name} has shape {array.shape}, expected {shape}")
    if ndim is not None and array.ndim != ndim:
        raise InvalidOutput(f"{name} has shape {array.shape}, expected {ndim} dimensions")
    return array.astype(np.int64)


def validate_placement(result: object, layers: int, experts: int, replicas: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(phy2log, log2phy, logcnt) as int64 arrays satisfying the invariants above, or InvalidOutput."""
    if not isinstance(result, (list, tuple)) or len(result) != 3:
        raise InvalidOutput(f"rebalance_experts must return (phy2log, log2phy, logcnt), got {type(result).__name__}")
    phy2log = as_int_array(result[0], "phy2log", (layers, replicas))
    log2phy = as_int_array(result[1], "log2phy", ndim=3)
    logcnt = as_int_array(result[2], "logcnt", (layers, experts))
    if log2phy.shape[:2] != (layers, experts):
        raise InvalidOutput(f"log2phy has shape {log2phy.shape}, expected ({layers}, {experts}, X)")
    _first_violation("phy2log", phy2log, (phy2log < 0) | (phy2log >= experts), f"is outside [0, {experts}): not a logical expert id")
    _first_violation("logcnt", logcnt, logcnt < 1, "is below 1: every logical expert needs at least one replica")
    sums = logcnt.sum(axis=1)
    _first_violation("logcnt.sum(axis=1)", sums, sums != replicas, f"is the sum of logcnt over a layer, which must be {replicas} (one per slot)")
    counts = np.zeros((layers, experts), dtype=np.int64)
    np.add.at(counts, (np.arange(layers)[:, None], phy2log), 1)
    mismatch = counts != logcnt
    if mismatch.any():
        l, e = (int(i) for i in np.argwhere(mismatch)[0])
        raise InvalidOutput(f"logcnt[{l}][{e}] is {logcnt[l, e]} but phy2log[{l}] holds expert {e} in {counts[l, e]} slots")
    width, most = log2phy.shape[2], int(logcnt.max())
    if not most <= width <= replicas - experts + 1:
        raise InvalidOutput(
            f"log2phy has {width} columns; it needs between max(logcnt) = {most} and R - E + 1 = {replicas - experts + 1}"
        )
    used = np.arange(width) < logcnt[:, :, None]
    padding = ~used & (log2phy != -1)
    _first_violation("log2phy", log2phy, padding, "should be -1: entries past logcnt[l][e] are padding")
    slots = np.where(used, log2phy, 0)
    _first_violation("log2phy", log2phy, used & ((slots < 0) | (slots >= replicas)), f"is outside [0, {replicas}): not a slot")
    held = np.take_along_axis(phy2log, slots.reshape(layers, -1), axis=1).reshape(slots.shape)
    wrong = used & (held != np.arange(experts)[None, :, None])
    _first_violation("log2phy", log2phy, wrong, "names a slot that does not hold this expert (phy2log disagrees)")
    listed = np.zeros((layers, replicas), dtype=np.int64)
    np.add.at(listed, (np.broadcast_to(np.arange(layers)[:, None, None], slots.shape)[used], slots[used]), 1)
    twice = listed != 1
    if twice.any():
        l, r = (int(i) for i in np.argwhere(twice)[0])
        raise InvalidOutput(f"slot {r} of layer {l} is listed {listed[l, r]} times in log2phy[{l}]; each slot exactly once")
    return phy2log, log2phy, logcnt


def _first_violation(name: str, array: np.ndarray, bad: np.ndarray, why: str) -> None:
    if bad.any():
        index = tuple(int(i) for i in np.argwhere(bad)[0])
        raise InvalidOutput(f"{name}{list(index)} = {array[index]} {why}")


def gpu_loads(phy2log: np.ndarray, logcnt: np.ndarray, load: np.ndarray, gpus: int) -> np.ndarray:
    """Load per GPU, [L, gpus]: each expert's ``load`` split evenly over its replicas, summed per GPU."""
    per_replica = load / logcnt
    slot_load = np.take_along_axis(per_replica, phy2log, axis=1)
    return slot_load.reshape(phy2log.shape[0], gpus, -1).sum(axis=2)


def balancedness(per_gpu: np.ndarray) -> float:
    """sum_l mean_g / sum_l max_g of per-GPU loads [L, gpus] (1.0 = perfectly even)."""
    peak = float(per_gpu.max(axis=1).sum())
    return float(per_gpu.mean(axis=1).sum()) / peak if peak > 0 else 1.0


def no_replication_balancedness(load: np.ndarray, gpus: int) -> float:
    """The reference without EPLB: one replica per expert, expert e on GPU floor(e * gpus / E)."""
    layers, experts = load.shape
    gpu_of = np.arange(experts) * gpus // experts
    per_gpu = np.zeros((layers, gpus))
    np.add.at(per_gpu, (slice(None), gpu_of), load)
    return balancedness(per_gpu)


def adrs_score(balance: float, runtime_s: float) -> tuple[float, float, float]:
    """The published ADRS leaderboard objective and its two runtime terms.

    score = 90 * balancedness + 5 * min(0.002 / t, 2) - (min(20 t, 20) if t > 0.01 s else 0)
    """
    speed = 5.0 * min(0.002 / max(runtime_s, 1e-9), 2.0)
    penalty = min(20.0 * runtime_s, 20.0) if runtime_s > 0.01 else 0.0
    return 90.0 * balance + speed - penalty, speed, penalty
