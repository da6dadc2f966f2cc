"""The docker backend's image, built locally from Debian packages: debootstrap + ``docker import``.

Why not ``docker pull``: image registries are often unreachable (CI, air-gapped clusters)
while a Debian package mirror is, and an image built from a pinned recipe is auditable.
The image holds Debian's python3 and python3-numpy and nothing of evolve: the worker
program is bind-mounted read-only when a container starts, so changing the sandbox code
never makes the image stale.

The tag carries a digest of the recipe (``evolve-sandbox:bookworm-<digest>``), so a changed
recipe builds a new image and an unchanged one is never rebuilt. Building is idempotent and
cached twice: the daemon's tag, and the root filesystem tarball in the user's cache folder
(a fresh daemon re-imports it in seconds instead of re-running debootstrap, ~40 s).

Run ``python -m sandbox.docker_image`` to build (root and debootstrap required).
"""

from __future__ import annotations

import argparse
import fcntl
import hashlib
import json
import os
import shutil
import stat
import subprocess
import sys
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Callable

REPOSITORY = "evolve-sandbox"
IMAGE_ENV = "EVOLVE_DOCKER_IMAGE"  # overrides the image the docker backend runs


@dataclass(frozen=True)
class Recipe:
    """What goes into the image. Changing any field changes the tag."""

    suite: str = "bookworm"
    variant: str = "minbase"
    packages: tuple[str, ...] = ("python3", "python3-numpy")
    excludes: tuple[str, ...] = (
        "./var/cache/apt/archives/*.deb",
        "./var/lib/apt/lists/*",
        "./usr/share/doc",
        "./usr/share/man",
        "./usr/share/locale",
        "./usr/share/info",
    )
    version: int = 1  # bump when the build steps below change

    def digest(self) -> str:
        return hashlib.sha256(json.dumps(asdict(self), sort_keys=True).encode()).hexdigest()[:12]

    def tag(self) -> str:
        return f"{REPOSITORY}:{self.suite}-{self.digest()}"


DEFAULT_RECIPE = Recipe()


class ImageBuildError(RuntimeError):
    """The image cannot be built here; the message says what is missing and how to fix it."""


def default_image() -> str:
    """The image the docker backend runs: ``$EVOLVE_DOCKER_IMAGE`` or the default recipe's tag."""
    return os.environ.get(IMAGE_ENV) or DEFAULT_RECIPE.tag()


def cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "evolve"


def build_prerequisites() -> str:
    """Return why a root filesystem cannot be built here, or "" when it can."""
    if not sys.platform.startswith("linux"):
        return "building the sandbox image needs Linux (debootstrap)"
    if os.geteuid() != 0:
        return "building the sandbox image needs root (debootstrap chroots); run as root or import a prebuilt tarball"
    if shutil.which("debootstrap") is None:
        return "debootstrap not found: apt-get install -y debootstrap"
    return ""


def ensure_image(client: Any, recipe: Recipe = DEFAULT_RECIPE, *, log: Callable[[str], None] = print) -> str:
    """Return ``recipe``'s tag, importing or building the image first if the daemon lacks it.

    ``client`` is a ``docker.DockerClient``. Raises ImageBuildError with the reason when the
    image is missing and cannot be built.
    """
    import docker.errors

    tag = recipe.tag()
    try:
        client.images.get(tag)
        return tag
    except docker.errors.ImageNotFound:
        pass
    folder = cache_dir()
    folder.mkdir(parents=True, exist_ok=True)
    tarball = folder / f"rootfs-{recipe.suite}-{recipe.digest()}.tar"
    with open(folder / "image-build.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # another process may be building the same recipe
        if not tarball.is_file():
            build_rootfs_tarball(recipe, tarball, log=log)
        log(f"importing {tarball.name} as {tag}")
        repository, _, version = tag.partition(":")
        client.api.import_image_from_file(str(tarball), repository=repository, tag=version)
    client.images.get(tag)  # raises ImageNotFound if the import silently failed
    return tag


def build_rootfs_tarball(recipe: Recipe, dest: Path, *, log: Callable[[str], None] = print) -> None:
    """debootstrap ``recipe`` into a scratch folder and write it as a tarball at ``dest``."""
    missing = build_prerequisites()
    if missing:
        raise ImageBuildError(missing)
    with tempfile.TemporaryDirectory(prefix="rootfs-", dir=dest.parent) as scratch:
        root = Path(scratch) / "root"
        command = [
            "debootstrap",
            f"--variant={recipe.variant}",
            f"--include={','.join(recipe.packages)}",
            recipe.suite,
            str(root),
        ]
        mirror = host_debian_mirror()
        if mirror:
            command.append(mirror)
        log(f"building the sandbox image root filesystem: {' '.join(command)}")
        done = subprocess.run(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        if done.returncode != 0:
            tail = "\n".join(done.stdout.splitlines()[-15:])
            raise ImageBuildError(f"debootstrap failed (exit {done.returncode}):\n{tail}")
        _strip_setid_bits(root)
        partial = dest.with_suffix(".partial")
        excludes = [f"--exclude={pattern}" for pattern in recipe.excludes]
        tar = ["tar", "--numeric-owner", *excludes, "-C", str(root), "-cf", str(partial), "."]
        done = subprocess.run(tar, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        if done.returncode != 0:
            raise ImageBuildError(f"tar of the root filesystem failed (exit {done.returncode}): {done.stdout[-2000:]}")
        partial.rename(dest)  # atomic: a crash never leaves a truncated tarball under the real name


def _strip_setid_bits(root: Path) -> None:
    """Remove setuid/setgid bits in the image: defence in depth beside no-new-privileges."""
    for folder, _dirs, files in os.walk(root):
        for name in files:
            path = os.path.join(folder, name)
            mode = os.lstat(path).st_mode
            if stat.S_ISREG(mode) and mode & (stat.S_ISUID | stat.S_ISGID):
                os.chmod(path, stat.S_IMODE(mode) & ~(stat.S_ISUID | stat.S_ISGID))


def host_debian_mirror(apt_dir: str = "/etc/apt") -> str | None:
    """The Debian mirror this host's apt uses (so the build goes where apt already goes), or None."""
    uris: list[str] = []
    sources = Path(apt_dir) / "sources.list.d"
    for path in sorted(sources.glob("*.sources")) if sources.is_dir() else []:
        for line in path.read_text(errors="replace").splitlines():
            if line.startswith("URIs:"):
                uris.extend(line.split()[1:])
    legacy = [Path(apt_dir) / "sources.list", *(sorted(sources.glob("*.list")) if sources.is_dir() else [])]
    for path in legacy:
        if path.is_file():
            for line in path.read_text(errors="replace").splitlines():
                words = line.split("#", 1)[0].split()
                if len(words) >= 3 and words[0] == "deb":
                    uris.extend(word for word in words[1:] if "://" in word)
    for uri in uris:
        if uri.rstrip("/").endswith("/debian"):
            return uri
    return None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Build the docker sandbox image from Debian packages.")
    parser.add_argument("--print-tag", action="store_true", help="print the image tag and exit")
    args = parser.parse_args(argv)
    if args.print_tag:
        print(DEFAULT_RECIPE.tag())
        return 0
    import docker

    try:
        print(ensure_image(docker.from_env()))
    except ImageBuildError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
