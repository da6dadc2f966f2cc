"""The ES problem's workloads, the checks on what a candidate returns, and the trusted re-scoring.

A workload is a task spec (plain data, see ``evaluators.es_runtime``) plus how to score the
parameters an ES returns for it. The candidate trains on the spec; the trusted side then
rebuilds the task itself and scores the returned parameters on data and seeds the candidate
never saw, so a fitness the candidate reports (or inflates) counts for nothing:

* black-box f: s = clip(log10(f(x0) / f(x)) / decades, 0, 1), the fraction of the target
  decades of progress from the start x0 (the function is known exactly, nothing is held out);
* digits MLP: accuracy on the validation split (search) or the test split (holdout), never
  on the training split the candidate gets; s = clip((acc - 0.1) / 0.9, 0, 1) (0 = chance);
* CartPole: mean return over fresh episodes whose seeds the candidate never sees, run five
  times as long as the training episodes (a policy that drifts off slowly fails there),
  s = return / horizon.

Sizes come in two scales: ``CPU`` (seconds per evaluation on two cores) and ``GPU`` (chosen
when the evaluation's device is CUDA: larger dimensions, networks and budgets).
"""

from __future__ import annotations

import io
import math
import tokenize
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import torch

from evaluators.contract import InvalidOutput
from evaluators.es_runtime import ESBlackBox, ESCartPole, ESClassifier, make_es_task

#: Names that mean gradients (the problem is gradient-free, see problems/es/README.md), matched
#: on code tokens only, so comments and strings that mention them are fine.
GRADIENT_NAMES = {"autograd", "enable_grad", "set_grad_enabled", "inference_mode", "functorch"}
GRADIENT_ATTRIBUTES = {"grad", "backward"}  # as .grad / .backward(
MAX_ABS_PARAM = 1e6
EVAL_HORIZON_FACTOR = 5
DECADES = {"sphere": 6.0, "ellipsoid": 4.0, "rastrigin": 3.0}


@dataclass(frozen=True)
class Scale:
    """Sizes of one configuration (CPU or GPU)."""

    blackbox_shape: tuple[int, int]
    blackbox_budget: int
    hidden: int
    batch: int
    digits_budget: int
    cartpole_hidden: int
    episodes: int
    horizon: int
    cartpole_budget: int
    eval_episodes: int


CPU = Scale((10, 10), 6_000, 32, 128, 12_800, 16, 4, 200, 512, 32)
GPU = Scale((32, 32), 400_000, 256, 512, 1_048_576, 64, 8, 500, 262_144, 256)
SEEDS = {"search": (0, 1), "holdout": (1000, 1001)}
TASKS = ("sphere", "ellipsoid", "rastrigin", "digits", "cartpole")


def scale_for(device: str) -> Scale:
    return GPU if device.startswith("cuda") else CPU


def normalise_device(device: str) -> str:
    return "cuda:0" if device == "cuda" else device


@lru_cache(maxsize=1)
def digits_splits() -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """scikit-learn's shipped digits (1,797 8x8 images), shuffled once: 1,000 train / 397 validation / 400 test."""
    from sklearn.datasets import load_digits

    data = load_digits()
    x = (data.data / 16.0).astype(np.float32)
    y = data.target.astype(np.int64)
    order = np.random.default_rng(0).permutation(len(y))
    x, y = x[order], y[order]
    return {"train": (x[:1000], y[:1000]), "validation": (x[1000:1397], y[1000:1397]), "test": (x[1397:], y[1397:])}


def task_spec(task: str, seed: int, device: str = "cpu") -> dict:
    """The spec the candidate's ES trains on for ``task`` under instance ``seed``."""
    scale = scale_for(device)
    base = {"name": task, "device": normalise_device(device), "instance_seed": seed * 7919 + TASKS.index(task),
            "data_seed": seed * 104729 + 17, "es_seed": seed * 15485863 + 29}
    if task in DECADES:
        return {**base, "kind": "blackbox", "function": task, "shape": list(scale.blackbox_shape),
                "budget": scale.blackbox_budget * (2 if task != "sphere" else 1)}
    if task == "digits":
        x, y = digits_splits()["train"]
        return {**base, "kind": "mlp", "x": x, "y": y, "hidden": [scale.hidden], "classes": 10,
                "batch": scale.batch, "budget": scale.digits_budget}
    if task == "cartpole":
        return {**base, "kind": "cartpole", "hidden": [scale.cartpole_hidden], "episodes": scale.episodes,
                "horizon": scale.horizon, "init_range": 0.1, "budget": scale.cartpole_budget}
    raise ValueError(f"unknown ES task {task!r}; choose one of {TASKS}")


def check_gradient_free(source: str) -> None:
    """InvalidOutput naming the line if the candidate's code (not its comments or strings) uses gradients."""
    try:
        tokens = [t for t in tokenize.generate_tokens(io.StringIO(source).readline) if t.type in (tokenize.NAME, tokenize.OP)]
    except (tokenize.TokenError, SyntaxError):
        return  # the sandbox reports the syntax error itself
    for i, token in enumerate(tokens):
        name, before = token.string, tokens[i - 1].string if i else ""
        used = (
            name in GRADIENT_NAMES
            or name.startswith("requires_grad")
            or (name in GRADIENT_ATTRIBUTES and before == ".")
            or (name == "func" and before == "." and i > 1 and tokens[i - 2].string == "torch")
        )
        if used:
            raise InvalidOutput(
                f"line {token.start[0]} uses {'.' if before == '.' else ''}{name}: this problem trains without gradients "
                "(evolution strategies only); remove it and estimate updates from task.fitness values"
            )


def checked_params(report: object, spec: dict) -> dict[str, np.ndarray]:
    """The returned parameters as float32 arrays, after every check; InvalidOutput naming the first failure."""
    name = spec["name"]
    if not isinstance(report, dict) or not isinstance(report.get("params"), dict) or not isinstance(report.get("kinds"), dict):
        raise InvalidOutput(f"task {name!r}: run_es_task returned {type(report).__name__}, not the runtime's report")
    if report.get("returned") != "dict":
        raise InvalidOutput(f"task {name!r}: train() returned a {report.get('returned')}, expected a dict of tensors")
    shapes = make_shapes(spec)
    evaluations = report.get("evaluations")
    if not isinstance(evaluations, int) or evaluations < 0:
        raise InvalidOutput(f"task {name!r}: the evaluation count {evaluations!r} is not a non-negative integer")
    if evaluations > spec["budget"]:
        raise InvalidOutput(
            f"task {name!r}: train() used {evaluations} member evaluations, more than the budget of {spec['budget']} "
            "(check task.remaining before each task.fitness call)"
        )
    extra = sorted(set(report["kinds"]) - set(shapes))
    if extra:
        raise InvalidOutput(f"task {name!r}: train() returned unknown parameter {extra[0]!r}; expected {sorted(shapes)}")
    device = torch.device(spec["device"])
    params = {}
    for key, shape in shapes.items():
        kind = report["kinds"].get(key)
        if kind is None:
            raise InvalidOutput(f"task {name!r}: train() returned no parameter {key!r}")
        if kind.get("type") != "tensor":
            raise InvalidOutput(f"task {name!r}: params[{key!r}] is a {kind.get('type')}, expected a torch tensor")
        if kind.get("dtype") != "torch.float32":
            raise InvalidOutput(f"task {name!r}: params[{key!r}] has dtype {kind.get('dtype')}, expected torch.float32")
        if torch.device(str(kind.get("device"))) != device:
            raise InvalidOutput(f"task {name!r}: params[{key!r}] is on {kind.get('device')}, expected {device} (task.device)")
        value = report["params"].get(key)
        if not isinstance(value, np.ndarray) or value.dtype != np.float32 or value.shape != tuple(shape):
            raise InvalidOutput(f"task {name!r}: params[{key!r}] must be a float32 array of shape {tuple(shape)}")
        bad = ~np.isfinite(value) | (np.abs(value) > MAX_ABS_PARAM)
        if bad.any():
            index = tuple(int(i) for i in np.argwhere(bad)[0])
            raise InvalidOutput(f"task {name!r}: params[{key!r}]{list(index)} = {value[index]} is not finite or beyond 1e6")
        params[key] = value
    return params


def make_shapes(spec: dict) -> dict[str, tuple[int, ...]]:
    return dict(make_es_task({**spec, "device": "cpu"}).shapes)


def rescore(spec: dict, params: dict[str, np.ndarray], split: str, eval_seed: int) -> tuple[float, dict[str, float]]:
    """Trusted score s in [0, 1] of ``params`` on ``spec``'s task, on data of ``split``; plus details.

    ``eval_seed`` seeds the CartPole evaluation episodes; it is not in the spec the candidate saw.
    """
    device = spec["device"]
    task = make_es_task(spec)
    theta = {k: torch.as_tensor(v, device=task.device) for k, v in params.items()}
    with torch.inference_mode():
        if isinstance(task, ESBlackBox):
            f = float(task.value(task.to_vector(theta)[None])[0])
            f0 = float(task.value(task.to_vector(task.initial_params())[None])[0])
            progress = math.log10(f0 / max(f, 1e-300))
            return _clip(progress / DECADES[task.function]), {"f": f, "decades": progress}
        if isinstance(task, ESClassifier):
            x, y = digits_splits()["validation" if split == "search" else "test"]
            logits = task.logits(theta, {}, torch.as_tensor(x, device=task.device))[0]
            target = torch.as_tensor(y, device=task.device)
            accuracy = float((logits.argmax(-1) == target).float().mean())
            loss = float(torch.nn.functional.cross_entropy(logits, target))
            return _clip((accuracy - 0.1) / 0.9), {"accuracy": accuracy, "loss": loss}
        if isinstance(task, ESCartPole):
            episodes = scale_for(device).eval_episodes
            generator = torch.Generator(device=task.device).manual_seed(eval_seed)
            horizon = EVAL_HORIZON_FACTOR * task.horizon
            mean = float(task.returns(theta, {}, 1, episodes, generator, horizon).mean())
            return _clip(mean / horizon), {"return": mean}
    raise ValueError(f"no re-scoring for task kind {task.kind!r}")


def _clip(value: float) -> float:
    return float(min(1.0, max(0.0, value)))
