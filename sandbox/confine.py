"""What a worker process is confined to: environment, resource limits, namespaces, identity.

Everything here is decided in the trusted parent and applied between fork and exec
(``Confinement.preexec``), so no candidate code ever runs unconfined and the worker program
itself enforces nothing. The order inside ``preexec`` matters:

1. become a child subreaper, so orphaned descendants re-parent to the worker and stay
   findable by ``sandbox.reaper`` even after ``setsid()``;
2. enter new namespaces while still privileged: a network namespace (only a down loopback,
   so no connection succeeds), an IPC namespace (SysV shared memory, semaphores and message
   queues, POSIX message queues: private, and gone with the worker), and a mount namespace
   that exposes just the interpreter under a directory an unprivileged uid cannot traverse
   (``Exposure``) and makes the host's files read-only with private tmpfs over the
   world-writable directories (``sandbox.mounts``); without root, the same inside a new
   user namespace, best effort;
3. cap the IPC namespace (``ipc_sysctls``: SysV shared memory counts against no rlimit, so
   its total is capped at ``memory_mb``), bind the scratch dir back writable, set the
   resource limits, drop to the worker's own uid/gid with no supplementary groups (or, in
   a user namespace, drop its capabilities), then set no_new_privs so setuid binaries
   cannot regain privilege;
4. set the memory limit last: the forked child still has the parent's address space, and
   after RLIMIT_AS it may not be able to allocate anything.

5. with ``seccomp`` (a process-backend worker exec'd directly), install the seccomp filter
   (``sandbox.seccomp``); otherwise ``worker_main`` installs it before the candidate runs.

A failure is written to the child's stderr (the parent's output capture) before it
propagates, because subprocess reports only "Exception occurred in preexec_fn".
"""

from __future__ import annotations

import os
import resource
import site
import stat
import sys
from dataclasses import dataclass
from typing import Iterable, Mapping

from sandbox import mounts, seccomp, syscalls
from sandbox.api import Limits

#: Variables copied from the trusted environment; everything else (API keys!) is dropped.
PASSED_ENV = ("PATH", "LANG", "LC_ALL", "TZ")
#: Also copied for a worker assigned a GPU: where the CUDA driver's libraries are (e.g.
#: /usr/local/nvidia/lib64 in GPU containers), which the loader's cache may not list.
GPU_PASSED_ENV = ("LD_LIBRARY_PATH",)
#: Variables the sandbox owns; ``extra_env`` may not override them.
FIXED_ENV = ("HOME", "TMPDIR", "CUDA_VISIBLE_DEVICES")

_MB = 1 << 20


def worker_env(limits: Limits, scratch: str, tmpdir: str, extra_env: Mapping[str, str] | None) -> dict[str, str]:
    """The worker's whole environment, built from an allow-list; never inherited wholesale."""
    passed = PASSED_ENV + (GPU_PASSED_ENV if limits.gpu_devices else ())
    env = {key: os.environ[key] for key in passed if key in os.environ}
    env.setdefault("PATH", os.defpath)
    env.update(
        OMP_NUM_THREADS="1",
        MKL_NUM_THREADS="1",
        OPENBLAS_NUM_THREADS="1",
        PYTHONHASHSEED="0",
        PYTHONDONTWRITEBYTECODE="1",
        CUDA_VISIBLE_DEVICES=",".join(limits.gpu_devices),
        HOME=scratch,
        TMPDIR=tmpdir,
    )
    for key, value in (extra_env or {}).items():
        if not isinstance(key, str) or not isinstance(value, str):
            raise TypeError(f"extra_env must map str to str; got {key!r}: {type(value).__name__}")
        if not key or "=" in key or "\0" in key or "\0" in value:
            raise ValueError(f"extra_env: {key!r} is not a valid environment variable name or value")
        if key in FIXED_ENV:
            raise ValueError(f"extra_env may not set {key}: the sandbox sets it (limits.gpu_devices for CUDA)")
        env[key] = value
    return env


def interpreter_dirs(python: str) -> list[str]:
    """Directories a worker interpreter needs readable: its prefixes, its binary's folder,
    site-packages (the trusted interpreter's when ``python`` is the same one); both the
    resolved and the unresolved spelling of each, without duplicates or nesting."""
    candidates = {os.path.dirname(os.path.realpath(python)), os.path.dirname(os.path.abspath(python))}
    if os.path.realpath(python) == os.path.realpath(sys.executable):
        candidates |= {sys.prefix, sys.base_prefix, sys.exec_prefix, sys.base_exec_prefix, *site.getsitepackages()}
    found = {os.path.realpath(p) for p in candidates if os.path.isdir(p)}
    found |= {os.path.abspath(p) for p in candidates if os.path.isdir(p)}
    dirs = sorted(found)
    return [d for d in dirs if not any(d != o and d.startswith(o.rstrip("/") + "/") for o in dirs)]


@dataclass(frozen=True)
class Exposure:
    """Make directories under an untraversable directory visible to an unprivileged uid.

    ``cover`` (e.g. a 0700 home) is hidden under an empty read-only tmpfs in the worker's
    private mount namespace, and each directory in ``keep`` (e.g. a Python installation
    inside it) is bind-mounted back at its own path, so the interpreter's prefix, venv files
    and sys.path stay valid while the rest of ``cover`` disappears from the worker's view.
    """

    cover: str
    keep: tuple[str, ...]


def plan_exposures(paths: Iterable[str]) -> tuple[Exposure, ...]:
    """Exposures needed for an unprivileged uid to use ``paths`` (directories).

    Only the "other" permission bits count: the worker's uid owns nothing and has no
    groups. Raises PermissionError when a needed directory is itself unreadable, which no
    mount can fix.
    """
    needed = sorted({os.path.realpath(p) for p in paths if os.path.isdir(p)})
    needed = [p for p in needed if not any(p != q and p.startswith(q.rstrip("/") + "/") for q in needed)]
    groups: dict[str, list[str]] = {}
    for path in needed:
        blocked = _first_untraversable_ancestor(path)
        if blocked is None:
            continue
        mode = os.stat(path).st_mode
        if mode & (stat.S_IROTH | stat.S_IXOTH) != stat.S_IROTH | stat.S_IXOTH:
            raise PermissionError(
                f"{path} has mode {stat.filemode(mode)}: the sandbox's unprivileged uid cannot read it;"
                " install Python (and the scratch root) in world-readable directories"
            )
        groups.setdefault(blocked, []).append(path)
    return tuple(Exposure(cover, tuple(keep)) for cover, keep in sorted(groups.items()))


def _first_untraversable_ancestor(path: str) -> str | None:
    parts = path.strip("/").split("/")
    for depth in range(1, len(parts)):
        ancestor = "/" + "/".join(parts[:depth])
        if not os.stat(ancestor).st_mode & stat.S_IXOTH:
            return ancestor
    return None


def ipc_sysctls(limits: Limits) -> tuple[tuple[str, str], ...]:
    """``/proc/sys`` settings of a worker's own IPC namespace (each namespace starts unlimited).

    SysV shared memory is held by the namespace, not by a process, so no rlimit sees it: its
    total (``shmall``, in pages) and largest segment are capped at ``memory_mb``. Message
    queues and semaphore sets are capped to small counts (kernel memory, not address space).
    """
    size = limits.memory_mb * _MB
    return (
        ("kernel/shmmax", str(size)),
        ("kernel/shmall", str(size // resource.getpagesize())),
        ("kernel/shmmni", "256"),
        ("kernel/msgmni", "16"),
        ("kernel/sem", "250 32000 32 128"),  # per set, in all, per semop, sets
    )


def resource_limits(limits: Limits, *, privileged: bool, process_base: int = 0) -> tuple[tuple[int, int, int], ...]:
    """``(resource, soft, hard)`` triples in the order ``preexec`` applies them.

    RLIMIT_CPU's soft limit starts at the start-up budget (``Limits.startup_cpu_budget_s``)
    and the worker moves it before each call to the CPU used so far plus the call's budget
    (``worker_main``); its hard limit stays unlimited (or the user's), because lowering a
    hard limit is final and a per-worker cap would end a long-lived worker. RLIMIT_NPROC
    counts every task of the real uid, so without a private uid it is ``process_base``
    (the tasks the user already runs) plus the allowance. GPU workers get
    RLIMIT_DATA instead of RLIMIT_AS, because CUDA reserves tens of GB of address space it
    never touches. Without privilege, limits are clamped to the current hard limits, which
    cannot be raised.
    """
    cpu = limits.startup_cpu_budget_s()
    memory = resource.RLIMIT_DATA if limits.gpu_devices else resource.RLIMIT_AS
    wanted = [
        (resource.RLIMIT_CORE, 0, 0),
        (resource.RLIMIT_CPU, cpu, resource.RLIM_INFINITY),
        (resource.RLIMIT_FSIZE, limits.max_file_mb * _MB, limits.max_file_mb * _MB),
        (resource.RLIMIT_NOFILE, limits.max_open_files, limits.max_open_files),
        (resource.RLIMIT_NPROC, process_base + limits.max_processes, process_base + limits.max_processes),
        (memory, limits.memory_mb * _MB, limits.memory_mb * _MB),
    ]
    if privileged:
        return tuple(wanted)
    clamped = []
    for which, soft, hard in wanted:
        current = resource.getrlimit(which)[1]
        if current != resource.RLIM_INFINITY:
            soft = min(soft, current)
            hard = current if hard == resource.RLIM_INFINITY else min(hard, current)
        clamped.append((which, soft, hard))
    return tuple(clamped)


@dataclass(frozen=True)
class Confinement:
    """The confinement of one worker; ``preexec`` runs in the forked child before exec.

    ``uid`` is the private uid to become (set only when the parent is root); ``privileged``
    says the parent is root, so namespaces can be created directly; otherwise a user
    namespace is attempted so that an unprivileged parent can still cut the network.
    ``view`` (process backend) is the private filesystem view, ``ipc`` the settings of the
    worker's own IPC namespace (empty: no IPC namespace here, e.g. bubblewrap makes one),
    ``scratch`` the worker's scratch dir (bound back writable inside the view).
    """

    rlimits: tuple[tuple[int, int, int], ...]
    uid: int | None
    privileged: bool
    exposures: tuple[Exposure, ...] = ()
    view: mounts.ViewPlan | None = None
    ipc: tuple[tuple[str, str], ...] = ()
    scratch: str | None = None
    seccomp: bool = False  # install the seccomp filter last (a worker exec'd directly, not through a wrapper)

    def __post_init__(self) -> None:
        if self.seccomp:
            seccomp.prepare()  # in the parent: nothing but system calls are left for preexec

    def preexec(self) -> None:
        try:
            self.enter_namespaces()
            self.restrict()
        except BaseException as exc:
            os.write(2, f"sandbox set-up failed in the worker before exec: {exc}\n".encode(errors="replace"))
            raise

    def enter_namespaces(self) -> None:
        """Steps 1-2: subreaper and namespaces. The same for every worker of a sandbox, so a
        zygote can do them ahead of time in a spare child (``sandbox.zygote_main``)."""
        syscalls.prctl(syscalls.PR_SET_CHILD_SUBREAPER, 1)
        if self.privileged:
            self._enter_namespaces_as_root()
        else:
            self._enter_user_namespace()

    def enter_scratch(self, scratch: str) -> None:
        """Step 3's first part: bind the scratch dir into the private view and enter it (once)."""
        if _entered.get("view") and self.view is not None and not _entered.get("scratch"):
            mounts.bind_scratch(self.view, scratch)
            _entered["scratch"] = True

    def restrict(self) -> None:
        """Steps 3-4: IPC caps, the scratch bind, resource limits, the uid drop, no_new_privs,
        then the memory limit."""
        if _entered.get("ipc"):
            self._cap_ipc()
        if self.scratch is not None:
            self.enter_scratch(self.scratch)
        for which, soft, hard in self.rlimits[:-1]:
            resource.setrlimit(which, (soft, hard))
        if self.uid is not None:
            os.setgroups([])
            os.setgid(self.uid)
            os.setuid(self.uid)
        elif _entered.get("user"):
            syscalls.drop_capabilities()  # a forked worker keeps its user namespace's capabilities otherwise
        syscalls.prctl(syscalls.PR_SET_NO_NEW_PRIVS, 1)
        which, soft, hard = self.rlimits[-1]
        resource.setrlimit(which, (soft, hard))
        if self.seccomp:
            seccomp.prepare()()  # a failure is reported by the worker (it checks /proc/self/status)

    def _flags(self) -> int:
        flags = syscalls.CLONE_NEWNET
        if self.ipc:
            flags |= syscalls.CLONE_NEWIPC
        if self.exposures or self.view is not None:
            flags |= syscalls.CLONE_NEWNS
        return flags

    def _enter_namespaces_as_root(self) -> None:
        flags = self._flags()
        try:
            syscalls.unshare(flags)
        except OSError:
            if self.exposures:
                raise
            self._enter_what_the_kernel_grants(flags)
            return
        _entered["ipc"] = bool(flags & syscalls.CLONE_NEWIPC)
        if flags & syscalls.CLONE_NEWNS:
            self._private_mounts(strict=True)

    @staticmethod
    def _enter_what_the_kernel_grants(flags: int) -> None:
        """One namespace at a time, e.g. in a container without CAP_SYS_ADMIN: the parent sees a
        shared network namespace (``network_isolated``) and sweeps the uid's IPC and files at close."""
        for flag in (syscalls.CLONE_NEWNET, syscalls.CLONE_NEWIPC):
            if flags & flag:
                try:
                    syscalls.unshare(flag)
                except OSError:
                    continue
                if flag == syscalls.CLONE_NEWIPC:
                    _entered["ipc"] = True

    def _enter_user_namespace(self) -> None:
        uid, gid = os.getuid(), os.getgid()
        flags = self._flags() | syscalls.CLONE_NEWUSER
        try:
            syscalls.unshare(flags)
        except OSError:
            return  # unprivileged user namespaces disabled; the parent records it
        _entered.update(user=True, ipc=bool(flags & syscalls.CLONE_NEWIPC))
        for name, text in (("setgroups", "deny"), ("uid_map", f"{uid} {uid} 1"), ("gid_map", f"{gid} {gid} 1")):
            try:
                fd = os.open(f"/proc/self/{name}", os.O_WRONLY)
                try:
                    os.write(fd, text.encode())
                finally:
                    os.close(fd)
            except OSError:
                pass  # unmapped ids show as "nobody" inside; file access still uses the real uid
        if flags & syscalls.CLONE_NEWNS:
            self._private_mounts(strict=False)

    def _private_mounts(self, *, strict: bool) -> None:
        """Make the new mount namespace private, then expose the interpreter and apply the view.

        ``strict`` (root): a failure fails the worker's start. In a user namespace a
        failure leaves the host's view (the parent's weaker guarantee without root).
        """
        try:
            syscalls.mount(None, b"/", None, syscalls.MS_REC | syscalls.MS_PRIVATE, None)  # never propagate out
            old_umask = os.umask(0o022)
            try:
                for exposure in self.exposures:
                    _expose(exposure)
            finally:
                os.umask(old_umask)
            if self.view is not None:
                mounts.prepare(self.view)
                _entered["view"] = True
        except OSError as exc:
            if strict:
                raise
            os.write(2, f"sandbox: no private filesystem view in the user namespace: {exc}\n".encode(errors="replace"))

    def _cap_ipc(self) -> None:
        """Write ``ipc`` in the worker's own IPC namespace. Only its root may: as root that is
        us; in a user namespace the kernel refuses (no uid 0 there), so it stays uncapped."""
        for name, value in self.ipc:
            try:
                fd = os.open(f"/proc/sys/{name}", os.O_WRONLY)
            except PermissionError:
                if self.privileged:
                    raise
                return
            try:
                os.write(fd, value.encode())
            finally:
                os.close(fd)


_entered: dict[str, bool] = {}  # in the child: which namespaces ``enter_namespaces`` made


def _expose(exposure: Exposure) -> None:
    fds = [os.open(path, os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC) for path in exposure.keep]
    cover = exposure.cover.encode()
    flags = syscalls.MS_NOSUID | syscalls.MS_NODEV
    syscalls.mount(b"tmpfs", cover, b"tmpfs", flags, b"mode=0755,size=1m")
    for path, fd in zip(exposure.keep, fds):
        os.makedirs(path)
        syscalls.mount(f"/proc/self/fd/{fd}".encode(), path.encode(), None, syscalls.MS_BIND | syscalls.MS_REC, None)
        os.close(fd)
    syscalls.mount(None, cover, None, syscalls.MS_REMOUNT | syscalls.MS_RDONLY | flags, None)
