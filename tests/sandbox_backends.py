"""Every sandbox backend variant the tests run against, and the checks they share.

``VARIANTS`` lists each way a worker can be started (backend, warm or cold); ``make``
returns a live ``Sandbox`` for one of them or skips the test with the reason it cannot run
here. Docker variants carry the ``docker`` mark and need the session's daemon fixture.
"""

from __future__ import annotations

import os
import time

import pytest

from sandbox import Sandbox

ROOT = os.geteuid() == 0

#: (test id, backend name, options); each runs the whole hostile suite. "warm" variants fork
#: workers from a zygote; the others spawn each worker.
VARIANTS = (
    ("process", "process", {"warm": False}),
    ("process-warm", "process", {"warm": True}),
    ("bwrap", "bwrap", {"warm": False}),
    ("bwrap-warm", "bwrap", {"warm": True}),
    ("docker", "docker", {}),
)
_WARM: dict[str, Sandbox] = {}  # one zygote per warm variant for the whole session


def variant_params(*, docker: bool = True) -> list:
    """One param per variant; ``docker=False`` leaves docker out (its starts cost ~0.5 s each)."""
    params = []
    for test_id, backend, options in VARIANTS:
        if backend == "docker" and not docker:
            continue
        marks = [pytest.mark.docker, pytest.mark.slow] if backend == "docker" else []
        params.append(pytest.param((backend, options), id=test_id, marks=marks))
    return params


def backend_params() -> list:
    """One param per backend name (the registry's default mode), for tests that go by name."""
    names = []
    for _, backend, _ in VARIANTS:
        if backend not in names:
            names.append(backend)
    marks = {"docker": [pytest.mark.docker, pytest.mark.slow]}
    return [pytest.param(name, id=name, marks=marks.get(name, [])) for name in names]


def make(request: pytest.FixtureRequest, backend: str, options: dict) -> Sandbox:
    """A sandbox of ``backend`` with ``options``, or ``pytest.skip`` with the reason."""
    if backend == "docker":
        docker_env(request)
        from sandbox.docker_backend import DockerSandbox

        return DockerSandbox(**options)
    warm = options.get("warm", False)
    key = f"{backend}-warm"
    if warm and key in _WARM:
        return _WARM[key]
    if backend == "bwrap":
        from sandbox.bwrap import BwrapSandbox, WarmBwrapSandbox

        sandbox = WarmBwrapSandbox() if warm else BwrapSandbox()
        info = sandbox.info()
        if not info.available:
            pytest.skip(f"bwrap backend unavailable: {info.reason}")
    else:
        from sandbox.process import ProcessSandbox
        from sandbox.zygote import WarmProcessSandbox

        sandbox = WarmProcessSandbox() if warm else ProcessSandbox()
    if warm:
        if sandbox._warm() is None:
            pytest.skip(f"{key}: the zygote cannot run here: {sandbox.zygote_error}")
        _WARM[key] = sandbox
    return sandbox


def close_warm() -> None:
    """Stop the session's zygotes (called at session end)."""
    while _WARM:
        _WARM.popitem()[1].close()


def docker_env(request: pytest.FixtureRequest) -> None:
    """Point the docker backend at the session's daemon and image (env vars), or skip."""
    from docker_daemon import Unavailable

    daemon = request.getfixturevalue("docker_daemon")
    try:
        host, image = daemon.environment()
    except Unavailable as exc:
        pytest.skip(f"docker backend unavailable: {exc}")
    monkeypatch = request.getfixturevalue("monkeypatch")
    monkeypatch.setenv("DOCKER_HOST", host)
    monkeypatch.setenv("EVOLVE_DOCKER_IMAGE", image)


def processes_matching(marker: str, uid: int | None) -> list[str]:
    """Live processes whose command line holds ``marker`` or whose real uid is ``uid``."""
    found = []
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/cmdline", "rb") as f:
                cmdline = f.read().replace(b"\0", b" ").decode(errors="replace")
            with open(f"/proc/{name}/status") as f:
                status = dict(line.split(":", 1) for line in f if ":" in line)
        except OSError:
            continue
        if status["State"].split()[0] in ("Z", "X"):
            continue
        real_uid = int(status["Uid"].split()[0])
        if (marker and marker in cmdline) or (uid is not None and real_uid == uid):
            found.append(f"pid {name} uid {real_uid}: {cmdline.strip()[:120]}")
    return found


def wait_for_processes(marker: str, uid: int | None = None, timeout_s: float = 5.0) -> list[str]:
    """Poll until a process matching appears; return the matches (empty after the timeout)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        found = processes_matching(marker, uid)
        if found:
            return found
        time.sleep(0.02)
    return []


def assert_none_left(marker: str, uid: int | None = None, timeout_s: float = 10.0) -> None:
    """Fail unless no process matches within ``timeout_s`` (kills are asynchronous for a moment)."""
    deadline = time.monotonic() + timeout_s
    while True:
        found = processes_matching(marker, uid)
        if not found:
            return
        if time.monotonic() > deadline:
            pytest.fail("processes left behind:\n" + "\n".join(found))
        time.sleep(0.02)


def sandbox_uid(worker: object) -> int | None:
    """The private uid candidate code ran as, when it differs from ours (root only)."""
    uid = getattr(worker, "uid", None)
    return uid if uid is not None and uid != os.getuid() else None
