"""The engine's added latency per LLM call, measured against the loopback server.

For N rounds, on one event loop and one loopback server answering instantly with a valid
diff, time (a) a raw openai SDK call with the same messages, and (b) a whole
``LLMProposer.propose`` (bandit, prompt building, budget reservation, the same SDK call,
accounting, reply parsing and edit application). The engine's overhead per call is
(b) - (a); the server's own time is in both and cancels out. Also printed: prompt building
and parse/apply alone, which are pure CPU.

    python bench/llm_overhead.py [--rounds 200]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]

import openai  # noqa: E402

from evolve.edits import apply_reply  # noqa: E402
from evolve.config.llm import EditWeights, LLMConfig, ModelSpec  # noqa: E402
from evolve.proposers.llm.prompt import build_messages  # noqa: E402
from evolve.proposers.llm.proposer import LLMProposer  # noqa: E402
from evolve.proposers.base import ProblemBrief, ProgramView, ProposalContext  # noqa: E402
from llm_reply_corpus import CORPUS, PARENT  # noqa: E402
from llm_server import LLMServer, Reply  # noqa: E402

REPLY = dict((name, reply) for name, _, reply in CORPUS)["diff in python fence"]


def context(seed: int) -> ProposalContext:
    inspiration = ProgramView(2, PARENT.replace("0.3 *", "0.29 *"), 0.97, {"sum_of_radii": 0.97}, "valid")
    return ProposalContext(
        ProblemBrief("circle_packing", "Pack 26 circles in the unit square.", "sum_of_radii", True),
        ProgramView(1, PARENT, 0.96, {"sum_of_radii": 0.96}, "valid packing"), (inspiration,), 0, seed,
    )


def ms(values: list[float]) -> str:
    return f"median {statistics.median(values) * 1e3:7.3f} ms  p90 {sorted(values)[int(len(values) * 0.9)] * 1e3:7.3f} ms"


async def measure(rounds: int) -> None:
    with LLMServer(responder=lambda _req: Reply(REPLY, prompt_tokens=1500, completion_tokens=120)) as server:
        config = LLMConfig(
            models=[ModelSpec(name="openai/loopback-model", price_in_per_m=0.15, price_out_per_m=0.6)],
            api_base=server.base_url, edit_weights=EditWeights(diff=1, rewrite=0, crossover=0), max_cost=1e6,
        )
        proposer = LLMProposer(config)
        raw = openai.AsyncOpenAI(api_key="unused", base_url=server.base_url, max_retries=0)
        messages = build_messages(context(0), "diff")
        raw_s, proposal_s, build_s, apply_s = [], [], [], []
        for i in range(rounds + 10):  # the first 10 warm up connections and imports
            started = time.perf_counter()
            await raw.chat.completions.create(model="loopback-model", messages=messages, temperature=0.8, timeout=30)
            middle = time.perf_counter()
            proposal = await proposer.propose(context(i))
            done = time.perf_counter()
            assert proposal.ok, proposal.error
            started_build = time.perf_counter()
            build_messages(context(i), "diff")
            built = time.perf_counter()
            apply_reply(PARENT, REPLY)
            applied = time.perf_counter()
            if i >= 10:
                raw_s.append(middle - started)
                proposal_s.append(done - middle)
                build_s.append(built - started_build)
                apply_s.append(applied - built)
        await raw.close()
        await proposer.aclose()
        added = [p - r for p, r in zip(proposal_s, raw_s)]
        print(f"rounds: {rounds}, prompt {len(messages[1]['content'])} chars, reply {len(REPLY)} chars")
        print(f"raw openai SDK call      {ms(raw_s)}")
        print(f"LLMProposer.propose      {ms(proposal_s)}")
        print(f"added by the engine      median {statistics.median(added) * 1e3:7.3f} ms "
              f"(ratio {statistics.median(proposal_s) / statistics.median(raw_s):.2f}x of a loopback call)")
        print(f"  of which prompt build  {ms(build_s)}")
        print(f"  of which parse+apply   {ms(apply_s)}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=200)
    asyncio.run(measure(parser.parse_args().rounds))


if __name__ == "__main__":
    main()
