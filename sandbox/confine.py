"""What a worker process is confined to: environment, resource limits, namespaces, identity.

Everything here is decided in the trusted parent and applied between fork and exec
(``Confinement.preexec``), so no candidate code ever runs unconfined and the worker program
itself enforces nothing. The order inside ``preexec`` matters:

1. become a child subreaper, so orphaned descendants re-parent to the worker and stay
   findable by ``sandbox.reaper`` even after ``setsid()``;
2. enter new namespaces while still privileged: a network namespace (only a down loopback,
   so no connection succeeds) and, when the interpreter lies under a directory an
   unprivileged uid cannot traverse, a mount namespace that exposes just the interpreter
   (see ``Exposure``); without root, a user namespace is tried instead, best effort;
3. set the resource limits, drop to the worker's own uid/gid with no supplementary groups,
   then set no_new_privs so setuid binaries cannot regain privilege;
4. set the memory limit last: the forked child still has the parent's address space, and
   after RLIMIT_AS it may not be able to allocate anything.

A failure is written to the child's stderr (the parent's output capture) before it
propagates, because subprocess reports only "Exception occurred in preexec_fn".
"""

from __future__ import annotations

import os
import resource
import stat
from dataclasses import dataclass
from typing import Iterable, Mapping

from sandbox import syscalls
from sandbox.api import Limits

#: Variables copied from the trusted environment; everything else (API keys!) is dropped.
PASSED_ENV = ("PATH", "LANG", "LC_ALL", "TZ")
#: Variables the sandbox owns; ``extra_env`` may not override them.
FIXED_ENV = ("HOME", "TMPDIR", "CUDA_VISIBLE_DEVICES")

_MB = 1 << 20


def worker_env(limits: Limits, scratch: str, tmpdir: str, extra_env: Mapping[str, str] | None) -> dict[str, str]:
    """The worker's whole environment, built from an allow-list; never inherited wholesale."""
    env = {key: os.environ[key] for key in PASSED_ENV if key in os.environ}
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


def resource_limits(limits: Limits, *, privileged: bool, process_base: int = 0) -> tuple[tuple[int, int, int], ...]:
    """``(resource, soft, hard)`` triples in the order ``preexec`` applies them.

    RLIMIT_CPU gets a hard limit one second above the soft one: SIGXCPU first, SIGKILL if
    the candidate ignores it. RLIMIT_NPROC counts every task of the real uid, so without a
    private uid it is ``process_base`` (the tasks the user already runs) plus the allowance.
    GPU workers get RLIMIT_DATA instead of RLIMIT_AS, because CUDA reserves tens of GB of
    address space it never touches. Without privilege, limits are clamped to the current
    hard limits, which cannot be raised.
    """
    cpu = limits.effective_cpu_s()
    memory = resource.RLIMIT_DATA if limits.gpu_devices else resource.RLIMIT_AS
    wanted = [
        (resource.RLIMIT_CORE, 0, 0),
        (resource.RLIMIT_CPU, cpu, cpu + 1),
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
            soft, hard = min(soft, current), min(hard, current)
        clamped.append((which, soft, hard))
    return tuple(clamped)


@dataclass(frozen=True)
class Confinement:
    """The confinement of one worker; ``preexec`` runs in the forked child before exec.

    ``uid`` is the private uid to become (set only when the parent is root); ``privileged``
    says the parent is root, so namespaces can be created directly; otherwise a user
    namespace is attempted so that an unprivileged parent can still cut the network.
    """

    rlimits: tuple[tuple[int, int, int], ...]
    uid: int | None
    privileged: bool
    exposures: tuple[Exposure, ...] = ()

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

    def restrict(self) -> None:
        """Steps 3-4: resource limits, the uid drop, no_new_privs, then the memory limit."""
        for which, soft, hard in self.rlimits[:-1]:
            resource.setrlimit(which, (soft, hard))
        if self.uid is not None:
            os.setgroups([])
            os.setgid(self.uid)
            os.setuid(self.uid)
        syscalls.prctl(syscalls.PR_SET_NO_NEW_PRIVS, 1)
        which, soft, hard = self.rlimits[-1]
        resource.setrlimit(which, (soft, hard))

    def _enter_namespaces_as_root(self) -> None:
        if not self.exposures:
            try:
                syscalls.unshare(syscalls.CLONE_NEWNET)
            except OSError:
                pass  # e.g. a container without CAP_SYS_ADMIN; the parent sees the shared netns
            return
        syscalls.unshare(syscalls.CLONE_NEWNET | syscalls.CLONE_NEWNS)
        syscalls.mount(None, b"/", None, syscalls.MS_REC | syscalls.MS_PRIVATE, None)  # never propagate out
        old_umask = os.umask(0o022)
        try:
            for exposure in self.exposures:
                _expose(exposure)
        finally:
            os.umask(old_umask)

    def _enter_user_namespace(self) -> None:
        uid, gid = os.getuid(), os.getgid()
        try:
            syscalls.unshare(syscalls.CLONE_NEWUSER | syscalls.CLONE_NEWNET)
        except OSError:
            return  # unprivileged user namespaces disabled; the parent records it
        for name, text in (("setgroups", "deny"), ("uid_map", f"{uid} {uid} 1"), ("gid_map", f"{gid} {gid} 1")):
            try:
                fd = os.open(f"/proc/self/{name}", os.O_WRONLY)
                try:
                    os.write(fd, text.encode())
                finally:
                    os.close(fd)
            except OSError:
                pass  # unmapped ids show as "nobody" inside; file access still uses the real uid


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
