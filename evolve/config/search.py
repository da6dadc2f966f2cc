"""``[search]`` and ``[mutator]``: the archive, its policies, and the built-in mutator's vocabulary."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from evolve.config.base import StrictModel

ParentSelection = Literal["uniform", "fitness", "curiosity", "go_explore"]
Acceptance = Literal["strict", "parsimony"]
Migration = Literal["ring", "none"]


class SearchSettings(StrictModel):
    """The MAP-Elites archive and its policies: islands, migration, parent selection, acceptance."""

    islands: int = Field(default=3, ge=1, description="Independent MAP-Elites grids; proposals take turns over them.")
    migration: Migration = Field(default="ring", description="ring: each island sends its best to the next; none: islands stay apart.")
    migration_interval: int = Field(default=25, ge=1, description="Evaluations between ring migrations.")
    migration_size: int = Field(default=1, ge=1, description="Elites copied to the next island per migration.")
    parent_selection: ParentSelection = Field(
        default="fitness",
        description="uniform: every elite alike; fitness: rank-weighted; curiosity: rank weight / sqrt(1 + times chosen); "
        "go_explore: curiosity times a bonus for cells that improved recently.",
    )
    go_explore_recency_bonus: float = Field(
        default=2.0, ge=0, description="go_explore: weight bonus B of a cell that just improved (x (1 + B exp(-age/H))).",
    )
    go_explore_horizon: float = Field(
        default=50.0, gt=0, description="go_explore: insertions H over which the recency bonus fades.",
    )
    fitness_temperature: float = Field(
        default=1.0, gt=0, description="Softmax temperature over rank for fitness-weighted selection."
    )
    acceptance: Acceptance = Field(
        default="strict",
        description="When a program replaces a cell's elite: strict: fitter; parsimony: fitter, or as fit (within "
        "parsimony_tolerance) with shorter code.",
    )
    parsimony_tolerance: float = Field(default=0.0, ge=0, description="Relative fitness tie band of the parsimony rule.")
    qd_score_offset: float = Field(
        default=0.0,
        description="QD score = sum over elites of max(0, fitness - offset), with the offset given in score units "
        "(a score no elite should fall below when maximising, above when minimising); fixed, so QD scores are "
        "monotonic and comparable between runs of a problem.",
    )
    num_inspirations: int = Field(default=2, ge=0, description="Other elites shown to the proposer beside the parent.")
    code_size_feature: bool = Field(default=True, description="Add the generic code_size axis when <2 axes are declared.")
    code_size_max: int = Field(default=4000, ge=100)
    code_size_bins: int = Field(default=6, ge=1)
    novelty_rejection: bool = Field(default=True, description="Skip evaluating near-duplicates of archive elites.")
    novelty_threshold: float = Field(
        default=1.0, gt=0, le=1,
        description="Similarity at which a candidate is a near-duplicate (1.0: the same code modulo comments, "
        "docstrings and formatting; lower also rejects small perturbations; see evolve.loop.novelty).",
    )


class MutatorSettings(StrictModel):
    """The built-in mutator (the proposer when no model is configured)."""

    call_groups: list[list[str]] = Field(
        default_factory=list, description="Extra groups of interchangeable calls, e.g. [['np.sin', 'np.cos']]."
    )
    adaptive: bool = Field(
        default=False,
        description="Learn which operators improve their parent (Thompson sampling over the operator weights).",
    )
