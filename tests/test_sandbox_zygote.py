"""The warm fork-server: faster starts with the same confinement, no secrets in the zygote, recovery.

The hostile suite (test_hostile.py) runs every attack against the warm variants too.
"""

from __future__ import annotations

import os
import signal
import statistics
import time

import pytest

from sandbox import FailureKind, Limits, CandidateFailure
from sandbox.process import ProcessSandbox
from sandbox.zygote import WarmProcessSandbox
from sandbox_backends import ROOT, assert_none_left

LIMITS = Limits(timeout_s=10.0, startup_timeout_s=30.0)
NUMPY = "import numpy as np\ndef f(x):\n    return float(np.sum(x))\n"


@pytest.fixture
def warm():
    sandbox = WarmProcessSandbox()
    yield sandbox
    sandbox.close()


def start_seconds(sandbox, source: str, times: int) -> float:
    samples = []
    for _ in range(times):
        started = time.perf_counter()
        with sandbox.start(source, LIMITS) as worker:
            assert worker.call("f", [1, 2]) == 3.0
            samples.append(time.perf_counter() - started)
    return statistics.median(samples)


def test_warm_start_skips_interpreter_and_numpy_import(warm, capsys):
    """A forked worker finds numpy imported already (the zygote's), a spawned one does not.

    Checked by what the worker holds, not by timing (timings are bench/sandbox_overhead.py's);
    the speed-up is printed for the record.
    """
    assert warm._warm() is not None, warm.zygote_error
    assert warm.zygote.preloaded == ["numpy"]
    probe = "import sys\nPRELOADED = 'numpy' in sys.modules\ndef f(x):\n    return PRELOADED\n"
    for sandbox, preloaded in ((warm, True), (ProcessSandbox(), False)):
        with sandbox.start(probe, LIMITS) as worker:
            assert worker.call("f", 0) is preloaded
    cold = start_seconds(ProcessSandbox(), NUMPY, 3)
    hot = start_seconds(warm, NUMPY, 3)
    with capsys.disabled():
        print(f"\n[zygote] start with numpy: warm {hot * 1e3:.1f} ms, spawned {cold * 1e3:.1f} ms")


def test_a_missing_preload_is_reported_and_workers_still_start():
    sandbox = WarmProcessSandbox(preload=("numpy", "evolve_no_such_module"))
    try:
        assert sandbox._warm() is not None
        assert sandbox.zygote.preloaded == ["numpy"] and "evolve_no_such_module" in sandbox.zygote.failed
        with sandbox.start("def f():\n    return 1\n", LIMITS) as worker:
            assert worker.call("f") == 1
    finally:
        sandbox.close()


def test_the_zygote_holds_no_secret(warm, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-zygote-test-secret")
    zygote = warm._warm()
    with open(f"/proc/{zygote._process.pid}/environ", "rb") as f:
        environ = f.read()
    assert b"sk-zygote-test-secret" not in environ and b"OPENAI_API_KEY" not in environ


def test_a_forked_worker_is_confined_like_a_spawned_one(warm):
    source = "import os\ndef who():\n    return [os.getuid(), os.getcwd(), sorted(os.environ)]\n"
    with warm.start(source, LIMITS) as worker:
        uid, cwd, env = worker.call("who")
        assert worker.network_isolated and cwd == worker.scratch
        assert set(env) - {"LANG", "LC_ALL", "TZ"} == {
            "PATH", "OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS", "PYTHONHASHSEED",
            "PYTHONDONTWRITEBYTECODE", "CUDA_VISIBLE_DEVICES", "HOME", "TMPDIR",
        }
        if ROOT:
            assert uid == worker.uid != 0


def test_a_dead_zygote_is_replaced_and_its_workers_still_die_on_close(warm):
    first = warm._warm()
    worker = warm.start("import time\ndef f():\n    return 1\n", LIMITS)
    os.kill(first._process.pid, signal.SIGKILL)
    first._process.wait()
    assert worker.call("f") == 1  # the worker does not depend on its zygote
    uid = worker.uid if ROOT else None
    worker.close()
    assert_none_left("", uid)
    with warm.start("def f():\n    return 2\n", LIMITS) as again:
        assert again.call("f") == 2
    assert warm.zygote is not first and warm.zygote.alive


def test_failures_are_classified_as_for_spawned_workers(warm):
    with warm.start("import os\ndef boom():\n    os._exit(3)\ndef hog():\n    x = bytearray(1 << 40)\n", LIMITS) as worker:
        with pytest.raises(CandidateFailure) as info:
            worker.call("boom")
        assert info.value.kind is FailureKind.CRASH and "code 3" in info.value.message
    with warm.start("def hog():\n    return bytearray(1 << 40)\n", LIMITS) as worker:
        with pytest.raises(CandidateFailure) as info:
            worker.call("hog")
        assert info.value.kind is FailureKind.MEMORY


def test_a_zygote_that_died_between_workers_costs_no_evaluation(warm):
    os.kill(warm._warm()._process.pid, signal.SIGKILL)
    warm.zygote._process.wait()
    with warm.start("def f():\n    return 3\n", LIMITS) as worker:  # not a SandboxError: replaced on the spot
        assert worker.call("f") == 3
