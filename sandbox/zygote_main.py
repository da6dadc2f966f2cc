"""The warm fork-server (zygote): imports the heavy modules once, then forks one child per worker.

Started by ``sandbox.zygote`` as ``python -S -P -B zygote_main.py CONTROL_FD PRELOAD_JSON``
from a private runtime folder that holds copies of this file, ``worker_main.py``,
``wire.py``, ``seccomp.py`` and the ``sandbox`` modules the child needs to confine itself (so neither the
zygote nor its children need to read the repository). It runs no candidate code itself.

Control protocol: a SOCK_SEQPACKET socket, one JSON message per packet, file descriptors
passed alongside (SCM_RIGHTS).

* start-up: the zygote sends ``{"ready": bool, "preloaded": [...], "failed": {name: error}}``;
* ``{"op": "fork", "worker_args": [...], "env": {...}, "cwd": path, "confinement": {...},
  "isolate": {...} | null}`` with fds ``[request_r, reply_w, output_w]`` -> ``{"pid": n}``
  and a pidfd of the child, once the child is confined (or ``{"error": ...}``);
* ``{"op": "reap", "pid": n}`` -> ``{"pid": n, "status": s, "usage": [utime, stime, maxrss]}``:
  the zygote never reaps on its own, so a child's pid cannot be reused before the trusted
  side has finished killing its process group;
* EOF: the zygote exits (it also dies with its parent: PR_SET_PDEATHSIG).

A worker's set-up has two halves. The first (subreaper, namespaces, the process backend's
private filesystem view, and for a bwrap zygote the private /proc) is the same for every
worker of a sandbox, so the zygote does it ahead of time in a *spare* child that then waits
for its job; the second (session, fds 0-4, scratch, environment, IPC caps, rlimits, uid
drop, no_new_privs) needs the job.
Both halves are exactly what a spawned worker's ``Confinement.preexec`` does.
"""

from __future__ import annotations

import faulthandler
import fcntl
import importlib
import json
import os
import signal
import socket
import sys
import traceback

_MAX_PACKET = 1 << 20
_PR_SET_PDEATHSIG = 1
_MS_NOEXEC = 0x8


def main(argv: list[str]) -> int:
    control = socket.socket(fileno=int(argv[0]))
    runtime = os.path.dirname(os.path.abspath(__file__))
    sys.path.insert(0, runtime)
    import worker_main  # the runtime copy

    from sandbox import confine, syscalls

    sys.path.remove(runtime)  # the children must not import from here by accident
    wire = worker_main.load_module("wire")  # loaded here: a child may be unable to read the runtime dir
    seccomp = worker_main.load_module("seccomp")
    syscalls.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
    worker_main._add_site_packages()
    preloaded, failed = [], {}
    for name in json.loads(argv[1]):
        try:
            importlib.import_module(name)
            preloaded.append(name)
        except Exception as exc:  # a missing optional module: the child imports it (or fails) itself
            failed[name] = f"{type(exc).__name__}: {exc}"
    threads = len(os.listdir("/proc/self/task"))
    if threads > 1:
        failed["(threads)"] = f"the preloaded modules started {threads - 1} threads; forking them is unsafe"
    control.send(json.dumps({"ready": threads == 1, "preloaded": preloaded, "failed": failed}).encode())
    zygote = _Zygote(control, worker_main, (wire, seccomp), confine, syscalls)
    while True:
        message, fds, _, _ = socket.recv_fds(control, _MAX_PACKET, 8)
        if not message:
            return 0
        request = json.loads(message)
        if request["op"] == "fork":
            zygote.fork(request, fds)
        elif request["op"] == "reap":
            _, status, usage = os.wait4(request["pid"], 0)
            reply = {"pid": request["pid"], "status": status, "usage": [usage.ru_utime, usage.ru_stime, usage.ru_maxrss]}
            control.send(json.dumps(reply).encode())
        else:
            control.send(json.dumps({"error": f"unknown op {request['op']!r}"}).encode())


class _Zygote:
    def __init__(self, control: socket.socket, worker_main, modules, confine, syscalls) -> None:
        self.control = control
        self.worker_main, self.modules, self.confine, self.syscalls = worker_main, modules, confine, syscalls
        self.spare: tuple[int, socket.socket, str] | None = None  # pid, its job socket, the plan it prepared

    def fork(self, request: dict, fds: list[int]) -> None:
        """Hand the job to the spare (or a fresh child), reply once confined, then prepare a new spare."""
        plan = _plan_key(request)
        if self.spare is not None and self.spare[2] != plan:
            self._discard_spare()
        if self.spare is None:
            self.spare = self._new_spare(request, plan)
        pid, job, _ = self.spare
        self.spare = None
        try:
            socket.send_fds(job, [json.dumps(request).encode()], fds)
            confined = job.recv(1)
        except OSError:
            confined = b""
        finally:
            job.close()
            for fd in fds:
                os.close(fd)
        if confined:
            pidfd = os.pidfd_open(pid)
            try:
                socket.send_fds(self.control, [json.dumps({"pid": pid}).encode()], [pidfd])
            finally:
                os.close(pidfd)
        else:
            _, status, _ = os.wait4(pid, 0)
            reason = f"the worker died while confining itself (wait status {status}); its output says why"
            self.control.send(json.dumps({"error": reason}).encode())
        self.spare = self._new_spare(request, plan)  # off the critical path: the reply is sent

    def _new_spare(self, request: dict, plan: str) -> tuple[int, socket.socket, str]:
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        pid = os.fork()
        if pid == 0:
            ours.close()
            self._spare(theirs, request)  # never returns
        theirs.close()
        return pid, ours, plan

    def _discard_spare(self) -> None:
        pid, job, _ = self.spare
        self.spare = None
        job.close()
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)

    def _spare(self, job: socket.socket, template: dict) -> None:
        """In the child: the job-independent half of the set-up, then wait for the job and finish."""
        code = 70
        try:
            self.control.close()
            self.syscalls.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)  # an idle spare dies with the zygote
            confinement = _confinement(self.confine, template["confinement"])
            if template.get("isolate"):
                _isolate_common(self.syscalls, template["isolate"])
            confinement.enter_namespaces()
            message, fds, _, _ = socket.recv_fds(job, _MAX_PACKET, 8)
            if not message:
                os._exit(0)  # discarded
            code = self._finish(json.loads(message), fds, job)
        except BaseException:
            try:
                os.write(2, traceback.format_exc().encode(errors="replace"))
            except OSError:
                pass
        finally:
            try:
                sys.stdout.flush()
                sys.stderr.flush()
            finally:
                os._exit(code)

    def _finish(self, request: dict, fds: list[int], job: socket.socket) -> int:
        """The job's half: fds, scratch, environment, limits and uid; then serve the candidate."""
        os.setsid()
        os.umask(0o077)
        confinement = _confinement(self.confine, request["confinement"])
        confinement.enter_scratch(request["cwd"])  # needs a descriptor of the spare's, closed below
        # above 0-5, so the dup2s below cannot clobber them
        high = [fcntl.fcntl(fd, fcntl.F_DUPFD_CLOEXEC, 6) for fd in (*fds[:3], job.fileno())]
        devnull = os.open(os.devnull, os.O_RDONLY)
        for target, fd in ((0, devnull), (1, high[2]), (2, high[2]), (3, high[0]), (4, high[1]), (5, high[3])):
            os.dup2(fd, target, inheritable=target < 3)
        os.closerange(6, _max_fd())
        sys.stdout = open(1, "w", closefd=False)  # noqa: SIM115 - the zygote's own streams were other fds
        sys.stderr = open(2, "w", closefd=False)  # noqa: SIM115
        faulthandler.enable(sys.stderr)  # as -X faulthandler does for a spawned worker
        spec = request["confinement"]
        if request.get("isolate"):
            _mount_private(self.syscalls, request["isolate"], spec["uid"])
        if confinement.view is None:
            os.chdir(request["cwd"])  # else enter_scratch did
        os.environ.clear()
        os.environ.update(request["env"])
        confinement.restrict()
        os.write(5, b"\1")
        os.close(5)
        for name in [n for n in sys.modules if n == "sandbox" or n.startswith("sandbox.")]:
            del sys.modules[name]  # our runtime copies: the candidate sees the modules a spawned worker sees
        return self.worker_main.main(["3", "4", *request["worker_args"]], *self.modules)


def _plan_key(request: dict) -> str:
    """What the job-independent half depends on: a spare prepared for another plan is discarded."""
    spec, isolate = request["confinement"], request.get("isolate") or {}
    shared = [spec["privileged"], spec["exposures"], spec["view"], bool(spec["ipc"])]
    return json.dumps([*shared, bool(isolate), isolate.get("tmp_mb")])


def _confinement(confine, spec: dict):
    exposures = tuple(confine.Exposure(e[0], tuple(e[1])) for e in spec["exposures"])
    view = confine.mounts.ViewPlan.from_json(spec["view"]) if spec["view"] is not None else None
    ipc = tuple((name, value) for name, value in spec["ipc"])
    rlimits = tuple(tuple(r) for r in spec["rlimits"])
    return confine.Confinement(rlimits, spec["uid"], spec["privileged"], exposures, view=view, ipc=ipc)


def _isolate_common(syscalls, plan: dict) -> None:
    """A bwrap zygote's per-worker view, first half: own mount namespace and a /proc that shows
    only the worker's own uid's processes (the IPC namespace is ``Confinement``'s)."""
    syscalls.unshare(syscalls.CLONE_NEWNS)
    syscalls.mount(None, b"/", None, syscalls.MS_REC | syscalls.MS_PRIVATE, None)
    flags = syscalls.MS_NOSUID | syscalls.MS_NODEV
    syscalls.mount(b"proc", b"/proc", b"proc", flags | _MS_NOEXEC, b"hidepid=invisible")


def _mount_private(syscalls, plan: dict, uid: int) -> None:
    """Second half: private /tmp and /dev/shm, and a size-capped tmpfs at the worker's scratch
    path (the host dir stays hidden) with the worker program and the candidate's source bound
    back read-only; so are the Python dirs in ``plan["keep"]`` (a venv under /tmp). What is
    bound back is opened first: the new /tmp covers it."""
    scratch = plan["scratch"]
    runtime_fd = os.open(os.path.join(scratch, ".sandbox"), os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
    keep = {path: os.open(path, os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC) for path in plan["keep"]}
    flags = syscalls.MS_NOSUID | syscalls.MS_NODEV
    for path in (b"/tmp", b"/dev/shm"):
        syscalls.mount(b"tmpfs", path, b"tmpfs", flags, f"size={plan['tmp_mb']}m,mode=1777".encode())
    umask = os.umask(0o022)  # parents of the scratch path must be traversable by the worker's uid
    os.makedirs(scratch, mode=0o755, exist_ok=True)
    for path, fd in keep.items():  # a virtual environment under /tmp: bound back, read-only
        os.makedirs(path, mode=0o755, exist_ok=True)
        syscalls.mount(f"/proc/self/fd/{fd}".encode(), path.encode(), None, syscalls.MS_BIND | syscalls.MS_REC, None)
        syscalls.mount(None, path.encode(), None, syscalls.MS_REMOUNT | syscalls.MS_BIND | syscalls.MS_RDONLY | flags, None)
        os.close(fd)
    os.umask(umask)
    options = f"size={plan['scratch_mb']}m,mode=0700,uid={uid},gid={uid}"
    syscalls.mount(b"tmpfs", scratch.encode(), b"tmpfs", flags, options.encode())
    for name in (".sandbox", "tmp"):
        os.mkdir(os.path.join(scratch, name), 0o700)
        os.chown(os.path.join(scratch, name), uid, uid)
    target = os.path.join(scratch, ".sandbox").encode()
    syscalls.mount(f"/proc/self/fd/{runtime_fd}".encode(), target, None, syscalls.MS_BIND, None)
    syscalls.mount(None, target, None, syscalls.MS_REMOUNT | syscalls.MS_BIND | syscalls.MS_RDONLY | flags, None)
    os.close(runtime_fd)


def _max_fd() -> int:
    limit = os.sysconf("SC_OPEN_MAX")
    return limit if limit > 0 else 1 << 16


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
