"""Evaluations as Ray tasks: the same trusted evaluation, on any node of a cluster.

``RayExecutor`` keeps the ``Executor`` protocol, so the controller neither knows nor cares
where an evaluation ran, and stays the only writer of the run database: a task receives a
request and returns an ``EvaluationResult``, nothing else crosses. Each evaluation is one
Ray task that asks for ``[resources] cpus`` CPUs and ``[resources] gpus`` GPUs (Ray's
``num_cpus`` / ``num_gpus``), so Ray places it and pins its devices; inside the task the
trusted side computes on ``cuda:0`` (Ray sets ``CUDA_VISIBLE_DEVICES`` to the devices it
gave the task) and the sandbox gets exactly those devices (``ray.get_gpu_ids()``).

The problem folder travels by content hash, never the database: the executor packs the
run's snapshot once (a deterministic tar, its sha256 the name), puts it in Ray's object
store once, and each node unpacks it once into ``$EVOLVE_RAY_CACHE`` (default
``<tmp>/evolve-ray-<uid>``)/<hash>; later tasks on that node find it there and do not
even fetch the bytes. The candidate's source travels in the request.

Inside the task, ``evaluate_program`` runs in the Ray worker's process (``evaluate.py``
imported once per worker), and the candidate in the sandbox backend the run resolved
(``[run] sandbox``), exactly as locally. A node where that backend cannot run fails the
evaluation with a message naming the node and the reason, and the executor checks one
node when it starts, so a cluster without evolve installed or without the backend is an
error before the run spends anything.

Failures: a worker that dies mid-evaluation (killed, OOM, node lost) is retried by Ray up
to ``RETRIES`` times; after that the evaluation is recorded as ``evaluator_error`` with
the reason, never lost. ``evaluation_timeout_s`` bounds each task from the controller's
side (time queued in a busy cluster included): past it the task is cancelled, its worker
killed, and the evaluation recorded as ``timeout``.
"""

from __future__ import annotations

import asyncio
import dataclasses
import fcntl
import hashlib
import io
import os
import shutil
import socket
import tarfile
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

from evolve.evaluation.request import EvaluationRequest
from evolve.records import EvaluationResult
from sandbox import FailureKind

if TYPE_CHECKING:
    from evolve.config import ProblemConfig

RETRIES = 2
_INSTALL = "pip install -e '.[ray]' (the ray extra, the same evolve on every node)"


def import_ray() -> Any:
    try:
        import ray
    except ImportError:
        raise ValueError(f"--executor ray needs Ray: {_INSTALL}") from None
    return ray


class RayExecutor:
    """Up to ``max_in_flight`` evaluations at once as Ray tasks of ``cpus`` CPUs and ``gpus`` GPUs."""

    def __init__(
        self,
        *,
        address: str | None = None,
        cpus: float = 1.0,
        gpus: int | str = 0,
        max_in_flight: int = 2,
        evaluation_timeout_s: float = 300.0,
        check_sandbox: str | None = None,
    ) -> None:
        ray = self._ray = import_ray()
        self._owns_ray = not ray.is_initialized()
        if self._owns_ray:
            try:
                ray.init(address=address, include_dashboard=False, log_to_driver=False, configure_logging=False)
            except (ConnectionError, RuntimeError, ValueError) as exc:
                where = address or os.environ.get("RAY_ADDRESS") or "a new local Ray"
                raise ValueError(f"--executor ray: cannot start or join {where}: {exc}") from None
        offered = ray.cluster_resources().get("GPU", 0)
        self.gpus = (1 if offered else 0) if gpus == "auto" else int(gpus)
        if self.gpus > offered:
            self.close()
            raise ValueError(
                f"[resources] gpus = {self.gpus}: the Ray cluster offers {offered:g} GPU(s) in all; join a cluster "
                "with GPUs (--ray-address) or set gpus = \"auto\""
            )
        self.evaluation_timeout_s = evaluation_timeout_s
        self._remote = ray.remote(_evaluate_on_node).options(num_cpus=cpus, num_gpus=self.gpus, max_retries=RETRIES)
        self._slots: asyncio.Semaphore | None = None
        self._max_in_flight = max_in_flight
        self._bundles: dict[str, tuple[str, Any]] = {}
        if check_sandbox is not None:
            self._check_node(check_sandbox, cpus, self.gpus)

    @classmethod
    def for_config(cls, config: "ProblemConfig", workers: int | None = None) -> "RayExecutor":
        """The executor ``[run]``, ``[resources]`` and ``[limits]`` describe, its first node checked."""
        return cls(
            address=config.run.ray_address, cpus=config.resources.cpus, gpus=config.resources.gpus,
            max_in_flight=workers or config.run.max_concurrent_evaluations,
            evaluation_timeout_s=config.limits.evaluation_timeout_s, check_sandbox=config.run.sandbox,
        )

    async def evaluate(self, request: EvaluationRequest) -> EvaluationResult:
        ray = self._ray
        if self._slots is None:
            self._slots = asyncio.Semaphore(self._max_in_flight)
        digest, bundle = self._bundle(request.problem_dir)
        async with self._slots:
            ref = self._remote.remote(digest, [bundle], request, self.gpus > 0)
            try:
                return await asyncio.wait_for(_awaitable(ref), timeout=self.evaluation_timeout_s)
            except asyncio.TimeoutError:
                ray.cancel(ref, force=True)
                return _failure(FailureKind.TIMEOUT, f"evaluation exceeded {self.evaluation_timeout_s:g} s "
                                "(evaluation_timeout_s; time queued in the Ray cluster counts)")
            except asyncio.CancelledError:
                ray.cancel(ref, force=True)
                raise
            except ray.exceptions.RayError as exc:
                return _failure(FailureKind.EVALUATOR_ERROR, _ray_failure(exc))

    def close(self) -> None:
        if self._owns_ray and self._ray.is_initialized():
            self._ray.shutdown()

    # -- internals --------------------------------------------------------------------------
    def _bundle(self, problem_dir: str) -> tuple[str, Any]:
        """(sha256, object ref) of the problem folder packed once; the ref is put in the store once."""
        if problem_dir not in self._bundles:
            data = pack(Path(problem_dir))
            self._bundles[problem_dir] = (hashlib.sha256(data).hexdigest(), self._ray.put(data))
        return self._bundles[problem_dir]

    def _check_node(self, backend: str, cpus: float, gpus: float) -> None:
        """Fail now, with the node's reason, if a worker cannot import evolve or run ``backend``."""
        ray = self._ray
        probe = ray.remote(_probe_node).options(num_cpus=cpus, num_gpus=gpus, max_retries=0)
        try:
            ok, host, reason = ray.get(probe.remote(backend), timeout=300)
        except ray.exceptions.RayError as exc:
            self.close()
            raise ValueError(f"--executor ray: a Ray worker cannot run evolve's evaluations ({_ray_failure(exc)}); "
                             f"{_INSTALL}") from None
        if not ok:
            self.close()
            raise ValueError(f"--executor ray: sandbox {backend!r} cannot run on Ray node {host}: {reason}")


async def _awaitable(ref: Any) -> EvaluationResult:
    return await ref


def pack(folder: Path) -> bytes:
    """A deterministic tar.gz of ``folder`` (sorted names, no times or owners), so equal folders hash equal."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz", compresslevel=6) as tar:
        for path in sorted(p for p in folder.rglob("*") if "__pycache__" not in p.parts and p.suffix != ".pyc"):
            info = tar.gettarinfo(str(path), arcname=str(path.relative_to(folder)))
            info.mtime, info.uid, info.gid, info.uname, info.gname = 0, 0, 0, "", ""
            if info.isfile():
                with open(path, "rb") as handle:
                    tar.addfile(info, handle)
            elif info.isdir():
                tar.addfile(info)
    return buffer.getvalue()


def node_cache() -> Path:
    return Path(os.environ.get("EVOLVE_RAY_CACHE") or Path(tempfile.gettempdir()) / f"evolve-ray-{os.getuid()}")


def unpacked(digest: str, bundle: list[Any]) -> Path:
    """The problem folder ``digest`` on this node, unpacked once (the bytes fetched only then)."""
    root = node_cache()
    target = root / digest
    if (target / ".complete").exists():
        return target
    root.mkdir(mode=0o700, parents=True, exist_ok=True)
    with open(root / f"{digest}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # one unpacker per node; the others wait, then find it done
        if not (target / ".complete").exists():
            import ray

            data = ray.get(bundle[0])
            if hashlib.sha256(data).hexdigest() != digest:
                raise ValueError(f"problem bundle {digest[:12]} arrived corrupted")
            shutil.rmtree(target, ignore_errors=True)
            staging = Path(tempfile.mkdtemp(dir=root, prefix=f".{digest[:12]}-"))
            with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as tar:
                tar.extractall(staging, filter="data")
            (staging / ".complete").touch()
            staging.rename(target)
    return target


def _evaluate_on_node(digest: str, bundle: list[Any], request: EvaluationRequest, wants_gpus: bool) -> EvaluationResult:
    """The Ray task: unpack the problem (once per node), pin the GPUs Ray gave, score in the sandbox."""
    import ray

    from evolve.evaluation.scoring import evaluate_program
    from sandbox import get_sandbox

    info = get_sandbox(request.sandbox).info()
    if not info.available:
        return _failure(FailureKind.EVALUATOR_ERROR,
                        f"sandbox {request.sandbox!r} cannot run on Ray node {socket.gethostname()}: {info.reason}")
    request = dataclasses.replace(request, problem_dir=str(unpacked(digest, bundle)))
    if wants_gpus:
        ids = tuple(str(i) for i in ray.get_gpu_ids())
        request = request.with_devices(ids, "cuda:0")  # Ray's CUDA_VISIBLE_DEVICES numbers them from 0 here
    return evaluate_program(request)


def _probe_node(backend: str) -> tuple[bool, str, str]:
    from sandbox import get_sandbox

    info = get_sandbox(backend).info()
    return bool(info.available), socket.gethostname(), str(info.reason or "")


def _ray_failure(exc: BaseException) -> str:
    name = type(exc).__name__
    text = str(exc).strip().splitlines()
    detail = text[0][:300] if text else ""
    if "WorkerCrashed" in name or "NodeDied" in name or "OutOfMemory" in name or "ActorDied" in name:
        return f"the Ray worker running this evaluation died {RETRIES + 1} times ({name}: {detail})"
    return f"the Ray task failed ({name}): {detail}"


def _failure(kind: FailureKind, message: str) -> EvaluationResult:
    return EvaluationResult(ok=False, failure_kind=kind.value, failure_message=message, duration_s=0.0)
