"""The close-time sweeps for a private uid, on their own: its SysV IPC objects and its files in the
world-writable directories (the fallback should a kernel refuse a worker its own namespaces)."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest

from sandbox import reaper

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="private uids exist only when the trusted side is root")
UID = 0x7E570FFE  # near the end of the default range

CREATE = ("ipcmk", "-M", "4096", "-S", "1", "-Q")  # util-linux: one of each, the creator's
needs_ipcmk = pytest.mark.skipif(shutil.which("ipcmk") is None, reason="needs ipcmk (util-linux)")


def objects_of(uid: int) -> list[str]:
    found = []
    for kind in ("shm", "sem", "msg"):
        with open(f"/proc/sysvipc/{kind}") as f:
            header, *rows = f.read().splitlines()
        columns = header.split()
        found += [kind for row in rows if int(dict(zip(columns, row.split()))["uid"]) == uid]
    return found


def as_uid(uid: int, *argv: str) -> subprocess.CompletedProcess:
    def drop() -> None:
        os.setgroups([])
        os.setgid(uid)
        os.setuid(uid)

    return subprocess.run(argv, preexec_fn=drop, capture_output=True, text=True, check=True)


@needs_ipcmk
def test_the_ipc_objects_of_a_uid_are_removed_and_no_others():
    as_uid(UID, *CREATE)  # the process is gone; its objects are not
    before = objects_of(0)
    mine = subprocess.run(CREATE, capture_output=True, text=True, check=True).stdout
    flags = {"Shared memory id": "-m", "Message queue id": "-q", "Semaphore id": "-s"}
    ids = [(flags[label], ident.strip()) for label, _, ident in (line.partition(":") for line in mine.splitlines())]
    try:
        assert sorted(objects_of(UID)) == ["msg", "sem", "shm"]
        assert reaper.remove_ipc_of_uid(UID) == []
        assert objects_of(UID) == []
        assert len(objects_of(0)) == len(before) + 3  # root's own objects were left alone
    finally:
        reaper.remove_ipc_of_uid(UID)
        for flag, ident in ids:
            subprocess.run(["ipcrm", flag, ident], capture_output=True)


@pytest.fixture
def open_dir():
    """A world-traversable temp dir (pytest's own base is 0700, which the uid could not enter)."""
    path = Path(tempfile.mkdtemp(prefix="evolve-sweep-"))
    path.chmod(0o755)
    yield path
    shutil.rmtree(path, ignore_errors=True)


def test_the_files_of_a_uid_in_world_writable_dirs_are_removed(open_dir):
    shared = open_dir / "shared"
    shared.mkdir()
    shared.chmod(0o1777)
    as_uid(UID, "sh", "-c", f"mkdir {shared}/dir && chmod 000 {shared}/dir && touch {shared}/file")
    (shared / "ours").write_text("trusted")
    reaper.remove_files_of_uid(UID, [str(shared)])
    assert sorted(os.listdir(shared)) == ["ours"]
