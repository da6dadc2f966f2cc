"""Does the engine stay out of the way? Candidates/s against the bound min(C/L, evaluation capacity).

Set-up, all in this one run on this machine:

- the proposer is the real LLM path (``LLMProposer``, its HTTP client, prompt building,
  reply parsing and applying) against the loopback OpenAI-compatible server of
  ``tests/llm_server.py``, run in a *separate process* so that its CPU is not charged to
  the controller; every reply arrives after L seconds and rewrites the EVOLVE-BLOCK into a
  new, unique program;
- the evaluator does zero work: an in-process executor that scores a program from its
  text's hash, so the evaluation capacity is unbounded and the bound is C/L, with C =
  ``max_concurrent_proposals``;
- the run database is first seeded with N evaluated programs (N = 100, 1,000, 10,000),
  so the archive, the duplicate index and the novelty index are those of a run that far
  along.

Per archive size it prints candidates/s in the steady state (completions after the first
L seconds, which only fill the pipeline), its ratio to C/L, and the controller's CPU time
per candidate (``time.process_time`` of this process, which is the controller alone).
``--mutator`` measures the built-in mutator instead of the LLM (no server, no latency):
only the controller CPU per candidate is meaningful then. ``--startup`` times ``evolve
run`` from the process start to its first committed evaluation (built-in mutator).

    python bench/throughput.py                        # C=64, L=0.5 s, N = 100, 1000, 10000
    python bench/throughput.py --quick                # C=64 ratio on the last line, < 2 minutes
    python bench/throughput.py --concurrency 4 16 64 --latency 0.5
    python bench/throughput.py --mutator --sizes 100 1000 10000
    python bench/throughput.py --startup
    python bench/throughput.py --resume 100000        # resume's rebuild: full replay vs checkpoint
"""

from __future__ import annotations

import argparse
import asyncio
import glob
import hashlib
import json
import os
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from evolve.evaluation import EvaluationRequest  # noqa: E402
from evolve.loop.controller import Controller  # noqa: E402
from evolve.problem import load_problem  # noqa: E402
from evolve.proposers import build_proposer  # noqa: E402
from evolve.records import EvaluationResult  # noqa: E402
from evolve.store.run import create_run  # noqa: E402

PROBLEM_TOML = """
[problem]
name = "zero"
description = "Return a number from guess(); the bench scores programs by their hash."

[objective]
name = "score"
direction = "maximize"

[[features]]
name = "x"
min = 0.0
max = 1.0
bins = 10

[[features]]
name = "y"
min = 0.0
max = 1.0
bins = 10

[run]
budget = 100

[search]
islands = 4

[llm]
edit_weights = { diff = 0.0, rewrite = 1.0, crossover = 0.0 }
retries = 0
timeout_s = 60

[[llm.models]]
name = "openai/loopback-model"
price_in_per_m = 0.0
price_out_per_m = 0.0
"""
HELPERS = "\n".join(f"def helper_{i}(x):\n    return x * {i} + {i / 7:.4f}\n" for i in range(30))
INITIAL = f'''"""The bench's program: a guess, plus helpers so that prompts have a realistic size."""

{HELPERS}
# EVOLVE-BLOCK-START
def guess():
    return 0.5
# EVOLVE-BLOCK-END


def run():
    return guess()
'''
EVALUATE = "from evaluators import Evaluation\n\ndef evaluate(candidate):\n    return Evaluation(score=0.0)\n"


def _unit(text: str, salt: str) -> float:
    return int.from_bytes(hashlib.blake2b(f"{salt}:{text}".encode(), digest_size=8).digest(), "big") / 2**64


class ZeroWorkExecutor:
    """Scores a program from its text's hash, instantly, in this process."""

    async def evaluate(self, request: EvaluationRequest) -> EvaluationResult:
        code = request.code
        return EvaluationResult(ok=True, score=_unit(code, "s"), features={"x": _unit(code, "x"), "y": _unit(code, "y")})

    def close(self) -> None:
        pass


def make_problem(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "problem.toml").write_text(PROBLEM_TOML)
    (folder / "initial.py").write_text(INITIAL)
    (folder / "evaluate.py").write_text(EVALUATE)
    return folder


def program_text(value: float) -> str:
    return INITIAL.replace("    return 0.5\n", f"    return {value!r}\n", 1)


def seed_database(db_path: Path, programs: int) -> None:
    """Append ``programs`` evaluated programs (after the seed) straight into the run's tables."""
    db = sqlite3.connect(db_path)
    now = time.time()
    with db:
        for i in range(2, programs + 2):
            code = program_text(i / 1e6)
            db.execute(
                "INSERT INTO proposals(id, created_at, island, parent_id, inspiration_ids, proposer, kind, outcome, message,"
                " summary, latency_s, program_id) VALUES (?,?,?,?,?,?,?,?,?,?,?,?)",
                (i, now, i % 4, 1, "[]", "seeded", "rewrite", "candidate", "", "", 0.0, i),
            )
            db.execute(
                "INSERT INTO programs(id, created_at, proposal_id, parent_id, island, generation, proposer, kind, code, code_hash)"
                " VALUES (?,?,?,?,?,?,?,?,?,?)",
                (i, now, i, 1, i % 4, 1, "seeded", "rewrite", code, hashlib.sha256(code.encode()).hexdigest()),
            )
            db.execute(
                "INSERT INTO evaluations(program_id, created_at, ok, score, metrics, features, feedback, failure_message,"
                " output, duration_s, candidate_s) VALUES (?,?,?,?,?,?,?,?,?,?,?)",
                (i, now, 1, _unit(code, "s"), "{}", json.dumps({"x": _unit(code, "x"), "y": _unit(code, "y")}), "", "", "",
                 0.0, 0.0),
            )
    db.close()


SERVER = """
import itertools, sys, time
sys.path.insert(0, {tests!r})
from http.server import ThreadingHTTPServer
ThreadingHTTPServer.request_queue_size = 1024  # socketserver's default backlog of 5 drops concurrent connects
from llm_server import LLMServer, Reply
latency = float(sys.argv[1])
counter = itertools.count(1)
def respond(request):
    n = next(counter)
    return Reply("A new guess.\\n```python\\ndef guess():\\n    return %r\\n```\\n" % (1.0 + n * 1e-9), delay_s=latency)
with LLMServer(responder=respond) as server:
    print(server.base_url, flush=True)
    sys.stdin.read()
"""


class LoopbackServer:
    """tests/llm_server.py in its own process (so its CPU is not the controller's), L seconds per reply."""

    def __init__(self, latency: float) -> None:
        code = SERVER.format(tests=str(ROOT / "tests"))
        self.process = subprocess.Popen([sys.executable, "-c", code, str(latency)], stdin=subprocess.PIPE,
                                        stdout=subprocess.PIPE, text=True)
        assert self.process.stdout is not None
        self.base_url = self.process.stdout.readline().strip()

    def close(self) -> None:
        assert self.process.stdin is not None
        self.process.stdin.close()
        self.process.wait(10)


def measure(folder: Path, out: Path, size: int, candidates: int, concurrency: int, latency: float,
            base_url: str | None) -> dict[str, float]:
    """One run: seed to ``size`` programs, then evaluate ``candidates`` more; rate, ratio and CPU."""
    problem = load_problem(folder)
    config = problem.config.with_overrides(
        "run", budget=size + candidates, max_concurrent_proposals=concurrency, max_concurrent_evaluations=concurrency,
        max_failed_proposals_in_row=10_000,
    )
    if base_url is None:
        config = config.model_copy(update={"llm": config.llm.model_copy(update={"models": []})})
    else:
        models = [m.model_copy(update={"api_base": base_url}) for m in config.llm.models]
        config = config.model_copy(update={"llm": config.llm.model_copy(update={"models": models})})
    run = seeded_run(problem, config, out, size)
    os.environ.setdefault("OPENAI_API_KEY", "unused-loopback")
    marks: list[float] = []

    def observe(progress) -> None:  # CPU from the first proposal on: replay and seed excluded
        if progress.proposals and not marks:
            marks.append(time.process_time())

    controller = Controller(run, build_proposer(config), ZeroWorkExecutor(), observe)
    wall0 = time.perf_counter()
    asyncio.run(controller.run_loop())
    wall, cpu = time.perf_counter() - wall0, time.process_time() - marks[0]
    rows = run.db._db.execute("SELECT created_at FROM evaluations WHERE program_id > ? ORDER BY id", (size,)).fetchall()
    done = [r[0] for r in rows]
    run.close()
    start = done[0] if done else 0.0
    window = [t for t in done if t >= start + latency]
    steady = (len(window) - 1) / (window[-1] - window[0]) if len(window) > 2 else 0.0
    return {"evaluated": len(done), "wall_s": wall, "rate": steady, "cpu_ms": cpu / max(1, len(done) - 1) * 1e3}


def seeded_run(problem, config, out: Path, size: int):
    """A new run of ``problem`` whose database already holds ``size`` evaluated programs (the seed first)."""
    from evolve.store.database import RunDatabase

    run = create_run(problem, config, out)
    run.db.add_seed(problem.initial_code, island=0)
    run.db.add_evaluation(1, EvaluationResult(ok=True, score=0.0, features={"x": 0.5, "y": 0.5}))
    run.db.close()
    seed_database(run.directory / "evolve.db", size - 1)
    run.db = RunDatabase(run.directory / "evolve.db")
    return run


def resume_times(folder: Path, out: Path, size: int) -> tuple[float, float]:
    """Seconds to rebuild the controller's state of a ``size``-program run: full replay, then from the checkpoint."""
    from evolve.store.run import open_run

    problem = load_problem(folder)
    config = problem.config.model_copy(update={"llm": problem.config.llm.model_copy(update={"models": []})})
    run = seeded_run(problem, config, out, size)
    started = time.perf_counter()
    Controller(run, build_proposer(config), ZeroWorkExecutor()).replay()  # no checkpoint yet: full replay
    full = time.perf_counter() - started
    writer = Controller(run, build_proposer(config), ZeroWorkExecutor())
    writer.replay()
    writer.save_checkpoint()
    run.close()
    reopened = open_run(run.directory)
    started = time.perf_counter()
    Controller(reopened, build_proposer(reopened.config), ZeroWorkExecutor()).replay()
    fast = time.perf_counter() - started
    reopened.close()
    return full, fast


def startup(repeats: int) -> list[float]:
    """Seconds from launching ``evolve run`` (built-in mutator) to its first committed evaluation."""
    times = []
    problem = ROOT / "tests" / "fixture_problems" / "tiny"
    for _ in range(repeats):
        with tempfile.TemporaryDirectory() as out:
            launched = time.time()
            subprocess.run([sys.executable, "-m", "cli", "run", str(problem), "--budget", "1", "--plain", "--out", out],
                           cwd=ROOT, capture_output=True, check=True)
            db = sqlite3.connect(glob.glob(f"{out}/*/evolve.db")[0])
            first = db.execute("SELECT MIN(created_at) FROM evaluations").fetchone()[0]
            db.close()
            times.append(first - launched)
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--concurrency", "-C", type=int, nargs="+", default=[64])
    parser.add_argument("--latency", "-L", type=float, default=0.5)
    parser.add_argument("--sizes", type=int, nargs="+", default=[100, 1000, 10000])
    parser.add_argument("--seconds", type=float, default=8.0, help="target length of each measured run (at the bound)")
    parser.add_argument("--mutator", action="store_true", help="the built-in mutator instead of the loopback LLM")
    parser.add_argument("--candidates", type=int, default=500, help="candidates per run with --mutator")
    parser.add_argument("--quick", action="store_true", help="C=64 at 1,000 programs only; the ratio on the last line")
    parser.add_argument("--startup", action="store_true", help="time evolve run to its first evaluation instead")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--resume", type=int, metavar="N", help="time resume's rebuild of an N-program run instead")
    args = parser.parse_args()
    if args.resume:
        with tempfile.TemporaryDirectory() as tmp:
            full, fast = resume_times(make_problem(Path(tmp) / "zero"), Path(tmp) / "runs", args.resume)
        print(f"resume of {args.resume} programs: full replay {full:.2f} s, from the checkpoint {fast:.2f} s")
        return
    if args.startup:
        times = startup(args.repeats)
        print("startup to first evaluation (s): " + ", ".join(f"{t:.2f}" for t in times) + f"; best {min(times):.2f}")
        return
    if args.quick:
        args.concurrency, args.sizes, args.seconds = [64], [1000], 6.0
    print(f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores (a shared machine skews candidates/s, "
          "less so CPU per candidate)")
    with tempfile.TemporaryDirectory() as tmp:
        folder = make_problem(Path(tmp) / "zero")
        if args.mutator:
            for size in args.sizes:
                r = measure(folder, Path(tmp) / "runs", size, args.candidates, 4, 0.0, None)
                print(f"mutator  N={size:>6}  {r['evaluated']} candidates  controller CPU {r['cpu_ms']:.2f} ms/candidate")
            return
        server = LoopbackServer(args.latency)
        ratio = 0.0
        try:
            for concurrency in args.concurrency:
                bound = concurrency / args.latency
                for size in args.sizes:
                    candidates = max(50, int(bound * args.seconds))
                    r = measure(folder, Path(tmp) / "runs", size, candidates, concurrency, args.latency, server.base_url)
                    ratio = r["rate"] / bound
                    print(f"C={concurrency:<3} L={args.latency:g}s N={size:>6}  {r['rate']:7.1f} candidates/s"
                          f"  bound {bound:6.1f}  ratio {ratio:.2f}  controller CPU {r['cpu_ms']:.2f} ms/candidate", flush=True)
        finally:
            server.close()
        if args.quick:
            print(f"C=64 ratio to the bound: {ratio:.2f}")


if __name__ == "__main__":
    main()
