"""Which model to ask next: a UCB1 bandit rewarding score improvement per dollar.

Reward of one proposal made by model m (scores in the maximise direction)::

    r = max(0, child_score - parent_score) / (cost + cost_floor)

A proposal that produced no program (unparseable reply, failed edit, provider error) has
r = 0 with its cost spent. ``cost_floor`` (default $0.0001, about a short gpt-4o-mini call)
keeps free local models from dividing by zero: among free models r is plain improvement.
UCB1 needs rewards in [0, 1], and improvements have the problem's own scale, so the mean
reward of each arm is divided by the largest single reward seen so far (one common
scale: the ranking of arms is unchanged by it)::

    ucb(m) = mean_r(m) / r_max + c * sqrt(2 ln N / n(m))

``n(m)`` counts *choices* (not only observed outcomes) so that concurrent proposals,
chosen before any of them is scored, spread over the arms instead of piling on one.
Untried arms go first, by descending weight. ``weighted`` mode ignores rewards and draws
by weight (a fixed mix, e.g. 80% cheap model / 20% strong model as in AlphaEvolve).
A weight of 0 keeps a model configured but never chosen.
"""

from __future__ import annotations

import math
import random
from dataclasses import asdict, dataclass
from typing import Iterable


@dataclass
class Arm:
    pulls: int = 0  # times chosen
    observed: int = 0  # outcomes recorded
    reward_sum: float = 0.0
    cost_sum: float = 0.0
    improvements: int = 0  # outcomes with a positive improvement


class ModelBandit:
    def __init__(
        self,
        weights: dict[str, float],
        *,
        mode: str = "ucb",
        c: float = 0.5,
        cost_floor: float = 1e-4,
    ) -> None:
        if mode not in ("ucb", "weighted"):
            raise ValueError(f"bandit mode must be 'ucb' or 'weighted', got {mode!r}")
        self.weights = dict(weights)
        self.mode = mode
        self.c = c
        self.cost_floor = cost_floor
        self.arms = {name: Arm() for name in weights}
        self.r_max = 0.0

    def choose(self, rng: random.Random, allowed: Iterable[str] | None = None) -> str | None:
        """The model to ask; None when no allowed model has a positive weight."""
        names = [n for n in (self.arms if allowed is None else allowed) if self.weights.get(n, 0) > 0]
        if not names:
            return None
        if self.mode == "weighted" or len(names) == 1:
            name = rng.choices(names, weights=[self.weights[n] for n in names])[0]
        else:
            name = self._ucb_pick(names, rng)
        self.arms[name].pulls += 1
        return name

    def _ucb_pick(self, names: list[str], rng: random.Random) -> str:
        untried = [n for n in names if self.arms[n].pulls == 0]
        if untried:
            top = max(self.weights[n] for n in untried)
            return rng.choice([n for n in untried if self.weights[n] == top])
        total = sum(self.arms[n].pulls for n in names)
        scores = {n: self.score(n, total) for n in names}
        best = max(scores.values())
        leaders = [n for n in names if scores[n] >= best - 1e-12]
        return rng.choices(leaders, weights=[self.weights[n] for n in leaders])[0]

    def score(self, name: str, total_pulls: int) -> float:
        arm = self.arms[name]
        mean = arm.reward_sum / arm.observed if arm.observed else 0.0
        exploit = mean / self.r_max if self.r_max > 0 else 0.0
        return exploit + self.c * math.sqrt(2 * math.log(max(total_pulls, 1)) / max(arm.pulls, 1))

    def record(self, name: str, cost: float, improvement: float) -> float:
        """Book one outcome of ``name``; returns the reward r."""
        arm = self.arms.get(name)
        if arm is None:
            return 0.0
        gain = improvement if math.isfinite(improvement) and improvement > 0 else 0.0
        reward = gain / (max(0.0, cost) + self.cost_floor)
        arm.observed += 1
        arm.reward_sum += reward
        arm.cost_sum += max(0.0, cost)
        arm.improvements += gain > 0
        self.r_max = max(self.r_max, reward)
        return reward

    def state(self) -> dict:
        return {"mode": self.mode, "r_max": self.r_max, "arms": {n: asdict(a) for n, a in self.arms.items()}}

    def restore(self, state: dict) -> None:
        """Load a ``state()``; models no longer configured are dropped, new ones start fresh."""
        self.r_max = float(state.get("r_max", 0.0))
        for name, data in state.get("arms", {}).items():
            if name in self.arms:
                self.arms[name] = Arm(**{k: data[k] for k in asdict(Arm()) if k in data})
