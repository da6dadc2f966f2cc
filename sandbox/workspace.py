"""Everything one worker holds outside the Python heap, released together and exactly once.

A ``Workspace`` collects, as a worker starts: a uid lease (root only), the scratch dir, the
process, and the channel (its pipes). ``stop`` kills the worker and everything it started
*before* reaping it (the zombie keeps the pid, and so the process group id, from being
reused by an unrelated process while ``killpg`` runs), and keeps the wait status and rusage
for classifying the death. ``release`` also closes the pipes, deletes the scratch dir and
the uid's leftovers in the world-writable directories and in SysV IPC (there only should a
kernel have refused the worker its own mount and IPC namespaces), and returns the uid. The worker's weakref
finalizer calls ``release``, so it must never refer back to the worker object.

Scratch layout (other backends rely on it)::

    <scratch>/             0700, the worker's cwd and HOME, owned by its uid
    <scratch>/tmp/         TMPDIR
    <scratch>/.sandbox/    worker_main.py, wire.py, seccomp.py and <module>.py (the candidate source)

The worker program is copied rather than run from the repository, which the worker's uid
may not be able to read.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
from typing import Any

from sandbox import reaper
from sandbox.api import SandboxError
from sandbox.channel import Channel
from sandbox.uids import UidLease

RUNTIME_DIR = ".sandbox"
TMP_DIR = "tmp"
WORKER_FILES = ("worker_main.py", "wire.py", "seccomp.py")
_HERE = os.path.dirname(os.path.abspath(__file__))


class Workspace:
    """A worker's OS resources; fields are filled in as the start proceeds."""

    def __init__(self) -> None:
        self.lease: UidLease | None = None
        self.scratch: str | None = None
        self.proc: subprocess.Popen[bytes] | None = None
        self.channel: Channel | None = None
        self.survivors: list[int] = []  # pids that outlived SIGKILL
        self.shared_dirs: tuple[str, ...] = ()  # world-writable directories to sweep for the uid's files
        self._stopped = False
        self._released = False
        self._status: int | None = None
        self._usage: Any = None

    @property
    def uid(self) -> int | None:
        """The private uid the worker runs as, or None when it keeps the parent's."""
        return self.lease.uid if self.lease is not None else None

    def populate(self, scratch: str, source: bytes, module_name: str) -> str:
        """Lay out ``scratch`` (already created, 0700); return the candidate source's path."""
        self.scratch = scratch
        runtime = os.path.join(scratch, RUNTIME_DIR)
        os.mkdir(os.path.join(scratch, TMP_DIR), 0o700)
        os.mkdir(runtime, 0o700)
        for name in WORKER_FILES:
            shutil.copyfile(os.path.join(_HERE, name), os.path.join(runtime, name))
        source_path = os.path.join(runtime, f"{module_name}.py")
        with open(source_path, "wb") as f:
            f.write(source)
        if self.uid is not None:
            for directory, _, files in os.walk(scratch):
                os.chown(directory, self.uid, self.uid)
                for name in files:
                    os.chown(os.path.join(directory, name), self.uid, self.uid)
        return source_path

    def stop(self) -> tuple[int | None, Any]:
        """Kill the worker and every process it started, then reap it; idempotent.

        Returns the worker's wait status and rusage (None if something else reaped it). A
        process handle with a ``reap()`` method (a zygote's child, which is not ours to wait
        for; a wrapper that reports signals as exit codes) is reaped through it.
        """
        if self.proc is not None and not self._stopped:
            self._stopped = True
            self.survivors = reaper.terminate(self.proc.pid, uid=self.uid)
            if self.channel is not None:
                self.channel.drain_output()  # its last words
            reap = getattr(self.proc, "reap", None)
            try:
                if reap is not None:
                    self._status, self._usage = reap()
                else:
                    _, self._status, self._usage = os.wait4(self.proc.pid, 0)
            except ChildProcessError:
                pass
            if self._status is not None:
                self.proc.returncode = os.waitstatus_to_exitcode(self._status)
            elif self.proc.returncode is None:
                self.proc.returncode = -signal.SIGKILL
        return self._status, self._usage

    def release(self) -> None:
        """Stop the worker and free everything; idempotent.

        Raises SandboxError if processes survived SIGKILL; their uid then stays locked, so
        no later worker shares it with them.
        """
        if self._released:
            return
        self._released = True
        self.stop()
        if self.channel is not None:
            self.channel.close()
        if self.scratch is not None:
            reaper.remove_tree(self.scratch)
        if self.lease is not None:
            if self.survivors:
                raise SandboxError(f"processes {self.survivors} of sandbox uid {self.lease.uid} survived SIGKILL")
            reaper.remove_files_of_uid(self.lease.uid, self.shared_dirs)
            reaper.remove_ipc_of_uid(self.lease.uid)
            self.lease.release()
