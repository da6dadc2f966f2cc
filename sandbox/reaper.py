"""Finding and killing every process a worker started, and removing what its uid left behind.

A worker is a session leader, so ``killpg`` reaches everything that stayed in its process
group. A candidate can leave the group (``setsid()``, a double fork), so there is a second,
stronger sweep:

* with a private uid (the trusted side runs as root, see ``sandbox.uids``): every process
  whose real uid is the worker's is killed, repeatedly, until none is left. A process cannot
  change its real uid without privilege, and no_new_privs blocks setuid binaries, so this
  reaches daemons wherever they moved in the process tree;
* without one: the worker is a child subreaper, so orphans re-parent to it rather than to
  init; its descendants are found through ``/proc/*/stat`` parent links, stopped (SIGSTOP,
  so they cannot fork while being collected) until the set stops growing, then killed.
  This fails if the worker process itself died first or the candidate cleared the
  subreaper flag: the weaker, documented guarantee of running without root.

Zombies count as gone: they hold no memory or files and vanish when their parent reaps them.

What a private uid may leave outside processes is removed at release too: its entries in
the world-writable directories (``remove_files_of_uid``; the process backend's workers
normally write those only in private tmpfs, see ``sandbox.mounts``) and its SysV IPC objects
in the host's IPC namespace (``remove_ipc_of_uid``; normally each worker has its own).
"""

from __future__ import annotations

import ctypes
import os
import shutil
import signal
import stat
import time
from typing import Iterable

_DEAD_STATES = frozenset("ZX")
_STOPPED_STATES = frozenset("Tt") | _DEAD_STATES


def _pids() -> list[int]:
    return [int(name) for name in os.listdir("/proc") if name.isdigit()]


def _status(pid: int) -> bytes | None:
    try:
        with open(f"/proc/{pid}/status", "rb") as f:
            return f.read()
    except OSError:  # gone since the listing
        return None


def _field(status: bytes, name: bytes) -> bytes:
    start = status.index(b"\n" + name + b":") + len(name) + 2
    return status[start : status.index(b"\n", start)].strip()


def pid_alive(pid: int) -> bool:
    """Whether a process with this pid exists (ours or someone else's)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def live_pids_of_uid(uid: int) -> list[int]:
    """Pids of non-zombie processes whose real uid is ``uid``."""
    found = []
    for pid in _pids():
        status = _status(pid)
        if status is None:
            continue
        if int(_field(status, b"Uid").split()[0]) == uid and _field(status, b"State")[:1].decode() not in _DEAD_STATES:
            found.append(pid)
    return found


def count_tasks_of_uid(uid: int) -> int:
    """Threads of all processes with real uid ``uid``: what RLIMIT_NPROC counts against."""
    total = 0
    for pid in _pids():
        status = _status(pid)
        if status is not None and int(_field(status, b"Uid").split()[0]) == uid:
            total += int(_field(status, b"Threads"))
    return total


def kill_uid(uid: int, timeout_s: float = 5.0) -> list[int]:
    """SIGKILL every process of real uid ``uid`` until none is alive; return any survivors."""
    deadline = time.monotonic() + timeout_s
    while True:
        pids = live_pids_of_uid(uid)
        if not pids or time.monotonic() > deadline:
            return pids
        for pid in pids:
            _signal(pid, signal.SIGKILL)
        time.sleep(0.001)


def _process_table() -> dict[int, tuple[int, str]]:
    """pid -> (parent pid, state letter), from /proc/*/stat."""
    table = {}
    for pid in _pids():
        try:
            with open(f"/proc/{pid}/stat", "rb") as f:
                text = f.read()
        except OSError:
            continue
        fields = text[text.rindex(b")") + 2 :].split()  # the command name may contain spaces and parens
        table[pid] = (int(fields[1]), fields[0].decode())
    return table


def kill_tree(root: int, timeout_s: float = 5.0) -> list[int]:
    """Stop ``root`` and all its descendants until the set is closed and frozen, kill them,
    and wait until they are dead. Returns the pids still alive at the deadline."""
    deadline = time.monotonic() + timeout_s
    stopped: set[int] = set()
    while True:
        table = _process_table()
        tree = _descendants(root, table)
        if root in table:
            tree.add(root)
        for pid in tree - stopped:
            _signal(pid, signal.SIGSTOP)
        stopped |= tree
        if all(table[pid][1] in _STOPPED_STATES for pid in tree) or time.monotonic() > deadline:
            break
        time.sleep(0.001)
    for pid in stopped:
        _signal(pid, signal.SIGKILL)
    while True:
        table = _process_table()
        alive = [pid for pid in stopped if pid in table and table[pid][1] not in _DEAD_STATES]
        if not alive or time.monotonic() > deadline:
            return alive
        time.sleep(0.001)


def _descendants(root: int, table: dict[int, tuple[int, str]]) -> set[int]:
    children: dict[int, list[int]] = {}
    for pid, (parent, _) in table.items():
        children.setdefault(parent, []).append(pid)
    found: set[int] = set()
    frontier = [root]
    while frontier:
        for child in children.get(frontier.pop(), ()):
            if child not in found:
                found.add(child)
                frontier.append(child)
    return found


def terminate(pid: int, *, uid: int | None) -> list[int]:
    """Kill worker ``pid`` (a session leader, not yet reaped) and everything it started.

    Call before reaping the worker: its zombie keeps ``pid`` (and so the process group id)
    from being reused by an unrelated process. Returns pids that survived the sweep.
    """
    survivors = kill_tree(pid) if uid is None else []
    _signal(-pid, signal.SIGKILL)
    if uid is not None:
        survivors = kill_uid(uid)
    return survivors


def _signal(pid: int, sig: int) -> None:
    try:
        if pid < 0:
            os.killpg(-pid, sig)
        else:
            os.kill(pid, sig)
    except (ProcessLookupError, PermissionError):
        pass  # already gone, or a zombie we may not signal


def remove_files_of_uid(uid: int, dirs: Iterable[str]) -> None:
    """Delete top-level entries owned by ``uid`` in the world-writable directories ``dirs``.

    Only the worker's uid can have created them (nobody else runs as that uid), so
    everything below such an entry is the candidate's too.
    """
    for directory in dirs:
        try:
            entries = list(os.scandir(directory))
        except OSError:
            continue
        for entry in entries:
            try:
                info = entry.stat(follow_symlinks=False)
            except OSError:
                continue
            if info.st_uid != uid:
                continue
            if stat.S_ISDIR(info.st_mode):
                remove_tree(entry.path)
            else:
                try:
                    os.unlink(entry.path)
                except FileNotFoundError:
                    pass


def remove_tree(path: str) -> None:
    """``rm -rf path``, also when the candidate removed permissions from its own directories."""
    try:
        shutil.rmtree(path)
        return
    except FileNotFoundError:
        return
    except PermissionError:
        pass
    os.chmod(path, 0o700)  # only reached without root: restore owner rwx, top-down
    for directory, subdirs, _ in os.walk(path):
        for name in subdirs:
            full = os.path.join(directory, name)
            if not os.path.islink(full):
                os.chmod(full, 0o700)
    shutil.rmtree(path)


_IPC = (("shm", "shmid", "shmctl"), ("sem", "semid", "semctl"), ("msg", "msqid", "msgctl"))
_IPC_RMID = 0


def remove_ipc_of_uid(uid: int, sysvipc: str = "/proc/sysvipc") -> list[str]:
    """Remove the SysV shared memory segments, semaphore sets and message queues of ``uid``
    (owner or creator) in this IPC namespace; return what could not be removed."""
    libc = ctypes.CDLL(None, use_errno=True)
    failed = []
    for kind, id_column, call in _IPC:
        try:
            with open(os.path.join(sysvipc, kind)) as f:
                header, *rows = f.read().splitlines()
        except OSError:
            continue
        columns = header.split()
        for row in rows:
            fields = dict(zip(columns, row.split()))
            if uid not in (int(fields.get("uid", -1)), int(fields.get("cuid", -1))):
                continue
            ident = int(fields[id_column])
            function = getattr(libc, call)
            result = function(ident, 0, _IPC_RMID, None) if kind == "sem" else function(ident, _IPC_RMID, None)
            if result != 0 and ctypes.get_errno() not in (22, 43):  # EINVAL, EIDRM: already gone
                failed.append(f"{kind} {ident}")
    return failed
