"""The seccomp filter on its own: the program for each architecture, and what it refuses in a process."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from sandbox import seccomp

SANDBOX = Path(__file__).resolve().parent.parent / "sandbox"
PROBE = """
import ctypes, errno, json, sys, threading
sys.path.insert(0, sys.argv[1])
import seccomp
reason = seccomp.install()
libc = ctypes.CDLL(None, use_errno=True)
libc.syscall.restype = ctypes.c_long
numbers = {name: pair[0 if seccomp.os.uname().machine == "x86_64" else 1] for name, pair in seccomp._SYSCALLS.items()}
def call(name, *args):
    ctypes.set_errno(0)
    result = libc.syscall(numbers[name], *args)
    return "ok" if result >= 0 else errno.errorcode[ctypes.get_errno()]
out = {"reason": reason, "installed": seccomp.installed()}
for name in ("keyctl", "add_key", "request_key", "bpf", "perf_event_open", "userfaultfd", "mount", "umount2", "pivot_root", "fsopen", "open_tree"):
    out[name] = call(name, 0, 0, 0, 0, 0)
out["setns"] = call("setns", -1, 0)
out["unshare(0)"] = call("unshare", 0)
out["unshare(newipc)"] = call("unshare", 0x08000000)
out["unshare(newtime)"] = call("unshare", 0x80)
out["clone3"] = call("clone3", 0, 0)
out["process_vm_readv"] = call("process_vm_readv", 1, 0, 0, 0, 0, 0)
t = threading.Thread(target=lambda: None); t.start(); t.join()
out["thread"] = "ok"
print(json.dumps(out))
"""


@pytest.mark.parametrize("machine", ["x86_64", "aarch64"])
def test_the_program_is_well_formed_for_each_architecture(machine):
    code = seccomp.program(machine)
    assert len(code) < 64 and code[-1][0] == 0x06  # short, ends in a return
    for i, (op, jt, jf, _) in enumerate(code):
        if op & 0x07 == 0x05:  # a jump: both targets inside the program
            assert i + 1 + jt < len(code) and i + 1 + jf < len(code)
    assert code[1][3] == {"x86_64": 0xC000003E, "aarch64": 0xC00000B7}[machine]  # the architecture is checked first


def test_an_unknown_architecture_has_no_program():
    with pytest.raises(KeyError):
        seccomp.program("riscv64")


@pytest.mark.skipif(os.uname().machine not in ("x86_64", "aarch64"), reason="the filter exists for x86-64 and aarch64")
def test_a_filtered_process_is_refused_exactly_these_calls():
    done = subprocess.run([sys.executable, "-S", "-c", PROBE, str(SANDBOX)], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    out = json.loads(done.stdout)
    assert out.pop("reason") == "" and out.pop("installed") is True
    assert out == {
        "keyctl": "EPERM", "add_key": "EPERM", "request_key": "EPERM", "bpf": "EPERM",
        "perf_event_open": "EPERM", "userfaultfd": "EPERM", "mount": "EPERM", "umount2": "EPERM",
        "pivot_root": "EPERM", "fsopen": "EPERM", "open_tree": "EPERM", "setns": "EPERM",
        "unshare(0)": "ok",  # no namespace flag: allowed
        "unshare(newipc)": "EPERM", "unshare(newtime)": "EPERM",
        "clone3": "ENOSYS", "process_vm_readv": "EPERM", "thread": "ok",
    }
