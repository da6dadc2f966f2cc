"""A cascade of two stages and a holdout split, for the engine's tests.

Stage "quick" scores -|x - target| (the bar in problem.toml is -1.5); stage "full" scores
-(x - target)^2 with per-workload instances and private metrics. The holdout split moves
the target, and marks its verdict with text and numbers the tests look for in prompts.
"""

from evaluators import Evaluation, EvaluationContext, InvalidOutput

SEARCH_TARGET = 3.0
HOLDOUT_TARGET = 3.25
HOLDOUT_MARKER = "HOLDOUT-FEEDBACK-7781"
PRIVATE_MARKER = 515151.0
HOLDOUT_PRIVATE_MARKER = 424242.0


def evaluate(candidate, context: EvaluationContext):
    value = candidate.call("run")
    if not isinstance(value, (int, float)) or isinstance(value, bool):
        raise InvalidOutput(f"run() must return a number, got {type(value).__name__}")
    value = float(value)
    target = HOLDOUT_TARGET if context.is_holdout else SEARCH_TARGET
    if context.stage == 0:
        return Evaluation(score=-abs(value - target), feedback=f"quick look: guess {value}")
    error = (value - target) ** 2
    return Evaluation(
        score=-error,
        metrics={"value": value, "seed_mod_1000": float(context.seed % 1000)},
        instances={"near": -error, "far": -((value - target - 1.0) ** 2)},
        private={"secret_gauge": HOLDOUT_PRIVATE_MARKER if context.is_holdout else PRIVATE_MARKER},
        objectives={"distance": abs(value - target)},
        feedback=HOLDOUT_MARKER if context.is_holdout else f"guess {value} (stage {context.stage} of {context.stages})",
    )
