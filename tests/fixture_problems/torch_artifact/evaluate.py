"""A heavy job returning an artifact: torch runs in the sandbox, the trusted side re-scores the tensor.

The candidate gets training data and returns weights as torch tensors (they cross the
boundary as raw buffers; bfloat16 bit-exact). The trusted side moves them to
``context.device`` (a GPU where one is assigned) and scores them on held-out data it never
sent: a candidate cannot report a loss it did not earn.
"""

import numpy as np
import torch

from evaluators import Evaluation, EvaluationContext, InvalidOutput

DIM = 8


def _data(seed: int, n: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    truth = np.linspace(-1.0, 1.0, DIM, dtype=np.float32)
    x = rng.standard_normal((n, DIM)).astype(np.float32)
    return x, (x @ truth + 0.1 * rng.standard_normal(n)).astype(np.float32)


def evaluate(candidate, context: EvaluationContext):
    x, y = _data(1, 256)
    out = candidate.call("train", x, y, 60, timeout=60)
    if not isinstance(out, dict) or not isinstance(out.get("weights"), torch.Tensor):
        raise InvalidOutput("train() must return {'weights': a torch tensor, ...}")
    weights = out["weights"]
    if weights.dtype != torch.float32 or tuple(weights.shape) != (DIM,):
        raise InvalidOutput(f"weights must be float32 of shape ({DIM},), got {weights.dtype} {tuple(weights.shape)}")
    if not torch.isfinite(weights).all():
        raise InvalidOutput("weights contain NaN or inf")
    half = out.get("half")
    bf16_exact = float(isinstance(half, torch.Tensor) and half.dtype == torch.bfloat16
                       and torch.equal(half, weights.to(torch.bfloat16)))
    test_x, test_y = _data(3 if context.is_holdout else 2, 512)
    device = torch.device(context.device)
    w = weights.to(device)
    mse = torch.mean((torch.as_tensor(test_x, device=device) @ w - torch.as_tensor(test_y, device=device)) ** 2)
    return Evaluation(
        score=-float(mse.cpu()),
        metrics={"bf16_exact": bf16_exact, "scored_on_gpu": float(device.type == "cuda")},
        feedback=f"held-out MSE {float(mse):.5f} (scored on {device}); the candidate trained on {out.get('device')}",
    )
