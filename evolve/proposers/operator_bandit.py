"""Adaptive operator selection: which edit to try, learned from which edits improved their parent.

A proposer has arms (the mutator's operators; an LLM's edit kinds) with prior weights. Each
proposal uses one or more arms; once its child is evaluated, every arm it used is credited
with a success when the child beat its parent and a failure otherwise (no score, a tie, a
rejected duplicate: an evaluation that bought nothing). Arms are then drawn with

    P(arm) proportional to prior(arm) * theta(arm),   theta ~ Beta(1 + s, 1 + f)

(Thompson sampling over improvement probabilities, the prior keeping the designer's mix
until evidence arrives). Success and failure counts decay by ``discount`` per observation,
so the mix follows a run whose useful moves change as it matures. Randomness comes only
from the caller's ``random.Random``; the counts are the state ``evolve resume`` restores.
"""

from __future__ import annotations

import random
from typing import Iterable, Mapping


class OperatorBandit:
    def __init__(self, priors: Mapping[str, float], *, discount: float = 0.995) -> None:
        if not 0 < discount <= 1:
            raise ValueError(f"discount must be in (0, 1], got {discount}")
        self.priors = dict(priors)
        self.discount = discount
        self.successes = {name: 0.0 for name in self.priors}
        self.failures = {name: 0.0 for name in self.priors}

    def weights(self, rng: random.Random) -> dict[str, float]:
        """Prior times a Thompson draw of each arm's improvement probability (arms with prior 0 stay 0)."""
        return {
            name: prior * rng.betavariate(1.0 + self.successes[name], 1.0 + self.failures[name]) if prior > 0 else 0.0
            for name, prior in self.priors.items()
        }

    def record(self, arms: Iterable[str], improved: bool) -> None:
        used = [arm for arm in dict.fromkeys(arms) if arm in self.priors]
        if not used:
            return
        for name in self.priors:
            self.successes[name] *= self.discount
            self.failures[name] *= self.discount
        for arm in used:
            if improved:
                self.successes[arm] += 1.0
            else:
                self.failures[arm] += 1.0

    def improvement_rates(self) -> dict[str, float]:
        """Posterior mean improvement probability of each arm, for reports."""
        return {n: (1 + self.successes[n]) / (2 + self.successes[n] + self.failures[n]) for n in self.priors}

    def state(self) -> dict:
        return {"successes": dict(self.successes), "failures": dict(self.failures)}

    def restore(self, state: Mapping) -> None:
        for name, value in (state.get("successes") or {}).items():
            if name in self.successes:
                self.successes[name] = float(value)
        for name, value in (state.get("failures") or {}).items():
            if name in self.failures:
                self.failures[name] = float(value)
