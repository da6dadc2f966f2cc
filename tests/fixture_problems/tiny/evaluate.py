"""Score: -(x - 3)^2 for the candidate's guess x. TINY_DELAY (seconds) slows the trusted side, for tests."""

import os
import time

from evaluators import Evaluation, InvalidOutput


def evaluate(candidate):
    value = candidate.call("run")
    time.sleep(float(os.environ.get("TINY_DELAY", "0")))
    if not isinstance(value, (int, float)) or isinstance(value, bool):
        raise InvalidOutput(f"run() must return a number, got {type(value).__name__}")
    return Evaluation(score=-(float(value) - 3.0) ** 2, metrics={"value": float(value)}, feedback=f"guess {value}")
