"""Per-call and per-start overhead of each sandbox backend, against a bare subprocess, in one run.

    python bench/sandbox_overhead.py [--starts 30] [--calls 2000] [--backends process,bwrap,...]

Two numbers per backend, each as median and p90 over repeated trials:

* start: from ``sandbox.start(source)`` to the first call's return, for a candidate that
  imports numpy (what most candidates do) and one that imports nothing; "warm" variants
  fork workers from a zygote that imported numpy already;
* call: one round trip of a no-op call on a live worker (``f(x) -> x``), i.e. the cost of
  crossing the boundary that a light function pays per call.

The baseline "bare" runs the same two measurements without any sandbox: ``subprocess.Popen``
of the same interpreter (same thread settings) with the same candidate source, first reply
over a pipe, and a line-echo round trip over pipes: what a peer that runs candidates in a
bare subprocess pays. Docker is measured when a daemon answers (``DOCKER_HOST``)
and the image exists; otherwise the line says why it was skipped.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Callable

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sandbox import Limits  # noqa: E402

NUMPY_SOURCE = "import numpy as np\ndef f(x):\n    return x\n"
PLAIN_SOURCE = "def f(x):\n    return x\n"
LIMITS = Limits(timeout_s=30.0, startup_timeout_s=60.0)
#: The sandbox's thread settings, so numpy's start-up costs the same in the baseline.
BARE_ENV = {**os.environ, "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
BARE_SERVER = (
    "import sys\n{source}\nsys.stdout.write('ready\\n'); sys.stdout.flush()\n"
    "for line in sys.stdin:\n    sys.stdout.write(line); sys.stdout.flush()\n"
)


def percentiles(samples: list[float]) -> tuple[float, float]:
    ordered = sorted(samples)
    return statistics.median(ordered), ordered[min(len(ordered) - 1, int(round(0.9 * (len(ordered) - 1))))]


def make_sandbox(name: str):
    """The sandbox for a variant name, or raise RuntimeError saying why it cannot run here."""
    if name == "process":
        from sandbox.process import ProcessSandbox

        return ProcessSandbox()
    if name == "process-warm":
        from sandbox.zygote import WarmProcessSandbox

        sandbox = WarmProcessSandbox()
    elif name == "bwrap":
        from sandbox.bwrap import BwrapSandbox

        sandbox = BwrapSandbox()
    elif name == "bwrap-warm":
        from sandbox.bwrap import WarmBwrapSandbox

        sandbox = WarmBwrapSandbox()
    elif name == "docker":
        from sandbox.docker_backend import DockerSandbox

        sandbox = DockerSandbox()
    else:
        raise RuntimeError(f"unknown variant {name!r}")
    info = sandbox.info()
    if not info.available:
        raise RuntimeError(info.reason)
    if name.endswith("-warm"):
        started = time.perf_counter()
        if sandbox._warm() is None:
            raise RuntimeError(f"zygote unavailable: {sandbox.zygote_error}")
        print(f"  {name}: zygote started in {1000 * (time.perf_counter() - started):.0f} ms (numpy preloaded)")
    try:  # installed is not working: a backend that cannot start a worker here is reported, not measured
        with sandbox.start(PLAIN_SOURCE, LIMITS) as worker:
            worker.call("f", 1)
    except Exception as exc:
        if hasattr(sandbox, "close"):
            sandbox.close()
        raise RuntimeError(f"a worker does not start: {exc}") from None
    return sandbox


def sandbox_start(sandbox, source: str) -> Callable[[], float]:
    def trial() -> float:
        started = time.perf_counter()
        worker = sandbox.start(source, LIMITS)
        try:
            worker.call("f", 1)
            return time.perf_counter() - started
        finally:
            worker.close()

    return trial


def sandbox_calls(sandbox, calls: int) -> list[float]:
    samples = []
    with sandbox.start(PLAIN_SOURCE, LIMITS) as worker:
        for i in range(calls):
            started = time.perf_counter()
            worker.call("f", i)
            samples.append(time.perf_counter() - started)
    return samples


def bare_start(source: str) -> Callable[[], float]:
    def trial() -> float:
        started = time.perf_counter()
        proc = subprocess.Popen([sys.executable, "-S", "-c", BARE_SERVER.format(source=_with_site(source))],
                                stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=BARE_ENV)
        assert proc.stdout is not None and proc.stdin is not None
        proc.stdout.readline()
        elapsed = time.perf_counter() - started
        proc.stdin.close()
        proc.wait()
        return elapsed

    return trial


def bare_calls(calls: int) -> list[float]:
    proc = subprocess.Popen([sys.executable, "-S", "-c", BARE_SERVER.format(source="")],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    assert proc.stdout is not None and proc.stdin is not None
    proc.stdout.readline()
    samples = []
    for i in range(calls):
        started = time.perf_counter()
        proc.stdin.write(b"%d\n" % i)
        proc.stdin.flush()
        proc.stdout.readline()
        samples.append(time.perf_counter() - started)
    proc.stdin.close()
    proc.wait()
    return samples


def _with_site(source: str) -> str:
    """Under -S, put site-packages on sys.path as the sandbox worker does (numpy lives there)."""
    return "import site, sys\nsys.path.extend(site.getsitepackages())\n" + source


def row(name: str, start_np: list[float], start_plain: list[float], calls: list[float]) -> str:
    a, b = percentiles(start_np)
    c, d = percentiles(start_plain)
    e, f = percentiles(calls)
    return f"{name:<14} {1e3 * a:8.1f} {1e3 * b:8.1f}   {1e3 * c:8.1f} {1e3 * d:8.1f}   {1e6 * e:8.0f} {1e6 * f:8.0f}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--starts", type=int, default=30, help="worker starts per variant (docker: a third)")
    parser.add_argument("--calls", type=int, default=2000, help="calls on one live worker per variant")
    parser.add_argument("--backends", default="process,process-warm,bwrap,bwrap-warm,docker")
    args = parser.parse_args(argv)
    print(f"python {sys.version.split()[0]}, {os.cpu_count()} cpus, uid {os.geteuid()}; preparing:")
    variants = {}
    for name in args.backends.split(","):
        try:
            variants[name] = make_sandbox(name)
        except Exception as exc:  # a missing backend is reported, not fatal
            print(f"  {name}: skipped: {exc}")
    header = f"{'variant':<14} {'start+numpy ms':>17}   {'start plain ms':>17}   {'call us':>17}"
    lines = [header, f"{'':<14} {'median':>8} {'p90':>8}   {'median':>8} {'p90':>8}   {'median':>8} {'p90':>8}"]
    lines.append(row("bare", _repeat(bare_start(NUMPY_SOURCE), args.starts), _repeat(bare_start(PLAIN_SOURCE), args.starts),
                     bare_calls(args.calls)))
    for name, sandbox in variants.items():
        starts = max(3, args.starts // 3) if name == "docker" else args.starts
        try:
            lines.append(row(name, _repeat(sandbox_start(sandbox, NUMPY_SOURCE), starts),
                             _repeat(sandbox_start(sandbox, PLAIN_SOURCE), starts), sandbox_calls(sandbox, args.calls)))
        except Exception as exc:  # one failing backend must not hide the others' figures
            lines.append(f"{name:<14} failed: {type(exc).__name__}: {str(exc).splitlines()[0][:120]}")
        finally:
            if hasattr(sandbox, "close"):
                sandbox.close()
    print("\n".join(lines))
    return 0


def _repeat(trial: Callable[[], float], times: int) -> list[float]:
    trial()  # warm the page cache and any lazy set-up; not counted
    return [trial() for _ in range(times)]


if __name__ == "__main__":
    sys.exit(main())
