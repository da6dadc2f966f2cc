"""Workloads for learning-rate schedule search: teacher-generated data with a known Bayes loss.

Every workload draws its data from a known random teacher, so the best achievable
validation loss (the Bayes loss, the teacher's mean entropy) is known exactly and a
schedule's result reads as an excess over it:

* ``logistic``: softmax regression on x ~ N(0, I_32) with labels from a linear teacher: convex
  and realisable, the setting of Defazio et al.'s last-iterate theory; plain SGD;
* ``mlp``: a 32-128-128-10 ReLU student (256 wide on GPU) of a fixed random 32-128-10 tanh teacher whose logits
  are sampled as labels (aleatoric noise), AdamW, fresh samples every step (the single-epoch
  regime of LLM pretraining; PROBLEMS.md D.3);
* ``transformer``: a one-block causal transformer (width 32, context 16; 128 and 64 on GPU)
  predicting an order-2 Markov chain over 8 symbols with Dirichlet(0.2) transitions, AdamW.

Validation losses are expected cross-entropies under the teacher's distribution
(``lr_models.expected_cross_entropy``), not losses on sampled labels, so their noise is
only that of the inputs. ``prepare`` builds one sweep: the runs of every (seed, base LR) of
one workload and budget as one batched model, with all training batches drawn up front.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np
import torch

from evaluators import lr_models as M


@dataclass(frozen=True)
class Workload:
    name: str
    optimizer: str  # "sgd" | "adamw"
    base_lrs: tuple[float, ...]
    batch: int
    validation: int  # validation points (sequences for the transformer)


WORKLOADS = {
    "logistic": Workload("logistic", "sgd", (0.1, 0.3, 1.0, 3.0), 32, 4000),
    "mlp": Workload("mlp", "adamw", (3e-4, 1e-3, 3e-3, 1e-2), 64, 4000),
    "transformer": Workload("transformer", "adamw", (1e-3, 3e-3, 1e-2, 3e-2), 16, 512),
}
DIM, CLASSES, TEACHER_HIDDEN = 32, 10, 128
LOGISTIC_SCALE, TEACHER_SCALE = 2.0, 2.5
VOCAB, HEADS, DIRICHLET = 8, 2, 0.2


@dataclass(frozen=True)
class Sizes:
    """Model sizes of one configuration: CPU (seconds per sweep) or GPU (when the device is CUDA)."""

    hidden: int  # student MLP width
    context: int  # transformer sequence length
    width: int  # transformer width
    batch_factor: int  # batch multiplier


CPU_SIZES = Sizes(hidden=128, context=16, width=32, batch_factor=1)
GPU_SIZES = Sizes(hidden=256, context=64, width=128, batch_factor=4)


def sizes_for(device: str) -> Sizes:
    return GPU_SIZES if str(device).startswith("cuda") else CPU_SIZES


@dataclass
class Sweep:
    """K = seeds x base LRs runs of one workload for ``steps`` steps, as one batched model.

    Run k belongs to seed ``k // len(base_lrs)`` and base LR ``base_lrs[k % len(base_lrs)]``;
    the runs of one seed share its teacher, initialisation and batches (a paired comparison).
    """

    workload: Workload
    steps: int
    seeds: tuple[int, ...]
    params: dict[str, torch.Tensor]
    base_lrs: torch.Tensor  # [K]
    batch: Callable[[int], tuple[torch.Tensor, torch.Tensor]]  # step -> (inputs, targets), leading dim K
    train_loss: Callable[[dict, torch.Tensor, torch.Tensor], torch.Tensor]  # -> [K]
    val_loss: Callable[[dict], torch.Tensor]  # -> [K]
    bayes: torch.Tensor  # [seeds]: each seed's Bayes validation loss

    @property
    def runs(self) -> int:
        return int(self.base_lrs.shape[0])


def prepare(name: str, steps: int, seeds: tuple[int, ...], device: str = "cpu") -> Sweep:
    """The sweep of workload ``name`` at budget ``steps`` over ``seeds``, every batch drawn now."""
    workload = WORKLOADS[name]
    dev = torch.device(device)
    per_lr = len(workload.base_lrs)
    numbers = [1_000_003 * s + 11 * steps + len(name) for s in seeds]
    gens = [torch.Generator(device=dev).manual_seed(n) for n in numbers]
    run_seed = torch.arange(len(seeds) * per_lr, device=dev) // per_lr
    base_lrs = torch.tensor(workload.base_lrs * len(seeds), device=dev)
    build = {"logistic": _teacher_task, "mlp": _teacher_task, "transformer": _markov_task}[name]
    size = sizes_for(device)
    workload_at_size = Workload(workload.name, workload.optimizer, workload.base_lrs, workload.batch * size.batch_factor, workload.validation)
    params, batch, train_loss, val_loss, bayes = build(workload_at_size, size, steps, gens, numbers, run_seed, per_lr, dev)
    return Sweep(workload, steps, tuple(seeds), params, base_lrs, batch, train_loss, val_loss, bayes)


def _teacher_task(workload: Workload, size: Sizes, steps: int, gens: list[torch.Generator], numbers: list[int], run_seed: torch.Tensor, per_lr: int, dev: torch.device):
    linear = workload.name == "logistic"
    teachers, inits = [], []
    for g in gens:
        if linear:
            w = torch.randn(DIM, CLASSES, generator=g, device=dev) * (LOGISTIC_SCALE / DIM**0.5)
            teachers.append(lambda x, w=w: x @ w)
            inits.append(M.init_linear(DIM, CLASSES, dev))
        else:
            w1 = torch.randn(DIM, TEACHER_HIDDEN, generator=g, device=dev) / DIM**0.5
            w2 = torch.randn(TEACHER_HIDDEN, CLASSES, generator=g, device=dev) * (TEACHER_SCALE / TEACHER_HIDDEN**0.5)
            teachers.append(lambda x, w1=w1, w2=w2: torch.tanh(x @ w1) @ w2)
            inits.append(M.init_mlp([DIM, size.hidden, size.hidden, CLASSES], g, dev))
    xs, ys, x_val, p_val = [], [], [], []
    for g, teacher in zip(gens, teachers):
        x = torch.randn(steps, workload.batch, DIM, generator=g, device=dev)
        probs = torch.softmax(teacher(x), -1)
        ys.append(torch.multinomial(probs.reshape(-1, CLASSES), 1, generator=g).reshape(steps, workload.batch))
        xs.append(x)
        xv = torch.randn(workload.validation, DIM, generator=g, device=dev)
        x_val.append(xv)
        p_val.append(torch.softmax(teacher(xv), -1))
    x_all, y_all = torch.stack(xs), torch.stack(ys)  # [S, T, B, d], [S, T, B]
    x_val_t, p_val_t = torch.stack(x_val)[run_seed], torch.stack(p_val)[run_seed]  # [K, N, d], [K, N, C]
    logits = M.linear_logits if linear else M.mlp_logits
    bayes = -(torch.stack(p_val) * torch.log(torch.stack(p_val).clamp_min(1e-30))).sum(-1).mean(-1)

    def batch(step: int):
        return x_all[run_seed, step], y_all[run_seed, step]

    def train_loss(params, x, y):
        return M.cross_entropy(logits(params, x), y)

    def val_loss(params):
        return M.expected_cross_entropy(logits(params, x_val_t), p_val_t)

    return M.replicate(inits, per_lr), batch, train_loss, val_loss, bayes


def _markov_task(workload: Workload, size: Sizes, steps: int, gens: list[torch.Generator], numbers: list[int], run_seed: torch.Tensor, per_lr: int, dev: torch.device):
    chains, seqs, val_seqs, inits = [], [], [], []
    for g, number in zip(gens, numbers):
        rows = np.random.default_rng(number).dirichlet(np.full(VOCAB, DIRICHLET), size=VOCAB * VOCAB)
        chain = torch.as_tensor(rows, dtype=torch.float32, device=dev).reshape(VOCAB, VOCAB, VOCAB)
        chains.append(chain)
        seqs.append(_sample_chain(chain, steps * workload.batch, size.context, g).reshape(steps, workload.batch, -1))
        val_seqs.append(_sample_chain(chain, workload.validation, size.context, g))
        inits.append(M.init_transformer(VOCAB, size.context, size.width, g, dev))
    seq_all = torch.stack(seqs)  # [S, T, B, L+1]
    val = torch.stack(val_seqs)  # [S, V, L+1]
    # true next-symbol distribution at positions 1..L-1 (position 0 lacks its order-2 context)
    p_val = torch.stack([chain[v[:, :-2], v[:, 1:-1]] for chain, v in zip(chains, val)])  # [S, V, L-1, vocab]
    bayes = -(p_val * torch.log(p_val.clamp_min(1e-30))).sum(-1).mean((-1, -2))
    val_inputs, p_val_k = val[run_seed, :, :-1], p_val[run_seed]

    def batch(step: int):
        s = seq_all[run_seed, step]
        return s[..., :-1], s[..., 1:]

    def train_loss(params, x, y):
        return M.cross_entropy(M.transformer_logits(params, x, HEADS), y)

    def val_loss(params):
        return M.expected_cross_entropy(M.transformer_logits(params, val_inputs, HEADS)[:, :, 1:], p_val_k)

    return M.replicate(inits, per_lr), batch, train_loss, val_loss, bayes


def _sample_chain(chain: torch.Tensor, count: int, context: int, g: torch.Generator) -> torch.Tensor:
    """``count`` sequences of context + 1 symbols from the order-2 chain, the first two uniform."""
    tokens = [torch.randint(0, VOCAB, (count,), generator=g, device=chain.device) for _ in range(2)]
    for _ in range(context - 1):
        tokens.append(torch.multinomial(chain[tokens[-2], tokens[-1]], 1, generator=g).squeeze(1))
    return torch.stack(tokens, -1)
