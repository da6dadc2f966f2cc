"""What the ``process`` sandbox confines: environment, files, network, processes, daemons.

Tests that depend on privilege say so in their skip reason; on this project's machines and
CI the suite runs as root, where every test runs.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import textwrap
import time

import pytest

from process_sandbox_helpers import FAST, ROOT, alive, assert_nothing_left, failure_of, needs_root, start
from sandbox import FailureKind, Limits, SandboxError, reaper, syscalls
from sandbox.process import ProcessSandbox
from sandbox.zygote import WarmProcessSandbox


def test_worker_runs_in_private_scratch_with_own_uid(sandbox):
    source = """
        import os, tempfile
        def where():
            with open("note.txt", "w") as f:
                f.write("hi")
            return {"cwd": os.getcwd(), "uid": os.getuid(), "tmp": tempfile.gettempdir(), "home": os.path.expanduser("~")}
    """
    worker = start(sandbox, source)
    with worker:
        info = worker.call("where")
        assert info["cwd"] == info["home"] == worker.scratch
        assert info["tmp"].startswith(worker.scratch)
        assert info["uid"] == worker.uid
        mode = os.stat(worker.scratch)
        assert mode.st_mode & 0o777 == 0o700 and mode.st_uid == worker.uid
        if ROOT:
            assert worker.uid != 0
    assert not os.path.exists(worker.scratch)



def test_environment_is_an_allow_list_without_secrets(sandbox, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-not-a-real-key")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "also-secret")
    with start(sandbox, "import os\ndef env():\n    return dict(os.environ)\n", extra_env={"PROBLEM_SEED": "7"}) as worker:
        env = worker.call("env")
    assert "OPENAI_API_KEY" not in env and "AWS_SECRET_ACCESS_KEY" not in env
    assert not any("sk-test" in value for value in env.values())
    assert env["HOME"] == worker.scratch and env["TMPDIR"].startswith(worker.scratch)
    assert env["CUDA_VISIBLE_DEVICES"] == "" and env["OMP_NUM_THREADS"] == "1" and env["PYTHONHASHSEED"] == "0"
    assert env["PROBLEM_SEED"] == "7"
    if sandbox.name == "bwrap":
        assert env.pop("PWD", worker.scratch) == worker.scratch  # bubblewrap sets it to the directory it enters
    allowed = {"PATH", "LANG", "LC_ALL", "TZ", "HOME", "TMPDIR", "CUDA_VISIBLE_DEVICES", "PROBLEM_SEED", "LC_CTYPE"}
    allowed |= {"OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS", "PYTHONHASHSEED", "PYTHONDONTWRITEBYTECODE"}
    assert set(env) <= allowed


def test_extra_env_cannot_override_what_the_sandbox_owns(sandbox):
    with pytest.raises(ValueError, match="may not set HOME"):
        sandbox.start("x = 1", FAST, extra_env={"HOME": "/"})


def test_gpu_devices_become_cuda_visible_devices(sandbox):
    limits = Limits(gpu_devices=("0", "2"))
    if sandbox.name == "bwrap" and not (os.path.exists("/dev/nvidia0") and os.path.exists("/dev/nvidia2")):
        with pytest.raises(SandboxError, match="/dev/nvidia0"):  # bwrap binds the device nodes: none, no start
            sandbox.start("x = 1\n", limits)
        return
    with start(sandbox, "import os\ndef cvd():\n    return os.environ['CUDA_VISIBLE_DEVICES']\n", limits) as worker:
        assert worker.call("cvd") == "0,2"


def test_network_is_cut(sandbox):
    server = socket.create_server(("127.0.0.1", 0))
    server.settimeout(0.5)
    port = server.getsockname()[1]
    source = """
        import socket
        def connect(port):
            try:
                socket.create_connection(("127.0.0.1", port), timeout=2).close()
                return "connected"
            except OSError as exc:
                return type(exc).__name__
    """
    with server, start(sandbox, source) as worker:
        if not worker.network_isolated:
            pytest.skip("this kernel/container refuses a network namespace (worker.network_isolated is False)")
        assert worker.call("connect", port) != "connected"
        with pytest.raises(socket.timeout):
            server.accept()


@needs_root
def test_root_private_directories_are_unreadable(sandbox, tmp_path):
    private = tmp_path / "run"
    private.mkdir(mode=0o700)
    (private / "secrets.toml").write_text("api_key = 'sk-live'\n")
    os.chmod(tmp_path, 0o755)  # only the run dir itself is private
    source = """
        def read(path):
            try:
                with open(path) as f:
                    return f.read()
            except (PermissionError, FileNotFoundError):  # bwrap: not even in the worker's view
                return "denied"
    """
    with start(sandbox, source) as worker:
        assert worker.call("read", str(private / "secrets.toml")) == "denied"
        init = worker.call("read", "/proc/1/environ")
        if sandbox.name == "bwrap" and init != "denied":  # pid 1 of bwrap's own pid namespace: the worker's init
            assert f"HOME={worker.scratch}" in init and "sk-" not in init
        else:
            assert init == "denied"


def test_file_size_limit_stops_large_writes(sandbox):
    source = """
        import os
        def write(mb):
            with open("big.bin", "wb") as f:
                f.write(b"x" * (mb << 20))
        def size():
            return os.path.getsize("big.bin")
    """
    with start(sandbox, source, Limits(max_file_mb=1)) as worker:
        worker.call("write", 1)
        failure = failure_of(worker, "write", 2)
        assert failure.kind is FailureKind.EXCEPTION and "File too large" in failure.message
        assert worker.call("size") == 1 << 20  # asked inside: under bwrap the scratch is a private tmpfs


def test_process_limit_binds(sandbox):
    source = """
        import os, time
        def spawn_until_refused():
            n = 0
            while n < 1000:
                try:
                    pid = os.fork()
                except BlockingIOError:
                    return n
                if pid == 0:
                    time.sleep(60)
                    os._exit(0)
                n += 1
            return n
    """
    worker = start(sandbox, source, Limits(max_processes=16))
    with worker:
        assert worker.call("spawn_until_refused") < 16
    assert_nothing_left(worker)


def test_fork_bomb_is_contained_and_cleaned_up(sandbox):
    source = """
        import os
        def bomb():
            while True:
                try:
                    os.fork()
                except OSError:
                    pass
    """
    worker = start(sandbox, source, Limits(timeout_s=1.5, max_processes=32))
    failure = failure_of(worker, "bomb")
    assert failure.kind is FailureKind.TIMEOUT
    assert_nothing_left(worker)
    worker.close()
    with start(sandbox, "def ok():\n    return 'alive'\n") as after:  # the machine still works
        assert after.call("ok") == "alive"


DAEMON = """
    import os, time
    def daemonize():
        read_fd, write_fd = os.pipe()
        if os.fork() == 0:
            os.setsid()
            if os.fork() == 0:
                os.write(write_fd, str(os.getpid()).encode())
                while True:
                    time.sleep(1)
            os._exit(0)
        os.close(write_fd)
        return int(os.read(read_fd, 32))
"""


def test_setsid_daemon_does_not_outlive_close(sandbox):
    worker = start(sandbox, DAEMON)
    daemon = host_pid(worker, worker.call("daemonize"))
    assert alive(daemon) and os.getpgid(daemon) != worker.pid
    worker.close()
    assert not alive(daemon)
    assert_nothing_left(worker)


def host_pid(worker, pid: int) -> int:
    """Our pid of the worker's process that reported ``pid``, maybe from its own pid namespace (bwrap)."""
    for name in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open(f"/proc/{name}/status") as f:
                fields = dict(line.split(":", 1) for line in f)
        except OSError:
            continue
        if fields["NSpid"].split()[-1] == str(pid) and int(fields["Uid"].split()[0]) == worker.uid:
            return int(name)
    raise AssertionError(f"no process of uid {worker.uid} is pid {pid} in a child pid namespace")


@needs_root
@pytest.mark.parametrize("kind", [ProcessSandbox, WarmProcessSandbox], ids=["spawn", "warm"])
def test_unprivileged_mode_kills_descendants_through_the_subreaper(monkeypatch, kind):
    """Without a private uid the cleanup is the process tree; exercise that path as root."""
    sandbox = kind()
    monkeypatch.setattr(sandbox, "privileged", False)
    monkeypatch.setattr(sandbox, "uid_pool", None)
    try:
        worker = start(sandbox, DAEMON)
        assert worker.uid == 0 and worker.network_isolated  # a user namespace cut the network
        daemon = worker.call("daemonize")
        assert alive(daemon)
        worker.close()
        assert not alive(daemon) and not alive(worker.pid)
    finally:
        getattr(sandbox, "close", lambda: None)()



def test_kill_tree_reaches_a_detached_grandchild():
    """The reaper's tree sweep on its own: a subreaper parent whose grandchild called setsid."""
    script = textwrap.dedent(
        """
        import os, sys, time
        if os.fork() == 0:
            os.setsid()
            if os.fork() == 0:
                print(os.getpid(), flush=True)
                time.sleep(60)
            os._exit(0)
        time.sleep(60)
        """
    )
    child = subprocess.Popen(
        [sys.executable, "-c", script],
        stdout=subprocess.PIPE,
        preexec_fn=lambda: syscalls.prctl(syscalls.PR_SET_CHILD_SUBREAPER, 1),
    )
    grandchild = int(child.stdout.readline())
    assert alive(grandchild)
    reaper.kill_tree(child.pid)
    assert child.wait(timeout=5) == -signal.SIGKILL
    deadline = time.monotonic() + 10  # a polling deadline, generous for a loaded machine
    while alive(grandchild) and time.monotonic() < deadline:
        time.sleep(0.01)
    assert not alive(grandchild)
    child.stdout.close()
