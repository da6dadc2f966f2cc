"""Thin ctypes wrappers for the Linux calls Python 3.11's ``os`` lacks: unshare, setns, mount, prctl, capset.

They are called between fork and exec (``sandbox.confine``), so the C functions are looked up
once at import, in the parent, and each wrapper does no more than the call and an errno
check. Linux only; on other systems ``AVAILABLE`` is False and the wrappers raise OSError.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import errno
import os
import sys

CLONE_NEWNS = 0x00020000
CLONE_NEWUSER = 0x10000000
CLONE_NEWNET = 0x40000000

CLONE_NEWIPC = 0x08000000

MS_RDONLY = 0x1
MS_NOSUID = 0x2
MS_NODEV = 0x4
MS_NOEXEC = 0x8
MS_REMOUNT = 0x20
MS_NOATIME = 0x400
MS_NODIRATIME = 0x800
MS_BIND = 0x1000
MS_REC = 0x4000
MS_PRIVATE = 0x40000
MS_RELATIME = 0x200000
MS_STRICTATIME = 0x1000000

PR_SET_NO_NEW_PRIVS = 38
PR_SET_CHILD_SUBREAPER = 36

AVAILABLE = sys.platform.startswith("linux")


def _load_libc() -> ctypes.CDLL:
    """The C library, without ``ctypes.util.find_library``: that runs ``ldconfig -p`` in a child
    process (0.1-0.4 s on a loaded machine, paid by the controller, each evaluator and each zygote)."""
    for name in ("libc.so.6", None):  # glibc's soname; else the symbols already in this process (musl)
        try:
            return ctypes.CDLL(name, use_errno=True)
        except OSError:
            continue
    return ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True)


if AVAILABLE:
    _libc = _load_libc()
    _unshare = _libc.unshare
    _unshare.argtypes = [ctypes.c_int]
    _mount = _libc.mount
    _mount.argtypes = [ctypes.c_char_p, ctypes.c_char_p, ctypes.c_char_p, ctypes.c_ulong, ctypes.c_char_p]
    _prctl = _libc.prctl
    _prctl.argtypes = [ctypes.c_int, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong]
    _setns = _libc.setns
    _setns.argtypes = [ctypes.c_int, ctypes.c_int]
    _syscall = _libc.syscall
    _CAPSET = {"x86_64": 126, "aarch64": 91}.get(os.uname().machine)
    _CAP_HEADER = (ctypes.c_uint32 * 2)(0x20080522, 0)  # _LINUX_CAPABILITY_VERSION_3, this thread
    _CAP_NONE = (ctypes.c_uint32 * 6)()  # effective, permitted, inheritable x 2: all zero


def _check(result: int, what: str) -> None:
    if result != 0:
        code = ctypes.get_errno()
        raise OSError(code, f"{what}: {os.strerror(code)}")


def unshare(flags: int) -> None:
    """Move the calling (single-threaded) process into new namespaces."""
    if not AVAILABLE:
        raise OSError(errno.ENOSYS, "unshare: not Linux")
    _check(_unshare(flags), f"unshare({flags:#x})")


def mount(source: bytes | None, target: bytes, fstype: bytes | None, flags: int, data: bytes | None) -> None:
    if not AVAILABLE:
        raise OSError(errno.ENOSYS, "mount: not Linux")
    _check(_mount(source, target, fstype, flags, data), f"mount {target.decode(errors='replace')}")


def setns(fd: int, nstype: int) -> None:
    """Move the calling thread into the namespace ``fd`` refers to."""
    if not AVAILABLE:
        raise OSError(errno.ENOSYS, "setns: not Linux")
    _check(_setns(fd, nstype), f"setns({nstype:#x})")


def drop_capabilities() -> None:
    """Clear the calling thread's effective, permitted and inheritable capability sets.

    For a forked (not exec'd) worker inside a user namespace it created, which would
    otherwise keep every capability in that namespace.
    """
    if not AVAILABLE or _CAPSET is None:
        raise OSError(errno.ENOSYS, "capset: not supported here")
    _check(_syscall(_CAPSET, _CAP_HEADER, _CAP_NONE), "capset")


def prctl(option: int, value: int) -> None:
    if not AVAILABLE:
        raise OSError(errno.ENOSYS, "prctl: not Linux")
    _check(_prctl(option, value, 0, 0, 0), f"prctl({option})")
