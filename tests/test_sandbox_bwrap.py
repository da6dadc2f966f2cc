"""The ``bwrap`` backend: its mount plan, GPU device binding, and what a worker really sees.

The hostile suite (test_hostile.py) runs every attack against bwrap too; this file checks
the view itself and the GPU plumbing (with a fake device tree, since CI has no GPU).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

from sandbox import Limits, SandboxError
from sandbox.bwrap import BwrapSandbox, WarmBwrapSandbox, bwrap_argv, find_bwrap, gpu_device_nodes
from sandbox.confine import Confinement
from sandbox.process import LaunchSpec
from sandbox_backends import ROOT, make

REPO = Path(__file__).resolve().parent.parent
LIMITS = Limits(timeout_s=10.0, startup_timeout_s=30.0)
LOOK = """
import os
def look():
    return {
        "root": sorted(os.listdir("/")),
        "etc": sorted(os.listdir("/etc")),
        "pids": sorted(int(p) for p in os.listdir("/proc") if p.isdigit()),
        "me": os.getpid(),
        "repo": os.path.exists(os.path.join(REPO, "evolve", "evaluation.py")),
        "home": os.path.exists(os.path.expanduser("~root")),
        "hostname": os.uname().nodename,
    }
"""


def spec(scratch: str) -> LaunchSpec:
    return LaunchSpec(
        argv=(sys.executable, "worker_main.py", "3", "4", "src.py", "candidate", "1024"),
        env={},
        cwd=scratch,
        pass_fds=(3, 4),
        output_fd=5,
        confinement=Confinement(rlimits=(), uid=None, privileged=False),
        limits=Limits(scratch_mb=32),
        worker_args=("src.py", "candidate", "1024"),
    )


def test_mount_plan_binds_nothing_writable_but_the_private_tmpfs():
    argv = bwrap_argv("bwrap", spec("/tmp/evolve-worker-x"), python=sys.executable, tmp_mb=16)
    command = argv[argv.index("--") + 1 :]
    options = argv[: argv.index("--")]
    assert command[0] == sys.executable
    for flag in ("--unshare-all", "--unshare-user", "--disable-userns", "--die-with-parent", "--new-session"):
        assert flag in options
    assert "--bind" not in options and "--dev-bind" not in options  # only read-only binds, no devices
    scratch = options.index("/tmp/evolve-worker-x")
    assert options[scratch - 5 : scratch] == ["--size", str(32 << 20), "--perms", "0700", "--tmpfs"]
    sizes = [int(options[i + 1]) for i, word in enumerate(options) if word == "--size"]
    assert sizes == [16 << 20, 16 << 20, 32 << 20]  # /dev/shm, /tmp, scratch
    binds = {options[i + 2] for i, word in enumerate(options) if word == "--ro-bind"}
    assert "/tmp/evolve-worker-x/.sandbox" in binds
    assert not any(path == str(REPO) or path.startswith(str(REPO) + "/") for path in binds if not path.startswith(sys.prefix))
    assert not any(path.startswith("/home") for path in binds)


def test_gpu_nodes_are_exactly_the_assigned_devices(tmp_path):
    dev, driver = tmp_path / "dev", tmp_path / "gpus"
    dev.mkdir()
    for name in ("nvidia0", "nvidia1", "nvidia2", "nvidiactl", "nvidia-uvm"):
        (dev / name).write_text("")
    for minor, uuid in ((0, "GPU-aaa"), (2, "GPU-ccc")):
        (driver / f"0000:0{minor}:00.0").mkdir(parents=True)
        (driver / f"0000:0{minor}:00.0" / "information").write_text(f"Model: H100\nGPU UUID: {uuid}\nDevice Minor: {minor}\n")
    nodes = gpu_device_nodes(["1", "GPU-ccc"], dev=str(dev), driver=str(driver))
    assert nodes == [str(dev / "nvidia1"), str(dev / "nvidia2"), str(dev / "nvidiactl"), str(dev / "nvidia-uvm")]
    assert gpu_device_nodes([], dev=str(dev), driver=str(driver)) == []  # no GPU: not even the control nodes
    with pytest.raises(SandboxError, match="GPU-zzz"):
        gpu_device_nodes(["GPU-zzz"], dev=str(dev), driver=str(driver))
    with pytest.raises(SandboxError, match="nvidia7"):
        gpu_device_nodes(["7"], dev=str(dev), driver=str(driver))


def test_gpu_nodes_are_bound_as_devices_and_nothing_else(tmp_path):
    argv = bwrap_argv("bwrap", spec("/tmp/w"), python=sys.executable, tmp_mb=8, gpu_nodes=["/dev/nvidia3"])
    options = argv[: argv.index("--")]
    devs = [options[i + 1] for i, word in enumerate(options) if word == "--dev-bind"]
    assert devs == ["/dev/nvidia3"]


@pytest.fixture(params=[False, True], ids=["spawn", "warm"])
def bwrap(request):
    return make(request, "bwrap", {"warm": request.param})


def test_a_worker_sees_the_system_and_nothing_of_ours(bwrap):
    with bwrap.start(LOOK.replace("REPO", repr(str(REPO))), LIMITS) as worker:
        seen = worker.call("look")
    assert not seen["repo"] and seen["hostname"] == "sandbox"
    assert "home" not in seen["root"] and "var" not in seen["root"] and "run" not in seen["root"]
    assert set(seen["etc"]) <= {"ld.so.cache", "ld.so.conf", "ld.so.conf.d", "alternatives", "localtime", "nsswitch.conf", "passwd", "group"}
    if isinstance(bwrap, WarmBwrapSandbox):
        assert seen["pids"] == [seen["me"]]  # the zygote's pid namespace, but /proc shows only its own uid
    else:
        assert len(seen["pids"]) <= 2 and seen["me"] in seen["pids"]  # bwrap's init and the worker


def test_an_assigned_gpu_that_does_not_exist_is_refused_not_ignored(bwrap):
    if os.path.exists("/dev/nvidia0"):
        pytest.skip("this machine has /dev/nvidia0; the refusal is for assigned devices that are missing")
    with pytest.raises(SandboxError, match="/dev/nvidia0"):
        bwrap.start("x = 1\n", Limits(gpu_devices=("0",)))


def test_bwrap_info_says_why_it_is_unavailable():
    sandbox = BwrapSandbox()
    sandbox.bwrap = None  # as on a machine without bubblewrap
    info = sandbox.info()
    assert not info.available and "apt-get install" in info.reason


@pytest.mark.skipif(not ROOT, reason="a bwrap zygote needs root")
def test_warm_bwrap_zygote_runs_inside_bubblewrap():
    sandbox = WarmBwrapSandbox()
    try:
        zygote = sandbox._warm()
        assert zygote is not None, sandbox.zygote_error
        assert zygote.wrap[0] == find_bwrap()
        with open(f"/proc/{zygote._process.pid}/cmdline", "rb") as f:
            assert f.read().split(b"\0")[0].endswith(b"bwrap")
    finally:
        sandbox.close()


def test_auto_is_bwrap_where_bubblewrap_works():
    import sandbox
    from sandbox.bwrap import probe

    reason = probe()
    if reason:
        pytest.skip(f"bubblewrap cannot run here: {reason}")
    assert sandbox.get_sandbox("auto").name == "bwrap"


def test_auto_falls_back_to_process_with_a_warning_where_bwrap_is_missing(monkeypatch, tmp_path):
    import sandbox
    import sandbox.bwrap

    monkeypatch.setenv("PATH", str(tmp_path))  # a machine without bubblewrap
    monkeypatch.setattr(sandbox.bwrap, "_PROBED", [])  # forget this process's probe result
    sandbox.close_shared()
    try:
        with pytest.warns(UserWarning, match="falling back to the 'process' backend"):
            assert sandbox.get_sandbox("auto").name == "process"
        with pytest.raises(SandboxError, match="not installed"):
            sandbox.get_sandbox("bwrap")  # asked for by name: an error, not a silent downgrade
    finally:
        sandbox.close_shared()


def test_a_successful_probe_is_inherited_by_child_processes_and_only_for_the_same_setup():
    import subprocess

    import sandbox.bwrap

    reason = sandbox.bwrap.probe()
    if reason:
        pytest.skip(f"bubblewrap cannot run here: {reason}")
    assert os.environ[sandbox.bwrap._PROBED_ENV] == sandbox.bwrap._probe_key()
    child = "import sandbox.bwrap as b; b._probe = lambda: 'probed again'; print(repr(b.probe()))"
    ROOT = Path(__file__).resolve().parent.parent

    def run_child(env: dict) -> str:
        out = subprocess.run([sys.executable, "-c", child], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
        assert out.returncode == 0, out.stderr
        return out.stdout.strip()

    assert run_child(dict(os.environ)) == "''"  # vouched for by this process: no second probe worker
    stale = dict(os.environ, **{sandbox.bwrap._PROBED_ENV: "/other/bwrap|/other/python|0"})
    assert run_child(stale) == "'probed again'"  # another binary, interpreter or user: probed afresh


def test_the_root_is_sealed_read_only_after_every_mount():
    argv = bwrap_argv("bwrap", spec("/tmp/w"), python=sys.executable, tmp_mb=8, info_fd=7, block_fd=8)
    options = argv[: argv.index("--")]
    seal = options.index("--remount-ro")
    assert options[seal + 1 : seal + 4] == ["/", "--remount-ro", "/dev"]
    assert options[seal + 4 :] == ["--info-fd", "7", "--block-fd", "8", "--chdir", "/tmp/w"]


def test_nothing_outside_scratch_tmp_and_shm_takes_a_write(bwrap):
    source = (
        "import os\n"
        "def write(paths):\n"
        "    out = {}\n"
        "    for p in paths:\n"
        "        try:\n"
        "            open(p, 'w').write('x'); out[p] = 'written'\n"
        "        except OSError as exc:\n"
        "            out[p] = exc.errno\n"
        "    return out\n"
    )
    with bwrap.start(source, LIMITS) as worker:
        paths = ["/etc/x", "/x", "/dev/x", f"{os.path.dirname(os.path.realpath(sys.executable))}/x", "/tmp/x", "/dev/shm/x", "note"]
        out = worker.call("write", paths)
    assert out["/tmp/x"] == out["/dev/shm/x"] == out["note"] == "written"
    assert all(out[p] in (13, 30) for p in paths[:4]), out  # EACCES or EROFS: the root, /dev and the system are sealed
    with bwrap.start("def null():\n    open('/dev/null', 'w').write('x')\n    return 'ok'\n", LIMITS) as worker:
        assert worker.call("null") == "ok"  # device nodes still take writes


def dotted(path: str) -> str:
    """``path`` spelled through a directory bubblewrap does not mount (this tests dir), with ``..``."""
    ups = "/".join([".."] * len(Path(__file__).resolve().parent.parts[1:]))
    return f"{Path(__file__).resolve().parent}/{ups}{path}"


@pytest.mark.parametrize("kind", [BwrapSandbox, WarmBwrapSandbox], ids=["spawn", "warm"])
def test_an_interpreter_path_with_dotdot_works(request, kind):
    make(request, "bwrap", {})  # skips where bubblewrap cannot run
    python = dotted(sys.executable)
    assert ".." in python and os.path.samefile(python, sys.executable)
    sandbox = kind(python=python)
    try:
        assert sandbox.python == os.path.abspath(python) and ".." not in sandbox.python
        with sandbox.start("def f():\n    return 41 + 1\n", LIMITS) as worker:
            assert worker.call("f") == 42
    finally:
        getattr(sandbox, "close", lambda: None)()


def test_the_probe_reports_why_bwrap_cannot_run(monkeypatch):
    import sandbox.bwrap

    monkeypatch.setattr(sandbox.bwrap, "_PROBED", [])
    monkeypatch.setattr(sandbox.bwrap, "find_bwrap", lambda: "/nonexistent/bwrap")
    reason = sandbox.bwrap.probe()
    assert "could not start a worker" in reason and "/nonexistent/bwrap" in reason
    monkeypatch.setattr(sandbox.bwrap, "_PROBED", [])
