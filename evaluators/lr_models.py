"""Small models trained as K independent runs at once, for learning-rate schedule evaluation.

A sweep (base LRs x seeds) of one workload is one batched model: every parameter carries a
leading run dimension K and every matmul is batched over it, so the runs never mix (the
loss is the sum of the runs' losses, hence each run's gradient is its own) and one step of
all K runs costs one set of kernels instead of K. Models are plain functions of a parameter
dict: ``init_*(spec, seeds, runs_per_seed, generator)`` and ``*_logits(params, x)``.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F


def _uniform(shape: tuple[int, ...], fan_in: int, generator: torch.Generator, device: torch.device) -> torch.Tensor:
    bound = 1.0 / math.sqrt(fan_in)
    return (torch.rand(shape, generator=generator, device=device) * 2 - 1) * bound


def replicate(per_seed: list[dict[str, torch.Tensor]], runs_per_seed: int) -> dict[str, torch.Tensor]:
    """Stack per-seed parameter dicts into [K = seeds * runs_per_seed, ...] leaves with gradients."""
    return {
        name: torch.stack([p[name] for p in per_seed]).repeat_interleave(runs_per_seed, 0).requires_grad_(True)
        for name in per_seed[0]
    }


def bmm(x: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
    """x [K, ..., i] @ w [K, i, o] -> [K, ..., o]."""
    shape = x.shape
    return torch.bmm(x.reshape(shape[0], -1, shape[-1]), w).reshape(*shape[:-1], w.shape[-1])


def init_linear(inputs: int, classes: int, device: torch.device) -> dict[str, torch.Tensor]:
    """Zero weights: the convex problem's natural start (uniform predictions)."""
    return {"w": torch.zeros(inputs, classes, device=device), "b": torch.zeros(classes, device=device)}


def linear_logits(params: dict[str, torch.Tensor], x: torch.Tensor) -> torch.Tensor:
    return bmm(x, params["w"]) + params["b"][:, None, :]


def init_mlp(sizes: list[int], generator: torch.Generator, device: torch.device) -> dict[str, torch.Tensor]:
    params = {}
    for i in range(len(sizes) - 1):
        params[f"w{i}"] = _uniform((sizes[i], sizes[i + 1]), sizes[i], generator, device)
        params[f"b{i}"] = _uniform((sizes[i + 1],), sizes[i], generator, device)
    return params


def mlp_logits(params: dict[str, torch.Tensor], x: torch.Tensor, activation=torch.relu) -> torch.Tensor:
    layers = len(params) // 2
    for i in range(layers):
        x = bmm(x, params[f"w{i}"]) + params[f"b{i}"][:, None, :]
        if i < layers - 1:
            x = activation(x)
    return x


def init_transformer(vocab: int, context: int, width: int, generator: torch.Generator, device: torch.device) -> dict[str, torch.Tensor]:
    """One pre-LayerNorm causal self-attention block with a 2x-wide ReLU MLP; embeddings not tied."""
    ones, zeros = torch.ones(width, device=device), torch.zeros(width, device=device)
    return {
        "embed": torch.randn(vocab, width, generator=generator, device=device) * 0.1,
        "position": torch.randn(context, width, generator=generator, device=device) * 0.1,
        "ln1_g": ones.clone(), "ln1_b": zeros.clone(),
        "qkv": _uniform((width, 3 * width), width, generator, device),
        "proj": _uniform((width, width), width, generator, device),
        "ln2_g": ones.clone(), "ln2_b": zeros.clone(),
        "up": _uniform((width, 2 * width), width, generator, device),
        "down": _uniform((2 * width, width), 2 * width, generator, device),
        "lnf_g": ones.clone(), "lnf_b": zeros.clone(),
        "unembed": _uniform((width, vocab), width, generator, device),
    }


def _layer_norm(x: torch.Tensor, gain: torch.Tensor, bias: torch.Tensor) -> torch.Tensor:
    x = F.layer_norm(x, x.shape[-1:])
    view = (gain.shape[0],) + (1,) * (x.dim() - 2) + (gain.shape[1],)
    return x * gain.view(view) + bias.view(view)


def transformer_logits(params: dict[str, torch.Tensor], tokens: torch.Tensor, heads: int) -> torch.Tensor:
    """tokens [K, B, L] (int) -> next-token logits [K, B, L, vocab]."""
    k, b, length = tokens.shape
    runs = torch.arange(k, device=tokens.device)[:, None, None]
    h = params["embed"][runs, tokens] + params["position"][:, None, :length, :]
    width = h.shape[-1]
    q, key, v = bmm(_layer_norm(h, params["ln1_g"], params["ln1_b"]), params["qkv"]).split(width, -1)
    split = lambda t: t.reshape(k, b, length, heads, width // heads).transpose(2, 3)  # noqa: E731
    attended = F.scaled_dot_product_attention(split(q), split(key), split(v), is_causal=True)
    h = h + bmm(attended.transpose(2, 3).reshape(k, b, length, width), params["proj"])
    h = h + bmm(torch.relu(bmm(_layer_norm(h, params["ln2_g"], params["ln2_b"]), params["up"])), params["down"])
    return bmm(_layer_norm(h, params["lnf_g"], params["lnf_b"]), params["unembed"])


def cross_entropy(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Per run mean cross-entropy of sampled targets: logits [K, ..., C], targets [K, ...] -> [K]."""
    flat = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), targets.reshape(-1), reduction="none")
    return flat.reshape(logits.shape[0], -1).mean(-1)


def expected_cross_entropy(logits: torch.Tensor, target_probs: torch.Tensor) -> torch.Tensor:
    """Per run: mean over points of sum_y p(y) (-log q(y)), the loss in expectation over label noise.

    logits and target_probs [K, ..., C] -> [K]. Its minimum over q is the mean entropy of p
    (the Bayes loss); the excess over it is the mean KL(p || q).
    """
    return -(target_probs * torch.log_softmax(logits, -1)).sum(-1).flatten(1).mean(-1)
