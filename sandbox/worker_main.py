"""The sandboxed worker: holds one candidate module and answers calls to its functions.

Started by ``sandbox.process`` as::

    python -S -P -B -X faulthandler worker_main.py REQUEST_FD REPLY_FD SOURCE MODULE MAX_REQUEST_BYTES MAX_REPLY_HEADER_BYTES

from a copy of this file, ``wire.py`` and ``seccomp.py`` placed beside it in the worker's
scratch dir (the repository may be unreadable to the worker's uid, and ``-P`` keeps this
directory off ``sys.path``, so they are loaded by path under private names). By the time
this runs the parent has already confined the process (limits, namespaces, uid); this
program adds the seccomp filter (``sandbox.seccomp``: no new namespaces) before the
candidate's module runs, and trusts nothing it does after running candidate code:
everything it sends is data the parent validates.

Protocol (frames of ``sandbox.wire``; meta, then value):

* start-up: install the seccomp filter (with SECCOMP ``installed``, check the parent did),
  compile SOURCE, execute it as module MODULE, then
  send one message: ``{"id": 0, "ok": true, "seccomp": why_not}`` (``""`` when installed)
  or ``{"id": 0, "ok": false, "kind": "syntax" | "exception" | "memory", "message": text}``;
* calls: request ``{"id": n, "function": name, "cpu": seconds}`` with value ``{"args":
  [...], "kwargs": {...}}``; before calling, the worker sets its RLIMIT_CPU soft limit to the
  CPU it has used so far plus ``cpu`` (the call's budget: calls never add up to a cap; the
  hard limit is unlimited, so a candidate can raise it too, bounded then by the wall-clock
  timeout alone); reply ``{"id": n, "ok": true}`` (plus ``"gpu_peak_mb"`` when torch's CUDA is
  initialised) with the result as value, or ``{"id": n, "ok": false, "kind": "exception" |
  "memory" | "invalid_output", "message": text}``; a result whose JSON header would exceed
  MAX_REPLY_HEADER_BYTES or fail the wire's structural check is invalid_output, so the
  worker stays usable; arguments this side cannot decode (a tensor without torch) are an
  exception;
* file fetch: request ``{"id": n, "op": "read_file", "path": relative, "max_bytes": m}``;
  reply ``{"id": n, "ok": true}`` with the file's bytes, or invalid_output saying why. The
  path is opened one component at a time below the start-up working directory (the
  scratch dir, opened before the candidate runs) with O_NOFOLLOW, so ``..``, absolute
  paths and symlinks are refused, and the read happens with the worker's own uid;
* end: EOF on the request pipe; the worker exits.

Candidate output never touches the protocol: fds 1 and 2 are the parent's capture pipe, and
the protocol pipes are separate fds, closed on exec so the candidate's subprocesses do not
inherit them. A forked copy of the worker (the candidate called ``os.fork``) exits when its
call (or the module import) returns instead of answering: only the original process
speaks the protocol.
"""

from __future__ import annotations

import math
import os
import resource
import stat
import sys
import time
import types
from typing import Any

MAX_MESSAGE_TEXT = 64 * 1024  # traceback text kept per failure (head and tail)
_source = ""  # the candidate's source text, for tracebacks


USAGE = "worker_main.py REQUEST_FD REPLY_FD SOURCE MODULE MAX_REQUEST_BYTES MAX_REPLY_HEADER_BYTES [SECCOMP]"


def main(argv: list[str], wire: Any = None, seccomp: Any = None) -> int:
    """Serve one candidate; ``wire`` and ``seccomp`` are the modules when a zygote has them loaded."""
    if len(argv) not in (6, 7):
        sys.stderr.write(f"usage: {USAGE} (got {argv!r})\n")
        return 2
    request_fd, reply_fd = int(argv[0]), int(argv[1])
    source_path, module_name, max_request, max_header = argv[2], argv[3], int(argv[4]), int(argv[5])
    os.set_inheritable(request_fd, False)
    os.set_inheritable(reply_fd, False)
    wire = wire or load_module("wire")
    scratch_fd = os.open(".", os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    sys.argv = [source_path]
    _add_site_packages()
    if argv[6:] == ["installed"]:  # by the parent, between fork and exec: check, do not import ctypes
        filtered = "" if _seccomp_mode() == "2" else "the parent could not install the seccomp filter"
    else:
        filtered = (seccomp or load_module("seccomp")).install()  # last step before candidate code
    filename = f"{module_name}.py"  # the name tracebacks show; stable across workers
    main_pid = os.getpid()
    module, failure = _import_candidate(source_path, module_name, filename)
    if os.getpid() != main_pid:  # the module forked and the copy finished importing it
        os._exit(0)
    _flush_output()
    if failure is not None:
        wire.write_message(reply_fd, failure)
        return 0
    wire.write_message(reply_fd, {"id": 0, "ok": True, "seccomp": filtered})
    server = _Server(wire, module, filename, reply_fd, max_header, scratch_fd, main_pid)
    server.serve(request_fd, max_request)
    return 0


def _seccomp_mode() -> str:
    with open("/proc/self/status", "rb") as f:
        for line in f:
            if line.startswith(b"Seccomp:"):
                return line.split()[1].decode()
    return ""


def load_module(name: str) -> Any:
    """Execute ``<name>.py`` from beside this file as module ``_evolve_sandbox_<name>``.

    Done by hand rather than with importlib.util, which costs a few milliseconds of imports.
    """
    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), f"{name}.py")
    module = types.ModuleType(f"_evolve_sandbox_{name}")
    module.__file__ = path
    sys.modules[module.__name__] = module
    with open(path, encoding="utf-8") as f:
        exec(compile(f.read(), path, "exec"), module.__dict__)
    return module


def _add_site_packages() -> None:
    """Put site-packages on sys.path without running site's .pth hooks (``-S``).

    The hooks (editable installs, vendor shims) cost tens of milliseconds per start and
    would hand the candidate the engine's own packages; plain installs (numpy) need none.
    ``-S`` also skips site's virtual-environment step, so a venv's ``pyvenv.cfg`` (beside
    the interpreter or one level up) is read here: its site-packages come first, the base
    installation's only with ``include-system-site-packages = true``.
    """
    import site

    prefixes = [sys.base_prefix]
    venv, include_system = _virtual_environment()
    if venv is not None:
        prefixes = [venv, sys.base_prefix] if include_system else [venv]
    for directory in site.getsitepackages(prefixes):
        if directory not in sys.path and os.path.isdir(directory):
            sys.path.append(directory)


def _virtual_environment() -> tuple[str | None, bool]:
    """The venv the interpreter belongs to (its folder) and whether it includes system packages."""
    here = os.path.dirname(os.path.abspath(sys.executable))
    for folder in (here, os.path.dirname(here)):
        config = os.path.join(folder, "pyvenv.cfg")
        try:
            with open(config, encoding="utf-8") as f:
                lines = f.read().splitlines()
        except OSError:
            continue
        settings = {key.strip().lower(): value.strip().lower() for key, _, value in (line.partition("=") for line in lines)}
        return folder, settings.get("include-system-site-packages") == "true"
    return None, False


def _import_candidate(source_path: str, module_name: str, filename: str) -> tuple[Any, dict[str, Any] | None]:
    global _source
    with open(source_path, encoding="utf-8") as f:
        _source = f.read()
    try:
        code = compile(_source, filename, "exec", dont_inherit=True)
    except (SyntaxError, ValueError) as exc:  # ValueError: the source contains NUL bytes
        import traceback

        message = _clip("".join(traceback.format_exception_only(exc)))
        reply = {"id": 0, "ok": False, "kind": "syntax", "message": message}
        if isinstance(exc, SyntaxError):
            reply.update(line=exc.lineno, col=exc.offset)
        return None, reply
    module = types.ModuleType(module_name)
    module.__file__ = source_path
    sys.modules[module_name] = module
    try:
        exec(code, module.__dict__)
    except BaseException as exc:  # SystemExit and KeyboardInterrupt are the candidate's too
        return None, _failure(0, exc, filename)
    return module, None


class _Server:
    """The call loop: one request, one reply, until EOF on the request pipe."""

    def __init__(
        self, wire: Any, module: Any, filename: str, reply_fd: int, max_header: int, scratch_fd: int, main_pid: int
    ) -> None:
        self.wire, self.module, self.filename = wire, module, filename
        self.reply_fd, self.max_header, self.scratch_fd, self.main_pid = reply_fd, max_header, scratch_fd, main_pid

    def serve(self, request_fd: int, max_request: int) -> None:
        wire = self.wire
        while True:
            try:
                body, header_len = wire.read_body(request_fd, max_request)
            except EOFError:
                return
            try:
                meta, value = wire.decode_body(body, header_len, name="arguments", check=False)  # from the trusted side
            except wire.WireError as exc:  # e.g. a tensor where torch is not importable: answer, stay in step
                call_id = _request_id(body, header_len)
                message = f"the arguments could not be decoded in the sandbox: {exc}"
                wire.write_message(self.reply_fd, {"id": call_id, "ok": False, "kind": "exception", "message": message})
                continue
            del body
            _charge_cpu(meta.get("cpu"))
            if meta.get("op") == "read_file":
                self._reply(*self._read_file(meta))
            else:
                self._reply(*self._call(meta, value))

    def _call(self, meta: dict[str, Any], value: Any) -> tuple[dict[str, Any], Any]:
        call_id = meta["id"]
        torch = sys.modules.get("torch")
        if torch is not None:
            _reset_gpu_peak(torch)
        try:
            result = getattr(self.module, meta["function"])(*value["args"], **value["kwargs"])
        except BaseException as exc:
            if os.getpid() != self.main_pid:
                os._exit(0)
            return _failure(call_id, exc, self.filename), None
        if os.getpid() != self.main_pid:
            os._exit(0)
        reply: dict[str, Any] = {"id": call_id, "ok": True}
        torch = sys.modules.get("torch")
        if torch is not None:
            peak = _gpu_peak_mb(torch)
            if peak is not None:
                reply["gpu_peak_mb"] = peak
        return reply, result

    def _reply(self, reply: dict[str, Any], result: Any) -> None:
        wire, call_id = self.wire, reply["id"]
        _flush_output()
        try:
            buffers = wire.encode(reply, result, name="result", max_header=self.max_header)
        except MemoryError:
            message = "MemoryError while encoding the result"
            buffers = wire.encode({"id": call_id, "ok": False, "kind": "memory", "message": message})
        except Exception as exc:  # unsupported type, too deep or long, or candidate code run by a dict subclass
            buffers = wire.encode({"id": call_id, "ok": False, "kind": "invalid_output", "message": _clip(str(exc))})
        del result
        wire.write_frame(self.reply_fd, buffers)

    def _read_file(self, meta: dict[str, Any]) -> tuple[dict[str, Any], Any]:
        call_id, path, max_bytes = meta["id"], meta["path"], meta["max_bytes"]
        try:
            data = read_below(self.scratch_fd, path, max_bytes)
        except OSError as exc:
            reason = _FILE_ERRORS.get(exc.errno, None) or exc.strerror or str(exc)
            message = f"read_file({path!r}): {reason}"
            return {"id": call_id, "ok": False, "kind": "invalid_output", "message": message}, None
        except ValueError as exc:
            return {"id": call_id, "ok": False, "kind": "invalid_output", "message": f"read_file({path!r}): {exc}"}, None
        return {"id": call_id, "ok": True}, data


_FILE_ERRORS = {
    40: "a symlink in the path (symlinks are not followed)",  # ELOOP
    20: "a component of the path is not a directory (or is a symlink)",  # ENOTDIR
    2: "no such file in the scratch dir",  # ENOENT
    13: "permission denied",  # EACCES
}


def read_below(base_fd: int, path: str, max_bytes: int) -> bytes:
    """Read ``path`` below directory ``base_fd``, one component at a time, following no symlink.

    Raises ValueError for an absolute path, an empty, ``.`` or ``..`` component, a file
    that is not regular or is over ``max_bytes``; OSError for what the kernel refuses.
    """
    parts = path.split("/")
    if not path or path.startswith("/") or any(part in ("", ".", "..") for part in parts) or "\0" in path:
        raise ValueError("the path must be relative to the scratch dir, without '.', '..' or empty components")
    flags = os.O_NOFOLLOW | os.O_CLOEXEC
    fd = os.dup(base_fd)
    try:
        for part in parts[:-1]:
            inner = os.open(part, os.O_RDONLY | os.O_DIRECTORY | flags, dir_fd=fd)
            os.close(fd)
            fd = inner
        inner = os.open(parts[-1], os.O_RDONLY | os.O_NONBLOCK | flags, dir_fd=fd)
        os.close(fd)
        fd = inner
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise ValueError("not a regular file")
        if info.st_size > max_bytes:
            raise ValueError(f"the file is {info.st_size} bytes, over the limit of {max_bytes} bytes")
        chunks, got = [], 0
        while got <= max_bytes:
            chunk = os.read(fd, min(1 << 20, max_bytes + 1 - got))
            if not chunk:
                break
            chunks.append(chunk)
            got += len(chunk)
        if got > max_bytes:
            raise ValueError(f"the file grew past the limit of {max_bytes} bytes while being read")
        return b"".join(chunks)
    finally:
        os.close(fd)


def _request_id(body: bytearray, header_len: int) -> Any:
    """The id of a request whose value cannot be decoded (its meta is plain JSON, first in the header)."""
    import json

    try:
        return json.loads(bytes(body[:header_len]))["m"]["id"]
    except Exception:
        return None


_cpu_soft: list[int] = []  # the soft RLIMIT_CPU this worker last set


def _charge_cpu(budget: Any, _setrlimit: Any = resource.setrlimit, _cpu: Any = time.process_time) -> None:
    """RLIMIT_CPU soft limit := CPU used so far (all threads) + ``budget``, rounded up.

    Skipped when that is the soft limit already set (quick calls, in whole seconds), so
    the usual call costs one clock read. The functions are bound at import, before
    candidate code can replace them.
    """
    if type(budget) is not int:
        return
    soft = math.ceil(_cpu() + budget)
    if _cpu_soft and _cpu_soft[0] == soft:
        return
    hard = resource.getrlimit(resource.RLIMIT_CPU)[1]
    _setrlimit(resource.RLIMIT_CPU, (soft if hard == resource.RLIM_INFINITY else min(soft, hard), hard))
    _cpu_soft[:] = [soft]


def _reset_gpu_peak(torch: Any) -> None:
    try:
        if torch.cuda.is_initialized():
            for device in range(torch.cuda.device_count()):
                torch.cuda.reset_peak_memory_stats(device)
    except Exception:  # a candidate's stand-in module, a driver error: no statistic, no failure
        pass


def _gpu_peak_mb(torch: Any) -> float | None:
    """Peak CUDA memory allocated through torch since the last reset, in MB (max over devices)."""
    try:
        if not torch.cuda.is_initialized():
            return None
        peaks = [torch.cuda.max_memory_allocated(device) for device in range(torch.cuda.device_count())]
        return float(max(peaks, default=0)) / (1 << 20)
    except Exception:
        return None


def _failure(call_id: int, exc: BaseException, filename: str) -> dict[str, Any]:
    kind = "memory" if isinstance(exc, MemoryError) else "exception"
    try:
        text = _candidate_traceback(exc, filename)
    except BaseException:  # e.g. no memory left to format it
        text = f"{type(exc).__name__} (traceback unavailable)"
    return {"id": call_id, "ok": False, "kind": kind, "message": _clip(text)}


def _candidate_traceback(exc: BaseException, filename: str) -> str:
    """The traceback with only the candidate's own frames, chained exceptions included.

    traceback and linecache are imported here, on the first failure, not at start-up.
    The source lines come from the text compiled at start, not from the file, which the
    candidate may have changed since.
    """
    import linecache
    import traceback

    linecache.cache[filename] = (len(_source), None, _source.splitlines(True), filename)
    top = traceback.TracebackException.from_exception(exc)
    seen: set[int] = set()
    pending = [top]
    while pending:
        te = pending.pop()
        if id(te) in seen:
            continue
        seen.add(id(te))
        te.stack = traceback.StackSummary.from_list([frame for frame in te.stack if frame.filename == filename])
        pending.extend(chained for chained in (te.__cause__, te.__context__) if chained is not None)
    return "".join(top.format())


def _clip(text: str, limit: int = MAX_MESSAGE_TEXT) -> str:
    if len(text) <= limit:
        return text
    half = limit // 2
    return f"{text[:half]}\n... ({len(text) - limit} characters omitted) ...\n{text[-half:]}"


def _flush_output() -> None:
    """Push the candidate's buffered prints into the capture pipe before replying."""
    for stream in (sys.stdout, sys.stderr, sys.__stdout__, sys.__stderr__):
        try:
            stream.flush()
        except Exception:
            pass


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
