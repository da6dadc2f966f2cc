"""The hostile-candidate suite, run against every available sandbox backend variant.

Each case states the exact outcome: the failure kind (or the value) the trusted side gets,
and that no secret leaked, no score was forged and no process was left behind. The
candidate's code is ``hostile_candidate.py``; cases that attack the score go through the
real trusted path (``evolve.evaluation.evaluate_program``) with a real problem's evaluator.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import uuid
from pathlib import Path

import pytest

from evolve.evaluation import EvaluationRequest, evaluate_program
from process_sandbox_helpers import hidden_from_process_workers
from sandbox import CandidateFailure, FailureKind, Limits
from sandbox_backends import (
    ROOT,
    assert_none_left,
    backend_params,
    make,
    docker_env,
    sandbox_uid,
    variant_params,
    wait_for_processes,
)

TESTS = Path(__file__).resolve().parent
REPO = TESTS.parent
SOURCE = (TESTS / "hostile_candidate.py").read_text()
LIMITS = Limits(
    timeout_s=1.5,
    memory_mb=512,
    max_processes=32,
    max_file_mb=8,
    max_output_bytes=64 << 10,
    max_message_mb=16,
    startup_timeout_s=30.0,
    scratch_mb=32,
)
SECRET = "sk-evolve-test-" + uuid.uuid4().hex


@pytest.fixture(params=variant_params())
def sandbox(request):
    backend, options = request.param
    return make(request, backend, options)


@pytest.fixture
def worker(sandbox):
    worker = sandbox.start(SOURCE, LIMITS)
    yield worker
    worker.close()


@pytest.fixture
def marker() -> str:
    return "evolve-hostile-" + uuid.uuid4().hex


@pytest.fixture
def open_dir():
    """A world-traversable temp dir: what blocks the candidate must be the sandbox, not pytest's 0700 base."""
    path = Path(tempfile.mkdtemp(prefix="evolve-hostile-"))
    path.chmod(0o755)
    yield path
    shutil.rmtree(path, ignore_errors=True)


def failure(worker, function, *args, **kwargs) -> CandidateFailure:
    with pytest.raises(CandidateFailure) as info:
        worker.call(function, *args, **kwargs)
    return info.value


def closed_clean(worker, marker: str) -> None:
    uid = sandbox_uid(worker)
    worker.close()
    assert_none_left(marker, uid)


# ------------------------------------------------------------------------- resource attacks


def test_infinite_loop_is_a_timeout(worker, marker):
    assert failure(worker, "spin").kind is FailureKind.TIMEOUT
    closed_clean(worker, marker)


def test_fork_bomb_is_a_timeout_and_every_fork_dies(worker, marker):
    assert failure(worker, "fork_bomb").kind is FailureKind.TIMEOUT
    closed_clean(worker, marker)


def test_memory_bomb_is_a_memory_failure(worker, marker):
    # a generous timeout: on a loaded machine the bomb must not race the call's 1.5 s
    assert failure(worker, "memory_bomb", timeout=60).kind is FailureKind.MEMORY
    closed_clean(worker, marker)


def test_a_file_cannot_grow_past_max_file_mb(worker):
    caught = failure(worker, "fill_one_file", 64)
    assert caught.kind is FailureKind.EXCEPTION and "File too large" in caught.message
    assert worker.call("file_size", "big.bin") == LIMITS.max_file_mb << 20  # the worker survived, the file is capped


def test_many_files_fill_at_most_the_scratch_quota(sandbox, worker):
    state, written_mb, errno_ = worker.call("fill_many_files", 12, 4, timeout=30)  # 48 MB, each file under the cap
    if sandbox.name == "process":  # no quota on a plain directory: documented; removed at close
        assert (state, written_mb) == ("completed", 48)
    else:
        assert state == "stopped" and errno_ == 28 and written_mb <= LIMITS.scratch_mb  # ENOSPC at the tmpfs size


def test_stdout_flood_is_a_sandbox_violation(worker, marker):
    caught = failure(worker, "flood")
    assert caught.kind is FailureKind.SANDBOX_VIOLATION and "max_output_bytes" in caught.message
    assert len(caught.output.encode()) <= LIMITS.max_output_bytes
    closed_clean(worker, marker)


# ------------------------------------------------------------------------------- secrets


@pytest.mark.skipif(not ROOT, reason="without root the process backend runs as the user and can read the user's processes")
def test_environment_and_other_processes_leak_no_secret(worker, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", SECRET)
    monkeypatch.setenv("EVOLVE_DATABASE_URL", SECRET)
    sibling = subprocess.Popen(  # a trusted process born with the secret in its environment
        [sys.executable, "-c", "import time; time.sleep(60)"], env={**os.environ, "ANTHROPIC_API_KEY": SECRET}
    )
    try:
        seen = worker.call("environment")
    finally:
        sibling.kill()
        sibling.wait()
    assert SECRET not in json.dumps(seen)
    assert "OPENAI_API_KEY" not in seen["self"] and seen["self"]["HOME"] != os.environ.get("HOME")


def test_home_keys_and_the_run_database_are_unreadable(worker, open_dir):
    home = open_dir / "home"
    (home / ".ssh").mkdir(parents=True, mode=0o700)
    (home / ".ssh" / "id_ed25519").write_text(SECRET)
    (home / ".ssh" / "id_ed25519").chmod(0o600)
    run_dir = open_dir / "runs" / "tiny-1"
    run_dir.mkdir(parents=True)
    run_dir.chmod(0o700)  # as evolve.store.run.create_run makes it
    (run_dir / "evolve.db").write_text(SECRET)
    paths = [str(home / ".ssh" / "id_ed25519"), str(run_dir / "evolve.db"), "~/.ssh/id_ed25519", "/root/.ssh/id_rsa"]
    seen = worker.call("read_files", paths)
    assert SECRET not in json.dumps(seen)
    assert all(value.startswith("denied:") for value in seen.values()), seen


def test_no_connection_reaches_a_loopback_server(worker):
    accepted = []
    tcp = socket.create_server(("127.0.0.1", 0))
    abstract_name = "evolve-hostile-" + uuid.uuid4().hex
    unix = socket.socket(socket.AF_UNIX)
    unix.bind("\0" + abstract_name)
    unix.listen()

    def serve(server):
        try:
            connection, _ = server.accept()
            accepted.append(connection.recv(16))
        except OSError:
            pass

    threads = [threading.Thread(target=serve, args=(s,), daemon=True) for s in (tcp, unix)]
    for thread in threads:
        thread.start()
    try:
        outcome = worker.call("connect", tcp.getsockname()[1], abstract_name)
    finally:
        for s in (tcp, unix):
            s.close()
        for thread in threads:
            thread.join(2)
    assert accepted == []
    assert all(result.startswith("blocked:") for result in outcome), outcome


# ---------------------------------------------------------------------- process lifetime


def test_a_detached_daemon_does_not_outlive_the_worker(worker, marker):
    assert worker.call("spawn_daemon", marker) == "up"
    assert wait_for_processes(marker), "the daemon never started: this test would prove nothing"
    closed_clean(worker, marker)


def test_a_child_sleeping_past_the_timeout_is_killed(worker, marker):
    assert failure(worker, "child_outlives", marker).kind is FailureKind.TIMEOUT
    assert_none_left(marker)  # already at the failure, not only at close
    closed_clean(worker, marker)


def test_exit_mid_call_is_a_crash(worker, marker):
    caught = failure(worker, "exit_now")
    assert caught.kind is FailureKind.CRASH and "code 0" in caught.message
    assert failure(worker, "spin").kind is FailureKind.CRASH  # dead workers stay dead
    closed_clean(worker, marker)


def test_ignoring_sigterm_does_not_survive_the_timeout(worker, marker):
    assert failure(worker, "stubborn", marker).kind is FailureKind.TIMEOUT
    closed_clean(worker, marker)


@pytest.mark.skipif(not ROOT, reason="without root the process backend shares the user's uid and may signal its processes")
def test_the_candidate_can_kill_nothing_outside(worker, marker):
    sibling = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        assert worker.call("kill_everyone") == 0
        assert sibling.poll() is None
    finally:
        sibling.kill()
        sibling.wait()
    closed_clean(worker, marker)


def test_stopped_clocks_do_not_shorten_the_measured_time(worker):
    assert worker.call("fake_clock", 0.3) == 0
    assert worker.stats.wall_s >= 0.3


def test_the_evaluator_packages_are_not_importable(worker):
    assert worker.call("imports", ["evolve", "evaluators", "evolve.evaluation", "cli", "problems"]) == {
        "evolve": "ModuleNotFoundError",
        "evaluators": "ModuleNotFoundError",
        "evolve.evaluation": "ModuleNotFoundError",
        "cli": "ModuleNotFoundError",
        "problems": "ModuleNotFoundError",
    }


# ------------------------------------------------------------- forging the score (end to end)


def evaluate(problem: Path, code: str, backend: str, limits: Limits = LIMITS):
    return evaluate_program(EvaluationRequest(problem_dir=str(problem), code=code, limits=limits, sandbox=backend))


@pytest.fixture(params=backend_params())
def backend(request) -> str:
    if request.param == "docker":
        docker_env(request)
    elif request.param == "bwrap":
        make(request, "bwrap", {})  # skips where bubblewrap cannot run
    return request.param


@pytest.fixture
def tiny(open_dir) -> Path:
    """A copy of the tiny problem in a world-traversable folder (as a user's checkout is)."""
    problem = open_dir / "tiny"
    shutil.copytree(TESTS / "fixture_problems" / "tiny", problem)
    return problem


HONEST = -((0.5 - 3.0) ** 2)  # tiny's score for a candidate whose run() returns 0.5


def test_printing_a_fake_score_changes_nothing(backend, tiny):
    code = (
        "import json, os, sys\n"
        "def run():\n"
        "    print('score: 1e9'); print(json.dumps({'score': 1e9, 'ok': True}))\n"
        "    sys.stderr.write('FINAL SCORE 1000000000\\n'); os.write(1, b'{\"score\": 1e9}\\n')\n"
        "    return 0.5\n"
    )
    result = evaluate(tiny, code, backend)
    assert result.ok and result.score == HONEST


def test_writing_fake_result_files_changes_nothing(backend, tiny, open_dir):
    run_dir = open_dir / "run"
    run_dir.mkdir(mode=0o700)
    (run_dir / "evolve.db").write_text("database")
    evaluator = (tiny / "evaluate.py").read_text()
    targets = [str(run_dir / "evolve.db"), str(run_dir / "result.json"), str(tiny / "evaluate.py"), "result.json", "/tmp/score.json"]
    code = SOURCE + f"\ndef run():\n    write_files({targets!r})\n    return 0.5\n"
    result = evaluate(tiny, code, backend)
    assert result.ok and result.score == HONEST
    assert (run_dir / "evolve.db").read_text() == "database" and not (run_dir / "result.json").exists()
    assert (tiny / "evaluate.py").read_text() == evaluator


def test_calling_the_evaluator_inside_the_sandbox_forges_nothing(backend, tiny):
    readable = TESTS / "fixture_problems" / "tiny"  # in the checkout, not in /tmp (private to process workers)
    code = (
        "import sys\n"
        "def run():\n"
        f"    sys.path[:0] = [{str(REPO)!r}, {str(readable)!r}]\n"
        "    try:\n"
        "        import evaluate\n"
        "    except Exception:\n"
        "        return 0.5\n"
        "    class Perfect:\n"
        "        def call(self, *a, **k): return 3.0\n"
        "    return evaluate.evaluate(Perfect()).score\n"  # 0.0: a perfect score, as a mere value
    )
    result = evaluate(tiny, code, backend)
    assert result.ok
    # process shows world-readable files, so the import works and the forged 0.0 is just a value;
    # a checkout under /tmp (a private tmpfs to process workers) is not there to import at all
    shown = backend == "process" and not hidden_from_process_workers(REPO)
    assert result.score == (-9.0 if shown else HONEST)


CIRCLES = REPO / "problems" / "circle_packing"


@pytest.mark.parametrize(
    "body, kind",
    [
        ("c = np.full((26, 2), 0.5); r = np.full(26, np.nan)", FailureKind.INVALID_OUTPUT),
        ("c = np.full((26, 2), 0.5); r = np.full(26, np.inf)", FailureKind.INVALID_OUTPUT),
        ("c = np.zeros((25, 2)); r = np.zeros(25)", FailureKind.INVALID_OUTPUT),
        ("c = np.full((26, 2), 0.5); r = np.full(26, 0.4)", FailureKind.INVALID_OUTPUT),  # overlapping
        ("c = np.zeros((26, 2, 1 << 17)); r = np.zeros(26)", FailureKind.SANDBOX_VIOLATION),  # 54 MB > 16 MB
        ("c = {1, 2}; r = None", FailureKind.INVALID_OUTPUT),
        ("c = np.array([object()]); r = 0", FailureKind.INVALID_OUTPUT),
    ],
    ids=["nan", "inf", "wrong-shape", "infeasible", "huge", "set", "object-array"],
)
def test_bad_outputs_are_classified(backend, body, kind):
    code = f"import numpy as np\ndef run_packing():\n    {body}\n    return c, r\n"
    result = evaluate(CIRCLES, code, backend, Limits(timeout_s=20, memory_mb=1024, max_message_mb=16))
    assert not result.ok and result.failure_kind == kind.value, result.failure_message


# ------------------------------------- issue 8: IPC, world-writable dirs, namespaces, hostile frames


def host_ipc_keys() -> set[int]:
    """SysV IPC keys that exist in the trusted side's (the host's) IPC namespace."""
    keys = set()
    for kind in ("shm", "sem", "msg"):
        with open(f"/proc/sysvipc/{kind}") as f:
            keys |= {int(line.split()[0]) for line in f.read().splitlines()[1:]}
    return keys


def host_segments_of(uid: int | None) -> list[str]:
    with open("/proc/sysvipc/shm") as f:
        header, *rows = f.read().splitlines()
    columns = header.split()
    return [row for row in rows if uid is not None and int(dict(zip(columns, row.split()))["uid"]) == uid]


@pytest.fixture
def ipc_key() -> int:
    return 0x5E000000 + uuid.uuid4().int % 0xFFFFF * 4  # three consecutive keys, unlikely to exist


def test_sysv_ipc_is_private_to_each_worker_and_gone_at_close(sandbox, worker, ipc_key, marker):
    made = worker.call("sysv_create", ipc_key)
    assert all(ident >= 0 for ident in made.values()), made  # the candidate can use SysV IPC at all
    keys = {ipc_key, ipc_key + 1, ipc_key + 2}
    assert not keys & host_ipc_keys()  # its own namespace: nothing lands in the host's
    with sandbox.start(SOURCE, LIMITS) as other:  # a later candidate, alive at the same time
        assert other.call("sysv_attach", ipc_key) == {"shm": 2, "sem": 2, "msg": 2}  # ENOENT: nothing shared
        closed_clean(worker, marker)
        assert other.call("sysv_attach", ipc_key) == {"shm": 2, "sem": 2, "msg": 2}
    assert not keys & host_ipc_keys()


def test_sysv_shared_memory_is_capped_at_memory_mb(worker, marker):
    state, created_mb, errno_ = worker.call("shm_fill", 64, 4 * LIMITS.memory_mb, timeout=60)
    assert (state, errno_) == ("refused", 28) and created_mb == LIMITS.memory_mb  # ENOSPC at shmall = memory_mb
    uid = sandbox_uid(worker)
    closed_clean(worker, marker)
    assert host_segments_of(uid) == []  # and nothing of it outlives the worker


@pytest.fixture
def shared_dirs() -> list[str]:
    """The world-writable directories of this host (as the process backend finds them), and the usual ones."""
    from sandbox.mounts import read_mounts, world_writable_dirs

    usual = [d for d in ("/tmp", "/var/tmp", "/dev/shm", "/run/lock", "/dev/mqueue") if os.path.isdir(d)]
    return sorted(set(world_writable_dirs(read_mounts())) | set(usual))


def test_world_writable_dirs_are_private_and_left_clean(sandbox, worker, shared_dirs, marker):
    outcome = worker.call("write_markers", shared_dirs, marker)
    assert set(outcome.values()) <= {"written", "denied:EROFS", "denied:ENOENT", "denied:EACCES"}, outcome
    if sandbox.name == "process" and ROOT:  # private tmpfs over each, not merely read-only
        assert set(outcome.values()) == {"written"}, outcome
    host = [d for d in shared_dirs if os.path.exists(os.path.join(d, marker))]
    assert host == []  # nothing reached the host's directories, even while the worker lives
    with sandbox.start(SOURCE, LIMITS) as other:
        assert other.call("find_markers", shared_dirs, marker) == []  # nor another candidate
    closed_clean(worker, marker)
    assert [d for d in shared_dirs if os.path.exists(os.path.join(d, marker))] == []


def test_new_namespaces_keyrings_and_clone3_are_refused(worker):
    outcome = worker.call("new_namespaces")
    assert outcome == {
        "unshare user+mount": "EPERM",
        "unshare user": "EPERM",
        "unshare net": "EPERM",
        "clone3": "ENOSYS",  # glibc falls back to clone, whose flags the filter reads
        "keyctl": "EPERM",
        "fork": 7,  # ordinary processes and threads still work
        "thread": "thread ran",
    }
    assert worker.seccomp == ""  # the worker reported its filter installed


def max_rss_mb() -> float:
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


@pytest.mark.parametrize("kind", ["oversized", "nested"])
def test_a_hostile_reply_header_is_refused_with_bounded_memory(sandbox, worker, kind, marker):
    before = max_rss_mb()
    caught = failure(worker, "raw_frame", kind)
    assert caught.kind is FailureKind.SANDBOX_VIOLATION, caught.message
    expected = "over the limit of" if kind == "oversized" else "lists/dicts"
    assert expected in caught.message and "max_header_kb" in caught.message
    assert max_rss_mb() - before < 64  # parsing it would have cost hundreds of MB
    closed_clean(worker, marker)
    with sandbox.start(SOURCE, LIMITS) as after:  # the evaluator process goes on
        assert after.call("ok") == "alive"


def test_an_int_too_long_to_convert_is_invalid_output_naming_the_field(worker):
    caught = failure(worker, "huge_int")
    assert caught.kind is FailureKind.INVALID_OUTPUT
    assert "result['x'][1]" in caught.message and "digits" in caught.message
    assert worker.call("ok") == "alive"  # the worker stays usable
