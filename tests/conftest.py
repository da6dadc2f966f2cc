import os
from pathlib import Path

import pytest

from sandbox_backends import make, variant_params

TESTS = Path(__file__).resolve().parent
TINY = TESTS / "fixture_problems" / "tiny"


@pytest.fixture
def tiny_problem() -> Path:
    return TINY


@pytest.fixture(autouse=True)
def _no_real_llm_keys(monkeypatch):
    """Tests never reach a paid API: drop real provider keys from the environment."""
    for key in list(os.environ):
        if key.endswith("_API_KEY") and key != "EVOLVE_TEST_API_KEY":
            monkeypatch.delenv(key, raising=False)


@pytest.fixture(scope="session")
def docker_daemon():
    """The session's docker daemon (reused, or started and stopped here); see docker_daemon.py."""
    from docker_daemon import DockerDaemon

    daemon = DockerDaemon()
    yield daemon
    daemon.stop()


@pytest.fixture(scope="session", autouse=True)
def _close_zygotes():
    """Warm sandboxes (zygotes) made by the tests live for the session; stop them at its end."""
    yield
    from sandbox import close_shared
    from sandbox_backends import close_warm

    close_warm()
    close_shared()


@pytest.fixture(scope="module", params=variant_params(docker=False))
def sandbox(request):
    """Every local sandbox variant (process, bwrap; spawned and warm), one module at a time:
    the contract and confinement tests must pass on each. test_hostile.py overrides it to add docker."""
    backend, options = request.param
    return make(request, backend, options)
