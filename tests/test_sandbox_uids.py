"""Private uids: a crashed owner's leftovers are swept before reuse; a clean release skips the sweep."""

from __future__ import annotations

import os
import subprocess

import pytest

from sandbox import reaper
from sandbox.uids import UidPool

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="private uids exist only when the trusted side is root")
UID = 0x7E570FFF  # the last uid of the default range


def run_as(uid: int) -> subprocess.Popen:
    def drop() -> None:
        os.setgroups([])
        os.setgid(uid)
        os.setuid(uid)

    return subprocess.Popen(["sleep", "60"], preexec_fn=drop)


def test_a_crashed_owners_processes_are_killed_before_the_uid_is_reused(tmp_path):
    pool = UidPool(lock_dir=str(tmp_path / "locks"), base=UID, count=1)
    lease = pool.acquire()
    leftover = run_as(UID)  # as if the owner crashed: the uid is in use, the lock file unmarked
    os.close(lease._fd)  # the crash: the lock is dropped without a release
    lease._fd = None
    try:
        again = pool.acquire()
        assert leftover.wait(5) == -9 and reaper.live_pids_of_uid(UID) == []
        again.release()
    finally:
        leftover.kill()
        leftover.wait()


def test_release_marks_the_lock_clean_and_acquire_marks_it_in_use(tmp_path):
    pool = UidPool(lock_dir=str(tmp_path / "locks"), base=UID, count=1)
    path = tmp_path / "locks" / f"{UID}.lock"
    lease = pool.acquire()
    assert path.read_bytes() == b""
    lease.release()
    assert path.read_bytes() == b"clean"
    pool.acquire().release()
    assert path.read_bytes() == b"clean"
