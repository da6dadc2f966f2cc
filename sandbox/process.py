"""The ``process`` backend: each worker is a confined child Python process (docs/architecture.md section 5).

A worker gets a fresh scratch dir (mode 0700, its cwd, HOME and TMPDIR; deleted on close), an
environment built from an allow-list (``sandbox.confine.worker_env``: no API keys), its own
session, resource limits, a network namespace, and, when the trusted side runs as root, a
private uid (``sandbox.uids``). Calls cross as ``sandbox.wire`` frames over dedicated pipes
(``sandbox.channel``); the candidate's prints go to a separate, capped capture pipe.

Guarantees by privilege:

* root: RLIMIT_NPROC binds (private uid); the parent's 0700 directories are unreadable (an
  interpreter installed under one, e.g. pyenv in root's home, is exposed alone through a private
  mount namespace: ``confine.Exposure``); a fresh network namespace (if the kernel allows
  it; ``network_isolated`` records it); and close() kills every process of the uid, so no
  daemon outlives its worker.
* not root: the same uid as the parent, so the candidate can read what the user can;
  RLIMIT_NPROC is counted against all of the user's tasks (the allowance is added to the
  current count); the network is cut only where unprivileged user namespaces are allowed;
  close() kills the process group and the worker's descendants (the worker is a subreaper),
  which a candidate that kills its own worker first, or clears the subreaper flag, escapes.

Not confined by this backend: reads of world-readable files, and writes to world-writable
directories (/tmp, /var/tmp, /dev/shm: removed at close under root, bounded by RLIMIT_FSIZE
per file). The bwrap backend (this launch, wrapped in bubblewrap) and the docker backend (a
container speaking the same channel) close these; ``sandbox.zygote`` forks workers from a warm
zygote instead of spawning them, with the same confinement.

Failure classification (see ``ProcessWorker.call``): a reply error keeps its kind (exception,
invalid_output: the worker stays usable; memory: the worker is killed); no reply within the
deadline is TIMEOUT; output past ``max_output_bytes`` or a reply past ``max_message_mb`` is
SANDBOX_VIOLATION; a death is TIMEOUT when the CPU limit killed it, MEMORY when identifiable
(``sandbox.exits.classify_exit``), CRASH otherwise; garbage on the reply pipe is CRASH ("broken protocol").
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
import weakref
from dataclasses import dataclass
from typing import Any, Mapping

from sandbox import confine, reaper, wire
from sandbox.api import CallStats, CandidateFailure, FailureKind, Limits, SandboxError, SandboxInfo
from sandbox.channel import Channel, ChannelTimeout, OutputCapture, OutputFlood, ProtocolError, WorkerExited
from sandbox.exits import classify_exit
from sandbox.uids import UidPool
from sandbox.workspace import TMP_DIR, Workspace

#: -S: no site .pth hooks (the worker adds site-packages itself); -P: no script dir on
#: sys.path; -B: no .pyc writes. Not -I: it would also drop PYTHONHASHSEED, which the
#: sandbox fixes for reproducibility; the environment is built from scratch anyway.
_PYTHON_FLAGS = ("-S", "-P", "-B", "-X", "faulthandler")
_MB = 1 << 20


@dataclass(frozen=True)
class LaunchSpec:
    """Everything needed to start one worker process; what a wrapping backend rewrites.

    ``argv`` runs ``worker_main.py`` with ``pass_fds`` (request, reply) then ``worker_args``
    (source path, module name, request size limit); a zygote passes those to a fork instead.
    """

    argv: tuple[str, ...]
    env: dict[str, str]
    cwd: str
    pass_fds: tuple[int, ...]
    output_fd: int
    confinement: confine.Confinement
    limits: Limits
    worker_args: tuple[str, ...]


def encode_source(source: str, module_name: str) -> bytes:
    """The candidate's source as UTF-8, after checking ``module_name`` (every backend's first step)."""
    if not module_name.isidentifier():
        raise ValueError(f"module_name {module_name!r} is not a Python identifier")
    try:
        return source.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise CandidateFailure(FailureKind.SYNTAX, f"the source is not valid text: {exc}") from None


def popen_options(spec: "LaunchSpec") -> dict[str, Any]:
    """Popen arguments of every spawned worker: output pipe, scrubbed env, own session, confinement."""
    return dict(
        stdin=subprocess.DEVNULL,
        stdout=spec.output_fd,
        stderr=spec.output_fd,
        cwd=spec.cwd,
        env=spec.env,
        pass_fds=spec.pass_fds,
        close_fds=True,
        start_new_session=True,
        umask=0o077,
        preexec_fn=spec.confinement.preexec,
    )


class ProcessSandbox:
    """Starts ``ProcessWorker``s. Safe to share between threads; holds no per-worker state."""

    name = "process"

    def __init__(
        self,
        *,
        python: str | None = None,
        scratch_root: str | None = None,
        uid_pool: UidPool | None = None,
        require_network_isolation: bool = False,
    ) -> None:
        self.python = python or sys.executable
        self.scratch_root = scratch_root or tempfile.gettempdir()
        self.privileged = os.geteuid() == 0
        self.uid_pool = (uid_pool or UidPool()) if self.privileged else None
        self.require_network_isolation = require_network_isolation
        self._exposures: tuple[confine.Exposure, ...] | None = None

    def start(
        self,
        source: str,
        limits: Limits,
        *,
        module_name: str = "candidate",
        extra_env: Mapping[str, str] | None = None,
    ) -> ProcessWorker:
        encoded = encode_source(source, module_name)
        workspace = Workspace()
        try:
            return self._start(workspace, encoded, limits, module_name, extra_env)
        except BaseException:
            workspace.release()
            raise

    def _start(
        self, workspace: Workspace, source: bytes, limits: Limits, module_name: str, extra_env: Mapping[str, str] | None
    ) -> ProcessWorker:
        if self.uid_pool is not None:
            workspace.lease = self.uid_pool.acquire()
        scratch = tempfile.mkdtemp(prefix="evolve-worker-", dir=self.scratch_root)
        source_path = workspace.populate(scratch, source, module_name)
        env = confine.worker_env(limits, scratch, os.path.join(scratch, TMP_DIR), extra_env)
        confinement = self._confinement(limits, workspace.uid)
        max_message = limits.max_message_mb * _MB
        worker_main = os.path.join(os.path.dirname(source_path), "worker_main.py")
        request_r, request_w = os.pipe2(os.O_CLOEXEC)
        reply_r, reply_w = os.pipe2(os.O_CLOEXEC)
        output_r, output_w = os.pipe2(os.O_CLOEXEC)
        worker_args = (source_path, module_name, str(max_message))
        spec = LaunchSpec(
            argv=(self.python, *_PYTHON_FLAGS, worker_main, str(request_r), str(reply_w), *worker_args),
            env=env,
            cwd=scratch,
            pass_fds=(request_r, reply_w),
            output_fd=output_w,
            confinement=confinement,
            limits=limits,
            worker_args=worker_args,
        )
        try:
            workspace.proc = self.launch(spec)
        except (OSError, subprocess.SubprocessError) as exc:
            for fd in (request_r, reply_w, output_w, request_w, reply_r):
                os.close(fd)
            said = _read_available(output_r).strip()  # what preexec wrote before failing
            os.close(output_r)
            hint = f" ({said})" if said else ""
            raise SandboxError(f"could not start a worker with {self.python}: {exc}{hint}") from exc
        for fd in (request_r, reply_w, output_w):  # the child's ends
            os.close(fd)
        workspace.channel = Channel(
            pid=workspace.proc.pid,
            request_fd=request_w,
            reply_fd=reply_r,
            output_fd=output_r,
            max_message_bytes=max_message,
            output=OutputCapture(limits.max_output_bytes),
        )
        worker = ProcessWorker(workspace, limits, module_name)
        if self.require_network_isolation and not worker.network_isolated:
            raise SandboxError("could not give the worker its own network namespace (require_network_isolation=True)")
        worker._wait_ready()
        return worker

    def launch(self, spec: LaunchSpec) -> subprocess.Popen[bytes]:
        """Start the worker process. The seam for backends that wrap the command (bwrap, docker).

        ``preexec_fn`` runs Python between fork and exec, which CPython warns is unsafe with
        threads; ``Confinement.preexec`` only makes system calls prepared in the parent and
        imports nothing, which keeps the window small. A fork server will remove it.
        """
        return subprocess.Popen(spec.argv, **popen_options(spec))

    def _confinement(self, limits: Limits, uid: int | None) -> confine.Confinement:
        if not self.privileged:
            running = reaper.count_tasks_of_uid(os.getuid())
            rlimits = confine.resource_limits(limits, privileged=False, process_base=running)
            return confine.Confinement(rlimits, uid=None, privileged=False)
        if self._exposures is None:
            try:
                self._exposures = confine.plan_exposures(self._interpreter_dirs())
            except PermissionError as exc:
                raise SandboxError(str(exc)) from None
        return confine.Confinement(confine.resource_limits(limits, privileged=True), uid, True, self._exposures)

    def _interpreter_dirs(self) -> list[str]:
        """Directories the worker's uid must reach: the interpreter's prefixes and the scratch root."""
        executable_dir = os.path.dirname(os.path.realpath(self.python))
        dirs = [executable_dir, os.path.dirname(executable_dir), self.scratch_root]
        if os.path.realpath(self.python) == os.path.realpath(sys.executable):
            dirs += [sys.prefix, sys.base_prefix, sys.exec_prefix, sys.base_exec_prefix]
        return dirs

    def info(self) -> SandboxInfo:
        protections = [
            "environment built from an allow-list (no API keys)",
            "private scratch dir as cwd, HOME and TMPDIR",
            "rlimits: address space, CPU time, file size, open files, core dumps",
            "own session; process group killed on timeout",
            "network namespace where the kernel allows it",
        ]
        if self.privileged:
            protections += [
                "private uid per worker: process limit binds, 0700 files unreadable",
                "every process of the uid killed on close",
            ]
        else:
            protections += ["process limit counted against the user's tasks", "descendants killed on close (subreaper)"]
        return SandboxInfo(self.name, available=sys.platform.startswith("linux"), protections=tuple(protections))

    def close(self) -> None:
        """Nothing to release: a spawning sandbox holds no process between workers."""


class ProcessWorker:
    """A live worker process holding one candidate module (implements ``sandbox.api.Worker``).

    Not thread-safe: one call at a time. ``uid`` is the uid candidate code runs as,
    ``network_isolated`` whether it got its own network namespace.
    """

    def __init__(self, workspace: Workspace, limits: Limits, module_name: str) -> None:
        assert workspace.proc is not None and workspace.channel is not None and workspace.scratch is not None
        self.limits = limits
        self.module_name = module_name
        self.pid = workspace.proc.pid
        self.uid = workspace.uid if workspace.uid is not None else os.getuid()
        self.scratch = workspace.scratch
        self.network_isolated = _has_own_netns(self.pid)
        self.stats = CallStats()
        self._workspace = workspace
        self._channel = workspace.channel
        self._dead: str | None = None  # why the worker died, once it has
        self._finalizer = weakref.finalize(self, workspace.release)
        self._next_id = 0

    def call(self, function: str, *args: Any, timeout: float | None = None, **kwargs: Any) -> Any:
        if not self._finalizer.alive:
            raise RuntimeError(f"call to {function} on a closed worker")
        if self._dead is not None:
            raise CandidateFailure(FailureKind.CRASH, f"worker is dead: {self._dead}", self.output())
        self._next_id += 1
        call_id = self._next_id
        buffers = wire.encode({"id": call_id, "function": function}, {"args": args, "kwargs": kwargs}, name=function)
        size = sum(len(b) for b in buffers)
        if size > self.limits.max_message_mb * _MB:
            limit_mb = self.limits.max_message_mb
            raise ValueError(f"arguments of {function} encode to {size} bytes, over max_message_mb={limit_mb}")
        limit = self.limits.timeout_s if timeout is None else timeout
        what = f"call to {function}"
        started = time.perf_counter()
        try:
            if self._channel.output.exceeded:  # flooded between calls (a background thread)
                raise OutputFlood
            meta, value = self._channel.exchange(buffers, time.monotonic() + limit)
        except ChannelTimeout:
            raise self._fail(FailureKind.TIMEOUT, f"{what} exceeded {float(limit)} s") from None
        except BaseException as exc:
            raise self._classify(exc, what) from None
        finally:
            self.stats.wall_s = time.perf_counter() - started
            self.stats.calls += 1
            self.stats.total_wall_s += self.stats.wall_s
        if meta.get("id") != call_id or type(meta.get("ok")) is not bool:
            message = f"broken protocol during {what}: reply {meta!r:.200} to request {call_id}"
            raise self._fail(FailureKind.CRASH, message)
        if meta["ok"]:
            return value
        kind, message = meta.get("kind"), meta.get("message")
        if kind not in ("exception", "invalid_output", "memory") or not isinstance(message, str):
            raise self._fail(FailureKind.CRASH, f"broken protocol during {what}: reply {meta!r:.200}")
        if kind == "memory":
            message = f"{what} ran out of memory (limit {self.limits.memory_mb} MB):\n{message}"
            raise self._fail(FailureKind.MEMORY, message)
        if kind == "invalid_output":
            message = f"{what} returned a value that cannot cross the sandbox boundary: {message}"
        raise CandidateFailure(FailureKind(kind), message, self.output())

    def output(self) -> str:
        if self._finalizer.alive and self._channel.output_fd is not None:
            self._channel.drain_output()
        return self._channel.output.text()

    def close(self) -> None:
        """Kill the worker and everything it started, delete its scratch dir; idempotent.

        Raises SandboxError if processes survive SIGKILL (their uid is then never reused).
        """
        if self._finalizer.alive:
            self.output()  # keep its last words readable after close
        self._finalizer()

    def __enter__(self) -> ProcessWorker:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _wait_ready(self) -> None:
        """Wait for the start-up message; raise CandidateFailure if the candidate did not load."""
        limit = self.limits.startup_timeout_s
        what = "start-up (interpreter, imports and the candidate's module code)"
        try:
            meta, _ = self._channel.receive(time.monotonic() + limit)
        except ChannelTimeout:
            raise self._fail(FailureKind.TIMEOUT, f"{what} exceeded {float(limit)} s") from None
        except BaseException as exc:
            raise self._classify(exc, what) from None
        if meta.get("id") == 0 and meta.get("ok") is True:
            return
        kind, message = meta.get("kind"), meta.get("message")
        if kind not in _STARTUP_PREFIX or not isinstance(message, str):
            raise self._fail(FailureKind.CRASH, f"broken protocol during {what}: {meta!r:.200}")
        raise self._fail(FailureKind(kind), _STARTUP_PREFIX[kind] + message)

    def _classify(self, exc: BaseException, what: str) -> BaseException:
        """Turn a channel failure into the CandidateFailure to raise (killing the worker)."""
        limits = self.limits
        if isinstance(exc, OutputFlood):
            message = f"output exceeded max_output_bytes={limits.max_output_bytes} during {what}"
            return self._fail(FailureKind.SANDBOX_VIOLATION, message)
        if isinstance(exc, wire.MessageTooLarge):
            message = f"reply of {exc.size} bytes exceeds max_message_mb={limits.max_message_mb} during {what}"
            return self._fail(FailureKind.SANDBOX_VIOLATION, message)
        if isinstance(exc, WorkerExited):
            status, usage = self._workspace.stop()
            return self._fail(*classify_exit(status, usage, self._channel.output.text()[-4096:], limits, what))
        if isinstance(exc, (ProtocolError, wire.WireError)):
            return self._fail(FailureKind.CRASH, f"broken protocol during {what}: {exc}")
        self._fail(FailureKind.CRASH, f"{what} interrupted by {type(exc).__name__}")
        return exc  # e.g. KeyboardInterrupt in the trusted process: kill the worker, re-raise

    def _fail(self, kind: FailureKind, message: str) -> CandidateFailure:
        """Mark the worker dead, kill everything it started, and return the failure to raise."""
        self._dead = f"{kind.value}: {message.splitlines()[0] if message else ''}"
        self._workspace.stop()
        return CandidateFailure(kind, message, self.output())


_STARTUP_PREFIX = {
    "syntax": "",
    "exception": "importing the candidate raised:\n",
    "memory": "importing the candidate ran out of memory:\n",
}


def _has_own_netns(pid: int) -> bool:
    try:
        return os.stat(f"/proc/{pid}/ns/net").st_ino != os.stat("/proc/self/ns/net").st_ino
    except OSError:
        return False


def _read_available(fd: int) -> str:
    os.set_blocking(fd, False)
    try:
        return os.read(fd, 65536).decode("utf-8", errors="replace")
    except OSError:
        return ""
