"""The ``docker`` backend and its image: container settings on a real daemon, GPU requests, the recipe.

Container tests need the session's daemon (``docker_daemon`` fixture: reused or started,
image built once) and carry the ``docker`` mark; they skip with the reason where no daemon
can run. The hostile suite (test_hostile.py) runs every attack against docker too.
"""

from __future__ import annotations

import dataclasses
import os
import socket

import pytest

from sandbox import Limits
from sandbox.docker_backend import DockerSandbox, container_env, device_requests
from sandbox.docker_image import DEFAULT_RECIPE, Recipe, host_debian_mirror
from sandbox_backends import docker_env

LIMITS = Limits(timeout_s=10.0, memory_mb=300, max_processes=20, startup_timeout_s=60.0)


def test_recipe_tag_is_stable_and_changes_with_the_recipe():
    assert DEFAULT_RECIPE.tag() == Recipe().tag()
    assert DEFAULT_RECIPE.tag().startswith("evolve-sandbox:bookworm-")
    changed = dataclasses.replace(DEFAULT_RECIPE, packages=(*DEFAULT_RECIPE.packages, "python3-scipy"))
    assert changed.tag() != DEFAULT_RECIPE.tag()


def test_mirror_comes_from_the_hosts_apt_sources(tmp_path):
    (tmp_path / "sources.list.d").mkdir()
    assert host_debian_mirror(str(tmp_path)) is None
    (tmp_path / "sources.list").write_text("# comment\ndeb http://mirror.example/debian bookworm main\n")
    assert host_debian_mirror(str(tmp_path)) == "http://mirror.example/debian"
    (tmp_path / "sources.list.d" / "debian.sources").write_text(
        "Types: deb\nURIs: http://other.example/debian\nSuites: bookworm\nComponents: main\n"
    )
    assert host_debian_mirror(str(tmp_path)) == "http://other.example/debian"  # deb822 files first


def test_gpu_request_names_exactly_the_assigned_devices():
    assert device_requests(()) == []
    (request,) = device_requests(("1", "GPU-abc"))
    assert request["DeviceIDs"] == ["1", "GPU-abc"] and request["Capabilities"] == [["gpu"]]
    assert request["Driver"] == "nvidia" and request["Count"] == 0  # 0 with ids: only these, not "all"


def test_container_renumbers_gpus_as_the_container_sees_them():
    assert container_env(Limits(gpu_devices=("3", "5")), None)["CUDA_VISIBLE_DEVICES"] == "0,1"
    env = container_env(Limits(), {"SEED": "1"})
    assert env["CUDA_VISIBLE_DEVICES"] == "" and env["HOME"] == "/scratch" and env["SEED"] == "1"


@pytest.fixture
def docker_sandbox(request):
    docker_env(request)
    return DockerSandbox()


@pytest.mark.docker
@pytest.mark.slow
def test_container_is_locked_down_and_removed_on_close(docker_sandbox):
    client = docker_sandbox.client()
    worker = docker_sandbox.start("def f(x):\n    return x * 2\n", LIMITS)
    try:
        assert worker.call("f", 21) == 42
        mine = {"label": [f"evolve.owner={socket.gethostname()}:{os.getpid()}"]}  # other sessions share the daemon
        running = client.containers.list(filters=mine, ignore_removed=True)
        assert len(running) == 1  # exactly this worker's container is running
        container = running[0]
        host = container.attrs["HostConfig"]
        assert host["NetworkMode"] == "none" and host["ReadonlyRootfs"] is True
        assert host["CapDrop"] == ["ALL"] and host["SecurityOpt"] == ["no-new-privileges"]
        assert host["Memory"] == host["MemorySwap"] == 300 << 20 and host["PidsLimit"] == 28
        assert host["IpcMode"] == "private" and host["Init"] is True
        assert len(host["Binds"]) == 2 and all(bind.endswith(":ro") for bind in host["Binds"])  # /sandbox, /ipc
        assert container.attrs["Config"]["User"] == f"{worker.uid}:{worker.uid}"
    finally:
        worker.close()
    remaining = client.containers.list(all=True, filters={"label": "evolve.sandbox"}, ignore_removed=True)
    assert container.id not in {c.id for c in remaining}  # removed, not just stopped


@pytest.mark.docker
@pytest.mark.slow
def test_a_gpu_worker_asks_the_daemon_for_exactly_its_devices(docker_sandbox):
    """Created, not started: the daemon here has no GPU runtime, but it records the request."""
    limits = Limits(gpu_devices=("1",))
    container = docker_sandbox._create(
        docker_sandbox.client(), limits, 65534, 65534, "/nonexistent-runtime", "/nonexistent-ipc", (), "candidate", 1 << 20, None
    )
    try:
        requests = container.attrs["HostConfig"]["DeviceRequests"]
        assert requests == [{"Driver": "nvidia", "Count": 0, "DeviceIDs": ["1"], "Capabilities": [["gpu"]], "Options": {}}]
        assert "CUDA_VISIBLE_DEVICES=0" in container.attrs["Config"]["Env"]
    finally:
        container.remove(force=True)


@pytest.mark.docker
@pytest.mark.slow
def test_containers_of_a_killed_controller_are_removed_by_the_next_sandbox(docker_sandbox):
    import subprocess

    from sandbox.docker_backend import remove_orphans

    client = docker_sandbox.client()
    dead = subprocess.Popen(["true"])
    dead.wait()  # a pid that no longer exists: the "killed controller"
    host = socket.gethostname()
    orphan = client.containers.create(
        docker_sandbox.image, "true", labels={"evolve.sandbox": "worker", "evolve.owner": f"{host}:{dead.pid}"}
    )
    alive = client.containers.create(
        docker_sandbox.image, "true", labels={"evolve.sandbox": "worker", "evolve.owner": f"{host}:{os.getpid()}"}
    )
    try:
        assert remove_orphans(client) >= 1
        remaining = {c.id for c in client.containers.list(all=True, filters={"label": "evolve.sandbox"}, ignore_removed=True)}
        assert orphan.id not in remaining and alive.id in remaining
    finally:
        alive.remove(force=True)
