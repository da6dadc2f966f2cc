"""Trusted evaluator: simulate 32 warehouses for 200 days, asking the candidate's policy each day.

The pattern "a function called many times": one persistent sandboxed worker
(``with candidate.worker() as w``) answers 200 calls, each a pipe round-trip instead of a
worker start; batching the 32 warehouses into one (32, 4) array makes it one call per day,
not 6400. The simulator (``simulator.py``, a helper beside this file)
runs here, on the trusted side: the candidate only maps observations to orders, and every
order is checked before the simulator uses it.
"""

import numpy as np

from evaluators import Evaluation, InvalidOutput
from simulator import MAX_ORDER, Warehouses

WAREHOUSES = 32
DAYS = 200
SEED = 7


def evaluate(candidate, context):
    sim = Warehouses(WAREHOUSES, DAYS, seed=SEED)
    with candidate.worker() as worker:
        for day in range(DAYS):
            orders = worker.call("policy", sim.observations(day))
            sim.step(day, _check_orders(orders, day))
    totals = sim.totals()
    return Evaluation(
        score=totals.cost,
        metrics={"worst_warehouse_cost": totals.worst_warehouse_cost},
        features={"service_level": totals.service_level, "order_rate": totals.order_rate},
        feedback=f"average cost {totals.cost:.2f} per warehouse per day (worst warehouse {totals.worst_warehouse_cost:.2f}); "
        f"{totals.service_level:.1%} of demand met; {totals.order_rate:.2f} orders per warehouse per day.",
    )


def _check_orders(orders, day: int) -> np.ndarray:
    try:
        array = np.asarray(orders, dtype=float)
    except (TypeError, ValueError):
        raise InvalidOutput(f"day {day}: policy() must return numbers, got {type(orders).__name__}") from None
    if array.shape != (WAREHOUSES,):
        raise InvalidOutput(f"day {day}: policy() returned shape {array.shape}, expected ({WAREHOUSES},): one order per row")
    if not np.all(np.isfinite(array)):
        raise InvalidOutput(f"day {day}: policy() returned a non-finite order quantity")
    if np.any(array < 0):
        raise InvalidOutput(f"day {day}: policy() returned a negative order ({array.min():.3g}); orders must be >= 0")
    return np.minimum(array, MAX_ORDER)
