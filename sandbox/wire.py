"""Data-only codec for messages that cross the sandbox boundary, used by both sides.

A message is a *meta* dict (the protocol envelope: call id, function name, status) plus one
*value* (the payload: call arguments or a result). Values are built from ``None``, ``bool``,
``int``, ``float`` (NaN and infinities included), ``str``, ``list``/``tuple`` (decoded as
``list``), ``dict`` with ``str`` keys, and numpy arrays of bool, integer, float or complex
dtype. Nothing else crosses: no pickle, no object arrays, no classes, so decoding a message
can never run code or hand over an object with behaviour.

Frame layout (little-endian)::

    magic "EVW1" | u32 header length | u64 data length | header | data

The header is ASCII JSON ``{"m": meta, "v": value}``, space-padded so the data starts on a
16-byte boundary. An array appears in the value as ``{"\\u0000nd": [dtype, shape, offset]}``
and its bytes live in the data section at ``offset`` (a multiple of 16). A user dict with a
key that starts with NUL is escaped as ``{"\\u0000map": [[key, value], ...]}`` so the two
markers can never be confused with data. Invariants checked on decode: known magic, total
size within the reader's limit, dtype in ``DTYPES``, shape of non-negative ints,
``prod(shape) * itemsize`` bytes inside the data section, arrays in increasing,
non-overlapping order (no aliasing between decoded arrays).

This module imports only the standard library; numpy is imported lazily, when a frame
holds an array, so a worker whose candidate never touches numpy never pays its import.
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
ESCAPED_KEY = "\x00map"
_MARKER_TEXT = b"\\u0000"  # how a NUL-prefixed key looks in ensure_ascii JSON
_JOIN_BELOW = 1 << 16  # frames smaller than this are written as one buffer
_SCALAR_TYPES = frozenset({str, int, float, bool, type(None)})
_PATH_SHOWN = 12  # path components shown in an error message before eliding

#: Array dtypes that may cross, as ``numpy.dtype.str`` (little-endian or byte-order free).
DTYPES = frozenset(
    {"|b1", "|i1", "|u1", "<i2", "<u2", "<i4", "<u4", "<i8", "<u8", "<f2", "<f4", "<f8", "<c8", "<c16"}
)


class WireError(ValueError):
    """A frame is malformed or refused; the message says which check failed."""


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


def encode(meta: dict[str, Any], value: Any = None, *, name: str = "value") -> list[bytes | memoryview]:
    """Return the frame for ``(meta, value)`` as buffers to write in order.

    Raises TypeError naming the path of an unsupported object, e.g.
    ``result[2]['x']: object of type set``, with ``name`` as the root of the path.
    """
    arrays = _Arrays()
    try:
        tree = _prepare(value, arrays, 0)
    except _Refused as refused:
        raise refused.error(f"{name}{_format_path(refused.path[::-1])}: {refused.reason}") from None
    try:
        text = json.dumps({"m": meta, "v": tree}, ensure_ascii=True, allow_nan=True, separators=(",", ":"))
    except ValueError as exc:  # e.g. an int with more digits than int/str conversion allows
        raise WireError(f"cannot encode {name}: {exc}") from None
    header = text.encode("ascii")
    header += b" " * (-(PREFIX.size + len(header)) % ALIGN)
    buffers: list[bytes | memoryview] = []
    for array in arrays.items:
        raw = _bytes_of(array)
        buffers.append(raw)
        if len(raw) % ALIGN:
            buffers.append(bytes(-len(raw) % ALIGN))
    frame: list[bytes | memoryview] = [PREFIX.pack(MAGIC, len(header), arrays.size) + header, *buffers]
    if arrays.size < _JOIN_BELOW and len(frame) > 1:
        return [b"".join(frame)]
    return frame


class _Arrays:
    """The arrays of a frame being encoded, in text order, and the data section's size."""

    def __init__(self) -> None:
        self.items: list[Any] = []
        self.size = 0

    def add(self, array: Any) -> int:
        """Append ``array``; return its offset in the data section (a multiple of ALIGN)."""
        offset = self.size
        self.items.append(array)
        self.size += array.nbytes + (-array.nbytes % ALIGN)
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
    return [x.dtype.str, list(x.shape), arrays.add(x)]


def _bytes_of(array: Any) -> memoryview:
    import numpy

    return memoryview(array.reshape(-1).view(numpy.uint8))


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


def parse_prefix(prefix: bytes | bytearray | memoryview, max_bytes: int) -> tuple[int, int]:
    """Check a frame's fixed-size prefix; return ``(header_len, data_len)``.

    Raises MessageTooLarge before any of the body is read, so a hostile sender cannot make
    the reader allocate more than ``max_bytes``.
    """
    magic, header_len, data_len = PREFIX.unpack(prefix)
    if magic != MAGIC:
        raise WireError(f"bad frame magic {bytes(magic)!r} (expected {MAGIC!r}): not a wire frame")
    size = PREFIX.size + header_len + data_len
    if size > max_bytes:
        raise MessageTooLarge(size, max_bytes)
    return header_len, data_len


def decode_body(body: bytearray, header_len: int) -> tuple[dict[str, Any], Any]:
    """Decode a frame body (header then data) into ``(meta, value)``.

    Arrays are writable views into ``body``, so they are not copied; ``body`` must not be
    reused by the caller.
    """
    raw = bytes(memoryview(body)[:header_len])
    try:
        text = raw.decode("ascii")
        if _MARKER_TEXT in raw:
            header = json.loads(text, object_hook=_Decoder(body, header_len).hook)
        else:
            header = json.loads(text)
    except WireError:
        raise
    except (ValueError, RecursionError) as exc:  # bad JSON, non-ASCII, too many digits, too deep
        raise WireError(f"malformed frame header: {exc}") from None
    if type(header) is not dict or type(header.get("m")) is not dict or "v" not in header:
        raise WireError("malformed frame header: expected an object with 'm' (a dict) and 'v'")
    return header["m"], header["v"]


class _Decoder:
    """JSON object hook that turns array markers into arrays and unescapes escaped dicts.

    The hook sees markers in text order, which is the order their bytes were written, so
    requiring increasing offsets also rules out overlapping (aliased) arrays.
    """

    def __init__(self, body: bytearray, data_start: int) -> None:
        self.body = body
        self.data_start = data_start
        self.data_len = len(body) - data_start
        self.cursor = 0

    def hook(self, obj: dict[str, Any]) -> Any:
        if len(obj) == 1:
            if ARRAY_KEY in obj:
                return self._array(obj[ARRAY_KEY])
            if ESCAPED_KEY in obj:
                return _unescape(obj[ESCAPED_KEY])
        return obj

    def _array(self, marker: Any) -> Any:
        if type(marker) is not list or len(marker) != 3:
            raise WireError(f"malformed array marker {marker!r:.80}")
        dtype, shape, offset = marker
        if type(dtype) is not str or dtype not in DTYPES:
            raise WireError(f"array dtype {dtype!r:.40} is not one of the allowed dtypes")
        if (
            type(shape) is not list
            or len(shape) > MAX_NDIM
            or not all(type(n) is int and n >= 0 for n in shape)
        ):
            raise WireError(f"array shape {shape!r:.80} is not a list of at most {MAX_NDIM} non-negative ints")
        if type(offset) is not int or offset < self.cursor or offset % ALIGN:
            raise WireError(f"array offset {offset!r:.40} is not aligned or overlaps the previous array")
        import numpy

        dt = numpy.dtype(dtype)
        count = math.prod(shape)
        end = offset + count * dt.itemsize
        if end > self.data_len:
            raise WireError(
                f"array of shape {tuple(shape)} and dtype {dtype} needs bytes {offset}..{end}"
                f" but the frame carries {self.data_len} data bytes"
            )
        self.cursor = end
        try:
            flat = numpy.frombuffer(self.body, dtype=dt, count=count, offset=self.data_start + offset)
            return flat.reshape(shape)
        except ValueError as exc:
            raise WireError(f"array of shape {tuple(shape)}: {exc}") from None


def _unescape(pairs: Any) -> dict[str, Any]:
    if type(pairs) is not list or not all(type(p) is list and len(p) == 2 and type(p[0]) is str for p in pairs):
        raise WireError("malformed escaped dict: expected a list of [str, value] pairs")
    return {key: item for key, item in pairs}


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
    return decode_body(body, header_len)


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
