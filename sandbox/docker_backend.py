"""The ``docker`` backend: each worker is a container, started through the docker SDK.

The container runs the same worker program as the process backend (``worker_main.py``,
bind-mounted read-only with the candidate's source at ``/sandbox``) from an image that holds
only Debian's python3 and numpy (``sandbox.docker_image``). Confinement:

* no network (``network_mode="none"``), read-only root filesystem, a size-capped private
  tmpfs as scratch (cwd, HOME, TMPDIR) and ``/tmp``, private pid namespace, private IPC
  namespace capped like the other backends' (``confine.ipc_sysctls``, as docker sysctls);
* all capabilities dropped, no-new-privileges, the worker's private uid (root) or the
  caller's (otherwise), never root in the container;
* cgroup memory (swap included) and pids limits, plus the process backend's rlimits set by
  ``container_shim.py`` before the worker starts;
* GPU: only the assigned devices, through a device request; ``CUDA_VISIBLE_DEVICES``
  renumbers them from 0, as the container sees them;
* the environment built from the same allow-list as the other backends.

The channels are unix sockets in a per-worker folder bind-mounted at ``/ipc`` (a container
cannot inherit pipes); the trusted side uses them exactly as the process backend uses its
pipes (``sandbox.channel``), so calls, limits and failure classes are the same. The
container's first process (docker's init) is a host pid, so its exit is watched through a
pidfd; close() kills and removes the container and every process of the worker's uid.
"""

from __future__ import annotations

import json
import os
import select
import shutil
import socket
import tempfile
import time
from typing import Any, Mapping

from sandbox import confine
from sandbox.reaper import pid_alive
from sandbox.api import CandidateFailure, FailureKind, Limits, SandboxError, SandboxInfo
from sandbox.channel import Channel, OutputCapture, WorkerExited
from sandbox.docker_image import default_image
from sandbox.process import encode_source
from sandbox.process_worker import ProcessWorker
from sandbox.uids import UidPool
from sandbox.workspace import RUNTIME_DIR, Workspace

_HERE = os.path.dirname(os.path.abspath(__file__))
_MB = 1 << 20
_IPC_DIR = "ipc"
_SYSTEM_PATH = "/usr/local/bin:/usr/bin:/bin"
_LABEL = "evolve.sandbox"
_OWNER = "evolve.owner"  # "<hostname>:<pid>" of the trusted process that created the container


def device_requests(gpu_devices: tuple[str, ...]) -> list[Any]:
    """The docker device request for exactly ``gpu_devices`` (none when empty)."""
    if not gpu_devices:
        return []
    from docker.types import DeviceRequest

    return [DeviceRequest(driver="nvidia", device_ids=list(gpu_devices), capabilities=[["gpu"]])]


def container_env(limits: Limits, extra_env: Mapping[str, str] | None) -> dict[str, str]:
    """The allow-list environment with container paths; GPUs renumbered as the container sees them."""
    env = confine.worker_env(limits, "/scratch", "/scratch/tmp", extra_env)
    env["PATH"] = _SYSTEM_PATH
    env["CUDA_VISIBLE_DEVICES"] = ",".join(str(i) for i in range(len(limits.gpu_devices)))
    return env


class DockerSandbox:
    """Starts ``DockerWorker``s from ``image`` on the daemon at ``docker_host`` (default: the environment's)."""

    name = "docker"

    def __init__(
        self,
        *,
        image: str | None = None,
        docker_host: str | None = None,
        tmp_mb: int = 64,
        uid_pool: UidPool | None = None,
    ) -> None:
        self.image = image or default_image()
        self.docker_host = docker_host
        self.tmp_mb = tmp_mb  # size of /tmp and /dev/shm (the scratch's is limits.scratch_mb)
        self.privileged = os.geteuid() == 0
        self.uid_pool = (uid_pool or UidPool()) if self.privileged else None
        self._client: Any = None

    def client(self) -> Any:
        if self._client is None:
            try:
                import docker
            except ImportError:
                raise SandboxError("the docker backend needs the docker SDK: pip install 'evolve[docker]'") from None
            try:
                if self.docker_host:
                    self._client = docker.DockerClient(base_url=self.docker_host, timeout=60)
                else:
                    self._client = docker.from_env(timeout=60)
            except docker.errors.DockerException as exc:
                raise SandboxError(f"cannot reach the docker daemon (DOCKER_HOST={os.environ.get('DOCKER_HOST', 'unset')}): {exc}") from None
            remove_orphans(self._client)
        return self._client

    def start(
        self,
        source: str,
        limits: Limits,
        *,
        module_name: str = "candidate",
        extra_env: Mapping[str, str] | None = None,
    ) -> DockerWorker:
        encoded = encode_source(source, module_name)
        workspace = ContainerWorkspace()
        try:
            return self._start(workspace, encoded, limits, module_name, extra_env)
        except BaseException:
            workspace.release()
            raise

    def _start(
        self, workspace: ContainerWorkspace, source: bytes, limits: Limits, module_name: str, extra_env: Mapping[str, str] | None
    ) -> DockerWorker:
        if self.uid_pool is not None:
            workspace.lease = self.uid_pool.acquire()
        uid = workspace.uid if workspace.uid is not None else os.getuid()
        gid = workspace.uid if workspace.uid is not None else os.getgid()
        scratch = tempfile.mkdtemp(prefix="evolve-container-")
        workspace.populate(scratch, source, module_name)
        runtime = os.path.join(scratch, RUNTIME_DIR)
        shutil.copyfile(os.path.join(_HERE, "container_shim.py"), os.path.join(runtime, "container_shim.py"))
        ipc = os.path.join(scratch, _IPC_DIR)
        os.mkdir(ipc, 0o700)
        listeners = {name: _listen(os.path.join(ipc, f"{name}.sock"), uid, gid) for name in ("output", "protocol")}
        for path in (ipc, os.path.join(runtime, "container_shim.py")):
            os.chown(path, uid, gid)
        rlimits = confine.resource_limits(limits, privileged=self.privileged)
        max_message = limits.max_message_bytes
        client = self.client()
        workspace.container = self._create(client, limits, uid, gid, runtime, ipc, rlimits, module_name, max_message, extra_env)
        workspace.container.start()
        try:
            streams = _accept(listeners, workspace.container, limits.startup_timeout_s)
        finally:
            for listener in listeners.values():
                listener.close()
        workspace.container.reload()
        workspace.proc = _ContainerProcess(workspace.container.attrs["State"]["Pid"])
        workspace.channel = Channel(
            pid=workspace.proc.pid,
            request_fd=os.dup(streams["protocol"].fileno()),
            reply_fd=os.dup(streams["protocol"].fileno()),
            output_fd=os.dup(streams["output"].fileno()),
            max_message_bytes=max_message,
            max_header_bytes=limits.max_header_bytes,
            output=OutputCapture(limits.max_output_bytes),
        )
        for stream in streams.values():
            stream.close()
        worker = DockerWorker(workspace, limits, module_name)
        worker._wait_ready()
        return worker

    def _create(self, client: Any, limits: Limits, uid: int, gid: int, runtime: str, ipc: str, rlimits: Any,
                module_name: str, max_message: int, extra_env: Mapping[str, str] | None) -> Any:
        import docker

        command = [
            "python3", "-S", "-B", "/sandbox/container_shim.py", "/ipc", json.dumps(rlimits), module_name,
            str(max_message), str(limits.max_header_bytes),
        ]
        memory = f"{limits.memory_mb}m"
        try:
            return client.containers.create(
                self.image,
                command=command,
                user=f"{uid}:{gid}",
                environment=container_env(limits, extra_env),
                working_dir="/scratch",
                hostname="sandbox",
                network_mode="none",
                read_only=True,
                init=True,
                ipc_mode="private",
                sysctls={name.replace("/", "."): value for name, value in confine.ipc_sysctls(limits)},
                mem_limit=memory,
                memswap_limit=memory,
                pids_limit=limits.max_processes + 8,  # + docker's init and the shim's moments
                security_opt=["no-new-privileges"],
                cap_drop=["ALL"],
                shm_size=self.tmp_mb * _MB,
                tmpfs={
                    "/scratch": f"rw,size={limits.scratch_mb}m,mode=0700,uid={uid},gid={gid}",
                    "/tmp": f"rw,size={self.tmp_mb}m,mode=1777",
                },
                volumes={runtime: {"bind": "/sandbox", "mode": "ro"}, ipc: {"bind": "/ipc", "mode": "ro"}},
                device_requests=device_requests(limits.gpu_devices) or None,
                log_config=docker.types.LogConfig(type="json-file", config={"max-size": "1m", "max-file": "1"}),
                labels={_LABEL: "worker", _OWNER: _owner()},
            )
        except docker.errors.ImageNotFound:
            raise SandboxError(f"docker image {self.image} not found: build it with `python -m sandbox.docker_image`") from None
        except docker.errors.DockerException as exc:
            raise SandboxError(f"could not create the sandbox container: {exc}") from None

    def info(self) -> SandboxInfo:
        protections = (
            "environment built from an allow-list (no API keys)",
            "no network; read-only root; private size-capped tmpfs scratch",
            "own pid and IPC namespaces (IPC capped); all capabilities dropped; no-new-privileges; unprivileged uid",
            "seccomp filter: no new namespaces, keyrings, ptrace or bpf (on top of docker's)",
            "cgroup memory and pids limits plus rlimits; container killed and removed on close",
            "GPU: only the assigned devices (device request)",
        )
        try:
            client = self.client()
            client.ping()
            client.images.get(self.image)
        except Exception as exc:  # SDK missing, daemon unreachable, image missing: all mean "not here"
            return SandboxInfo(self.name, available=False, reason=f"docker backend unavailable: {exc}", protections=protections)
        return SandboxInfo(self.name, available=True, protections=protections)

    def close(self) -> None:
        """Nothing to release between workers: each container is its worker's to remove."""


class _ContainerProcess:
    """What ``ProcessWorker`` reads of its process: the host pid of the container's init."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.returncode: int | None = None


class ContainerWorkspace(Workspace):
    """A worker's resources when the worker is a container: stopping means kill, wait, inspect."""

    def __init__(self) -> None:
        super().__init__()
        self.container: Any = None
        self.oom_killed = False

    def stop(self) -> tuple[int | None, Any]:
        if self.container is not None and not self._stopped:
            self._stopped = True
            try:
                self.container.kill()
            except Exception:
                pass  # already exited
            code = self.container.wait(timeout=30).get("StatusCode", -1)
            self.container.reload()
            self.oom_killed = bool(self.container.attrs["State"].get("OOMKilled"))
            if self.channel is not None:
                self.channel.drain_output()
            self._status = (code - 128) if code > 128 else (code & 0xFF) << 8  # a wait status, as classify_exit reads
            if self.proc is not None:
                self.proc.returncode = code
        if self.uid is not None:
            from sandbox import reaper

            self.survivors = reaper.kill_uid(self.uid)
        return self._status, None

    def release(self) -> None:
        if self._released:
            return
        try:
            self.stop()
            if self.container is not None:
                self.container.remove(force=True)
        finally:
            super().release()


class DockerWorker(ProcessWorker):
    """A container holding one candidate; calls and failures as ``ProcessWorker``'s."""

    def _classify(self, exc: BaseException, what: str) -> BaseException:
        if isinstance(exc, WorkerExited):
            workspace = self._workspace
            assert isinstance(workspace, ContainerWorkspace)
            workspace.stop()
            if workspace.oom_killed:
                message = f"the container was killed by the OOM killer (memory limit {self.limits.memory_mb} MB) during {what}"
                return self._fail(FailureKind.MEMORY, message)
        return super()._classify(exc, what)


def _listen(path: str, uid: int, gid: int) -> socket.socket:
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(path)
    os.chown(path, uid, gid)
    os.chmod(path, 0o600)
    listener.listen(1)
    return listener


def _accept(listeners: dict[str, socket.socket], container: Any, timeout_s: float) -> dict[str, socket.socket]:
    """Accept the shim's two connections; SandboxError if the container dies or the time runs out."""
    accepted: dict[str, socket.socket] = {}
    deadline = time.monotonic() + timeout_s
    while len(accepted) < len(listeners):
        waiting = {l.fileno(): name for name, l in listeners.items() if name not in accepted}
        ready, _, _ = select.select(list(waiting), [], [], 0.2)
        for fd in ready:
            name = waiting[fd]
            accepted[name], _ = listeners[name].accept()
        if len(accepted) == len(listeners):
            break
        container.reload()
        if container.status in ("exited", "dead"):
            logs = container.logs(tail=20).decode(errors="replace").strip()
            raise SandboxError(f"the sandbox container exited before connecting: {logs or '(no output)'}")
        if time.monotonic() > deadline:
            raise CandidateFailure(FailureKind.TIMEOUT, f"the container did not start within {timeout_s:g} s (startup_timeout_s)")
    return accepted


def _owner() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def remove_orphans(client: Any) -> int:
    """Remove sandbox containers whose creating process on this host is gone (a killed controller's).

    A worker removes its container on close; only a trusted process killed outright leaves
    one behind, so the next sandbox on the same host cleans up. Returns how many it removed.
    """
    host = socket.gethostname()
    removed = 0
    for container in client.containers.list(all=True, filters={"label": _LABEL}, ignore_removed=True):
        owner_host, _, pid = container.labels.get(_OWNER, "").rpartition(":")
        if owner_host != host or not pid.isdigit() or pid_alive(int(pid)):
            continue
        try:
            container.remove(force=True)
            removed += 1
        except Exception:  # already gone, or being removed by another cleaner: either way not ours to fail on
            continue
    return removed
