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
