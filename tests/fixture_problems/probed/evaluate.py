"""The tiny problem with a behavioural fingerprint: the probe is run() itself (cheap here)."""

from pathlib import Path

from evaluators import Evaluation, InvalidOutput

CALLS_FILE = Path(__file__).resolve().parent / "calls.txt"  # tests count full evaluations through it


def fingerprint(candidate, context):
    return candidate.call("run")


def evaluate(candidate, context):
    value = candidate.call("run")
    if not isinstance(value, (int, float)) or isinstance(value, bool):
        raise InvalidOutput(f"run() must return a number, got {type(value).__name__}")
    with open(CALLS_FILE, "a") as f:
        f.write("evaluate\n")
    return Evaluation(score=-(float(value) - 3.0) ** 2, metrics={"value": float(value)})
