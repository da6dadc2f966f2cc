"""What one evaluation needs, as plain data that crosses into a trusted evaluator process.

``request_for`` is the one place a run's settings reach an evaluation: every limit, the
sandbox backend, the warm-start settings, the cascade and the objective's direction are
taken from the config here and nowhere else, so no setting is copied by hand on the way
to the evaluator. The executor adds the GPUs it assigns (``with_devices``).
"""

from __future__ import annotations

import dataclasses
import random
from dataclasses import dataclass
from typing import TYPE_CHECKING

from sandbox import DEFAULT_PRELOAD, Limits

if TYPE_CHECKING:  # the trusted evaluator process imports this module; it needs no pydantic
    from evolve.config import ProblemConfig


@dataclass(frozen=True)
class EvaluationRequest:
    """Everything a trusted evaluator process needs; plain data so it can cross processes.

    ``stage_bars`` has one entry per cascade stage: the bar that stage's score must reach
    to go on (None: no bar; always None for the last stage). ``split`` "holdout" runs only
    the last stage. ``device`` is what the trusted side computes on ("cpu", "cuda:0"),
    ``limits.gpu_devices`` what the sandbox sees.
    """

    problem_dir: str
    code: str
    limits: Limits
    sandbox: str = "auto"
    required_features: tuple[str, ...] = ()
    warm_start: bool = True  # fork workers from the sandbox's zygote
    preload: tuple[str, ...] = DEFAULT_PRELOAD  # what that zygote imports
    program_id: int = 0
    seed: int = 0
    split: str = "search"
    maximize: bool = True
    stage_bars: tuple[float | None, ...] = (None,)
    stage_names: tuple[str, ...] = ("main",)
    device: str = "cpu"
    mode: str = "evaluate"  # or "fingerprint": only run evaluate.py's fingerprint() probe
    fingerprint: str = ""  # already known (from a probe): not computed again
    want_fingerprint: bool = False  # compute one during the evaluation when evaluate.py can

    @property
    def stages(self) -> int:
        return len(self.stage_bars)

    def with_devices(self, gpus: tuple[str, ...], device: str) -> "EvaluationRequest":
        """This request on the GPUs ``gpus`` (their ids), computing on ``device`` on the trusted side."""
        return dataclasses.replace(self, limits=dataclasses.replace(self.limits, gpu_devices=gpus), device=device)


def evaluation_seed(run_seed: int, program_id: int) -> int:
    """The seed an evaluation is told: a function of the run seed and the program id only."""
    return random.Random(f"{run_seed}:evaluate:{program_id}").getrandbits(31)


def request_for(
    config: "ProblemConfig",
    problem_dir: str,
    code: str,
    sandbox: str | None = None,
    *,
    program_id: int = 0,
    split: str = "search",
    stage_bars: tuple[float | None, ...] | None = None,
    mode: str = "evaluate",
    fingerprint: str = "",
) -> EvaluationRequest:
    """The request scoring ``code`` under ``config``: the one place settings reach evaluations.

    ``stage_bars`` default to each stage's fixed threshold (a ``top_fraction`` bar needs the
    run's scores: the controller passes the bars it computed).
    """
    stages = config.stages
    if stage_bars is None:
        stage_bars = tuple(stage.threshold for stage in stages) or (None,)
    return EvaluationRequest(
        problem_dir=problem_dir,
        code=code,
        limits=config.limits.to_sandbox(),
        sandbox=sandbox or config.run.sandbox,
        required_features=tuple(axis.name for axis in config.features),
        warm_start=config.run.warm_start,
        preload=tuple(config.run.preload),
        program_id=program_id,
        seed=evaluation_seed(config.run.seed, program_id),
        split=split,
        maximize=config.objective.maximize,
        stage_bars=stage_bars,
        stage_names=tuple(stage.name for stage in stages) or ("main",),
        mode=mode,
        fingerprint=fingerprint,
        want_fingerprint=config.evaluation.behavioural_duplicates and split == "search",
    )
