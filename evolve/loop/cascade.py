"""The cascade's bars: what each stage's score must reach for a candidate to go on.

A stage with a fixed ``threshold`` has that bar. A stage with a ``top_fraction`` q has as
bar the score of rank ceil(q * n) among the n stage scores seen so far (best first), so
a candidate goes on iff its stage score would be in the best q of the run; until
``min_observations`` scores are known everyone goes on. The bars are computed here, in
the controller, from every evaluation committed (replayed on resume), and sent with each
request; the trusted side only compares.

``saved`` counts the stage runs the cascade skipped: a candidate stopped after stage k of
n saves n - 1 - k later stages.
"""

from __future__ import annotations

import bisect
import math

from evolve.config import Stage
from evolve.records import EvaluationResult


class CascadeBars:
    def __init__(self, stages: list[Stage], maximize: bool) -> None:
        self.stages = list(stages)
        self.maximize = maximize
        self._seen: list[list[float]] = [[] for _ in self.stages]  # ascending, in the maximise direction
        self.stopped = 0
        self.saved = 0

    def observe(self, result: EvaluationResult) -> None:
        """Record an evaluation's stage scores (and whether the cascade stopped it)."""
        for stage, score in enumerate(result.stage_scores[: len(self.stages)]):
            bisect.insort(self._seen[stage], score if self.maximize else -score)
        if result.ok and not result.complete:
            self.stopped += 1
            self.saved += result.stages - 1 - result.stage

    def bars(self) -> tuple[float | None, ...]:
        """One bar per stage (None: no bar), in score units; ``(None,)`` without a cascade."""
        if not self.stages:
            return (None,)
        return tuple(self._bar(i, stage) for i, stage in enumerate(self.stages))

    def _bar(self, index: int, stage: Stage) -> float | None:
        if stage.threshold is not None:
            return stage.threshold
        if stage.top_fraction is None:
            return None
        seen = self._seen[index]
        if len(seen) < stage.min_observations:
            return None
        rank = max(1, math.ceil(stage.top_fraction * len(seen)))  # 1 = the best
        value = seen[len(seen) - rank]
        return value if self.maximize else -value
