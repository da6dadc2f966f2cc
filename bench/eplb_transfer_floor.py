"""The floor under eplb's measured runtime: a round trip that computes nothing, in one run.

    python bench/eplb_transfer_floor.py [--calls 50] [--sandbox auto]

eplb times ``rebalance_experts`` from outside the sandbox, transfer included (evaluators.timing).
This measures, on the DeepSeek-V3-like workload (58 x 256 loads in; phy2log 58 x 288,
log2phy 58 x 256 x X and logcnt 58 x 256 out), a candidate that returns a placement it
computed at import time, for X = max(logcnt) (compact) and X = R - E + 1 (the widest allowed),
and a no-op call with the same argument. Prints min / median / max in milliseconds, so the
part of any runtime that is data transfer, and the run-to-run spread, are visible.
"""

from __future__ import annotations

import argparse
import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from evaluators.moe_loads import LoadSpec  # noqa: E402
from sandbox import Limits, get_sandbox, resolve  # noqa: E402

SPEC = LoadSpec("v3", 58, 256, 288, 8, 4, 32, seed=1)
CACHED = """
import numpy as np
L, E, R = 58, 256, 288
extra = np.arange(R - E) % E
PHY2LOG = np.concatenate([np.tile(np.arange(E), (L, 1)), np.tile(extra, (L, 1))], axis=1).astype(np.int64)
LOGCNT = np.ones((L, E), dtype=np.int64)
LOGCNT[:, extra] += 1
WIDTH = {width}
LOG2PHY = np.full((L, E, WIDTH), -1, dtype=np.int64)
LOG2PHY[:, :, 0] = np.arange(E)
LOG2PHY[:, extra, 1] = E + np.arange(R - E)

def rebalance_experts(weight, num_replicas, num_groups, num_nodes, num_gpus):
    return PHY2LOG, LOG2PHY, LOGCNT

def noop(weight, num_replicas, num_groups, num_nodes, num_gpus):
    return None
"""


def measure(sandbox, source: str, function: str, calls: int) -> list[float]:
    weight = SPEC.loads()[0]
    args = (weight, SPEC.replicas, SPEC.groups, SPEC.nodes, SPEC.gpus)
    with sandbox.start(source, Limits(timeout_s=60)) as worker:
        worker.call(function, *args)  # warm-up
        times = []
        for _ in range(calls):
            worker.call(function, *args)
            times.append(worker.stats.wall_s * 1e3)
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--calls", type=int, default=50)
    parser.add_argument("--sandbox", default="auto")
    args = parser.parse_args()
    backend, _ = resolve(args.sandbox)
    sandbox = get_sandbox(backend)
    rows = [
        ("no-op, 58 x 256 weight in, None out", CACHED.format(width=2), "noop"),
        ("cached placement, X = max(logcnt) = 2", CACHED.format(width=2), "rebalance_experts"),
        ("cached placement, X = R - E + 1 = 33", CACHED.format(width=33), "rebalance_experts"),
    ]
    print(f"sandbox: {backend}; {args.calls} calls each; milliseconds per round trip\n")
    print("| call | min | median | max |\n| --- | --- | --- | --- |")
    for label, source, function in rows:
        times = measure(sandbox, source, function, args.calls)
        print(f"| {label} | {min(times):.3f} | {statistics.median(times):.3f} | {max(times):.3f} |")


if __name__ == "__main__":
    main()
