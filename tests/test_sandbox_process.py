"""The ``process`` sandbox backend: calls, classified failures and lifecycle, with real workers.

Confinement (environment, network, uids, process limits, daemons) is in
``test_sandbox_confinement.py``. On this project's machines and CI the suites run as root.
"""

from __future__ import annotations

import gc
import os
import statistics
import time

import numpy as np
import pytest

from process_sandbox_helpers import FAST, alive, assert_nothing_left, failure_of, start
from sandbox import CandidateFailure, FailureKind, Limits, Sandbox, SandboxError, Worker, get_sandbox, syscalls
from sandbox.process import ProcessSandbox


# ----------------------------------------------------------------------------- normal calls


def test_calls_cross_arrays_and_values_both_ways(sandbox):
    source = """
        import numpy as np
        def stats(x, *, scale=1.0):
            return {"mean": float(x.mean()) * scale, "scaled": x * scale, "shape": x.shape, "n": np.int64(x.size)}
    """
    with start(sandbox, source) as worker:
        x = np.arange(12, dtype=np.float32).reshape(3, 4)
        out = worker.call("stats", x, scale=2.0)
        assert out["mean"] == pytest.approx(11.0) and out["shape"] == [3, 4] and out["n"] == 12
        assert out["scaled"].dtype == np.float32
        np.testing.assert_array_equal(out["scaled"], x * 2)
        assert worker.stats.calls == 1 and 0 < worker.stats.wall_s == worker.stats.total_wall_s


def test_large_arguments_and_results_stream_both_ways(sandbox):
    source = """
        import sys
        def double(x):
            print("x" * 200_000, file=sys.stderr)  # output that must be drained meanwhile
            return x * 2
    """
    with start(sandbox, source) as worker:
        x = np.random.default_rng(1).standard_normal(2 << 20)  # 16 MiB: far beyond a pipe buffer
        np.testing.assert_array_equal(worker.call("double", x), x * 2)
        assert worker.output().count("x") == 200_000


def test_prints_are_captured_and_never_corrupt_the_protocol(sandbox):
    source = """
        import os, sys
        def noisy(i):
            print("out", i)
            print("err", i, file=sys.stderr)
            os.write(1, b"raw\\n")
            return i * 2
    """
    with start(sandbox, source) as worker:
        assert [worker.call("noisy", i) for i in range(3)] == [0, 2, 4]
        text = worker.output()
    for i in range(3):
        assert f"out {i}\n" in text and f"err {i}\n" in text
    assert text.count("raw\n") == 3


def test_thousands_of_calls_on_one_worker(sandbox, capsys):
    with start(sandbox, "def inc(x):\n    return x + 1\n") as worker:
        times = []
        for i in range(5000):
            began = time.perf_counter()
            assert worker.call("inc", i) == i + 1
            times.append(time.perf_counter() - began)
        assert worker.stats.calls == 5000
    with capsys.disabled():
        print(f"\n[process sandbox] median call round-trip over 5000 calls: {statistics.median(times) * 1e6:.1f} us")


def test_forked_copy_of_the_worker_never_answers(sandbox):
    source = """
        import os
        ROLE = "parent" if os.fork() else "child"  # a copy that also finishes the import
        def fork_and_return():
            return "parent" if os.fork() else "child"
        def role():
            return ROLE
    """
    with start(sandbox, source) as worker:
        assert [worker.call("fork_and_return") for _ in range(20)] == ["parent"] * 20
        assert [worker.call("role") for _ in range(20)] == ["parent"] * 20


# --------------------------------------------------------------------- candidate failures


def test_exception_keeps_worker_usable_and_shows_only_candidate_frames(sandbox):
    source = """
        def helper(x):
            return 1 / x

        def divide(x):
            return helper(x)
    """
    with start(sandbox, source) as worker:
        failure = failure_of(worker, "divide", 0)
        assert failure.kind is FailureKind.EXCEPTION
        assert 'File "candidate.py", line 3, in helper' in failure.message
        assert 'File "candidate.py", line 6, in divide' in failure.message
        assert failure.message.rstrip().endswith("ZeroDivisionError: division by zero")
        assert "worker_main" not in failure.message
        assert worker.call("divide", 4) == 0.25


def test_missing_function_is_an_exception(sandbox):
    with start(sandbox, "x = 1\n") as worker:
        failure = failure_of(worker, "solve")
        assert failure.kind is FailureKind.EXCEPTION and "has no attribute 'solve'" in failure.message
        assert failure_of(worker, "x").kind is FailureKind.EXCEPTION  # not callable


def test_unencodable_result_is_invalid_output_and_worker_stays_usable(sandbox):
    with start(sandbox, "def bad():\n    return [1, {'x': {1, 2}}]\n\ndef good():\n    return 'ok'\n") as worker:
        failure = failure_of(worker, "bad")
        assert failure.kind is FailureKind.INVALID_OUTPUT
        assert "result[1]['x']: object of type set" in failure.message
        assert worker.call("good") == "ok"


def test_syntax_error_fails_start_with_line(sandbox):
    with pytest.raises(CandidateFailure) as info:
        start(sandbox, "def f(:\n    return 1\n")
    assert info.value.kind is FailureKind.SYNTAX
    assert "line 1" in info.value.message and "SyntaxError" in info.value.message


def test_exception_at_import_fails_start(sandbox):
    with pytest.raises(CandidateFailure) as info:
        start(sandbox, "import json\nCONFIG = json.loads('{')\n")
    assert info.value.kind is FailureKind.EXCEPTION
    assert "importing the candidate raised" in info.value.message
    assert 'File "candidate.py", line 2' in info.value.message and "JSONDecodeError" in info.value.message


def test_slow_import_is_a_startup_timeout(sandbox):
    with pytest.raises(CandidateFailure) as info:
        start(sandbox, "import time\ntime.sleep(60)\n", Limits(startup_timeout_s=1.0))
    assert info.value.kind is FailureKind.TIMEOUT and "start-up" in info.value.message


def test_infinite_loop_times_out_and_leaves_nothing(sandbox):
    worker = start(sandbox, "def spin():\n    while True:\n        pass\n\ndef ok():\n    return 1\n", Limits(timeout_s=1.0))
    began = time.monotonic()
    failure = failure_of(worker, "spin")
    elapsed = time.monotonic() - began
    assert failure.kind is FailureKind.TIMEOUT and failure.message == "call to spin exceeded 1.0 s"
    assert 1.0 <= elapsed  # no upper bound: a loaded machine may take longer to notice and kill
    assert_nothing_left(worker)
    dead = failure_of(worker, "ok")
    assert dead.kind is FailureKind.CRASH and dead.message.startswith("worker is dead: timeout: call to spin exceeded")
    worker.close()
    assert not os.path.exists(worker.scratch)


def test_per_call_timeout_overrides_the_limit(sandbox):
    with start(sandbox, "import time\ndef nap(s):\n    time.sleep(s)\n") as worker:
        worker.call("nap", 0.01, timeout=2.0)
        failure = failure_of(worker, "nap", 5, timeout=0.2)
        assert failure.kind is FailureKind.TIMEOUT and failure.message == "call to nap exceeded 0.2 s"


def test_cpu_time_limit_is_a_timeout(sandbox):
    worker = start(sandbox, "def spin():\n    while True:\n        pass\n", Limits(timeout_s=20.0, cpu_s=1))
    with worker:
        failure = failure_of(worker, "spin")
    assert failure.kind is FailureKind.TIMEOUT and "CPU-time limit of 1 s" in failure.message


def test_memory_hog_is_memory(sandbox):
    source = "def hog():\n    block = bytearray(8 << 30)\n    return len(block)\n"
    worker = start(sandbox, source, Limits(memory_mb=512))
    failure = failure_of(worker, "hog")
    assert failure.kind is FailureKind.MEMORY and "limit 512 MB" in failure.message and "MemoryError" in failure.message
    assert_nothing_left(worker)
    worker.close()


def test_exit_mid_call_is_a_crash(sandbox):
    worker = start(sandbox, "import os\ndef leave():\n    os._exit(0)\n")
    failure = failure_of(worker, "leave")
    assert failure.kind is FailureKind.CRASH and failure.message == "the worker exited with code 0 during call to leave"
    assert_nothing_left(worker)
    worker.close()


def test_segfault_is_a_crash_with_the_fault_in_the_output(sandbox):
    worker = start(sandbox, "import ctypes\ndef segv():\n    return ctypes.string_at(0)\n")
    with worker:
        failure = failure_of(worker, "segv")
    assert failure.kind is FailureKind.CRASH and "killed by signal SIGSEGV" in failure.message
    assert "Segmentation fault" in failure.output  # faulthandler's report, captured


def test_print_flood_is_a_sandbox_violation_keeping_the_tail(sandbox):
    source = "def flood():\n    i = 0\n    while True:\n        print(i, 'x' * 100)\n        i += 1\n"
    worker = start(sandbox, source, Limits(max_output_bytes=64 * 1024))
    failure = failure_of(worker, "flood")
    assert failure.kind is FailureKind.SANDBOX_VIOLATION and "max_output_bytes=65536" in failure.message
    text = worker.output()
    assert len(text.encode()) == 64 * 1024 and not text.startswith("0 ")  # the tail, not the head
    assert_nothing_left(worker)
    worker.close()


def test_oversized_reply_is_a_sandbox_violation(sandbox):
    source = "import numpy as np\ndef big():\n    return np.zeros(1 << 18)\n"  # 2 MiB
    worker = start(sandbox, source, Limits(max_message_mb=1))
    failure = failure_of(worker, "big")
    assert failure.kind is FailureKind.SANDBOX_VIOLATION and "max_message_mb=1" in failure.message
    worker.close()


def test_garbage_on_the_reply_pipe_is_a_broken_protocol_crash(sandbox):
    source = """
        import os
        def forge():
            for fd in [int(n) for n in os.listdir("/proc/self/fd")]:  # the reply pipe is one; junk to all
                if fd < 3:
                    continue
                try:
                    os.write(fd, b"JUNK" * 8)
                except OSError:
                    pass
            return 1
    """
    worker = start(sandbox, source)
    with worker:
        failure = failure_of(worker, "forge")
    assert failure.kind is FailureKind.CRASH and "broken protocol" in failure.message


# -------------------------------------------------------------------------------- lifecycle


def test_close_is_idempotent_and_calls_after_close_are_refused(sandbox):
    worker = start(sandbox, "def f():\n    return 1\n")
    worker.close()
    worker.close()
    assert_nothing_left(worker)
    assert not os.path.exists(worker.scratch)
    with pytest.raises(RuntimeError, match="closed worker"):
        worker.call("f")


def test_forgotten_worker_is_killed_by_its_finalizer(sandbox):
    worker = start(sandbox, "def f():\n    return 1\n")
    pid, scratch = worker.pid, worker.scratch
    del worker
    gc.collect()
    assert not alive(pid) and not os.path.exists(scratch)


def test_unreachable_interpreter_is_a_sandbox_error_not_a_candidate_failure(tmp_path):
    sandbox = ProcessSandbox(python=str(tmp_path / "no-such-python"))
    with pytest.raises(SandboxError, match="could not start a worker"):
        sandbox.start("x = 1", FAST)


def test_get_sandbox_returns_a_process_backend_meeting_the_protocols():
    backend = get_sandbox("process")
    assert isinstance(backend, Sandbox) and backend.name == "process"
    assert backend.info().available == syscalls.AVAILABLE
    with start(backend, "x = 1\n") as worker:
        assert isinstance(worker, Worker)


def test_oversized_arguments_are_the_callers_error(sandbox):
    with start(sandbox, "def f(x):\n    return 0\n", Limits(max_message_mb=1)) as worker:
        with pytest.raises(ValueError, match="over max_message_mb=1"):
            worker.call("f", np.zeros(1 << 18))
        with pytest.raises(TypeError, match=r"f\['args'\]\[0\]: object of type set"):
            worker.call("f", {1})
        assert worker.call("f", 1) == 0
