"""Population members evaluated per second: low-rank ES (EGGROLL) vs full-rank ES vs plain inference.

One ES generation of a 3-layer tanh MLP (width d, ``--batch`` inputs per member) is timed
three ways, all in the same run so the ratios compare like with like:

* ``inference``: every member runs the same weights, x [N * batch, d] @ W^T per layer: the
  physical ceiling of an ES generation (pure batched inference);
* ``lowrank``: EGGROLL, member i adds (sigma / sqrt(r)) A_i B_i^T to every matrix, computed as
  x W^T + ((x B_i) A_i^T) by ``evaluators.es_runtime.es_linear`` (the harness's own code),
  antithetic noise drawn fresh each generation;
* ``fullrank``: OpenAI-ES with materialised perturbations, W + sigma E_i with E_i [N, d, d]
  Gaussian, one bmm per layer (skipped where E_i would not fit in ``--max-noise-gb``).

Each row reports members/s and the ratio to inference. Memory: the bytes of the
perturbation tensors of one layer (from their shapes) and, on CUDA, the measured peak
allocation. Run ``python bench/es_throughput.py --quick`` (CPU, under a minute; the last line
is the ratios) or ``python bench/es_throughput.py --device cuda`` on a GPU machine.
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from evaluators.es_runtime import es_linear  # noqa: E402

LAYERS = 3


def make_weights(width: int, device: torch.device, dtype: torch.dtype) -> list[tuple[torch.Tensor, torch.Tensor]]:
    g = torch.Generator(device="cpu").manual_seed(0)
    return [
        ((torch.randn(width, width, generator=g) / math.sqrt(width)).to(device, dtype), torch.zeros(width, device=device, dtype=dtype))
        for _ in range(LAYERS)
    ]


def inference(x: torch.Tensor, weights, sigma: float, rank: int) -> torch.Tensor:
    h = x.reshape(-1, x.shape[-1])
    for w, b in weights:
        h = torch.tanh(h @ w.T + b)
    return h


def lowrank(x: torch.Tensor, weights, sigma: float, rank: int) -> torch.Tensor:
    n, half = x.shape[0], x.shape[0] // 2
    signs = torch.cat([torch.ones(half, device=x.device, dtype=x.dtype), -torch.ones(n - half, device=x.device, dtype=x.dtype)])
    h = x
    for w, b in weights:
        a = torch.randn(half, w.shape[0], rank, device=x.device, dtype=x.dtype).repeat(2, 1, 1)[:n]
        bb = torch.randn(half, w.shape[1], rank, device=x.device, dtype=x.dtype).repeat(2, 1, 1)[:n]
        a = a * (signs * sigma / math.sqrt(rank))[:, None, None]
        h = torch.tanh(es_linear(h, w, b, (a, bb)))
    return h


def fullrank(x: torch.Tensor, weights, sigma: float, rank: int) -> torch.Tensor:
    n, half = x.shape[0], x.shape[0] // 2
    h = x
    for w, b in weights:
        eps = torch.randn(half, *w.shape, device=x.device, dtype=x.dtype)
        members = w + sigma * torch.cat([eps, -eps])[:n]
        h = torch.tanh(torch.bmm(h, members.transpose(1, 2)) + b)
    return h


METHODS = {"inference": inference, "lowrank": lowrank, "fullrank": fullrank}


def noise_bytes(method: str, n: int, width: int, rank: int, itemsize: int) -> int:
    """Bytes of one layer's perturbation tensors for N members."""
    if method == "lowrank":
        return n * 2 * width * rank * itemsize
    if method == "fullrank":
        return n * width * width * itemsize
    return 0


def time_method(fn, x, weights, rank: int, min_seconds: float, device: torch.device) -> float:
    """Seconds per generation: best of repeated timed blocks after a warm-up call."""
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    fn(x, weights, 0.01, rank)
    sync()
    best, spent = math.inf, 0.0
    while spent < min_seconds:
        started = time.perf_counter()
        fn(x, weights, 0.01, rank)
        sync()
        elapsed = time.perf_counter() - started
        best, spent = min(best, elapsed), spent + elapsed
    return best


def run(configs, batch, rank, device, dtype, min_seconds, max_noise_gb) -> list[dict]:
    rows = []
    itemsize = torch.tensor([], dtype=dtype).element_size()
    for width, n in configs:
        weights = make_weights(width, device, dtype)
        x = torch.randn(n, batch, width, device=device, dtype=dtype)
        base = None
        for name, fn in METHODS.items():
            noise = noise_bytes(name, n, width, rank, itemsize)
            if noise > max_noise_gb * 2**30:
                rows.append({"width": width, "population": n, "method": name, "skipped": True, "noise_mb": noise / 2**20})
                continue
            if device.type == "cuda":
                torch.cuda.reset_peak_memory_stats(device)
            seconds = time_method(fn, x, weights, rank, min_seconds, device)
            peak = torch.cuda.max_memory_allocated(device) / 2**20 if device.type == "cuda" else float("nan")
            rate = n / seconds
            base = rate if name == "inference" else base
            rows.append({"width": width, "population": n, "method": name, "members_per_s": rate,
                         "ratio": rate / base, "noise_mb": noise / 2**20, "peak_mb": peak, "skipped": False})
    return rows


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="small CPU configuration, under a minute")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--dtype", default="float32", choices=("float32", "bfloat16", "float16"))
    parser.add_argument("--widths", type=int, nargs="+")
    parser.add_argument("--populations", type=int, nargs="+")
    parser.add_argument("--batch", type=int, default=16, help="inputs per member")
    parser.add_argument("--rank", type=int, default=1)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--min-seconds", type=float, default=1.0, help="timed seconds per measurement")
    parser.add_argument("--max-noise-gb", type=float, default=2.0, help="skip full-rank ES whose noise exceeds this")
    args = parser.parse_args(argv)
    device = torch.device(args.device)
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    if args.quick:  # the two settings of the CPU prototype (PROBLEMS.md C.3)
        configs, min_seconds = [(256, 512), (512, 256)], 0.2
    else:
        widths = args.widths or ([1024, 4096] if device.type == "cuda" else [256, 512, 1024])
        populations = args.populations or ([1024, 4096, 16384] if device.type == "cuda" else [256, 1024, 4096])
        configs, min_seconds = [(w, n) for w in widths for n in populations], args.min_seconds
    dtype = getattr(torch, args.dtype)
    rows = run(configs, args.batch, args.rank, device, dtype, min_seconds, args.max_noise_gb)
    print(f"device {device} ({torch.cuda.get_device_name(device) if device.type == 'cuda' else f'{args.threads} threads'}), "
          f"{args.dtype}, 3-layer tanh MLP, {args.batch} inputs per member, rank {args.rank}")
    print(f"{'width':>6} {'N':>6} {'method':>10} {'members/s':>12} {'of inference':>13} {'noise MB/layer':>15} {'peak MB':>9}")
    for r in rows:
        if r["skipped"]:
            print(f"{r['width']:>6} {r['population']:>6} {r['method']:>10} {'skipped':>12} {'':>13} {r['noise_mb']:>15.1f}")
            continue
        peak = "-" if math.isnan(r["peak_mb"]) else f"{r['peak_mb']:.0f}"
        print(f"{r['width']:>6} {r['population']:>6} {r['method']:>10} {r['members_per_s']:>12,.0f} {r['ratio']:>12.1%} "
              f"{r['noise_mb']:>15.1f} {peak:>9}")
    summary = []
    for width, n in configs:
        cell = {r["method"]: r for r in rows if r["width"] == width and r["population"] == n and not r["skipped"]}
        low, full = cell.get("lowrank"), cell.get("fullrank")
        text = f"d={width} N={n}: lowrank {low['ratio']:.1%}" if low else f"d={width} N={n}: lowrank -"
        if full:
            text += f", fullrank {full['ratio']:.1%}, lowrank/fullrank {low['members_per_s'] / full['members_per_s']:.1f}x"
        summary.append(text)
    print("ratios to inference: " + "; ".join(summary))


if __name__ == "__main__":
    main()
