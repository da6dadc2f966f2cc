"""Data-only codec for messages that cross the sandbox boundary, used by both sides.

A message is a *meta* dict (the protocol envelope: call id, function name, status) plus one
*value* (the payload: call arguments or a result). Values are built from ``None``, ``bool``,
``int``, ``float`` (NaN and infinities included), ``str``, ``list``/``tuple`` (decoded as
``list``), ``dict`` with ``str`` keys, ``bytes`` (``bytearray`` and ``memoryview`` are sent as
bytes and decoded as ``bytes``), numpy arrays of bool, integer, float or complex dtype, and
torch tensors of the dtypes in ``TORCH_DTYPES`` (moved to host memory and sent as raw
buffers; decoded as CPU tensors, so a receiver moves them to its device itself). Nothing
else crosses: no pickle, no object arrays, no classes, so decoding a message can never run
code or hand over an object with behaviour.

Frame layout (little-endian)::

    magic "EVW1" | u32 header length | u64 data length | header | data

The header is ASCII JSON ``{"m": meta, "v": value}``, space-padded so the data starts on a
16-byte boundary. Buffers appear in the value as markers and their bytes live in the data
section at ``offset`` (a multiple of 16): a numpy array as ``{"\\u0000nd": [dtype, shape,
offset]}``, a torch tensor as ``{"\\u0000pt": [dtype name, shape, offset]}``, bytes as
``{"\\u0000by": [offset, length]}``. A user dict with a key that starts with NUL is escaped
as ``{"\\u0000map": [[key, value], ...]}`` so markers can never be confused with data.

Invariants checked on decode: known magic; total size within the reader's limit and the
header within its own, smaller limit (both from the prefix, before anything is allocated);
at most one ``[`` or ``{`` per ``CONTAINER_BYTES`` header bytes (plus ``CONTAINER_SLACK``),
checked before parsing, because the JSON parser cannot be interrupted and an empty list
costs ~20x its three bytes (with it, parsing costs at most ~30x the header cap); dtype
allowed, shape of non-negative ints, ``prod(shape) * itemsize`` bytes inside the data
section; buffers in increasing, non-overlapping order (no aliasing between decoded
values). A refused buffer marker is reported with its path in the value (``result['w']``).

This module imports only the standard library; numpy and torch are imported lazily, when a
frame holds an array or a tensor, so a worker whose candidate never touches them never pays
their import.
"""

from __future__ import annotations

import json
import math
import os
import struct
import sys
from typing import Any, Iterable

MAGIC = b"EVW1"
PREFIX = struct.Struct("<4sIQ")  # magic, header length, data length
ALIGN = 16
MAX_DEPTH = 100  # nesting of lists/dicts; deeper is refused (and catches reference cycles)
MAX_NDIM = 32
ARRAY_KEY = "\x00nd"
TENSOR_KEY = "\x00pt"
BYTES_KEY = "\x00by"
ESCAPED_KEY = "\x00map"
CONTAINER_BYTES = 4  # a header may hold one '[' or '{' per this many bytes ...
CONTAINER_SLACK = 1024  # ... plus this many, so small headers always pass
_ALWAYS_WITHIN_BUDGET = CONTAINER_SLACK * CONTAINER_BYTES // (CONTAINER_BYTES - 1)  # n <= n // 4 + 1024
_MARKER_TEXT = b"\\u0000"  # how a NUL-prefixed key looks in ensure_ascii JSON
_JOIN_BELOW = 1 << 16  # frames smaller than this are written as one buffer
_SCALAR_TYPES = frozenset({str, int, float, bool, type(None)})
_BYTES_TYPES = (bytes, bytearray, memoryview)
_PATH_SHOWN = 12  # path components shown in an error message before eliding

#: Array dtypes that may cross, as ``numpy.dtype.str`` (little-endian or byte-order free).
DTYPES = frozenset(
    {"|b1", "|i1", "|u1", "<i2", "<u2", "<i4", "<u4", "<i8", "<u8", "<f2", "<f4", "<f8", "<c8", "<c16"}
)


#: torch dtypes that may cross, by the name the wire uses (``torch.<name>``).
TORCH_DTYPES = frozenset(
    {
        "bool", "uint8", "int8", "int16", "int32", "int64", "uint16", "uint32", "uint64",
        "float16", "bfloat16", "float32", "float64", "complex64", "complex128",
        "float8_e4m3fn", "float8_e5m2", "float8_e4m3fnuz", "float8_e5m2fnuz",
    }
)


class WireError(ValueError):
    """A frame is malformed or refused; the message says which check failed."""


class ValueRefused(WireError):
    """A well-framed message whose value is malformed (a bad array, tensor or bytes marker):
    the sender's data is invalid, not the protocol."""


class HeaderRefused(WireError):
    """A frame's JSON header is over its size limit or fails the structural check (before parsing)."""

    def __init__(self, message: str, size: int, limit: int) -> None:
        super().__init__(message)
        self.size = size
        self.limit = limit


class MessageTooLarge(WireError):
    """A frame announces more bytes than the reader accepts (checked before reading the body)."""

    def __init__(self, size: int, limit: int) -> None:
        super().__init__(f"message of {size} bytes exceeds the limit of {limit} bytes")
        self.size = size
        self.limit = limit


class _Refused(Exception):
    """Internal: an unencodable value; ``path`` is filled in while the recursion unwinds."""

    def __init__(self, reason: str, error: type[Exception] = TypeError) -> None:
        self.reason = reason
        self.error = error
        self.path: list[str] = []


# ---------------------------------------------------------------------------------- encode


def encode(
    meta: dict[str, Any], value: Any = None, *, name: str = "value", max_header: int | None = None
) -> list[bytes | memoryview]:
    """Return the frame for ``(meta, value)`` as buffers to write in order.

    Raises TypeError naming the path of an unsupported object, e.g.
    ``result[2]['x']: object of type set``, with ``name`` as the root of the path;
    WireError for an int too long to convert (path named too), and HeaderRefused when the
    header would fail the reader's checks for ``max_header`` (so a sender learns it first).
    """
    arrays = _Arrays()
    try:
        tree = _prepare(value, arrays, 0)
    except _Refused as refused:
        raise refused.error(f"{name}{_format_path(refused.path[::-1])}: {refused.reason}") from None
    try:
        text = json.dumps({"m": meta, "v": tree}, ensure_ascii=True, allow_nan=True, separators=(",", ":"))
    except ValueError as exc:  # an int with more digits than int/str conversion allows
        raise WireError(f"cannot encode {name}{_huge_int_path(value)}: {exc}") from None
    header = text.encode("ascii")
    header += b" " * (-(PREFIX.size + len(header)) % ALIGN)
    if max_header is not None:
        check_header(header, max_header, what=name)
    buffers: list[bytes | memoryview] = []
    for raw in arrays.items:
        buffers.append(raw)
        if len(raw) % ALIGN:
            buffers.append(bytes(-len(raw) % ALIGN))
    frame: list[bytes | memoryview] = [PREFIX.pack(MAGIC, len(header), arrays.size) + header, *buffers]
    if arrays.size < _JOIN_BELOW and len(frame) > 1:
        return [b"".join(frame)]
    return frame


def check_header(header: bytes | bytearray | memoryview, limit: int, *, what: str = "frame") -> None:
    """Refuse a JSON header over ``limit`` bytes or with more containers than its size allows.

    Cheap (two C-speed byte counts) and run before parsing: see the module docstring.
    """
    size = len(header)
    if size > limit:
        raise HeaderRefused(f"the JSON header of {what} is {size} bytes, over the limit of {limit} bytes", size, limit)
    if size <= _ALWAYS_WITHIN_BUDGET:  # the usual call: too short to hold more containers than allowed
        return
    raw = header if isinstance(header, (bytes, bytearray)) else bytes(header)
    containers = raw.count(b"[") + raw.count(b"{")
    if containers > size // CONTAINER_BYTES + CONTAINER_SLACK:
        raise HeaderRefused(
            f"the JSON header of {what} holds {containers} lists/dicts in {size} bytes"
            f" (at most one per {CONTAINER_BYTES} bytes): send bulk data as numpy arrays, tensors or bytes",
            size,
            limit,
        )


class _Arrays:
    """The raw buffers of a frame being encoded, in text order, and the data section's size."""

    def __init__(self) -> None:
        self.items: list[memoryview] = []
        self.size = 0

    def add(self, raw: memoryview) -> int:
        """Append ``raw`` (a byte view); return its offset in the data section (a multiple of ALIGN)."""
        offset = self.size
        self.items.append(raw)
        self.size += raw.nbytes + (-raw.nbytes % ALIGN)
        return offset


def _prepare(x: Any, arrays: _Arrays, depth: int) -> Any:
    """Return ``x`` as JSON-ready data, appending arrays (in text order) to ``arrays``."""
    t = type(x)
    if t is str or t is int or t is float or t is bool or x is None:
        return x
    if depth >= MAX_DEPTH:
        raise _Refused(f"nested deeper than {MAX_DEPTH} levels (a reference cycle?)", ValueError)
    if t is list or t is tuple:
        return _prepare_sequence(x, arrays, depth)
    if t is dict:
        return _prepare_mapping(x, arrays, depth)
    numpy = sys.modules.get("numpy")  # no numpy loaded means no numpy objects exist
    if numpy is not None:
        if isinstance(x, numpy.ndarray):
            return {ARRAY_KEY: _add_array(x, arrays)}
        if isinstance(x, numpy.generic):
            return _numpy_scalar(x)
    if isinstance(x, int):  # subclasses of the plain types: IntEnum, str subclasses, ...
        return int(x)
    if isinstance(x, float):
        return float(x)
    if isinstance(x, str):
        return str(x)
    if isinstance(x, (list, tuple)):
        return _prepare_sequence(x, arrays, depth)
    if isinstance(x, dict):
        return _prepare_mapping(x, arrays, depth)
    if isinstance(x, _BYTES_TYPES):
        raw = _byte_view(x)
        return {BYTES_KEY: [arrays.add(raw), raw.nbytes]}
    torch = sys.modules.get("torch")
    if torch is not None and isinstance(x, torch.Tensor):
        return {TENSOR_KEY: _add_tensor(torch, x, arrays)}
    raise _Refused(f"object of type {_type_name(x)}")


def _prepare_sequence(x: Iterable[Any], arrays: _Arrays, depth: int) -> Any:
    if type(x) in (list, tuple) and set(map(type, x)) <= _SCALAR_TYPES:
        return x  # flat vector of plain scalars: json encodes it as is (a tuple as a list)
    out: list[Any] = []
    try:
        for item in x:
            out.append(_prepare(item, arrays, depth + 1))
    except _Refused as refused:
        refused.path.append(f"[{len(out)}]")  # the failing index is the count done so far
        raise
    return out


def _prepare_mapping(x: dict[Any, Any], arrays: _Arrays, depth: int) -> dict[str, Any] | dict[str, list[Any]]:
    out: dict[str, Any] = {}
    escaped = False
    for key, item in x.items():
        if type(key) is not str:
            if not isinstance(key, str):
                raise _Refused(f"dict key {key!r:.60} of type {_type_name(key)} (keys must be str)")
            key = str(key)
        if key[:1] == "\x00":
            escaped = True
        try:
            out[key] = _prepare(item, arrays, depth + 1)
        except _Refused as refused:
            refused.path.append(f"[{key!r}]")
            raise
    if escaped:
        return {ESCAPED_KEY: [[key, item] for key, item in out.items()]}
    return out


def _add_array(x: Any, arrays: _Arrays) -> list[Any]:
    """Register array ``x`` for the data section; return its ``[dtype, shape, offset]`` marker."""
    if x.dtype.str[0] == ">":
        x = x.astype(x.dtype.newbyteorder("<"))
    if x.dtype.str not in DTYPES:
        raise _Refused(f"numpy array of dtype {x.dtype} (allowed: bool, int8-64, uint8-64, float16-64, complex64/128)")
    if not x.flags.c_contiguous:
        x = x.copy(order="C")
    return [x.dtype.str, list(x.shape), arrays.add(_bytes_of(x))]


def _bytes_of(array: Any) -> memoryview:
    import numpy

    return memoryview(array.reshape(-1).view(numpy.uint8))


def _byte_view(x: bytes | bytearray | memoryview) -> memoryview:
    view = memoryview(x)
    if view.c_contiguous:
        return view.cast("B") if view.format != "B" or view.ndim != 1 else view
    return memoryview(view.tobytes())


def _add_tensor(torch: Any, x: Any, arrays: _Arrays) -> list[Any]:
    """Register tensor ``x`` (copied to host memory, contiguous) for the data section."""
    name = str(x.dtype).removeprefix("torch.")
    if name not in TORCH_DTYPES:
        raise _Refused(f"torch tensor of dtype {x.dtype} (allowed: {', '.join(sorted(TORCH_DTYPES))})")
    if x.layout is not torch.strided or x.is_quantized:
        raise _Refused(f"torch tensor with layout {x.layout} (only dense, unquantized tensors cross)")
    try:
        t = x.detach().to("cpu").contiguous()
    except (RuntimeError, NotImplementedError) as exc:  # a meta tensor, a device error
        raise _Refused(f"torch tensor on {x.device} that cannot be copied to host memory: {exc}") from None
    flat = t.reshape(-1).view(torch.uint8)
    try:
        raw = memoryview(flat.numpy())
    except (RuntimeError, TypeError):  # torch without numpy: copy the bytes out through ctypes
        import ctypes

        raw = memoryview(ctypes.string_at(flat.data_ptr(), flat.numel()) if flat.numel() else b"")
    return [name, list(t.shape), arrays.add(raw)]


def _huge_int_path(value: Any) -> str:
    """The path of the first int too long for str conversion in ``value`` ('' if none is found)."""
    limit = sys.get_int_max_str_digits()
    bits = int(limit * 3.3219280948873626)  # an int of at most this many bits has at most ``limit`` digits
    pending: list[tuple[Any, str, int]] = [(value, "", 0)]
    while pending and limit:
        x, path, depth = pending.pop()
        if isinstance(x, int):
            if x.bit_length() > bits:
                return path
        elif isinstance(x, (list, tuple)) and depth < MAX_DEPTH:
            pending.extend((item, f"{path}[{i}]", depth + 1) for i, item in reversed(list(enumerate(x))))
        elif isinstance(x, dict) and depth < MAX_DEPTH:
            pending.extend((item, f"{path}[{key!r}]", depth + 1) for key, item in reversed(list(x.items())))
    return ""


def _numpy_scalar(x: Any) -> bool | int | float:
    kind = x.dtype.kind
    if kind == "b":
        return bool(x)
    if kind in "iu":
        return int(x)
    if kind == "f":
        return float(x)
    raise _Refused(f"numpy scalar of dtype {x.dtype}")


def _format_path(path: list[str]) -> str:
    if len(path) > _PATH_SHOWN:
        path = [*path[: _PATH_SHOWN - 3], f"...({len(path) - _PATH_SHOWN + 1} levels)...", *path[-2:]]
    return "".join(path)


def _type_name(x: Any) -> str:
    t = type(x)
    return t.__qualname__ if t.__module__ == "builtins" else f"{t.__module__}.{t.__qualname__}"


# ---------------------------------------------------------------------------------- decode


def parse_prefix(
    prefix: bytes | bytearray | memoryview, max_bytes: int, max_header: int | None = None
) -> tuple[int, int]:
    """Check a frame's fixed-size prefix; return ``(header_len, data_len)``.

    Raises MessageTooLarge (or HeaderRefused for a header over ``max_header``) before any
    of the body is read, so a hostile sender cannot make the reader allocate more than
    ``max_bytes``, nor parse more than ``max_header`` bytes of JSON.
    """
    magic, header_len, data_len = PREFIX.unpack(prefix)
    if magic != MAGIC:
        raise WireError(f"bad frame magic {bytes(magic)!r} (expected {MAGIC!r}): not a wire frame")
    size = PREFIX.size + header_len + data_len
    if size > max_bytes:
        raise MessageTooLarge(size, max_bytes)
    if max_header is not None and header_len > max_header:
        raise HeaderRefused(
            f"a frame announces a JSON header of {header_len} bytes, over the limit of {max_header} bytes",
            header_len,
            max_header,
        )
    return header_len, data_len


def decode_body(
    body: bytearray, header_len: int, *, name: str = "value", check: bool = True
) -> tuple[dict[str, Any], Any]:
    """Decode a frame body (header then data) into ``(meta, value)``.

    Arrays and tensors are writable views into ``body``, so they are not copied; ``body``
    must not be reused by the caller. Raises HeaderRefused before parsing a header that
    fails the structural check (``check=False``: a frame from the trusted side, the worker
    reading a request), WireError for anything else malformed (a refused buffer marker's
    path is named from ``name``, e.g. ``result['w']``).
    """
    raw = bytes(memoryview(body)[:header_len])
    if check:
        try:
            check_header(raw, header_len)
        except HeaderRefused as exc:
            raise HeaderRefused(f"malformed frame header: {exc}", exc.size, exc.limit) from None
    try:
        text = raw.decode("ascii")
        if _MARKER_TEXT in raw:
            header = json.loads(text, object_hook=_Decoder(body, header_len).hook)
        else:
            header = json.loads(text)
    except WireError as exc:  # a refused marker: say where it is
        raise ValueRefused(f"{_locate(text, body, header_len, name)}{exc}") from None
    except (ValueError, RecursionError) as exc:  # bad JSON, non-ASCII, too many digits, too deep
        raise WireError(f"malformed frame header: {exc}") from None
    if type(header) is not dict or type(header.get("m")) is not dict or "v" not in header:
        raise WireError("malformed frame header: expected an object with 'm' (a dict) and 'v'")
    return header["m"], header["v"]


class _Decoder:
    """JSON object hook that turns buffer markers into values and unescapes escaped dicts.

    The hook sees markers in text order, which is the order their bytes were written, so
    requiring increasing offsets also rules out overlapping (aliased) buffers. With
    ``build=False`` it only checks (``_locate`` replays a refused frame with it).
    """

    def __init__(self, body: bytearray, data_start: int, *, build: bool = True) -> None:
        self.body = body
        self.data_start = data_start
        self.data_len = len(body) - data_start
        self.cursor = 0
        self.build = build

    def hook(self, obj: dict[str, Any]) -> Any:
        if len(obj) == 1:
            if ARRAY_KEY in obj:
                return self._array(obj[ARRAY_KEY])
            if TENSOR_KEY in obj:
                return self._tensor(obj[TENSOR_KEY])
            if BYTES_KEY in obj:
                return self._bytes(obj[BYTES_KEY])
            if ESCAPED_KEY in obj:
                return _unescape(obj[ESCAPED_KEY])
        return obj

    def _claim(self, offset: Any, nbytes: int, what: str) -> int:
        """Reserve data bytes ``offset..offset+nbytes``; return the body index they start at."""
        if type(offset) is not int or offset < self.cursor or offset % ALIGN:
            raise WireError(f"{what}: offset {offset!r:.40} is not aligned or overlaps the previous buffer")
        end = offset + nbytes
        if end > self.data_len:
            raise WireError(f"{what} needs bytes {offset}..{end} but the frame carries {self.data_len} data bytes")
        self.cursor = end
        return self.data_start + offset

    def _marker(self, marker: Any, kind: str) -> tuple[Any, list[int], Any]:
        if type(marker) is not list or len(marker) != 3:
            raise WireError(f"malformed {kind} marker {marker!r:.80}")
        dtype, shape, offset = marker
        if (
            type(shape) is not list
            or len(shape) > MAX_NDIM
            or not all(type(n) is int and n >= 0 for n in shape)
        ):
            raise WireError(f"{kind} shape {shape!r:.80} is not a list of at most {MAX_NDIM} non-negative ints")
        return dtype, shape, offset

    def _array(self, marker: Any) -> Any:
        dtype, shape, offset = self._marker(marker, "array")
        if type(dtype) is not str or dtype not in DTYPES:
            raise WireError(f"array dtype {dtype!r:.40} is not one of the allowed dtypes")
        import numpy

        dt = numpy.dtype(dtype)
        count = math.prod(shape)
        start = self._claim(offset, count * dt.itemsize, f"array of shape {tuple(shape)} and dtype {dtype}")
        if not self.build:
            return None
        try:
            flat = numpy.frombuffer(self.body, dtype=dt, count=count, offset=start)
            return flat.reshape(shape)
        except ValueError as exc:
            raise WireError(f"array of shape {tuple(shape)}: {exc}") from None

    def _tensor(self, marker: Any) -> Any:
        name, shape, offset = self._marker(marker, "tensor")
        if type(name) is not str or name not in TORCH_DTYPES:
            raise WireError(f"tensor dtype {name!r:.40} is not one of the allowed torch dtypes")
        try:
            import torch
        except ImportError as exc:
            raise WireError(f"a torch tensor cannot be decoded here: torch is not importable ({exc})") from None
        dtype = getattr(torch, name)
        nbytes = math.prod(shape) * dtype.itemsize
        start = self._claim(offset, nbytes, f"tensor of shape {tuple(shape)} and dtype {name}")
        if not self.build:
            return None
        if nbytes == 0:
            return torch.empty(shape, dtype=dtype)
        flat = torch.frombuffer(self.body, dtype=torch.uint8, count=nbytes, offset=start)
        return flat.view(dtype).reshape(shape)

    def _bytes(self, marker: Any) -> bytes | None:
        if type(marker) is not list or len(marker) != 2 or type(marker[1]) is not int or marker[1] < 0:
            raise WireError(f"malformed bytes marker {marker!r:.80}")
        start = self._claim(marker[0], marker[1], f"bytes of length {marker[1]}")
        return bytes(memoryview(self.body)[start : start + marker[1]]) if self.build else None


def _unescape(pairs: Any) -> dict[str, Any]:
    if type(pairs) is not list or not all(type(p) is list and len(p) == 2 and type(p[0]) is str for p in pairs):
        raise WireError("malformed escaped dict: expected a list of [str, value] pairs")
    return {key: item for key, item in pairs}


def _locate(text: str, body: bytearray, data_start: int, name: str) -> str:
    """``"value['w'][2]: "``, the path of the first marker a checking replay refuses ('' if none).

    Runs only after a refusal, so its Python-speed walk costs nothing on the normal path.
    """
    try:
        tree = json.loads(text)
    except (ValueError, RecursionError):
        return ""
    checker = _Decoder(body, data_start, build=False)
    pending: list[tuple[Any, str]] = [(tree.get("v") if type(tree) is dict else None, name)]
    while pending:
        x, path = pending.pop()
        if type(x) is dict:
            if len(x) == 1 and next(iter(x)) in (ARRAY_KEY, TENSOR_KEY, BYTES_KEY):
                try:
                    checker.hook(x)
                except WireError:
                    return f"{path}: "
                continue
            items = x[ESCAPED_KEY] if len(x) == 1 and ESCAPED_KEY in x and type(x[ESCAPED_KEY]) is list else None
            if items is not None:
                pairs = [(p[1], f"{path}[{p[0]!r}]") for p in items if type(p) is list and len(p) == 2]
            else:
                pairs = [(item, f"{path}[{key!r}]") for key, item in x.items()]
            pending.extend(reversed(pairs))
        elif type(x) is list:
            pending.extend(reversed([(item, f"{path}[{i}]") for i, item in enumerate(x)]))
    return ""


# ------------------------------------------------------------------------ blocking fd helpers


def write_frame(fd: int, buffers: list[bytes | memoryview]) -> None:
    """Write an encoded frame to a blocking fd (the worker's side of the reply pipe)."""
    for buffer in buffers:
        view = memoryview(buffer)
        while view:
            view = view[os.write(fd, view) :]


def write_message(fd: int, meta: dict[str, Any], value: Any = None, *, name: str = "value") -> None:
    write_frame(fd, encode(meta, value, name=name))


def read_message(fd: int, max_bytes: int) -> tuple[dict[str, Any], Any]:
    """Read one frame from a blocking fd. Raises EOFError at a clean end between frames."""
    return decode_body(*read_body(fd, max_bytes))


def read_body(fd: int, max_bytes: int) -> tuple[bytearray, int]:
    """Read one frame's body from a blocking fd; return ``(body, header_len)`` for ``decode_body``.

    Separate from decoding so that a reader can answer a frame it cannot decode (the
    stream is still in step) instead of dying. Raises EOFError at a clean end between frames.
    """
    prefix = _read_exact(fd, PREFIX.size, at_frame_start=True)
    header_len, data_len = parse_prefix(prefix, max_bytes)
    body = bytearray(header_len + data_len)
    view = memoryview(body)
    got = 0
    while got < len(body):
        n = os.readv(fd, [view[got:]])
        if n == 0:
            raise WireError(f"frame truncated after {got} of {len(body)} body bytes")
        got += n
    return body, header_len


def _read_exact(fd: int, size: int, *, at_frame_start: bool) -> bytes:
    data = b""
    while len(data) < size:
        chunk = os.read(fd, size - len(data))
        if not chunk:
            if at_frame_start and not data:
                raise EOFError("end of stream")
            raise WireError(f"frame truncated after {len(data)} of {size} prefix bytes")
        data += chunk
    return data
