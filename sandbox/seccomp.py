"""A seccomp-BPF filter every worker installs before candidate code runs: no new namespaces.

Namespaces are the sandbox's walls; a candidate that can make its own (``unshare`` or
``clone`` with ``CLONE_NEWUSER``) gets a user namespace in which it holds every capability,
can mount filesystems over its view and reach kernel code that only privileged users
normally can. bubblewrap's ``--disable-userns`` does this for cold bwrap workers only; this
filter does it for every backend, in ``worker_main`` after the rest of the confinement and
before the candidate's module is executed, so it binds the candidate and everything it
starts (filters are inherited across fork and exec and cannot be removed).

Refused with EPERM:

* ``unshare`` and ``clone`` with any namespace flag (``NAMESPACE_FLAGS``); ``setns``;
* ``mount``, ``umount2``, ``pivot_root`` and the new mount API (fsopen, fsmount, open_tree,
  ...): already refused without privilege, refused here whatever a candidate gained;
* ``keyctl``, ``add_key``, ``request_key``: the kernel keyrings of a uid outlive its
  processes, so a candidate could leave data there for the next worker given that uid;
* ``ptrace``, ``process_vm_readv``, ``process_vm_writev``: without root a worker runs as
  the user and could otherwise read the user's other processes;
* ``bpf``, ``perf_event_open``, ``userfaultfd``: kernel attack surface no candidate needs.

``clone3`` gets ENOSYS: its flags live in a struct that BPF cannot read, and ENOSYS makes
glibc fall back to ``clone``, whose flags the filter checks. On x86-64, x32-ABI system
calls (numbers with bit 30 set) are refused and a foreign architecture (i386 via
``int 0x80``) kills the process, so no second syscall table bypasses the checks.

Standard library only (``ctypes``, ``struct``): it is loaded by path in the worker, as
``wire.py`` is, including in the docker image. A process-backend worker gets it in
``preexec`` instead (``Confinement.seccomp``: the parent has ctypes loaded already, the
worker then need not import it); bubblewrap needs new namespaces itself, so its workers and
docker's install the filter in ``worker_main``. Architectures: x86-64 and aarch64; elsewhere
``install`` returns the reason it did nothing and the worker reports it (``seccomp`` in the
start-up reply).
"""

from __future__ import annotations

import ctypes
import errno
import os
import struct
from typing import Callable

CLONE_NEWTIME = 0x00000080  # unshare only: in clone() this bit belongs to the exit signal
CLONE_NEWNS = 0x00020000
CLONE_NEWCGROUP = 0x02000000
CLONE_NEWUTS = 0x04000000
CLONE_NEWIPC = 0x08000000
CLONE_NEWUSER = 0x10000000
CLONE_NEWPID = 0x20000000
CLONE_NEWNET = 0x40000000
NAMESPACE_FLAGS = CLONE_NEWNS | CLONE_NEWCGROUP | CLONE_NEWUTS | CLONE_NEWIPC | CLONE_NEWUSER | CLONE_NEWPID | CLONE_NEWNET

_AUDIT_ARCH = {"x86_64": 0xC000003E, "aarch64": 0xC00000B7}
_X32_BIT = 0x40000000
#: name -> (x86-64 number, aarch64 number)
_SYSCALLS = {
    "clone": (56, 220),
    "unshare": (272, 97),
    "clone3": (435, 435),
    "setns": (308, 268),
    "mount": (165, 40),
    "umount2": (166, 39),
    "pivot_root": (155, 41),
    "open_tree": (428, 428),
    "move_mount": (429, 429),
    "fsopen": (430, 430),
    "fsconfig": (431, 431),
    "fsmount": (432, 432),
    "fspick": (433, 433),
    "mount_setattr": (442, 442),
    "keyctl": (250, 219),
    "add_key": (248, 217),
    "request_key": (249, 218),
    "ptrace": (101, 117),
    "process_vm_readv": (310, 270),
    "process_vm_writev": (311, 271),
    "bpf": (321, 280),
    "perf_event_open": (298, 241),
    "userfaultfd": (323, 282),
}
REFUSED = tuple(name for name in _SYSCALLS if name not in ("clone", "unshare", "clone3"))

_LD_W_ABS = 0x20
_JEQ_K = 0x15
_JGE_K = 0x35
_JSET_K = 0x45
_RET_K = 0x06
_RET_ALLOW = 0x7FFF0000
_RET_ERRNO = 0x00050000
_RET_KILL_PROCESS = 0x80000000
_NR, _ARCH, _ARG0_LOW = 0, 4, 16  # offsets in struct seccomp_data (little-endian: low half of args[0] first)
_PR_SET_NO_NEW_PRIVS = 38
_PR_SET_SECCOMP = 22
_SECCOMP_MODE_FILTER = 2


def program(machine: str | None = None) -> list[tuple[int, int, int, int]]:
    """The filter as ``(code, jt, jf, k)`` instructions for ``machine`` (default: this one).

    Layout: check the architecture, load the syscall number, one ``jeq`` per listed call
    jumping to its verdict, allow the rest. Jumps are resolved from labels, so the list can
    grow without hand-counting offsets. Raises KeyError for an unsupported machine.
    """
    machine = machine or os.uname().machine
    arch = _AUDIT_ARCH[machine]
    column = 0 if machine == "x86_64" else 1
    number = {name: numbers[column] for name, numbers in _SYSCALLS.items()}
    code: list[tuple[int, int | str, int | str, int]] = [
        (_LD_W_ABS, 0, 0, _ARCH),
        (_JEQ_K, 0, "kill", arch),
        (_LD_W_ABS, 0, 0, _NR),
    ]
    if machine == "x86_64":
        code.append((_JGE_K, "eperm", 0, _X32_BIT))
    code.append((_JEQ_K, "enosys", 0, number["clone3"]))
    code.append((_JEQ_K, "unshare", 0, number["unshare"]))
    code.append((_JEQ_K, "clone", 0, number["clone"]))
    for name in REFUSED:
        code.append((_JEQ_K, "eperm", 0, number[name]))
    labels: dict[str, int] = {}

    def label(name: str) -> None:
        labels[name] = len(code)

    code.append((_RET_K, 0, 0, _RET_ALLOW))
    label("unshare")
    code.append((_LD_W_ABS, 0, 0, _ARG0_LOW))
    code.append((_JSET_K, "eperm", 0, NAMESPACE_FLAGS | CLONE_NEWTIME))
    code.append((_RET_K, 0, 0, _RET_ALLOW))
    label("clone")
    code.append((_LD_W_ABS, 0, 0, _ARG0_LOW))
    code.append((_JSET_K, "eperm", 0, NAMESPACE_FLAGS))
    code.append((_RET_K, 0, 0, _RET_ALLOW))
    label("eperm")
    code.append((_RET_K, 0, 0, _RET_ERRNO | errno.EPERM))
    label("enosys")
    code.append((_RET_K, 0, 0, _RET_ERRNO | errno.ENOSYS))
    label("kill")
    code.append((_RET_K, 0, 0, _RET_KILL_PROCESS))

    def offset(target: int | str, at: int) -> int:
        if isinstance(target, int):
            return target
        jump = labels[target] - at - 1
        assert 0 <= jump < 256, jump
        return jump

    return [(op, offset(jt, i), offset(jf, i), k) for i, (op, jt, jf, k) in enumerate(code)]


class _SockFprog(ctypes.Structure):
    _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_void_p)]


_prepared: list[Callable[[], str]] = []


def prepare() -> Callable[[], str]:
    """The installer, built once: the program, its buffers and ``prctl`` are made here, so
    calling it does nothing but two system calls (safe between fork and exec)."""
    if _prepared:
        return _prepared[0]
    try:
        instructions = program()
    except KeyError:
        reason = f"no seccomp filter for architecture {os.uname().machine}"
        _prepared.append(lambda: reason)
        return _prepared[0]
    blob = b"".join(struct.pack("<HBBI", *instruction) for instruction in instructions)
    buffer = ctypes.create_string_buffer(blob, len(blob))
    fprog = _SockFprog(len(instructions), ctypes.cast(buffer, ctypes.c_void_p))
    prctl = ctypes.CDLL(None, use_errno=True).prctl
    prctl.argtypes = [ctypes.c_int, ctypes.c_ulong, ctypes.c_void_p, ctypes.c_ulong, ctypes.c_ulong]
    address = ctypes.addressof(fprog)

    def installer() -> str:
        if prctl(_PR_SET_NO_NEW_PRIVS, 1, None, 0, 0) != 0:
            return f"prctl(PR_SET_NO_NEW_PRIVS) failed: errno {ctypes.get_errno()}"
        if prctl(_PR_SET_SECCOMP, _SECCOMP_MODE_FILTER, address, 0, 0) != 0:
            return f"prctl(PR_SET_SECCOMP) failed: errno {ctypes.get_errno()}"
        return ""

    installer.keep = (buffer, fprog)  # type: ignore[attr-defined]  # the kernel copies them; keep them alive till then
    _prepared.append(installer)
    return installer


def install() -> str:
    """Install the filter on the calling thread (and everything it later starts).

    Returns "" when installed, else why not (unsupported architecture, an old kernel);
    the caller reports it. Must run while the process is single-threaded, so no thread
    escapes the filter. Sets no_new_privs first, which an unprivileged filter requires.
    """
    return prepare()()


def installed() -> bool:
    """Whether this process runs under a seccomp filter (``Seccomp: 2`` in /proc/self/status)."""
    try:
        with open("/proc/self/status", "rb") as f:
            return any(line.split() == [b"Seccomp:", b"2"] for line in f)
    except OSError:
        return False
