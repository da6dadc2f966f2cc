"""The ``process`` backend: each worker is a confined child Python process (docs/architecture.md section 5).

A worker gets a fresh scratch dir (mode 0700, its cwd, HOME and TMPDIR; deleted on close), an
environment built from an allow-list (``sandbox.confine.worker_env``: no API keys), its own
session, resource limits, a network namespace, and, when the trusted side runs as root, a
private uid (``sandbox.uids``). Calls cross as ``sandbox.wire`` frames over dedicated pipes
(``sandbox.channel``); the candidate's prints go to a separate, capped capture pipe.

Guarantees by privilege:

* root: RLIMIT_NPROC binds (private uid); the parent's 0700 directories are unreadable (an
  interpreter installed under one, e.g. pyenv in root's home, is exposed alone through a private
  mount namespace: ``confine.Exposure``); fresh network and IPC namespaces (if the kernel allows
  them; ``network_isolated`` records the first); a private filesystem view in which the host's
  files are read-only and every world-writable directory is a private tmpfs (``sandbox.mounts``);
  and close() kills every process of
  the uid, so no daemon outlives its worker, and removes the uid's files in the world-writable
  directories and its SysV IPC objects, should a kernel have refused the namespaces.
* not root: the same uid as the parent, so the candidate can read what the user can;
  RLIMIT_NPROC is counted against all of the user's tasks (the allowance is added to the
  current count); network, IPC and the private view come from an unprivileged user namespace
  where the kernel allows one (else the candidate shares the host's /tmp, /dev/shm and SysV
  IPC with the user and leaves what it writes there); close() kills the process group and the
  worker's descendants (the worker is a subreaper), which a candidate that kills its own
  worker first, or clears the subreaper flag, escapes.

Not confined by this backend: reads of world-readable files, and connections to unix
sockets the host leaves world-writable. The bwrap backend (this launch, wrapped in
bubblewrap) and the docker backend (a container speaking the same channel) close these;
``sandbox.zygote`` forks workers from a warm zygote instead of spawning them, with the same
confinement.

CPU time is charged per call: each request carries the call's budget
(``Limits.cpu_budget_s``) and the worker sets its RLIMIT_CPU soft limit to the CPU it has
used so far plus that budget before calling (the hard limit stays unlimited, so it can
move; see ``worker_main``). A candidate may raise its own soft limit; its wall-clock
timeout still binds.

Failure classification (see ``ProcessWorker.call`` in ``sandbox.process_worker``): a reply error keeps its kind (exception,
invalid_output: the worker stays usable; memory: the worker is killed); no reply within the
deadline is TIMEOUT; output past ``max_output_bytes``, a reply past ``max_message_mb`` or a
reply header past ``max_header_kb`` or the wire's structural check (the worker's own encoder
refuses those as invalid_output, so such a frame was written by the candidate itself) is
SANDBOX_VIOLATION; a death is TIMEOUT when the CPU limit killed it, MEMORY when identifiable
(``sandbox.exits.classify_exit``), CRASH otherwise; garbage on the reply pipe is CRASH ("broken
protocol", with the refused field named for a malformed array, tensor or bytes marker).
"""

from __future__ import annotations

import dataclasses
import os
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from typing import Any, Mapping

from sandbox import confine, mounts, reaper
from sandbox.api import CandidateFailure, FailureKind, Limits, SandboxError, SandboxInfo
from sandbox.channel import Channel, OutputCapture
from sandbox.process_worker import ProcessWorker
from sandbox.uids import UidPool
from sandbox.workspace import TMP_DIR, Workspace

#: -S: no site .pth hooks (the worker adds site-packages itself); -P: no script dir on
#: sys.path; -B: no .pyc writes. Not -I: it would also drop PYTHONHASHSEED, which the
#: sandbox fixes for reproducibility; the environment is built from scratch anyway.
_PYTHON_FLAGS = ("-S", "-P", "-B", "-X", "faulthandler")


@dataclass(frozen=True)
class LaunchSpec:
    """Everything needed to start one worker process; what a wrapping backend rewrites.

    ``argv`` runs ``worker_main.py`` with ``pass_fds`` (request, reply) then ``worker_args``
    (source path, module name, request size limit, reply header limit); a zygote passes
    those to a fork instead.
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


class LaunchError(SandboxError, subprocess.SubprocessError):
    """A wrapper could not start the worker (``ProcessSandbox`` adds the worker's output)."""


class ProcessSandbox:
    """Starts ``ProcessWorker``s. Safe to share between threads; holds no per-worker state.

    ``python``: the interpreter (made absolute, ``..`` resolved, symlinks kept: a virtual
    environment is found through its own path); ``tmp_mb``: the size of each private tmpfs
    over a world-writable directory (``sandbox.mounts``).
    """

    name = "process"
    private_view = True  # apply ``sandbox.mounts``; wrappers with their own view turn it off

    def __init__(
        self,
        *,
        python: str | None = None,
        scratch_root: str | None = None,
        uid_pool: UidPool | None = None,
        require_network_isolation: bool = False,
        tmp_mb: int = 64,
    ) -> None:
        self.python = os.path.abspath(python or sys.executable)
        self.scratch_root = scratch_root or tempfile.gettempdir()
        self.privileged = os.geteuid() == 0
        self.uid_pool = (uid_pool or UidPool()) if self.privileged else None
        self.require_network_isolation = require_network_isolation
        self.tmp_mb = tmp_mb
        self._exposures: tuple[confine.Exposure, ...] | None = None
        self._view: dict[str, mounts.ViewPlan] = {}  # by scratch root

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
        confinement = self._confinement(limits, workspace.uid, scratch)
        workspace.shared_dirs = tuple(path for path, _ in confinement.view.covers) if confinement.view else ()
        max_message = limits.max_message_bytes
        worker_main = os.path.join(os.path.dirname(source_path), "worker_main.py")
        request_r, request_w = os.pipe2(os.O_CLOEXEC)
        reply_r, reply_w = os.pipe2(os.O_CLOEXEC)
        output_r, output_w = os.pipe2(os.O_CLOEXEC)
        worker_args = (source_path, module_name, str(max_message), str(limits.max_header_bytes))
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
            max_header_bytes=limits.max_header_bytes,
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
        imports nothing, which keeps the window small. A fork server will remove it. It
        also installs the seccomp filter, last (the worker is told, so it need not load
        ctypes to do it; a wrapper that needs namespaces itself leaves it to the worker).
        """
        confinement = dataclasses.replace(spec.confinement, seccomp=True)
        spec = dataclasses.replace(spec, argv=(*spec.argv, "installed"), confinement=confinement)
        return subprocess.Popen(spec.argv, **popen_options(spec))

    def _confinement(self, limits: Limits, uid: int | None, scratch: str | None = None) -> confine.Confinement:
        ipc = confine.ipc_sysctls(limits)
        if not self.privileged:
            running = reaper.count_tasks_of_uid(os.getuid())
            rlimits = confine.resource_limits(limits, privileged=False, process_base=running)
            return confine.Confinement(rlimits, None, False, view=self._view_plan(()), ipc=ipc, scratch=scratch)
        if self._exposures is None:
            try:
                self._exposures = confine.plan_exposures(self._interpreter_dirs())
            except PermissionError as exc:
                raise SandboxError(str(exc)) from None
        rlimits = confine.resource_limits(limits, privileged=True)
        view = self._view_plan(self._exposures)
        return confine.Confinement(rlimits, uid, True, self._exposures, view=view, ipc=ipc, scratch=scratch)

    def _view_plan(self, exposures: tuple[confine.Exposure, ...]) -> mounts.ViewPlan | None:
        """The private filesystem view for this sandbox's workers (planned once per scratch root)."""
        if not self.private_view:
            return None
        if self.scratch_root not in self._view:
            hidden = [exposure.cover for exposure in exposures]
            self._view[self.scratch_root] = mounts.plan_view(
                self.scratch_root, confine.interpreter_dirs(self.python), hidden, tmp_mb=self.tmp_mb
            )
        return self._view[self.scratch_root]

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
            "network and IPC namespaces where the kernel allows them",
            "host files read-only, world-writable directories private tmpfs (mount namespace where allowed)",
            "seccomp filter: no new namespaces, keyrings, ptrace or bpf",
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


def _read_available(fd: int) -> str:
    os.set_blocking(fd, False)
    try:
        return os.read(fd, 65536).decode("utf-8", errors="replace")
    except OSError:
        return ""
