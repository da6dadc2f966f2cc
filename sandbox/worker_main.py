"""The sandboxed worker: holds one candidate module and answers calls to its functions.

Started by ``sandbox.process`` as::

    python -S -P -B -X faulthandler worker_main.py REQUEST_FD REPLY_FD SOURCE MODULE MAX_REQUEST_BYTES

from a copy of this file and ``wire.py`` placed beside it in the worker's scratch dir (the
repository may be unreadable to the worker's uid, and ``-P`` keeps this directory off
``sys.path``, so ``wire`` is loaded by path under a private name). By the time this runs
the parent has already confined the process (limits, namespaces, uid); this program
enforces nothing and trusts nothing it does after running candidate code: everything it
sends is data the parent validates.

Protocol (frames of ``sandbox.wire``; meta, then value):

* start-up: compile SOURCE, execute it as module MODULE, then send one message:
  ``{"id": 0, "ok": true}`` or ``{"id": 0, "ok": false, "kind": "syntax" | "exception" |
  "memory", "message": text}``;
* calls: request ``{"id": n, "function": name}`` with value ``{"args": [...], "kwargs":
  {...}}``; reply ``{"id": n, "ok": true}`` with the result as value, or ``{"id": n, "ok":
  false, "kind": "exception" | "memory" | "invalid_output", "message": text}``;
* end: EOF on the request pipe; the worker exits.

Candidate output never touches the protocol: fds 1 and 2 are the parent's capture pipe, and
the protocol pipes are separate fds, closed on exec so the candidate's subprocesses do not
inherit them. A forked copy of the worker (the candidate called ``os.fork``) exits when its
call (or the module import) returns instead of answering: only the original process
speaks the protocol.
"""

from __future__ import annotations

import os
import sys
import types
from typing import Any

MAX_MESSAGE_TEXT = 64 * 1024  # traceback text kept per failure (head and tail)
_source = ""  # the candidate's source text, for tracebacks


def main(argv: list[str], wire: Any = None) -> int:
    """Serve one candidate; ``wire`` is the codec module when a zygote has it loaded already."""
    if len(argv) != 5:
        sys.stderr.write(f"usage: worker_main.py REQUEST_FD REPLY_FD SOURCE MODULE MAX_REQUEST_BYTES (got {argv!r})\n")
        return 2
    request_fd, reply_fd = int(argv[0]), int(argv[1])
    source_path, module_name, max_request = argv[2], argv[3], int(argv[4])
    os.set_inheritable(request_fd, False)
    os.set_inheritable(reply_fd, False)
    wire = wire or _load_wire()
    sys.argv = [source_path]
    _add_site_packages()
    filename = f"{module_name}.py"  # the name tracebacks show; stable across workers
    main_pid = os.getpid()
    module, failure = _import_candidate(source_path, module_name, filename)
    if os.getpid() != main_pid:  # the module forked and the copy finished importing it
        os._exit(0)
    _flush_output()
    if failure is not None:
        wire.write_message(reply_fd, failure)
        return 0
    wire.write_message(reply_fd, {"id": 0, "ok": True})
    _serve(wire, module, filename, request_fd, reply_fd, max_request, main_pid)
    return 0


def _load_wire() -> Any:
    """Execute ``wire.py`` from beside this file as module ``_evolve_sandbox_wire``.

    Done by hand rather than with importlib.util, which costs a few milliseconds of imports.
    """
    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "wire.py")
    wire = types.ModuleType("_evolve_sandbox_wire")
    wire.__file__ = path
    sys.modules[wire.__name__] = wire
    with open(path, encoding="utf-8") as f:
        exec(compile(f.read(), path, "exec"), wire.__dict__)
    return wire


def _add_site_packages() -> None:
    """Put site-packages on sys.path without running site's .pth hooks (``-S``).

    The hooks (editable installs, vendor shims) cost tens of milliseconds per start and
    would hand the candidate the engine's own packages; plain installs (numpy) need none.
    """
    import site

    for directory in site.getsitepackages():
        if directory not in sys.path and os.path.isdir(directory):
            sys.path.append(directory)


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


def _serve(
    wire: Any, module: Any, filename: str, request_fd: int, reply_fd: int, max_request: int, main_pid: int
) -> None:
    while True:
        try:
            meta, value = wire.read_message(request_fd, max_request)
        except EOFError:
            return
        call_id = meta["id"]
        try:
            result = getattr(module, meta["function"])(*value["args"], **value["kwargs"])
        except BaseException as exc:
            if os.getpid() != main_pid:
                os._exit(0)
            reply, result = _failure(call_id, exc, filename), None
        else:
            if os.getpid() != main_pid:
                os._exit(0)
            reply = {"id": call_id, "ok": True}
        _flush_output()
        try:
            buffers = wire.encode(reply, result, name="result")
        except MemoryError:
            message = "MemoryError while encoding the result"
            buffers = wire.encode({"id": call_id, "ok": False, "kind": "memory", "message": message})
        except Exception as exc:  # unsupported type, too deep, or candidate code run by a dict subclass
            buffers = wire.encode({"id": call_id, "ok": False, "kind": "invalid_output", "message": _clip(str(exc))})
        del result
        wire.write_frame(reply_fd, buffers)


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
