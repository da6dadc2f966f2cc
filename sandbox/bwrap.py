"""The ``bwrap`` backend: the process backend's worker, wrapped in a bubblewrap sandbox.

Everything the process backend does still applies (scrubbed environment, rlimits, private
uid under root, kill by uid, capped output); bubblewrap adds what a plain process cannot
have: a filesystem view built from nothing. The worker sees

* the system read-only: ``/usr`` and the merged-usr links, a few files of ``/etc`` (the
  dynamic linker's cache, alternatives, time zone), the Python installation(s) it runs from;
* its scratch dir as a private, size-capped tmpfs at the same path (cwd, HOME, TMPDIR),
  with the worker program and the candidate's source bind-mounted read-only inside it;
* size-capped private tmpfs at ``/tmp`` and ``/dev/shm``, a minimal ``/dev``, and its own
  ``/proc`` (own pid namespace: no other process is visible);
* nothing else: no home directory, no repository, no run directory, no database, no
  sockets of other services. Own network, IPC, UTS, cgroup and user namespaces; nested
  user namespaces disabled; a new terminal session (no TIOCSTI into the caller's tty).

Writes anywhere else fail: the root and ``/dev`` bubblewrap builds (unbounded tmpfs the worker's
uid would own) are remounted read-only once set up; device nodes stay usable.
The IPC namespace bubblewrap makes is capped like the process backend's (``confine.ipc_sysctls``)
by the trusted side (``cap_ipc_namespace``) while bubblewrap waits (``--block-fd``) before
running the worker; that needs root, so without it the namespace is private but uncapped.

GPU (only when ``limits.gpu_devices`` is set): what ``sandbox.gpu`` lists for those devices
(their device nodes and the driver's control nodes, their sysfs entries, the driver's
libraries outside ``/usr``), no others; ``/proc/driver/nvidia`` is in the worker's own /proc.
``CUDA_VISIBLE_DEVICES`` names the same devices.
"""

from __future__ import annotations

import dataclasses
import fcntl
import json
import os
import select
import shutil
import struct
import subprocess
import sys
import time
import weakref
from typing import Any, Iterable

from sandbox import syscalls
from sandbox.api import CandidateFailure, Limits, SandboxError, SandboxInfo
from sandbox.confine import interpreter_dirs
from sandbox.gpu import gpu_binds, gpu_device_nodes
from sandbox.process import LaunchError, LaunchSpec, ProcessSandbox, popen_options
from sandbox.zygote import WarmProcessSandbox, owned_temp_dir

#: Top-level system directories shown read-only (symlinks, as on merged-usr systems, are recreated).
SYSTEM_DIRS = ("usr", "bin", "sbin", "lib", "lib32", "lib64", "libx32")
#: Files and folders of /etc a Python worker may need; the rest of /etc stays hidden.
ETC_ENTRIES = ("ld.so.cache", "ld.so.conf", "ld.so.conf.d", "alternatives", "localtime", "nsswitch.conf", "passwd", "group")
_MB = 1 << 20
_NS_GET_USERNS = 0xB701  # ioctl: a descriptor of the user namespace owning a namespace
_NS_GET_OWNER_UID = 0xB704  # ioctl: the uid that created a user namespace


def find_bwrap() -> str | None:
    return shutil.which("bwrap")


_PROBED: list[str] = []


def probe() -> str:
    """Why the bwrap backend cannot run on this machine, or "" when it can (checked once per process).

    The check is a real worker start and call, not a version check: what fails in practice
    is the kernel or a container refusing the namespaces bubblewrap asks for.
    """
    if not _PROBED:
        key = _probe_key()
        if os.environ.get(_PROBED_ENV) == key:  # a parent of this process probed this very setup
            _PROBED.append("")
        else:
            _PROBED.append(_probe())
            if not _PROBED[0]:
                os.environ[_PROBED_ENV] = key  # inherited by the evaluator processes this one starts
    return _PROBED[0]


_PROBED_ENV = "EVOLVE_BWRAP_PROBED"


def _probe_key() -> str:
    """What a successful probe vouches for: this bwrap binary, this interpreter, this user.

    The controller probes once; its evaluator processes inherit the verdict through their
    environment (set by the trusted parent, never by a candidate) instead of starting a
    probe worker each (about 0.3 s apiece on a loaded 2-core machine).
    """
    return f"{find_bwrap()}|{sys.executable}|{os.getuid()}"


def _probe() -> str:
    if find_bwrap() is None:
        return "bubblewrap (bwrap) is not installed: apt-get install -y bubblewrap"
    try:
        with BwrapSandbox().start("def ok():\n    return 1\n", Limits(timeout_s=20.0, startup_timeout_s=20.0)) as worker:
            if worker.call("ok") != 1:
                return "a bwrap worker answered wrongly"
    except (SandboxError, CandidateFailure) as exc:
        detail = getattr(exc, "output", "").strip().splitlines()[-1:] or [""]
        return f"{exc} {detail[0]}".strip()
    return ""


def python_dirs(python: str) -> list[str]:
    """Directories a worker interpreter needs readable, outside the system dirs bound anyway."""
    return [d for d in interpreter_dirs(python) if not _under_system(d)]


def system_view() -> list[str]:
    """bubblewrap options for the read-only system: /usr and its links, some of /etc.

    Folders bubblewrap must create are made 0755 explicitly: run as root it would make
    them 0700, which a worker's uid could not traverse.
    """
    argv: list[str] = []
    for name in SYSTEM_DIRS:
        path = f"/{name}"
        if os.path.islink(path):
            argv += ["--symlink", os.readlink(path), path]
        elif os.path.isdir(path):
            argv += ["--ro-bind", path, path]
    argv += ["--perms", "0755", "--dir", "/etc"]
    for name in ETC_ENTRIES:
        argv += ["--ro-bind-try", f"/etc/{name}", f"/etc/{name}"]
    return argv


def _python_binds(python: str) -> list[str]:
    """Read-only binds of the Python dirs, their missing parents made 0755 (e.g. /root for pyenv).

    Without ``--perms``, bubblewrap run as root creates parents 0700, which a worker's uid
    cannot traverse to exec the interpreter again (a subprocess).
    """
    argv: list[str] = []
    made: set[str] = set()
    for directory in python_dirs(python):
        parent = os.path.dirname(directory)
        parents = []
        while parent not in ("/", "") and not _under_system(parent) and parent not in made:
            parents.append(parent)
            parent = os.path.dirname(parent)
        for path in reversed(parents):
            argv += ["--perms", "0755", "--dir", path]
            made.add(path)
        argv += ["--ro-bind", directory, directory]
    return argv


def _under_system(path: str) -> bool:
    return any(path == f"/{name}" or path.startswith(f"/{name}/") for name in SYSTEM_DIRS)


def bwrap_argv(
    bwrap: str,
    spec: LaunchSpec,
    *,
    python: str,
    tmp_mb: int,
    gpu_nodes: Iterable[str] = (),
    gpu_paths: Iterable[str] = (),
    info_fd: int | None = None,
    block_fd: int | None = None,
) -> list[str]:
    """The full command line: bubblewrap's options, then the worker's own argv.

    Pure (reads only the filesystem layout), so the mount plan can be unit-tested. The
    scratch dir ``spec.cwd`` keeps its host path, so the paths in the worker's argv and
    environment stay valid inside. ``gpu_paths``: ``gpu_binds`` options; ``info_fd`` and
    ``block_fd``: bubblewrap reports its child's pid on the first and waits for a byte on
    the second before running the worker (``BwrapSandbox.launch`` caps IPC meanwhile).
    """
    scratch = spec.cwd
    argv = [bwrap, "--unshare-all", "--unshare-user", "--disable-userns", "--die-with-parent", "--new-session"]
    argv += ["--hostname", "sandbox", "--cap-drop", "ALL"]
    argv += system_view()
    argv += ["--proc", "/proc", "--dev", "/dev"]
    argv += ["--size", str(tmp_mb * _MB), "--perms", "1777", "--tmpfs", "/dev/shm"]
    argv += ["--size", str(tmp_mb * _MB), "--perms", "1777", "--tmpfs", "/tmp"]
    argv += _python_binds(python)  # after /tmp: a virtual environment may live under it
    argv += ["--size", str(spec.limits.scratch_mb * _MB), "--perms", "0700", "--tmpfs", scratch]
    runtime = os.path.join(scratch, ".sandbox")
    argv += ["--ro-bind", runtime, runtime, "--perms", "0700", "--dir", os.path.join(scratch, "tmp")]
    for node in gpu_nodes:
        argv += ["--dev-bind", node, node]
    argv += list(gpu_paths)
    argv += ["--remount-ro", "/", "--remount-ro", "/dev"]  # tmpfs bubblewrap built (unbounded): sealed
    if info_fd is not None:
        argv += ["--info-fd", str(info_fd)]
    if block_fd is not None:
        argv += ["--block-fd", str(block_fd)]
    argv += ["--chdir", scratch, "--"]
    return argv + list(spec.argv)


def _read_child_pid(fd: int, deadline: float) -> int:
    """The ``child-pid`` of bubblewrap's ``--info-fd`` report (it closes the fd after writing)."""
    data = b""
    while True:
        remaining = deadline - time.monotonic()
        if remaining <= 0 or not select.select([fd], [], [], remaining)[0]:
            raise TimeoutError("no report on --info-fd in time")
        chunk = os.read(fd, 4096)
        if not chunk:
            break
        data += chunk
    try:
        return int(json.loads(data)["child-pid"])
    except (ValueError, KeyError, TypeError):
        raise OSError(f"bubblewrap exited before reporting its child ({data[:200]!r})") from None


def cap_ipc_namespace(pid: int, settings: Iterable[tuple[str, str]]) -> None:
    """Write ``settings`` (``/proc/sys`` paths and values) in the IPC namespace of ``pid``.

    Done by a short-lived forked helper (joining a user namespace needs a single-threaded
    process, which the trusted side is not) that, like ``preexec``, runs only system calls
    prepared here. The kernel lets only the IPC namespace's root change its sysctls: the
    uid that its user namespace maps to 0 once bubblewrap has written the map (the
    namespace's owner, the worker's uid), global root before. So the helper tries as root
    first and then as the owner, inside the owner's user namespace; the map is only ever
    written once, so one of the two holds. Needs root. Refuses a pid in the trusted side's
    own IPC namespace (the host's limits are not ours). Raises OSError with the reason.
    """
    ipc = os.open(f"/proc/{pid}/ns/ipc", os.O_RDONLY | os.O_CLOEXEC)
    try:
        if os.fstat(ipc).st_ino == os.stat("/proc/self/ns/ipc").st_ino:
            raise OSError(f"pid {pid} shares the trusted side's IPC namespace: refusing to change the host's limits")
        user = fcntl.ioctl(ipc, _NS_GET_USERNS)  # the user namespace that owns it (bubblewrap may nest another)
        try:
            owner = struct.unpack("I", fcntl.ioctl(user, _NS_GET_OWNER_UID, bytes(4)))[0]
            writes = [(f"/proc/sys/{name}", value.encode()) for name, value in settings]
            reason = _write_in(ipc, None, 0, writes)
            if reason:
                reason = _write_in(ipc, user, owner, writes)
        finally:
            os.close(user)
    finally:
        os.close(ipc)
    if reason:
        raise OSError(f"could not cap the IPC namespace of pid {pid}: {reason}")


def _write_in(ipc: int, user: int | None, euid: int, writes: list[tuple[str, bytes]]) -> str:
    """In a forked helper: become ``euid``, join ``user`` (if given) and ``ipc``, write; '' or why not."""
    report_r, report_w = os.pipe2(os.O_CLOEXEC)
    helper = os.fork()
    if helper == 0:  # pragma: no cover - runs in the forked helper
        code = 1
        try:
            if user is not None:
                os.setresuid(-1, euid, -1)  # the owner holds every capability in its user namespace
                syscalls.setns(user, syscalls.CLONE_NEWUSER)
            syscalls.setns(ipc, syscalls.CLONE_NEWIPC)
            for path, value in writes:
                fd = os.open(path, os.O_WRONLY)
                os.write(fd, value)
                os.close(fd)
            code = 0
        except BaseException as exc:
            os.write(report_w, str(exc).encode(errors="replace")[:1000])
        finally:
            os._exit(code)
    os.close(report_w)
    try:
        reason = os.read(report_r, 1000).decode(errors="replace")
    finally:
        os.close(report_r)
    _, status = os.waitpid(helper, 0)
    return "" if status == 0 else reason or f"wait status {status}"


class BwrapProcess(subprocess.Popen):
    """bubblewrap's process: it exits with 128+N when the worker dies of signal N, so ``reap``
    turns that back into a signal status for ``classify_exit`` (CPU limit, segfault, OOM kill)."""

    def reap(self) -> tuple[int, Any]:
        _, status, usage = os.wait4(self.pid, 0)  # bwrap waits for the worker, so its usage is included
        if os.WIFEXITED(status) and os.WEXITSTATUS(status) > 128:
            status = os.WEXITSTATUS(status) - 128  # the wait status of a death by that signal
        return status, usage


class BwrapSandbox(ProcessSandbox):
    """Starts process-backend workers inside bubblewrap (see the module docstring)."""

    name = "bwrap"
    private_view = False  # bubblewrap builds the view from nothing

    def __init__(self, *, bwrap: str | None = None, tmp_mb: int = 64, **kwargs: Any) -> None:
        super().__init__(**kwargs)  # type: ignore[arg-type]
        self.bwrap = bwrap or find_bwrap()
        self.tmp_mb = tmp_mb  # size of each of /tmp and /dev/shm (the scratch's is limits.scratch_mb)
        self._limits: Limits | None = None

    def launch(self, spec: LaunchSpec) -> subprocess.Popen[bytes]:
        if self.bwrap is None:
            raise SandboxError("bubblewrap (bwrap) is not installed: apt-get install -y bubblewrap")
        gpus = [d for d in spec.env.get("CUDA_VISIBLE_DEVICES", "").split(",") if d]
        nodes = gpu_device_nodes(gpus)
        ipc = spec.confinement.ipc if self.privileged else ()
        spec = dataclasses.replace(spec, confinement=dataclasses.replace(spec.confinement, view=None, ipc=()))
        info_r, info_w = os.pipe2(os.O_CLOEXEC)
        block_r, block_w = os.pipe2(os.O_CLOEXEC)
        paths = gpu_binds(gpus, bound=_under_system)
        argv = bwrap_argv(self.bwrap, spec, python=self.python, tmp_mb=self.tmp_mb, gpu_nodes=nodes,
                          gpu_paths=paths, info_fd=info_w, block_fd=block_r)
        options = popen_options(spec)
        options["pass_fds"] = (*spec.pass_fds, info_w, block_r)
        try:
            proc = BwrapProcess(argv, **options)
        except BaseException:
            os.close(info_r)
            os.close(block_w)
            raise
        finally:
            os.close(info_w)
            os.close(block_r)
        try:
            child = _read_child_pid(info_r, time.monotonic() + spec.limits.startup_timeout_s)
            if ipc:
                cap_ipc_namespace(child, ipc)
            os.write(block_w, b"1")
        except BaseException as exc:
            proc.kill()
            proc.wait()
            raise LaunchError(f"bubblewrap did not set up the sandbox: {exc}") from None
        finally:
            os.close(info_r)
            os.close(block_w)
        return proc

    def info(self) -> SandboxInfo:
        base = super().info()
        protections = base.protections + (
            "read-only system view; home, repository, run directory and database not mounted",
            "private size-capped tmpfs for scratch, /tmp and /dev/shm",
            "own pid, network, IPC, UTS and user namespaces; nested user namespaces disabled",
            "read-only root; IPC namespace capped (as root)",
        )
        available = self.bwrap is not None and base.available
        reason = "" if available else "bubblewrap (bwrap) is not installed: apt-get install -y bubblewrap"
        return SandboxInfo(self.name, available=available, reason=reason, protections=protections)


#: Capabilities a bwrap zygote keeps (root only): mounts and namespaces for each worker,
#: the uid switch, and reading the worker's 0700 scratch to bind its runtime files. The
#: zygote runs no candidate code; every worker drops all of them with its uid.
ZYGOTE_CAPS = ("CAP_SYS_ADMIN", "CAP_SETUID", "CAP_SETGID", "CAP_DAC_OVERRIDE", "CAP_CHOWN")


def zygote_bwrap_argv(bwrap: str, python: str, runtime: str, scratch_root: str, tmp_mb: int) -> list[str]:
    """bubblewrap options for a zygote: the spawn path's view, shared by the zygote's workers.

    Run as real root (no user namespace), so the zygote can give each worker its own uid,
    mount namespace and network namespace (``zygote_main._isolate``). What each worker sees
    is the spawn path's view: read-only system and Python, its own scratch tmpfs, no home,
    repository or run directory. Pid namespace: one per zygote, with /proc limited to the
    worker's own uid (hidepid), so workers of one slot cannot see each other.
    """
    argv = [bwrap, "--unshare-pid", "--unshare-net", "--unshare-ipc", "--unshare-uts", "--unshare-cgroup-try"]
    argv += ["--die-with-parent", "--new-session", "--hostname", "sandbox", "--cap-drop", "ALL"]
    for cap in ZYGOTE_CAPS:
        argv += ["--cap-add", cap]
    argv += system_view()
    argv += ["--proc", "/proc", "--dev", "/dev", "--size", str(tmp_mb * _MB), "--tmpfs", "/tmp"]
    argv += _python_binds(python)  # after /tmp: a virtual environment may live under it
    argv += ["--ro-bind", runtime, runtime, "--bind", scratch_root, scratch_root, "--chdir", "/", "--"]
    return argv


class WarmBwrapSandbox(WarmProcessSandbox, BwrapSandbox):
    """The bwrap backend with workers forked from a zygote that runs inside bubblewrap.

    Needs root (the zygote switches each worker to its private uid). Without root, and for
    workers assigned a GPU (whose device nodes are bound per worker), workers are spawned
    cold through ``BwrapSandbox.launch`` with the same view.
    """

    name = "bwrap"

    def __init__(self, **kwargs: Any) -> None:
        self._zygote_scratch: str | None = None
        super().__init__(**kwargs)
        if self.bwrap is None:
            self.zygote_error = "bubblewrap (bwrap) is not installed"
        elif not self.privileged:
            self.zygote_error = "a bwrap zygote needs root to give each worker its own uid"
        # else: the zygote's scratch root is made on first use (``scratch_root``)

    @property
    def scratch_root(self) -> str:
        """Where worker scratch dirs are made: a folder the zygote's bubblewrap binds, once it may run."""
        if self.zygote_error is None:
            if self._zygote_scratch is None:
                self._zygote_scratch = owned_temp_dir("bwrap-zygote")
                os.chmod(self._zygote_scratch, 0o711)  # worker uids traverse to their own 0700 dirs
                weakref.finalize(self, shutil.rmtree, self._zygote_scratch, True)  # also at exit, if never closed
            return self._zygote_scratch
        return self._default_scratch_root

    @scratch_root.setter
    def scratch_root(self, value: str) -> None:
        self._default_scratch_root = value

    def zygote_wrapper(self, runtime: str) -> tuple[str, ...]:
        assert self.bwrap is not None
        return tuple(zygote_bwrap_argv(self.bwrap, self.python, runtime, self.scratch_root, self.tmp_mb))

    def launch(self, spec: LaunchSpec) -> Any:
        if spec.env.get("CUDA_VISIBLE_DEVICES"):  # device nodes are bound per worker: spawn
            return BwrapSandbox.launch(self, spec)
        confinement = dataclasses.replace(spec.confinement, exposures=())  # the bwrap view already has the paths
        keep = [d for d in python_dirs(self.python) if any(d == t or d.startswith(t + "/") for t in ("/tmp", "/dev/shm"))]
        isolate = {"scratch": spec.cwd, "scratch_mb": spec.limits.scratch_mb, "tmp_mb": self.tmp_mb, "keep": keep}
        return self.fork(spec, confinement, isolate) or BwrapSandbox.launch(self, spec)

    def close(self) -> None:
        super().close()
        if self._zygote_scratch is not None:
            shutil.rmtree(self._zygote_scratch, ignore_errors=True)
