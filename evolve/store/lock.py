"""One writer per run: an exclusive lock on ``<run>/lock`` for as long as a controller writes.

``evolve run`` and ``evolve resume`` take the lock before touching the database and keep
it until they exit; a second writer on the same run is refused with the holder's pid, so
two controllers can never interleave their commits. The lock is an ``flock`` on an open
file description: the kernel releases it when the holder exits, however it dies
(``kill -9`` included), so a crashed run never stays locked. Readers (``status``,
``best``) never take it; ``held_by`` tells them whether a controller is alive, which is how
``status`` knows that a run whose database says "running" was in fact killed.
"""

from __future__ import annotations

import errno
import fcntl
import os
from pathlib import Path

LOCK_NAME = "lock"


class RunLocked(Exception):
    """Another live process writes this run."""

    def __init__(self, directory: Path, pid: int | None) -> None:
        who = f"process {pid}" if pid else "another process"
        super().__init__(
            f"{directory}: {who} is running this run (evolve run/resume holds its lock); "
            "wait for it to finish, or stop it (Ctrl-C) and resume"
        )
        self.pid = pid


class RunLock:
    def __init__(self, directory: Path) -> None:
        self.path = Path(directory) / LOCK_NAME
        self._fd: int | None = None

    def acquire(self) -> None:
        """Take the lock now or raise RunLocked naming the holder; idempotent."""
        if self._fd is not None:
            return
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            os.close(fd)
            if exc.errno in (errno.EWOULDBLOCK, errno.EAGAIN):
                raise RunLocked(self.path.parent, held_by(self.path.parent)) from None
            raise
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        self._fd = fd

    def release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)  # closing the description releases the flock
            self._fd = None

    @property
    def held(self) -> bool:
        return self._fd is not None


def held_by(directory: Path) -> int | None:
    """The pid of the live process holding the run's lock (0 if unknown), or None when no one does."""
    path = Path(directory) / LOCK_NAME
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    except FileNotFoundError:
        return None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except OSError as exc:
            if exc.errno not in (errno.EWOULDBLOCK, errno.EAGAIN):
                raise
            text = os.pread(fd, 32, 0).decode(errors="replace").strip()
            return int(text) if text.isdigit() else 0
        fcntl.flock(fd, fcntl.LOCK_UN)
        return None
    finally:
        os.close(fd)
