"""The warehouse simulator: trusted code, imported by evaluate.py (never by the candidate).

A helper file beside evaluate.py is importable from it and is copied into every run's
snapshot with the rest of the folder, so a resumed run simulates exactly the same way. The
candidate's sandbox holds only the candidate's own source: it cannot import this module or
read its random seeds.

Each day, in order: the orders placed LEAD_TIME days ago arrive; demand is drawn
(Poisson around a seasonal mean) and met from stock, the rest is lost; the policy sees the
day's state and orders; costs are charged.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

LEAD_TIME = 2
HOLDING_COST = 1.0
LOST_SALE_COST = 9.0
ORDER_COST = 25.0
MAX_ORDER = 1000.0


@dataclass
class Totals:
    cost: float
    service_level: float
    order_rate: float
    worst_warehouse_cost: float


class Warehouses:
    """B warehouses simulated in lockstep, so one policy call serves all of them (batching)."""

    def __init__(self, count: int, days: int, seed: int) -> None:
        rng = np.random.default_rng(seed)
        season = 10.0 + 4.0 * np.sin(2 * np.pi * np.arange(days) / 50.0 + rng.uniform(0, 2 * np.pi, (count, 1)))
        self.demand = rng.poisson(season).astype(float)  # (count, days)
        self.days = days
        self.stock = np.full(count, 20.0)
        self.pipeline = np.zeros((count, LEAD_TIME))  # pipeline[:, 0] arrives next
        self.last_demand = np.zeros(count)
        self.cost = np.zeros(count)
        self.met = 0.0
        self.orders = 0

    def observations(self, day: int) -> np.ndarray:
        on_order = self.pipeline.sum(axis=1)
        return np.column_stack([self.stock, on_order, self.last_demand, np.full(len(self.stock), float(day))])

    def step(self, day: int, orders: np.ndarray) -> None:
        self.stock += self.pipeline[:, 0]
        self.pipeline = np.column_stack([self.pipeline[:, 1:], orders])
        demand = self.demand[:, day]
        sold = np.minimum(self.stock, demand)
        self.stock -= sold
        self.met += float(sold.sum())
        placed = orders > 0
        self.orders += int(placed.sum())
        self.cost += HOLDING_COST * self.stock + LOST_SALE_COST * (demand - sold) + ORDER_COST * placed
        self.last_demand = demand

    def totals(self) -> Totals:
        count = len(self.stock)
        return Totals(
            cost=float(self.cost.mean() / self.days),
            service_level=self.met / float(self.demand.sum()),
            order_rate=self.orders / (count * self.days),
            worst_warehouse_cost=float(self.cost.max() / self.days),
        )
