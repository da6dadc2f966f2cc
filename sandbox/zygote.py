"""Warm worker starts: a fork-server (zygote) that has already paid interpreter start-up and imports.

A spawned worker pays an interpreter start and, when the candidate uses them, the imports
of numpy (~100 ms) or torch (seconds) on every start. A ``Zygote`` is one long-lived
process per sandbox (so per executor slot) that imported ``preload`` once; each worker is
a fork of it. Nothing about confinement changes: the child applies exactly the spawn
path's ``Confinement`` (namespaces, rlimits, uid drop, no_new_privs) after the fork, gets
the same scrubbed environment, scratch dir and pipes, and runs the same worker program.
The zygote itself runs no candidate code and holds no secret: it is a fresh interpreter
started with the allow-listed environment, not a fork of the trusted process.

``WarmProcessSandbox.launch`` replaces ``ProcessSandbox.launch``; its ``ZygoteProcess``
stands in for the Popen (``pid``, ``returncode``), and its ``reap`` replaces ``os.wait4``,
since the worker is the zygote's child, not ours.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
import warnings
import weakref
from typing import Any, Callable, Sequence

from sandbox import confine
from sandbox.reaper import pid_alive
from sandbox.api import DEFAULT_PRELOAD, SandboxError
from sandbox.process import LaunchSpec, ProcessSandbox

_HERE = os.path.dirname(os.path.abspath(__file__))
_RUNTIME_FILES = ("zygote_main.py", "worker_main.py", "wire.py", "seccomp.py")
_RUNTIME_PACKAGE = ("api.py", "syscalls.py", "confine.py", "mounts.py", "seccomp.py")
_PYTHON_FLAGS = ("-S", "-P", "-B")
_MAX_PACKET = 1 << 20
_START_TIMEOUT_S = 60.0


class ZygoteForkError(SandboxError, subprocess.SubprocessError):
    """The zygote could not fork a confined worker (``ProcessSandbox`` adds the worker's output)."""


class ZygoteProcess:
    """A worker forked by a zygote: what the workspace needs of a process handle."""

    def __init__(self, pid: int, inner_pid: int, zygote: Zygote) -> None:
        self.pid = pid  # as our pid namespace numbers it
        self.inner_pid = inner_pid  # as the zygote's numbers it
        self.returncode: int | None = None
        self.zygote = zygote

    def reap(self) -> tuple[int | None, Any]:
        """Wait status and rusage, from the zygote (only it can wait for its child)."""
        return self.zygote.reap(self)


def owned_temp_dir(kind: str) -> str:
    """A new temp dir named after this process; first removes those of processes that are gone.

    Zygote folders are removed on close, and at exit for shared sandboxes; this sweep is for
    a trusted process that was killed before it could (``<tmp>/evolve-<kind>-<pid>-*``).
    """
    root = tempfile.gettempdir()
    prefix = f"evolve-{kind}-"
    for name in os.listdir(root):
        owner = name[len(prefix):].split("-", 1)[0]
        if name.startswith(prefix) and owner.isdigit() and not pid_alive(int(owner)):
            path = os.path.join(root, name)
            if os.lstat(path).st_uid == os.geteuid():
                shutil.rmtree(path, ignore_errors=True)
    return tempfile.mkdtemp(prefix=f"{prefix}{os.getpid()}-", dir=root)


def make_runtime_dir() -> str:
    """A world-readable, root-owned copy of the zygote program and what it imports."""
    runtime = owned_temp_dir("zygote")
    os.chmod(runtime, 0o755)
    package = os.path.join(runtime, "sandbox")
    os.mkdir(package, 0o755)
    for name in _RUNTIME_FILES:
        shutil.copyfile(os.path.join(_HERE, name), os.path.join(runtime, name))
        os.chmod(os.path.join(runtime, name), 0o644)
    with open(os.path.join(package, "__init__.py"), "w") as f:
        f.write('"""Copies of the sandbox modules a zygote child needs to confine itself."""\n')
    for name in _RUNTIME_PACKAGE:
        shutil.copyfile(os.path.join(_HERE, name), os.path.join(package, name))
    for name in os.listdir(package):
        os.chmod(os.path.join(package, name), 0o644)
    return runtime


class Zygote:
    """One fork-server process and its control socket. Thread-safe (one request at a time)."""

    def __init__(self, python: str, preload: Sequence[str] = DEFAULT_PRELOAD, *,
                 wrapper: Callable[[str], Sequence[str]] | None = None) -> None:
        self.python = python
        self.preload = tuple(preload)
        self.runtime = make_runtime_dir()
        weakref.finalize(self, shutil.rmtree, self.runtime, True)  # also at exit, if never closed
        self.wrap = tuple(wrapper(self.runtime)) if wrapper is not None else ()
        self.preloaded: list[str] = []
        self.failed: dict[str, str] = {}
        self.start_s = 0.0
        self._lock = threading.Lock()
        self._process: subprocess.Popen[bytes] | None = None
        self._control: socket.socket | None = None

    def start(self) -> None:
        """Start the zygote and wait until it has imported ``preload``; SandboxError if it cannot."""
        started = time.perf_counter()
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        env = {key: os.environ[key] for key in confine.PASSED_ENV if key in os.environ}
        env.update(OMP_NUM_THREADS="1", MKL_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1", PYTHONHASHSEED="0")
        argv = [*self.wrap, self.python, *_PYTHON_FLAGS, os.path.join(self.runtime, "zygote_main.py")]
        argv += [str(theirs.fileno()), json.dumps(list(self.preload))]
        try:
            self._process = subprocess.Popen(
                argv, stdin=subprocess.DEVNULL, env=env, cwd="/", pass_fds=(theirs.fileno(),), start_new_session=True
            )
        except OSError as exc:
            ours.close()
            raise SandboxError(f"could not start the zygote with {self.python}: {exc}") from None
        finally:
            theirs.close()
        self._control = ours
        ours.settimeout(_START_TIMEOUT_S)
        try:
            hello = json.loads(ours.recv(_MAX_PACKET) or b"null")
        except (OSError, ValueError) as exc:
            self.close()
            raise SandboxError(f"the zygote did not start: {exc}") from None
        ours.settimeout(None)
        if not isinstance(hello, dict) or not hello.get("ready"):
            self.close()
            raise SandboxError(f"the zygote did not start (exit {self._exit_code()}): {hello!r:.500}")
        self.preloaded, self.failed = hello["preloaded"], hello["failed"]
        self.start_s = time.perf_counter() - started

    @property
    def alive(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def fork(self, worker_args: Sequence[str], env: dict[str, str], cwd: str, confinement: confine.Confinement,
             fds: Sequence[int], isolate: dict | None = None) -> ZygoteProcess:
        """Fork a worker that inherits ``fds`` as its request, reply and output pipes.

        ``isolate`` (bwrap zygotes): scratch path and tmpfs sizes for ``zygote_main._mount_private``.
        """
        request = {
            "isolate": isolate,
            "op": "fork",
            "worker_args": list(worker_args),
            "env": env,
            "cwd": cwd,
            "confinement": {
                "rlimits": confinement.rlimits,
                "uid": confinement.uid,
                "privileged": confinement.privileged,
                "exposures": [[e.cover, list(e.keep)] for e in confinement.exposures],
                "view": confinement.view.to_json() if confinement.view is not None else None,
                "ipc": [list(pair) for pair in confinement.ipc],
            },
        }
        reply, pidfds = self._ask(request, fds)
        if "pid" not in reply or len(pidfds) != 1:
            for fd in pidfds:
                os.close(fd)
            raise ZygoteForkError(f"the zygote could not fork a worker: {reply.get('error', reply)!r:.500}")
        try:
            return ZygoteProcess(_pid_of_pidfd(pidfds[0]), reply["pid"], self)
        finally:
            os.close(pidfds[0])  # the zygote reaps only when asked, so the pid stays ours till then

    def reap(self, process: ZygoteProcess) -> tuple[int | None, Any]:
        """Wait status and rusage of a killed worker (None, None if the zygote is gone)."""
        try:
            reply, _ = self._ask({"op": "reap", "pid": process.inner_pid}, ())
        except SandboxError:
            return None, None
        utime, stime, maxrss = reply["usage"]
        return reply["status"], _Usage(utime, stime, maxrss)

    def _ask(self, request: dict, fds: Sequence[int]) -> tuple[dict, list[int]]:
        with self._lock:
            if self._control is None or not self.alive:
                raise SandboxError(f"the zygote is not running (exit {self._exit_code()})")
            try:
                socket.send_fds(self._control, [json.dumps(request).encode()], list(fds))
                message, pidfds, _, _ = socket.recv_fds(self._control, _MAX_PACKET, 4)
            except OSError as exc:
                raise SandboxError(f"the zygote stopped answering: {exc}") from None
        if not message:
            raise SandboxError(f"the zygote exited (exit {self._exit_code()})")
        return json.loads(message), pidfds

    def _exit_code(self) -> int | None:
        return self._process.poll() if self._process is not None else None

    def close(self) -> None:
        """Stop the zygote (its live children are the workers' to kill) and remove its runtime copy."""
        if self._control is not None:
            self._control.close()
            self._control = None
        process, self._process = self._process, None
        if process is not None and process.poll() is None:
            process.send_signal(signal.SIGKILL)
            process.wait()
        shutil.rmtree(self.runtime, ignore_errors=True)


class _Usage:
    """The three rusage fields ``classify_exit`` reads."""

    def __init__(self, ru_utime: float, ru_stime: float, ru_maxrss: int) -> None:
        self.ru_utime, self.ru_stime, self.ru_maxrss = ru_utime, ru_stime, ru_maxrss


def _pid_of_pidfd(pidfd: int) -> int:
    """The pid a pidfd refers to, as our pid namespace numbers it (fdinfo's ``Pid:``)."""
    with open(f"/proc/self/fdinfo/{pidfd}") as f:
        for line in f:
            if line.startswith("Pid:"):
                pid = int(line.split()[1])
                if pid > 0:
                    return pid
    raise SandboxError("the zygote's child is not visible from here (pidfd has no pid in our namespace)")


class WarmProcessSandbox(ProcessSandbox):
    """The process backend with workers forked from a warm zygote; spawns if the zygote fails.

    ``preload``: modules the zygote imports once (numpy by default; add torch for problems
    that use it). A zygote that cannot start (or whose preload starts threads) is reported
    once as a warning and the sandbox spawns workers instead, with the same confinement.
    """

    name = "process"

    def __init__(self, *, preload: Sequence[str] = DEFAULT_PRELOAD, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.preload = tuple(preload)
        self.zygote: Zygote | None = None
        self.zygote_error: str | None = None
        self._start_lock = threading.Lock()

    def launch(self, spec: LaunchSpec) -> Any:
        return self.fork(spec, spec.confinement, None) or super().launch(spec)

    def fork(self, spec: LaunchSpec, confinement: confine.Confinement, isolate: dict | None) -> Any:
        """A worker forked by the zygote, or None when there is none (spawn instead).

        A zygote that died since the last worker is replaced once, so its death costs no
        evaluation; a second failure propagates as a SandboxError.
        """
        fds = (*spec.pass_fds, spec.output_fd)
        for attempt in range(2):
            zygote = self._warm()
            if zygote is None:
                return None
            try:
                return zygote.fork(spec.worker_args, spec.env, spec.cwd, confinement, fds, isolate)
            except ZygoteForkError:
                raise
            except SandboxError:
                if zygote.alive or attempt:
                    raise
        return None

    def _warm(self) -> Zygote | None:
        """The running zygote, started (or restarted) on demand; None when it cannot run."""
        with self._start_lock:
            if self.zygote is not None and self.zygote.alive:
                return self.zygote
            if self.zygote_error is not None:
                return None
            if self.zygote is not None:
                self.zygote.close()  # it died: start a fresh one
            zygote = Zygote(self.python, self.preload, wrapper=self.zygote_wrapper)
            try:
                zygote.start()
            except SandboxError as exc:
                zygote.close()
                self.zygote, self.zygote_error = None, str(exc)
                warnings.warn(f"sandbox {self.name}: warm starts disabled, spawning workers instead: {exc}", stacklevel=3)
                return None
            self.zygote = zygote
            return zygote

    def zygote_wrapper(self, runtime: str) -> tuple[str, ...]:
        """Command prefix the zygote runs under, given its runtime dir (none here; bwrap wraps it)."""
        return ()

    def close(self) -> None:
        with self._start_lock:
            if self.zygote is not None:
                self.zygote.close()
                self.zygote = None
