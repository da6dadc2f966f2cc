"""A real docker daemon for the docker backend's tests: reuse one, or start a private one.

Order: a daemon the environment already points at (``DOCKER_HOST`` or the default socket);
else, as root with ``dockerd`` installed, a private daemon with its own data root in the
user's cache folder (so its images survive between test sessions) and its socket in a
private runtime folder. No bridge and no iptables rules: sandbox containers run with
``network_mode="none"``, so the host's network is left alone.

Several test sessions on one machine share the private daemon: each holds a shared lock on
``sessions.lock`` in its runtime folder while it may use it, and the session that ends last
(it alone can upgrade to an exclusive lock) stops it, whoever started it. A session whose
daemon vanished anyway (stopped by a session that does not take the lock) finds or starts
one again at its next use.

``docker_environment()`` returns ``(docker_host, image_tag)`` or raises ``Unavailable``
with the reason the docker tests are skipped; the reason is printed in pytest's summary.
"""

from __future__ import annotations

import fcntl
import os
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path

from sandbox.docker_image import build_prerequisites, cache_dir, ensure_image

START_TIMEOUT_S = 60.0
STOP_TIMEOUT_S = 30.0


class Unavailable(Exception):
    """No docker daemon can run here; the message is the visible skip reason."""


class DockerDaemon:
    """The daemon the session uses; ``stop()`` ends a private one if no other session uses it."""

    def __init__(self) -> None:
        self.host: str | None = None
        self.image: str | None = None
        self._process: subprocess.Popen[bytes] | None = None
        self._log: Path | None = None
        self._failure: str | None = None
        self._run_dir: Path | None = None
        self._share: int | None = None  # descriptor holding our shared lock on sessions.lock

    def environment(self) -> tuple[str, str]:
        """Return ``(docker_host, image_tag)``, starting the daemon and building the image once."""
        if self._failure is not None:
            raise Unavailable(self._failure)
        if self.host is not None and not _ping(self.host):  # stopped under us by another session
            self.host = self.image = None
        if self.host is None or self.image is None:
            try:
                self.host = self._connect()
                self.image = self._image(self.host)
            except Unavailable as exc:
                self._failure = str(exc)
                raise
        return self.host, self.image

    def _connect(self) -> str:
        try:
            import docker
        except ImportError:
            raise Unavailable("the docker SDK is not installed: pip install -e '.[docker]'") from None
        existing = os.environ.get("DOCKER_HOST") or "unix:///var/run/docker.sock"
        if _ping(existing):
            return existing
        if os.geteuid() != 0:
            raise Unavailable(f"no docker daemon answers at {existing} and starting one needs root")
        if shutil.which("dockerd") is None:
            raise Unavailable(f"no docker daemon answers at {existing} and dockerd is not installed (apt-get install docker.io)")
        run_dir = Path(tempfile.gettempdir()) / f"evolve-dockerd-{os.geteuid()}"
        host = f"unix://{run_dir}/docker.sock"
        self._hold_share(run_dir)
        if _ping(host):  # started by another session (or left by one that was killed)
            return host
        return self._start(run_dir, host, docker)

    def _hold_share(self, run_dir: Path) -> None:
        """Take a shared lock for this session (waits while a last session is stopping the daemon)."""
        if self._share is not None:
            return
        run_dir.mkdir(mode=0o700, exist_ok=True)
        self._run_dir = run_dir
        self._share = os.open(run_dir / "sessions.lock", os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        fcntl.flock(self._share, fcntl.LOCK_SH)

    def _start(self, run_dir: Path, host: str, docker_module: object) -> str:
        run_dir.mkdir(mode=0o700, exist_ok=True)
        data_root = cache_dir() / "dockerd"
        data_root.mkdir(parents=True, exist_ok=True)
        pidfile = run_dir / "dockerd.pid"
        if pidfile.exists() and not _alive(pidfile):
            pidfile.unlink()
        self._log = run_dir / "dockerd.log"
        command = [
            "dockerd",
            f"--data-root={data_root}",
            f"--exec-root={run_dir / 'exec'}",
            f"--pidfile={pidfile}",
            f"--host={host}",
            "--bridge=none",
            "--iptables=false",
            "--ip-masq=false",
        ]
        with open(self._log, "wb") as log:
            self._process = subprocess.Popen(
                command, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
            )
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                raise Unavailable(f"dockerd exited with status {self._process.returncode}: {self._log_tail()}")
            if _ping(host):
                return host
            time.sleep(0.2)
        self.stop()
        raise Unavailable(f"dockerd did not answer within {START_TIMEOUT_S:g} s: {self._log_tail()}")

    def _image(self, host: str) -> str:
        import docker

        client = docker.DockerClient(base_url=host, timeout=600)
        try:
            from sandbox.docker_image import DEFAULT_RECIPE

            try:
                client.images.get(DEFAULT_RECIPE.tag())
            except docker.errors.ImageNotFound:
                missing = build_prerequisites()
                cached = any(cache_dir().glob(f"rootfs-{DEFAULT_RECIPE.suite}-{DEFAULT_RECIPE.digest()}.tar"))
                if missing and not cached:
                    raise Unavailable(f"the sandbox image is not built and cannot be built here: {missing}") from None
            started = time.monotonic()
            tag = ensure_image(client, log=lambda line: print(f"[docker image] {line}", flush=True))
            spent = time.monotonic() - started
            if spent > 1:
                print(f"[docker image] {tag} ready after {spent:.1f} s", flush=True)
            return tag
        finally:
            client.close()

    def _log_tail(self) -> str:
        if self._log is None or not self._log.exists():
            return "(no log)"
        return " | ".join(self._log.read_text(errors="replace").splitlines()[-5:])

    def stop(self) -> None:
        """End the session's use: stop the private daemon if no other session holds a share."""
        process, self._process = self._process, None
        share, self._share = self._share, None
        if share is None:  # a daemon the environment pointed at, or none: never ours to stop
            return
        try:
            try:
                fcntl.flock(share, fcntl.LOCK_EX | fcntl.LOCK_NB)  # only the last session gets it
            except BlockingIOError:
                return
            if process is not None and process.poll() is None:
                _terminate(process.pid, process.wait)
            elif self._run_dir is not None:
                _stop_from_pidfile(self._run_dir / "dockerd.pid")
        finally:
            os.close(share)


def _terminate(pid: int, wait) -> None:
    """SIGTERM (which stops its containerd too), then SIGKILL to the group if it lingers."""
    os.kill(pid, signal.SIGTERM)
    try:
        wait(STOP_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        os.killpg(pid, signal.SIGKILL)
        wait()


def _stop_from_pidfile(pidfile: Path) -> None:
    """Stop a private daemon another session started and left running for us."""
    try:
        pid = int(pidfile.read_text().strip())
    except (OSError, ValueError):
        return
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    deadline = time.monotonic() + STOP_TIMEOUT_S
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return
        time.sleep(0.1)
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


def _ping(host: str) -> bool:
    import docker

    try:
        client = docker.DockerClient(base_url=host, timeout=5)
    except docker.errors.DockerException:
        return False
    try:
        return bool(client.ping())
    except Exception:  # connection refused, missing socket, protocol error: all mean "not here"
        return False
    finally:
        client.close()


def _alive(pidfile: Path) -> bool:
    try:
        os.kill(int(pidfile.read_text().strip()), 0)
    except PermissionError:
        return True  # exists, owned by someone else
    except (ValueError, OSError):
        return False
    return True
