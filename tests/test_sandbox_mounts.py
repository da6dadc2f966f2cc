"""The process backend's private filesystem view: the plan from a (fake) mount table and tree, and
the view a real worker gets (its writes to the host tree fail, its private tmpfs vanish)."""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
from pathlib import Path

import pytest

from process_sandbox_helpers import hidden_from_process_workers, needs_root, start
from sandbox import Limits, mounts
from sandbox.mounts import Mount, plan_view, read_mounts, world_writable_dirs
from sandbox.process import ProcessSandbox
from sandbox.zygote import WarmProcessSandbox


def tree(root: Path, modes: dict[str, int]) -> None:
    for relative, mode in sorted(modes.items()):
        path = root / relative
        path.mkdir(parents=True, exist_ok=True)
        path.chmod(mode)


def test_world_writable_dirs_are_found_near_each_mount_point_and_nowhere_else(tmp_path):
    os.chmod(tmp_path, 0o755)
    tree(tmp_path, {"tmp": 0o1777, "var": 0o755, "var/tmp": 0o1777, "var/lib": 0o755, "var/lib/deep": 0o777,
                    "home": 0o700, "tmp/inside": 0o777, "run": 0o755, "run/lock": 0o1777, "private": 0o711})
    tree(tmp_path, {"home/user": 0o777})  # below an untraversable dir: no worker can reach it
    (tmp_path / "link").symlink_to(tmp_path / "tmp")
    mounts_ = [Mount(str(tmp_path), "ext4", frozenset({"rw"})), Mount(str(tmp_path / "run"), "tmpfs", frozenset({"rw"}))]
    found = world_writable_dirs(mounts_, depth=2)
    assert found == [str(tmp_path / "run" / "lock"), str(tmp_path / "tmp"), str(tmp_path / "var" / "tmp")]
    # var/lib/deep is three levels down: not covered, but read-only in the view (plan_view's readonly list)


def test_pseudo_filesystems_are_neither_searched_nor_remounted(tmp_path):
    os.chmod(tmp_path, 0o755)
    tree(tmp_path, {"proc": 0o777, "sys": 0o755})
    mounts_ = [Mount(str(tmp_path), "ext4", frozenset({"rw"})), Mount(str(tmp_path / "proc"), "proc", frozenset({"rw"}))]
    assert world_writable_dirs(mounts_) == []


def test_mountinfo_escapes_are_decoded(tmp_path):
    table = tmp_path / "mountinfo"
    table.write_text("36 35 98:0 / /with\\040space rw,noatime master:1 - ext3 /dev/root rw,errors=continue\n")
    (only,) = read_mounts(str(table))
    assert only.point == "/with space" and only.fstype == "ext3" and only.flags == mounts.syscalls.MS_NOATIME


def test_the_plan_covers_this_hosts_temp_dirs_and_keeps_a_venv_under_them():
    plan = plan_view("/tmp", [sys.prefix])
    covered = [path for path, _ in plan.covers]
    assert "/tmp" in covered and all(mode & 0o002 for _, mode in plan.covers)
    assert any(point == "/" for point, _ in plan.readonly)  # the root filesystem is remounted read-only
    assert plan.keep == tuple(p for p in [os.path.realpath(sys.prefix)] if p.startswith("/tmp/"))
    assert mounts.ViewPlan.from_json(plan.to_json()) == plan


@pytest.fixture
def deep_open_dir():
    """A world-writable dir deep in a real filesystem (in the checkout: not a temp dir, which is covered)."""
    base = Path(tempfile.mkdtemp(prefix=".view-probe-", dir=Path(__file__).resolve().parent))
    base.chmod(0o755)
    shared = base / "a" / "b" / "shared"
    shared.mkdir(parents=True)
    for path in (base / "a", base / "a" / "b"):
        path.chmod(0o755)
    shared.chmod(0o777)
    yield shared
    shutil.rmtree(base, ignore_errors=True)


@needs_root
@pytest.mark.parametrize("kind", [ProcessSandbox, WarmProcessSandbox], ids=["spawn", "warm"])
def test_a_process_worker_writes_only_its_scratch_and_private_tmpfs(kind, deep_open_dir):
    source = """
        import os
        def write(paths):
            out = {}
            for p in paths:
                try:
                    with open(p, "w") as f:
                        f.write("x")
                    out[p] = "written"
                except OSError as exc:
                    out[p] = exc.strerror
            return out
    """
    sandbox = kind()
    target = str(deep_open_dir / "x")
    try:
        with start(sandbox, source, Limits(timeout_s=30, startup_timeout_s=60)) as worker:
            out = worker.call("write", [target, "/tmp/evolve-view-probe", "note.txt"])
    finally:
        getattr(sandbox, "close", lambda: None)()
    # read-only where the worker sees the host tree; absent where it lies under a world-writable
    # directory the worker sees as a private tmpfs (a checkout cloned into /tmp)
    refused = "No such file or directory" if hidden_from_process_workers(deep_open_dir) else "Read-only file system"
    assert out == {target: refused, "/tmp/evolve-view-probe": "written", "note.txt": "written"}
    assert not os.path.exists(target) and not os.path.exists("/tmp/evolve-view-probe")
