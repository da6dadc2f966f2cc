"""Baseline: DeepSeek's open-source EPLB algorithm, re-implemented in numpy from its published description.

Hierarchical policy (used when num_groups % num_nodes == 0):
  1. pack the expert groups onto nodes with ``balanced_packing`` (heaviest group first, onto the
     lightest node that still has room; every node gets num_groups / num_nodes groups);
  2. within each node, ``replicate_experts``: give the node's R / num_nodes slots one replica per
     expert, then repeatedly one more to the expert with the largest load per replica;
  3. pack each node's replicas onto its GPUs with ``balanced_packing`` (R / num_gpus each).
Global policy (otherwise): the same with one group and one node.
Both packing steps are Python loops over layers x items, as in the original; that is its cost.
"""

import numpy as np


def balanced_packing(weight, num_packs):
    """For each row, assign its n items to num_packs packs of n / num_packs items each, greedily.

    Items are taken heaviest first; each goes to the lightest pack that is not yet full.
    Returns (pack_index, rank_in_pack), both [rows, n].
    """
    rows, n = weight.shape
    per_pack = n // num_packs
    pack_index = np.zeros((rows, n), dtype=np.int64)
    rank_in_pack = np.zeros((rows, n), dtype=np.int64)
    if per_pack == 1:
        pack_index[:] = np.arange(n)
        return pack_index, rank_in_pack
    order = np.argsort(-weight, axis=1, kind="stable")
    for i in range(rows):
        pack_weights = [0.0] * num_packs
        pack_items = [0] * num_packs
        for item in order[i].tolist():
            pack = min((p for p in range(num_packs) if pack_items[p] < per_pack), key=pack_weights.__getitem__)
            pack_index[i, item] = pack
            rank_in_pack[i, item] = pack_items[pack]
            pack_weights[pack] += float(weight[i, item])
            pack_items[pack] += 1
    return pack_index, rank_in_pack


def replicate_experts(weight, num_physical):
    """Fill num_physical slots per row: one per logical expert, then one at a time to argmax load/count.

    Returns (phy2log, rank, logcnt): the logical expert of each slot, its replica rank, replica counts.
    """
    rows, num_logical = weight.shape
    phy2log = np.zeros((rows, num_physical), dtype=np.int64)
    rank = np.zeros((rows, num_physical), dtype=np.int64)
    logcnt = np.ones((rows, num_logical), dtype=np.int64)
    phy2log[:, :num_logical] = np.arange(num_logical)
    every_row = np.arange(rows)
    for slot in range(num_logical, num_physical):
        hottest = np.argmax(weight / logcnt, axis=1)
        phy2log[:, slot] = hottest
        rank[:, slot] = logcnt[every_row, hottest]
        logcnt[every_row, hottest] += 1
    return phy2log, rank, logcnt


def inverse(permutation):
    """The inverse of each row's permutation."""
    out = np.empty_like(permutation)
    np.put_along_axis(out, permutation, np.arange(permutation.shape[1])[None, :].repeat(permutation.shape[0], 0), axis=1)
    return out


def rebalance_hierarchical(weight, num_physical, num_groups, num_nodes, num_gpus):
    layers, num_logical = weight.shape
    group_size = num_logical // num_groups
    groups_per_node = num_groups // num_nodes
    slots_per_gpu = num_physical // num_gpus
    # 1. groups -> nodes
    group_load = weight.reshape(layers, num_groups, group_size).sum(axis=2)
    group_pack, group_rank = balanced_packing(group_load, num_nodes)
    # logical expert -> position in the node-major ("meta-logical") order
    log2mlog = ((group_pack * groups_per_node + group_rank) * group_size)[:, :, None] + np.arange(group_size)
    log2mlog = log2mlog.reshape(layers, num_logical)
    mlog2log = inverse(log2mlog)
    # 2. replicate within each node
    node_load = np.take_along_axis(weight, mlog2log, axis=1).reshape(layers * num_nodes, -1)
    phy2mlog, phy_rank, mlogcnt = replicate_experts(node_load, num_physical // num_nodes)
    # 3. node's replicas -> its GPUs
    replica_load = np.take_along_axis(node_load / mlogcnt, phy2mlog, axis=1)
    pack, rank = balanced_packing(replica_load, num_gpus // num_nodes)
    phy2pphy = pack * slots_per_gpu + rank
    pphy2phy = inverse(phy2pphy)
    pphy2mlog = np.take_along_axis(phy2mlog, pphy2phy, axis=1)
    offsets = (np.arange(num_nodes) * (num_logical // num_nodes))[None, :, None]
    pphy2mlog = (pphy2mlog.reshape(layers, num_nodes, -1) + offsets).reshape(layers, -1)
    pphy2log = np.take_along_axis(mlog2log, pphy2mlog, axis=1)
    pphy_rank = np.take_along_axis(phy_rank, pphy2phy, axis=1).reshape(layers, -1)
    logcnt = np.take_along_axis(mlogcnt.reshape(layers, -1), log2mlog, axis=1)
    return pphy2log, pphy_rank, logcnt


def rebalance_experts(weight, num_replicas, num_groups, num_nodes, num_gpus):
    weight = np.asarray(weight, dtype=np.float64)
    layers, num_logical = weight.shape
    if num_groups % num_nodes == 0:
        phy2log, rank, logcnt = rebalance_hierarchical(weight, num_replicas, num_groups, num_nodes, num_gpus)
    else:
        phy2log, rank, logcnt = rebalance_hierarchical(weight, num_replicas, 1, 1, num_gpus)
    width = num_replicas - num_logical + 1
    log2phy = np.full((layers, num_logical, width), -1, dtype=np.int64)
    every_layer = np.arange(layers)[:, None]
    log2phy[every_layer, phy2log, rank] = np.arange(num_replicas)[None, :]
    return phy2log, log2phy, logcnt
