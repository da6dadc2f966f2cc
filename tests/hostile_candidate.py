"""A hostile candidate: every function attacks the sandbox or the score in one way.

This file is never imported by the tests: its text is the candidate source that
``test_hostile.py`` hands to each sandbox backend. Functions take what they need (a marker
to recognise their processes by, a path to attack) as call arguments, i.e. as data.
"""

import json
import os
import signal
import socket
import sys
import time

_IGNORE = "import signal, time\nfor s in (1, 2, 3, 15): signal.signal(s, signal.SIG_IGN)\nwhile True: time.sleep(1)"


def spin():
    while True:
        pass


def fork_bomb():
    while True:
        try:
            os.fork()
        except OSError:
            pass


def memory_bomb():
    hoard = []
    while True:
        hoard.append(bytearray(32 << 20))


def fill_one_file(size_mb):
    chunk = b"x" * (1 << 20)
    with open("big.bin", "wb") as f:
        for _ in range(size_mb):
            f.write(chunk)
            f.flush()


def file_size(name):
    return os.path.getsize(name)


def fill_many_files(count, each_mb):
    """Stay under the per-file limit but try to fill the disk with many files."""
    chunk = b"x" * (1 << 20)
    written = 0
    try:
        for i in range(count):
            with open(f"part{i}.bin", "wb") as f:
                for _ in range(each_mb):
                    f.write(chunk)
                    f.flush()
                    written += 1
    except OSError as exc:
        return ["stopped", written, exc.errno]
    return ["completed", written, 0]


def flood():
    line = "y" * 9999 + "\n"
    while True:
        sys.stdout.write(line)
        sys.stdout.flush()
        os.write(2, line.encode())


def environment():
    """The worker's own environment and every other process's environment it can read."""
    found = {"self": dict(os.environ)}
    for pid in os.listdir("/proc"):
        if pid.isdigit() and int(pid) != os.getpid():
            try:
                with open(f"/proc/{pid}/environ", "rb") as f:
                    found[pid] = f.read().decode("utf-8", "replace")
            except OSError as exc:
                found[pid] = type(exc).__name__
    return found


def read_files(paths):
    """For each path: its content if readable, else the error's name."""
    out = {}
    for path in paths:
        try:
            with open(os.path.expanduser(path), "rb") as f:
                out[path] = "read:" + f.read().decode("utf-8", "replace")
        except OSError as exc:
            out[path] = "denied:" + type(exc).__name__
    return out


def write_files(paths):
    out = {}
    for path in paths:
        try:
            with open(path, "w") as f:
                f.write(json.dumps({"score": 1e9, "ok": True}))
            out[path] = "written"
        except OSError as exc:
            out[path] = "denied:" + type(exc).__name__
    return out


def connect(port, abstract_name):
    """Try a TCP connection to the trusted side's loopback port and to an abstract unix socket."""
    out = []
    for family, address in ((socket.AF_INET, ("127.0.0.1", port)), (socket.AF_UNIX, "\0" + abstract_name)):
        s = socket.socket(family, socket.SOCK_STREAM)
        s.settimeout(2)
        try:
            s.connect(address)
            s.sendall(b"stolen")
            out.append("connected")
        except OSError as exc:
            out.append("blocked:" + type(exc).__name__)
        finally:
            s.close()
    return out


def spawn_daemon(marker):
    """Double-fork a session leader that ignores SIGTERM/SIGHUP and sleeps forever."""
    r, w = os.pipe()
    if os.fork() == 0:
        os.setsid()
        if os.fork() == 0:
            os.write(w, b"up")
            os.execv(sys.executable, [sys.executable, "-c", _IGNORE, marker])
        os._exit(0)
    os.close(w)
    said = os.read(r, 2)
    os.wait()
    return said.decode()


def child_outlives(marker):
    """Wait for a child that sleeps far past the call's timeout."""
    pid = os.fork()
    if pid == 0:
        os.execv(sys.executable, [sys.executable, "-c", "import time; time.sleep(3600)", marker])
    os.waitpid(pid, 0)


def exit_now():
    os._exit(0)


def stubborn(marker):
    """Ignore every catchable termination signal, in a child too, and spin."""
    for s in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP, signal.SIGQUIT, signal.SIGXCPU):
        signal.signal(s, signal.SIG_IGN)
    if os.fork() == 0:
        os.execv(sys.executable, [sys.executable, "-c", _IGNORE, marker])
    while True:
        pass


def fake_clock(seconds):
    """Make every clock in this process stand still, then take ``seconds`` of real time."""
    real_sleep = time.sleep
    for name in ("time", "perf_counter", "monotonic", "process_time", "time_ns", "perf_counter_ns", "monotonic_ns"):
        setattr(time, name, lambda: 0)
    real_sleep(seconds)
    return time.perf_counter()


def imports(names):
    out = {}
    for name in names:
        try:
            __import__(name)
            out[name] = "imported"
        except Exception as exc:
            out[name] = type(exc).__name__
    return out


def kill_everyone():
    """SIGKILL every process this sandbox can see, except itself; return how many it hit."""
    hit = 0
    for pid in os.listdir("/proc"):
        if pid.isdigit() and int(pid) not in (os.getpid(), 1):
            try:
                os.kill(int(pid), signal.SIGKILL)
                hit += 1
            except OSError:
                pass
    return hit


# ------------------------------------------------------------ issue 8: IPC, shared dirs, namespaces, frames

_IPC_CREAT, _IPC_EXCL, _IPC_NOWAIT = 0o1000, 0o2000, 0o4000


def _libc():
    import ctypes

    libc = ctypes.CDLL(None, use_errno=True)
    libc.shmat.restype = ctypes.c_void_p
    libc.shmat.argtypes = [ctypes.c_int, ctypes.c_void_p, ctypes.c_int]
    libc.shmdt.argtypes = [ctypes.c_void_p]
    libc.shmget.argtypes = [ctypes.c_int, ctypes.c_size_t, ctypes.c_int]
    return libc


def sysv_create(key):
    """A shared memory segment, a semaphore set and a message queue under fixed keys, world-accessible."""
    import ctypes

    libc = _libc()
    made = {}
    shm = libc.shmget(key, 4096, _IPC_CREAT | 0o666)
    if shm >= 0:
        address = libc.shmat(shm, None, 0)
        ctypes.memmove(address, b"candidate-secret", 16)
        libc.shmdt(ctypes.c_void_p(address))
    made["shm"] = shm if shm >= 0 else -ctypes.get_errno()
    sem = libc.semget(key + 1, 1, _IPC_CREAT | 0o666)
    made["sem"] = sem if sem >= 0 else -ctypes.get_errno()
    msg = libc.msgget(key + 2, _IPC_CREAT | 0o666)
    if msg >= 0:
        message = ctypes.create_string_buffer(ctypes.sizeof(ctypes.c_long) + 16)
        ctypes.c_long.from_buffer(message).value = 1
        message[ctypes.sizeof(ctypes.c_long) :] = b"candidate-secret"
        libc.msgsnd(msg, message, 16, _IPC_NOWAIT)
    made["msg"] = msg if msg >= 0 else -ctypes.get_errno()
    return made


def sysv_attach(key):
    """What another candidate finds under those keys: the secret, or the errno of the look-up."""
    import ctypes

    libc = _libc()
    found = {}
    shm = libc.shmget(key, 0, 0)
    if shm >= 0:
        address = libc.shmat(shm, None, 0)
        found["shm"] = ctypes.string_at(address, 16).decode(errors="replace")
    else:
        found["shm"] = ctypes.get_errno()
    sem = libc.semget(key + 1, 0, 0)
    found["sem"] = "found" if sem >= 0 else ctypes.get_errno()
    msg = libc.msgget(key + 2, 0)
    found["msg"] = "found" if msg >= 0 else ctypes.get_errno()
    return found


def shm_fill(segment_mb, limit_mb):
    """Create (and touch the first page of) segments until refused or ``limit_mb`` is passed: the host-memory leak."""
    import ctypes

    libc = _libc()
    created = 0
    while created <= limit_mb:
        shm = libc.shmget(0, segment_mb << 20, _IPC_CREAT | 0o600)  # IPC_PRIVATE, never removed
        if shm < 0:
            return ["refused", created, ctypes.get_errno()]
        address = libc.shmat(shm, None, 0)
        ctypes.memset(address, 1, 4096)
        libc.shmdt(ctypes.c_void_p(address))
        created += segment_mb
    return ["not refused", created, 0]


def write_markers(dirs, marker):
    out = {}
    for directory in dirs:
        try:
            with open(os.path.join(directory, marker), "w") as f:
                f.write("left behind")
            out[directory] = "written"
        except OSError as exc:
            out[directory] = "denied:" + (errno_name(exc.errno))
    return out


def errno_name(number):
    import errno

    return errno.errorcode.get(number, str(number))


def find_markers(dirs, marker):
    return sorted(d for d in dirs if os.path.exists(os.path.join(d, marker)))


def new_namespaces():
    """Every way to a new namespace (and the other refused calls): errno names, or 'allowed'."""
    import ctypes

    libc = ctypes.CDLL(None, use_errno=True)
    libc.syscall.restype = ctypes.c_long
    out = {}

    def attempt(name, call):
        ctypes.set_errno(0)
        result = call()
        out[name] = "allowed" if result >= 0 else errno_name(ctypes.get_errno())

    attempt("unshare user+mount", lambda: libc.unshare(0x10000000 | 0x00020000))
    attempt("unshare user", lambda: libc.unshare(0x10000000))
    attempt("unshare net", lambda: libc.unshare(0x40000000))
    attempt("clone3", lambda: libc.syscall(435, None, 0))
    attempt("keyctl", lambda: libc.syscall(250 if os.uname().machine == "x86_64" else 219, 0, 0, 0, 0, 0))
    import threading

    seen = []
    thread = threading.Thread(target=lambda: seen.append("thread ran"))
    thread.start()
    thread.join()
    pid = os.fork()
    if pid == 0:
        os._exit(7)
    out["fork"] = os.waitpid(pid, 0)[1] >> 8
    out["thread"] = seen[0] if seen else "no thread"
    return out


def _reply_fds():
    return [int(n) for n in os.listdir("/proc/self/fd") if int(n) >= 3]


def raw_frame(kind):
    """Write a hostile frame straight to the reply pipe (every fd that takes a write), then wait."""
    import struct

    if kind == "oversized":  # a 12 MB frame (under max_message_mb) whose header is all of it
        body = b'{"m":{"id":1,"ok":true},"v":[' + b"[]," * (1 << 20)
        prefix = struct.pack("<4sIQ", b"EVW1", 12 << 20, 0)
    else:  # "nested": a header within the cap, nothing but empty lists
        body = b'{"m":{"id":1,"ok":true},"v":[' + b"[]," * 400_000 + b"[]]}"
        body += b" " * (-(16 + len(body)) % 16)
        prefix = struct.pack("<4sIQ", b"EVW1", len(body), 0)
    for fd in _reply_fds():
        try:
            os.write(fd, prefix)
        except OSError:
            continue
        try:
            for start in range(0, len(body), 1 << 16):
                os.write(fd, body[start : start + (1 << 16)])
        except OSError:
            pass
    time.sleep(60)


def huge_int():
    return {"x": [1, 10**5000]}


def ok():
    return "alive"
