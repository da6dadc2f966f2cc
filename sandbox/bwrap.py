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

GPU: the device nodes of ``limits.gpu_devices`` (and the driver's control nodes) are bound
in, no others; ``CUDA_VISIBLE_DEVICES`` names the same devices.
"""

from __future__ import annotations

import dataclasses
import os
import shutil
import site
import subprocess
import sys
import weakref
from typing import Any, Iterable

from sandbox.api import CandidateFailure, Limits, SandboxError, SandboxInfo
from sandbox.process import LaunchSpec, ProcessSandbox, popen_options
from sandbox.zygote import WarmProcessSandbox, owned_temp_dir

#: Top-level system directories shown read-only (symlinks, as on merged-usr systems, are recreated).
SYSTEM_DIRS = ("usr", "bin", "sbin", "lib", "lib32", "lib64", "libx32")
#: Files and folders of /etc a Python worker may need; the rest of /etc stays hidden.
ETC_ENTRIES = ("ld.so.cache", "ld.so.conf", "ld.so.conf.d", "alternatives", "localtime", "nsswitch.conf", "passwd", "group")
#: NVIDIA control nodes every CUDA process opens, bound only when a GPU is assigned.
GPU_CONTROL_NODES = ("/dev/nvidiactl", "/dev/nvidia-uvm", "/dev/nvidia-uvm-tools", "/dev/nvidia-modeset")
_MB = 1 << 20


def find_bwrap() -> str | None:
    return shutil.which("bwrap")


_PROBED: list[str] = []


def probe() -> str:
    """Why the bwrap backend cannot run on this machine, or "" when it can (checked once per process).

    The check is a real worker start and call, not a version check: what fails in practice
    is the kernel or a container refusing the namespaces bubblewrap asks for.
    """
    if not _PROBED:
        _PROBED.append(_probe())
    return _PROBED[0]


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
    """Directories a worker interpreter needs readable: its prefixes, its binary's folder, site-packages."""
    candidates = {os.path.dirname(os.path.realpath(python)), os.path.dirname(os.path.abspath(python))}
    if os.path.realpath(python) == os.path.realpath(sys.executable):
        candidates |= {sys.prefix, sys.base_prefix, sys.exec_prefix, sys.base_exec_prefix, *site.getsitepackages()}
    dirs = sorted({os.path.realpath(p) for p in candidates if os.path.isdir(p)} | {os.path.abspath(p) for p in candidates if os.path.isdir(p)})
    dirs = [d for d in dirs if not _under_system(d)]
    return [d for d in dirs if not any(d != o and d.startswith(o.rstrip("/") + "/") for o in dirs)]


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


def gpu_device_nodes(devices: Iterable[str], *, dev: str = "/dev", driver: str = "/proc/driver/nvidia/gpus") -> list[str]:
    """``/dev/nvidiaN`` for each assigned device (an index, or a UUID the driver lists), plus control nodes.

    A UUID is resolved through the driver's ``<driver>/*/information`` (its "Device Minor").
    Raises SandboxError for a device that resolves to no node: binding a guess could hand
    the candidate a GPU it was not assigned, and binding none would fail obscurely later.
    """
    devices = list(devices)
    if not devices:
        return []
    by_uuid = _nvidia_minors_by_uuid(driver)
    nodes = []
    for device in devices:
        minor = device if device.isdigit() else by_uuid.get(device)
        if minor is None:
            raise SandboxError(f"GPU {device!r} is neither an index nor a UUID listed in {driver}")
        node = os.path.join(dev, f"nvidia{minor}")
        if not os.path.exists(node):
            raise SandboxError(f"GPU {device!r} was assigned but {node} does not exist on this machine")
        nodes.append(node)
    controls = (os.path.join(dev, os.path.basename(node)) for node in GPU_CONTROL_NODES)
    return nodes + [node for node in controls if os.path.exists(node)]


def _nvidia_minors_by_uuid(driver: str) -> dict[str, str]:
    found: dict[str, str] = {}
    for entry in sorted(os.listdir(driver)) if os.path.isdir(driver) else []:
        fields: dict[str, str] = {}
        try:
            with open(os.path.join(driver, entry, "information")) as f:
                for line in f:
                    key, _, value = line.partition(":")
                    fields[key.strip()] = value.strip()
        except OSError:
            continue
        if "GPU UUID" in fields and "Device Minor" in fields:
            found[fields["GPU UUID"]] = fields["Device Minor"]
    return found


def bwrap_argv(
    bwrap: str,
    spec: LaunchSpec,
    *,
    python: str,
    tmp_mb: int,
    gpu_nodes: Iterable[str] = (),
) -> list[str]:
    """The full command line: bubblewrap's options, then the worker's own argv.

    Pure (reads only the filesystem layout), so the mount plan can be unit-tested. The
    scratch dir ``spec.cwd`` keeps its host path, so the paths in the worker's argv and
    environment stay valid inside.
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
    argv += ["--chdir", scratch, "--"]
    return argv + list(spec.argv)


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

    def __init__(self, *, bwrap: str | None = None, tmp_mb: int = 64, **kwargs: Any) -> None:
        super().__init__(**kwargs)  # type: ignore[arg-type]
        self.bwrap = bwrap or find_bwrap()
        self.tmp_mb = tmp_mb  # size of each of /tmp and /dev/shm (the scratch's is limits.scratch_mb)
        self._limits: Limits | None = None

    def launch(self, spec: LaunchSpec) -> subprocess.Popen[bytes]:
        if self.bwrap is None:
            raise SandboxError("bubblewrap (bwrap) is not installed: apt-get install -y bubblewrap")
        gpus = spec.env.get("CUDA_VISIBLE_DEVICES", "")
        nodes = gpu_device_nodes([d for d in gpus.split(",") if d])
        argv = bwrap_argv(self.bwrap, spec, python=self.python, tmp_mb=self.tmp_mb, gpu_nodes=nodes)
        return BwrapProcess(argv, **popen_options(spec))

    def info(self) -> SandboxInfo:
        base = super().info()
        protections = base.protections + (
            "read-only system view; home, repository, run directory and database not mounted",
            "private size-capped tmpfs for scratch, /tmp and /dev/shm",
            "own pid, network, IPC, UTS and user namespaces; nested user namespaces disabled",
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
