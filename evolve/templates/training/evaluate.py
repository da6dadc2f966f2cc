"""Trusted evaluator: the candidate trains in the sandbox; the parameters it returns are scored here.

The pattern "a heavy job returning an artifact": one long ``candidate.call("train", ...,
timeout=...)`` runs the whole training inside the sandbox and returns data (the weights).
The evaluator checks their shapes and values and computes the accuracy itself, on data the
candidate never received, so reporting a good accuracy, or overfitting the training data,
earns nothing.

Two stages (``[[stages]]`` in problem.toml): stage 0 trains on 300 examples and must reach
the threshold; stage 1 trains on 3000. The holdout split (``context.is_holdout``) scores the
full training on the test data; its verdicts never reach a prompt.
"""

import numpy as np

from data import dataset
from evaluators import Evaluation, EvaluationContext, InvalidOutput

HIDDEN = 16
INPUTS = 8
SHAPES = {"W1": (INPUTS, HIDDEN), "b1": (HIDDEN,), "W2": (HIDDEN,)}


def evaluate(candidate, context: EvaluationContext):
    small = context.stage == 0 and not context.is_holdout
    X, y = dataset("train", 300 if small else 3000)
    params = _check_params(candidate.call("train", X, y, context.seed, timeout=30.0))
    X_eval, y_eval = dataset("test" if context.is_holdout else "validation", 2000)
    accuracy = float(np.mean((_predict(params, X_eval) > 0.5) == y_eval))
    train_accuracy = float(np.mean((_predict(params, X) > 0.5) == y))
    norm = float(np.linalg.norm(params["W1"]))
    stage = "small training set" if small else "full training set"
    return Evaluation(
        score=accuracy,
        metrics={"train_accuracy": train_accuracy, "overfit_gap": train_accuracy - accuracy},
        features={"weight_norm": norm},
        feedback=f"{stage}: accuracy {accuracy:.3f} on unseen data, {train_accuracy:.3f} on the training data; "
        f"|W1| = {norm:.2f}.",
    )


def _predict(params: dict, X: np.ndarray) -> np.ndarray:
    hidden = np.tanh(X @ params["W1"] + params["b1"])
    return 1.0 / (1.0 + np.exp(-np.clip(hidden @ params["W2"] + params["b2"], -50, 50)))


def _check_params(params) -> dict:
    if not isinstance(params, dict):
        raise InvalidOutput(f"train() must return a dict of parameters, got {type(params).__name__}")
    checked = {}
    for name, shape in SHAPES.items():
        if name not in params:
            raise InvalidOutput(f"train() returned no {name!r}; expected keys W1, b1, W2, b2")
        array = np.asarray(params[name], dtype=float)
        if array.shape != shape:
            raise InvalidOutput(f"{name} has shape {array.shape}, expected {shape}")
        if not np.all(np.isfinite(array)):
            raise InvalidOutput(f"{name} holds a non-finite value (diverged training?)")
        checked[name] = array
    b2 = params.get("b2")
    if not isinstance(b2, (int, float)) or isinstance(b2, bool) or not np.isfinite(b2):
        raise InvalidOutput(f"b2 must be a finite number, got {b2!r:.40}")
    checked["b2"] = float(b2)
    return checked
