"""Seed: vectorised EPLB. Replicate the hottest experts, deal replicas to GPUs in snake order, then
refine by swapping replicas between the heaviest and the lightest GPU.

rebalance_experts(weight, num_replicas, num_groups, num_nodes, num_gpus) -> (phy2log, log2phy, logcnt)
weight: float array [layers, experts] of token counts. Slot r lives on GPU r // (num_replicas // num_gpus).
"""

import numpy as np

# EVOLVE-BLOCK-START
HOT_POWER = 1.0  # replicas go to the expert with the largest load ** HOT_POWER / replicas
SNAKE = False  # deal replicas 0..G-1 then G-1..0 (True) or always 0..G-1 (False)
REFINE_PASSES = 1  # swaps between the heaviest and the lightest GPU, per layer


def replicate(weight, num_replicas):
    layers, experts = weight.shape
    logcnt = np.ones((layers, experts), dtype=np.int64)
    rows = np.arange(layers)
    heat = weight ** HOT_POWER
    for _ in range(num_replicas - experts):
        hottest = np.argmax(heat / logcnt, axis=1)
        logcnt[rows, hottest] += 1
    return logcnt


def deal(weight, logcnt, num_gpus):
    """Sort replicas by their load and deal them to GPUs; returns phy2log [layers, num_replicas]."""
    layers, experts = weight.shape
    num_replicas = int(logcnt[0].sum())
    per_gpu = num_replicas // num_gpus
    replica_expert = np.stack([np.repeat(np.arange(experts), logcnt[l]) for l in range(layers)])
    replica_load = np.take_along_axis(weight / logcnt, replica_expert, axis=1)
    order = np.argsort(-replica_load, axis=1, kind="stable")
    k = np.arange(num_replicas)
    lap, seat = k // num_gpus, k % num_gpus
    gpu = np.where(SNAKE & (lap % 2 == 1), num_gpus - 1 - seat, seat)
    slot = gpu * per_gpu + lap
    phy2log = np.empty_like(replica_expert)
    np.put_along_axis(phy2log, slot[None, :].repeat(layers, 0), np.take_along_axis(replica_expert, order, axis=1), axis=1)
    return phy2log


def refine(weight, logcnt, phy2log, num_gpus):
    """Per layer, swap one replica of the heaviest GPU with one of the lightest, the pair whose
    load difference is closest to half the gap between the two GPUs."""
    layers, num_replicas = phy2log.shape
    per_gpu = num_replicas // num_gpus
    rows = np.arange(layers)
    for _ in range(REFINE_PASSES):
        load = np.take_along_axis(weight / logcnt, phy2log, axis=1).reshape(layers, num_gpus, per_gpu)
        totals = load.sum(axis=2)
        hi, lo = np.argmax(totals, axis=1), np.argmin(totals, axis=1)
        gap = totals[rows, hi] - totals[rows, lo]
        diff = load[rows, hi][:, :, None] - load[rows, lo][:, None, :]
        miss = np.where((diff > 0) & (diff < gap[:, None, None]), np.abs(diff - gap[:, None, None] / 2), np.inf)
        best = np.argmin(miss.reshape(layers, -1), axis=1)
        better = np.isfinite(miss.reshape(layers, -1)[rows, best])
        ia, ib = hi * per_gpu + best // per_gpu, lo * per_gpu + best % per_gpu
        ea, eb = phy2log[rows, ia].copy(), phy2log[rows, ib].copy()
        phy2log[rows, ia] = np.where(better, eb, ea)
        phy2log[rows, ib] = np.where(better, ea, eb)
    return phy2log
# EVOLVE-BLOCK-END


def rebalance_experts(weight, num_replicas, num_groups, num_nodes, num_gpus):
    weight = np.asarray(weight, dtype=np.float64) + 1e-6
    logcnt = replicate(weight, num_replicas)
    phy2log = refine(weight, logcnt, deal(weight, logcnt, num_gpus), num_gpus)
    return phy2log, log2phy_of(phy2log, logcnt), logcnt


def log2phy_of(phy2log, logcnt):
    """The replica slots of each expert, padded with -1 to max(logcnt) columns."""
    layers, num_replicas = phy2log.shape
    order = np.argsort(phy2log, axis=1, kind="stable")
    start = np.cumsum(logcnt, axis=1) - logcnt
    rank = np.arange(num_replicas)[None, :] - np.take_along_axis(start, np.take_along_axis(phy2log, order, axis=1), axis=1)
    log2phy = np.full((layers, logcnt.shape[1], int(logcnt.max())), -1, dtype=np.int64)
    log2phy[np.arange(layers)[:, None], np.take_along_axis(phy2log, order, axis=1), rank] = order
    return log2phy
