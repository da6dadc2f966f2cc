"""How a problem is evaluated beyond one call of ``evaluate``: cascade stages, holdout, objectives.

``[[stages]]`` lists the cascade (``evaluators.contract`` says what each stage is told):
the engine calls ``evaluate`` once per stage, in order, and a candidate whose score misses
a stage's bar stops there. A bar is either a fixed ``threshold`` on that stage's score
(``>=`` when maximising, ``<=`` when minimising) or a ``top_fraction``: the candidate
goes on only if its stage score is within the best ``top_fraction`` of the stage scores
seen so far in the run (once ``min_observations`` are known; before that everyone goes
on). The last stage has no bar: nothing follows it.

``[evaluation] holdout = true`` says the evaluator implements ``split = "holdout"``: when a
run ends (and on ``evolve holdout RUN``) the best program, and with ``holdout_cells`` the
best of every occupied archive cell, are re-scored on the holdout split, stored apart and
never shown to a model.

``[[objectives]]`` names secondary objectives the evaluator reports in
``Evaluation.objectives``; ``evolve best --pareto`` shows the non-dominated programs over
the primary objective and these.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from evolve.config.base import StrictModel


class Stage(StrictModel):
    """One cascade stage; ``evaluate`` is told its 0-based position as ``context.stage``."""

    name: str = Field(min_length=1, description="Shown in the dashboard and reports.")
    threshold: float | None = Field(default=None, description="Go on only if this stage's score reaches it.")
    top_fraction: float | None = Field(
        default=None, gt=0, le=1, description="Go on only if this stage's score is in the best fraction seen so far."
    )
    min_observations: int = Field(default=8, ge=1, description="Stage scores needed before top_fraction applies.")

    @model_validator(mode="after")
    def _one_bar(self) -> "Stage":
        if self.threshold is not None and self.top_fraction is not None:
            raise ValueError(f"stage {self.name!r}: give threshold or top_fraction, not both")
        return self

    @property
    def gated(self) -> bool:
        return self.threshold is not None or self.top_fraction is not None


class SecondaryObjective(StrictModel):
    """A secondary objective for the Pareto front (``evolve best --pareto``)."""

    name: str = Field(min_length=1, description="A key of the evaluator's Evaluation.objectives.")
    direction: Literal["maximize", "minimize"] = Field(default="maximize", description="Whether higher or lower is better.")

    @property
    def maximize(self) -> bool:
        return self.direction == "maximize"


class EvaluationSettings(StrictModel):
    """The holdout split: scored at the end of a run, stored apart, never prompted."""

    holdout: bool = Field(default=False, description="The evaluator implements context.split == 'holdout'.")
    holdout_cells: bool = Field(
        default=True, description="Re-score the best of every occupied cell on the holdout split, not only the best overall."
    )
    holdout_at_end: bool = Field(default=True, description="Score the holdout split when a run ends (else only on `evolve holdout`).")
    compare_baselines: bool = Field(
        default=True,
        description="When a run ends, score baselines/ with the run's evaluator (both splits) and compare the best "
        "program with them (stored for evolve report). False for problems whose baselines are expensive.",
    )
    behavioural_duplicates: bool = Field(
        default=True,
        description="Where evaluate.py defines fingerprint(candidate, context), probe each candidate first and skip "
        "evaluating one that behaves exactly like an evaluated program (false: evaluate every candidate).",
    )


def check_stages(stages: list[Stage]) -> list[Stage]:
    """Names unique; no bar on the last stage (no stage follows it)."""
    names = [s.name for s in stages]
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise ValueError(f"stages: stage {dupes[0]!r} is listed twice; give each stage a distinct name")
    if stages and stages[-1].gated:
        raise ValueError(f"stages: the last stage {stages[-1].name!r} has a bar, but no stage follows it; remove its threshold/top_fraction")
    return stages
