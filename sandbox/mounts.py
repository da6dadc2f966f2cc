"""The process backend's private view of the host filesystem: nothing writable but its own.

A process worker sees the host's files (that is what makes it cheap), but nothing it writes
may outlive it or reach another worker. In the worker's own mount namespace:

* every world-writable directory near the top of each mounted filesystem (``/tmp``,
  ``/var/tmp``, ``/dev/shm``, ``/run/lock``, ``/dev/mqueue``, ...: found from the mount
  table and a walk of each mount's first ``DEPTH`` levels, not a fixed list) is covered by
  a private, size-capped tmpfs with the directory's mode, so programs that expect a
  ``/tmp`` still work and whatever they write vanishes with the worker's namespace;
* every other mount of a real filesystem is remounted read-only, so a world-writable
  directory or file deeper in the tree (missed by the walk on purpose: walking a whole
  disk takes seconds) cannot be written at all;
* the worker's scratch dir is bound back read-write at its own path, and Python
  installations that lay under a covered directory (a virtual environment in ``/tmp``) are
  bound back read-only.

Nothing here changes the host: the mounts exist only in the worker's namespace, which
``sandbox.confine`` creates (as root, or inside an unprivileged user namespace) and makes
private first. The plan is computed once in the trusted parent (``plan_view``) and applied
in the child in two halves, so a zygote can prepare the first ahead of time: ``prepare``
(covers, binds, read-only remounts) and ``bind_scratch`` (the worker's own scratch dir,
opened relative to a descriptor of the scratch root taken before the covers hid it).
"""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass
from typing import Iterable

from sandbox import syscalls

#: Levels below each mount point searched for world-writable directories.
DEPTH = 2
#: Filesystems neither searched nor remounted: kernel interfaces, not storage (their
#: writable files need privilege; /proc/self is the worker's own).
PSEUDO_FS = frozenset(
    {
        "proc", "sysfs", "cgroup", "cgroup2", "debugfs", "tracefs", "securityfs", "pstore", "bpf",
        "configfs", "fusectl", "binfmt_misc", "devpts", "nsfs", "efivarfs", "selinuxfs", "autofs", "rpc_pipefs",
    }
)
#: Per-mount options a remount must keep (in a user namespace they are locked: dropping one is EPERM).
_KEPT_OPTIONS = {
    "nosuid": syscalls.MS_NOSUID,
    "nodev": syscalls.MS_NODEV,
    "noexec": syscalls.MS_NOEXEC,
    "noatime": syscalls.MS_NOATIME,
    "nodiratime": syscalls.MS_NODIRATIME,
    "relatime": syscalls.MS_RELATIME,
    "strictatime": syscalls.MS_STRICTATIME,
}


@dataclass(frozen=True)
class Mount:
    point: str
    fstype: str
    options: frozenset[str]

    @property
    def flags(self) -> int:
        return sum(bit for name, bit in _KEPT_OPTIONS.items() if name in self.options)


def read_mounts(path: str = "/proc/self/mountinfo") -> list[Mount]:
    """The mount table, in mount order (a later entry on the same point hides an earlier one)."""
    mounts = []
    with open(path, encoding="utf-8", errors="surrogateescape") as f:
        for line in f:
            fields = line.split()
            separator = fields.index("-")
            point = _unescape(fields[4])
            mounts.append(Mount(point, fields[separator + 1], frozenset(fields[5].split(","))))
    return mounts


def _unescape(text: str) -> str:
    """mountinfo writes space, tab, newline and backslash as ``\\ooo`` octal escapes."""
    if "\\" not in text:
        return text
    out, i = [], 0
    while i < len(text):
        if text[i] == "\\" and text[i + 1 : i + 4].isdigit():
            out.append(chr(int(text[i + 1 : i + 4], 8)))
            i += 4
        else:
            out.append(text[i])
            i += 1
    return "".join(out)


def world_writable_dirs(mounts: Iterable[Mount], depth: int = DEPTH) -> list[str]:
    """Directories any uid may write, at most ``depth`` levels below a mount point.

    The walk enters only directories every uid may traverse (a worker cannot reach the
    rest), follows no symlink, skips pseudo filesystems, and stops at a world-writable
    directory (a cover hides everything below it).
    """
    points = {}
    for mount in mounts:
        points[mount.point] = mount.fstype  # the last mount on a point is the visible one
    found: set[str] = set()
    for point, fstype in sorted(points.items()):
        if fstype in PSEUDO_FS or any(point.startswith(p.rstrip("/") + "/") for p in found):
            continue
        _walk(point, depth, points, found)
    return sorted(p for p in found if not any(p != q and p.startswith(q.rstrip("/") + "/") for q in found))


def _walk(path: str, depth: int, points: dict[str, str], found: set[str]) -> None:
    try:
        info = os.lstat(path)
    except OSError:
        return
    if not stat.S_ISDIR(info.st_mode) or not info.st_mode & stat.S_IXOTH:
        return
    if info.st_mode & stat.S_IWOTH:
        found.add(path)
        return
    if depth == 0:
        return
    try:
        entries = [entry for entry in os.scandir(path) if entry.is_dir(follow_symlinks=False)]
    except OSError:
        return
    for entry in entries:
        if points.get(entry.path) in PSEUDO_FS:
            continue
        _walk(entry.path, depth - 1, points, found)


def _under(path: str, roots: Iterable[str]) -> bool:
    return any(path == root or path.startswith(root.rstrip("/") + "/") for root in roots)


@dataclass(frozen=True)
class ViewPlan:
    """What ``prepare`` and ``bind_scratch`` do in the worker; plain data (a zygote gets it as JSON).

    ``covers``: (directory, mode) pairs to hide under a private tmpfs of ``tmp_mb`` MB;
    ``keep``: directories under a cover bound back read-only (Python installations);
    ``readonly``: (mount point, kept flags) of each writable real filesystem to remount
    read-only; ``scratch_root``: where worker scratch dirs are made, on a mount whose kept
    flags are ``scratch_flags``.
    """

    covers: tuple[tuple[str, int], ...]
    keep: tuple[str, ...]
    readonly: tuple[tuple[str, int], ...]
    scratch_root: str
    scratch_flags: int
    tmp_mb: int

    def to_json(self) -> list:
        return [
            [list(c) for c in self.covers], list(self.keep), [list(r) for r in self.readonly],
            self.scratch_root, self.scratch_flags, self.tmp_mb,
        ]

    @classmethod
    def from_json(cls, data: list) -> "ViewPlan":
        covers, keep, readonly, scratch_root, scratch_flags, tmp_mb = data
        covers = tuple((path, mode) for path, mode in covers)
        readonly = tuple((point, flags) for point, flags in readonly)
        return cls(covers, tuple(keep), readonly, scratch_root, scratch_flags, tmp_mb)


def plan_view(scratch_root: str, python_dirs: Iterable[str], hidden: Iterable[str] = (), *, tmp_mb: int = 64) -> ViewPlan:
    """The view for workers whose scratch dirs live in ``scratch_root``.

    ``python_dirs``: directories the interpreter needs; ``hidden``: directories another
    step covers (``confine.Exposure``), whose mounts are left alone.
    """
    mounts = read_mounts()
    hidden = tuple(hidden)
    covers = [path for path in world_writable_dirs(mounts) if not _under(path, hidden)]
    keep = sorted({os.path.realpath(p) for p in python_dirs if os.path.isdir(p) and _under(os.path.realpath(p), covers)})
    keep = [p for p in keep if not any(p != q and p.startswith(q.rstrip("/") + "/") for q in keep)]
    visible: dict[str, Mount] = {}
    for mount in mounts:
        visible[mount.point] = mount
    readonly = [
        (mount.point, mount.flags)
        for point, mount in visible.items()
        if mount.fstype not in PSEUDO_FS
        and "ro" not in mount.options
        and not _under(point, covers)
        and not _under(point, hidden)
        and not _under(point, ("/proc", "/sys"))
    ]
    modes = tuple((path, stat.S_IMODE(os.lstat(path).st_mode)) for path in covers)
    root = os.path.realpath(scratch_root)
    holder = max((m for m in visible.values() if _under(root, (m.point,))), key=lambda m: len(m.point))
    readonly.sort(key=lambda r: r[0].count("/"))
    return ViewPlan(modes, tuple(keep), tuple(readonly), root, holder.flags, tmp_mb)


_prepared: dict[str, int] = {}  # in the worker: the scratch root's descriptor, taken before the covers


def prepare(plan: ViewPlan) -> None:
    """First half, in the worker's fresh private mount namespace: covers, binds, read-only remounts."""
    _prepared["root"] = os.open(plan.scratch_root, os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
    keep = [(path, os.open(path, os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)) for path in plan.keep]
    private = syscalls.MS_NOSUID | syscalls.MS_NODEV
    for path, mode in plan.covers:
        options = f"size={plan.tmp_mb}m,mode={mode:o}".encode()
        syscalls.mount(b"tmpfs", path.encode(), b"tmpfs", private, options)
    umask = os.umask(0o022)
    try:
        for path, fd in keep:
            os.makedirs(path, mode=0o755, exist_ok=True)
            syscalls.mount(f"/proc/self/fd/{fd}".encode(), path.encode(), None, syscalls.MS_BIND | syscalls.MS_REC, None)
            readonly = syscalls.MS_REMOUNT | syscalls.MS_BIND | syscalls.MS_RDONLY | private
            syscalls.mount(None, path.encode(), None, readonly, None)
            os.close(fd)
    finally:
        os.umask(umask)
    for point, flags in plan.readonly:
        syscalls.mount(None, point.encode(), None, syscalls.MS_REMOUNT | syscalls.MS_BIND | syscalls.MS_RDONLY | flags, None)


def bind_scratch(plan: ViewPlan, scratch: str) -> None:
    """Second half: bind the worker's scratch dir (a child of the scratch root) back, writable,
    and make it the working directory (a cwd taken before the bind is on the read-only mount)."""
    name = os.path.relpath(scratch, plan.scratch_root)
    if "/" in name or name in (".", ".."):
        raise ValueError(f"scratch dir {scratch} is not a child of the scratch root {plan.scratch_root}")
    root = _prepared.pop("root")
    source = os.open(name, os.O_PATH | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=root)
    os.close(root)
    umask = os.umask(0o022)
    try:
        os.makedirs(scratch, mode=0o755, exist_ok=True)  # inside a cover: a mount point for the bind
    finally:
        os.umask(umask)
    syscalls.mount(f"/proc/self/fd/{source}".encode(), scratch.encode(), None, syscalls.MS_BIND, None)
    flags = syscalls.MS_REMOUNT | syscalls.MS_BIND | syscalls.MS_NOSUID | syscalls.MS_NODEV | plan.scratch_flags
    syscalls.mount(None, scratch.encode(), None, flags, None)  # writable again: the source mount is read-only now
    os.close(source)
    os.chdir(scratch)
