"""Honest limits: CPU time is charged per call, per-call and per-worker overrides, every call accounted.

CPU is burnt by CPU time (``time.process_time``), not wall time, so the tests mean the same
on a loaded machine; the budgets are small (1 s) so each test takes a few seconds at most.
The two tests of the mechanism run on every local variant (each sets RLIMIT_CPU up its own
way: preexec, zygote, bwrap); the rest of the contract is the worker program's and the
trusted side's, the same everywhere, and runs on the warm process variant.
"""

from __future__ import annotations

import dataclasses

import pytest

from evaluators import Candidate
from process_sandbox_helpers import failure_of, start
from sandbox import FailureKind, Limits
from sandbox_backends import make

BURN = """
import resource, time
def burn(seconds):
    began = time.process_time()
    while time.process_time() - began < seconds:
        pass
    return round(time.process_time() - began, 2)
def cpu_limit():
    return resource.getrlimit(resource.RLIMIT_CPU)
def memory_limit():
    return resource.getrlimit(resource.RLIMIT_AS)[0] >> 20
"""
ONE_SECOND = Limits(timeout_s=60.0, cpu_s=1.0, startup_timeout_s=60.0)


@pytest.fixture
def warm(request):
    return make(request, "process", {"warm": True})


def test_calls_adding_up_past_one_budget_do_not_kill_the_worker(sandbox):
    with start(sandbox, BURN, ONE_SECOND) as worker:
        used = [worker.call("burn", 0.3) for _ in range(4)]  # 1.2 s in all, each call within its 1 s
    assert all(0.3 <= u < 1.0 for u in used)


def test_a_call_over_its_cpu_budget_is_a_timeout_and_the_next_worker_is_fresh(sandbox):
    worker = start(sandbox, BURN, ONE_SECOND)
    with worker:
        worker.call("burn", 0.3)
        failure = failure_of(worker, "burn", 5)
    assert failure.kind is FailureKind.TIMEOUT and failure.message.startswith("the worker used up its CPU-time limit of 1 s")


def test_a_call_may_bring_its_own_budget(warm):
    with start(warm, BURN, ONE_SECOND) as worker:
        assert worker.call("burn", 1.2, limits=dataclasses.replace(ONE_SECOND, cpu_s=3.0)) >= 1.2
        assert worker.call("burn", 0.1) >= 0.1  # back to the worker's budget afterwards
        failure = failure_of(worker, "burn", 5, limits=dataclasses.replace(ONE_SECOND, cpu_s=1.0))
    assert failure.kind is FailureKind.TIMEOUT


def test_the_default_budget_follows_the_calls_own_timeout(warm):
    limits = Limits(timeout_s=0.5, startup_timeout_s=60.0)  # derived per call: timeout x cores + 1
    with start(warm, BURN, limits) as worker:
        soft, hard = worker.call("cpu_limit", timeout=30)
        short, _ = worker.call("cpu_limit")
    assert hard == -1  # RLIM_INFINITY: the soft limit can move per call
    assert soft >= limits.cpu_budget_s(30) > limits.cpu_budget_s() and short < soft


def test_the_start_up_has_its_own_budget(warm):
    source = BURN + "burn(1.2)  # at import: more than the per-call cpu_s\n"
    with start(warm, source, ONE_SECOND) as worker:
        assert worker.call("burn", 0.1) >= 0.1


def test_per_worker_limits_cannot_change_per_call(warm):
    with start(warm, BURN, ONE_SECOND) as worker:
        with pytest.raises(ValueError, match=r"limits\.memory_mb=4096 differs .*only timeout_s, cpu_s"):
            worker.call("burn", 0.0, limits=dataclasses.replace(ONE_SECOND, memory_mb=4096))
        assert worker.call("burn", 0.0) == 0.0


def test_limits_are_validated_with_the_field_named():
    with pytest.raises(ValueError, match="Limits.cpu_s must be positive"):
        Limits(cpu_s=0)
    with pytest.raises(ValueError, match="Limits.max_header_kb must be at least 1"):
        Limits(max_header_kb=0)
    assert Limits(max_message_mb=1).max_header_bytes == 1 << 20  # the header cap never exceeds the message cap
    assert Limits(cpu_s=2.5).cpu_budget_s(100) == 3 and Limits().cpu_budget_s(2) >= 3


def test_candidate_accounts_every_call_on_every_worker(warm):
    candidate = Candidate(BURN, warm, ONE_SECOND)
    assert candidate.call("burn", 0.05) >= 0.05
    after_call = candidate.total_call_seconds
    assert after_call > 0
    with candidate.worker() as worker:
        for _ in range(3):
            worker.call("burn", 0.05)
        inner_total = worker.stats.total_wall_s
    assert candidate.total_call_seconds == pytest.approx(after_call + inner_total)
    with candidate.worker() as worker, pytest.raises(ValueError):
        worker.call("burn", 0.0, limits=dataclasses.replace(ONE_SECOND, max_processes=3))  # refused before it starts
    assert candidate.total_call_seconds == pytest.approx(after_call + inner_total)


def test_candidate_limits_reach_the_worker(warm):
    candidate = Candidate(BURN, warm, ONE_SECOND)
    assert candidate.call("memory_limit", limits=dataclasses.replace(ONE_SECOND, memory_mb=700)) == 700
    with candidate.worker(limits=dataclasses.replace(ONE_SECOND, memory_mb=600)) as worker:
        assert worker.call("memory_limit") == 600
    soft, _ = candidate.call("cpu_limit", limits=dataclasses.replace(ONE_SECOND, cpu_s=40.0))
    assert soft >= 40
