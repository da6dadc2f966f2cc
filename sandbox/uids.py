"""Private uids for sandbox workers, when the trusted side runs as root.

Root is not bound by RLIMIT_NPROC and can read every file, so a root parent runs each live
worker as its own unprivileged uid (and a gid of the same number, with no supplementary
groups). A private uid makes the process limit bind, makes the parent's 0700 directories
unreadable to the candidate, and lets ``sandbox.reaper`` find every process the candidate
started, however it detached, by uid alone.

Range: ``UID_BASE`` = 0x7E570000 (2119630848) and the next ``UID_COUNT`` = 4096 ids. It lies in
the band systemd documents as unused (0x70000000-0x7FFDFFFF: above the container ranges,
below the foreign-image range and the signed-overflow half), far above /etc/subuid
allocations; ids with a passwd or group entry are skipped anyway.

Ownership: ``<lock_dir>/<uid>.lock`` is held with ``flock`` for the worker's whole life, so
concurrent evaluator processes on one machine never share a uid, and a lock dies with its
process, so a crashed parent frees its uids. Whatever a crashed parent left running under
a uid is killed by the next process that takes it. The lock dir must be owned by root and
not writable by others (a candidate's uid cannot open the lock files).
"""

from __future__ import annotations

import errno
import fcntl
import grp
import os
import pwd
import secrets
import stat
import tempfile

from sandbox import reaper
from sandbox.api import SandboxError

UID_BASE = 0x7E570000
UID_COUNT = 4096


def default_lock_dir() -> str:
    """``/run/evolve-sandbox`` (root-only tmpfs on most systems), else under the temp dir."""
    if os.path.isdir("/run") and os.access("/run", os.W_OK):
        return "/run/evolve-sandbox"
    return os.path.join(tempfile.gettempdir(), f"evolve-sandbox-{os.geteuid()}")


_CLEAN = b"clean"  # lock file content after a release that left no process of the uid


class UidLease:
    """One uid, held until ``release``: the lock file descriptor is the ownership.

    ``release`` is called only once every process of the uid is dead, and marks the lock
    file clean; a lock file that is not marked clean (its owner crashed) makes the next
    owner sweep the uid for leftovers first. That sweep reads all of /proc (milliseconds),
    so skipping it when the previous owner cleaned up is what keeps starts cheap.
    """

    def __init__(self, uid: int, fd: int) -> None:
        self.uid = uid
        self._fd: int | None = fd

    def release(self) -> None:
        if self._fd is not None:
            os.pwrite(self._fd, _CLEAN, 0)
            os.close(self._fd)  # drops the flock
            self._fd = None


class UidPool:
    """Hands out uids from ``range(base, base + count)`` that no live worker holds."""

    def __init__(self, lock_dir: str | None = None, base: int = UID_BASE, count: int = UID_COUNT) -> None:
        self.lock_dir = lock_dir or default_lock_dir()
        self.base = base
        self.count = count
        self._checked = False
        self._accountless: set[int] = set()  # uids seen without a passwd/group entry (NSS look-ups cost)

    def acquire(self) -> UidLease:
        self._check_lock_dir()
        start = secrets.randbelow(self.count)  # random start: few collisions, slow reuse of a uid
        for i in range(self.count):
            uid = self.base + (start + i) % self.count
            if uid not in self._accountless:
                if _has_account(uid):
                    continue
                self._accountless.add(uid)
            fd = os.open(
                os.path.join(self.lock_dir, f"{uid}.lock"),
                os.O_RDWR | os.O_CREAT | os.O_CLOEXEC | os.O_NOFOLLOW,
                0o600,
            )
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError as exc:
                os.close(fd)
                if exc.errno in (errno.EWOULDBLOCK, errno.EAGAIN):
                    continue
                raise
            clean = os.pread(fd, len(_CLEAN) + 1, 0) == _CLEAN
            if not clean and reaper.kill_uid(uid):  # leftovers of a crashed owner that will not die: skip it
                os.close(fd)
                continue
            os.ftruncate(fd, 0)  # in use: a crash from now on leaves the file unmarked
            return UidLease(uid, fd)
        raise SandboxError(
            f"all {self.count} sandbox uids {self.base}..{self.base + self.count - 1} are in use"
            f" (locks in {self.lock_dir}); close workers or raise the count"
        )

    def _check_lock_dir(self) -> None:
        if self._checked:
            return
        os.makedirs(self.lock_dir, mode=0o700, exist_ok=True)
        info = os.lstat(self.lock_dir)
        if not stat.S_ISDIR(info.st_mode) or info.st_uid != os.geteuid() or info.st_mode & 0o022:
            raise SandboxError(
                f"uid lock dir {self.lock_dir} must be a directory owned by uid {os.geteuid()}"
                f" and not writable by group or others (it is {stat.filemode(info.st_mode)}, uid {info.st_uid})"
            )
        self._checked = True


def _has_account(uid: int) -> bool:
    for lookup in (pwd.getpwuid, grp.getgrgid):
        try:
            lookup(uid)
            return True
        except KeyError:
            pass
    return False
