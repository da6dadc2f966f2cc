"""The data-only codec: what round-trips exactly, and what is refused on either side."""

from __future__ import annotations

import json
import math
import os
import struct
import threading

import numpy as np
import pytest

from sandbox import wire


def frame_bytes(meta: dict, value: object = None, **kwargs: object) -> bytes:
    return b"".join(bytes(b) for b in wire.encode(meta, value, **kwargs))


def decode(frame: bytes, max_bytes: int = 1 << 30) -> tuple[dict, object]:
    header_len, data_len = wire.parse_prefix(frame[: wire.PREFIX.size], max_bytes)
    body = bytearray(frame[wire.PREFIX.size :])
    assert len(body) == header_len + data_len
    return wire.decode_body(body, header_len)


def roundtrip(value: object) -> object:
    meta, out = decode(frame_bytes({"id": 7}, value))
    assert meta == {"id": 7}
    return out


def handmade(header: dict, data: bytes = b"") -> bytes:
    """A frame built without the encoder, as a hostile worker could send it."""
    text = json.dumps(header).encode()
    text += b" " * (-(wire.PREFIX.size + len(text)) % wire.ALIGN)
    return wire.PREFIX.pack(wire.MAGIC, len(text), len(data)) + text + data


def test_plain_values_roundtrip_exactly():
    value = {
        "none": None,
        "flags": [True, False],
        "ints": [0, -1, 2**63 + 5, -(2**70)],
        "floats": [0.1, -2.5e-300, 1e308],
        "text": "naïve — ünïcødé \U0001f600 \x00 nul",
        "nested": {"a": [[1, 2], {"b": []}], "": {}},
    }
    assert roundtrip(value) == value


def test_nan_and_infinities_survive():
    out = roundtrip([math.nan, math.inf, -math.inf])
    assert math.isnan(out[0]) and out[1] == math.inf and out[2] == -math.inf


def test_tuples_become_lists_and_numpy_scalars_become_python_numbers():
    out = roundtrip({"t": (1, (2, 3)), "f": np.float32(1.5), "i": np.int64(-3), "u": np.uint8(200), "b": np.bool_(True)})
    assert out == {"t": [1, [2, 3]], "f": 1.5, "i": -3, "u": 200, "b": True}
    assert [type(out[k]) for k in ("f", "i", "u", "b")] == [float, int, int, bool]


def test_keys_that_look_like_markers_are_escaped_not_confused():
    value = {wire.ARRAY_KEY: 3, "x": {wire.ESCAPED_KEY: [["a", 1]]}, "\x00other": "y"}
    assert roundtrip(value) == value


@pytest.mark.parametrize(
    "array",
    [
        np.arange(12, dtype=np.float64).reshape(3, 4),
        np.array([True, False, True]),
        np.arange(-5, 5, dtype=np.int8),
        np.arange(7, dtype=np.uint64) * (2**60),
        np.linspace(0, 1, 9, dtype=np.float16),
        np.array([1 + 2j, -3j], dtype=np.complex64),
        np.zeros((0, 3), dtype=np.float32),
        np.array(3.25),  # 0-d keeps its shape
        np.arange(20, dtype=np.int32)[::3],  # not contiguous
        np.arange(6, dtype=">f8"),  # big-endian arrives little-endian, same values
        np.asfortranarray(np.arange(6, dtype=np.int16).reshape(2, 3)),
    ],
    ids=lambda a: f"{a.dtype}{a.shape}",
)
def test_arrays_roundtrip_with_dtype_shape_and_values(array):
    out = roundtrip({"a": array})["a"]
    assert isinstance(out, np.ndarray)
    assert out.shape == array.shape
    assert out.dtype == array.dtype.newbyteorder("=")
    np.testing.assert_array_equal(out, array)


def test_decoded_arrays_are_writable_aligned_and_do_not_alias():
    out = roundtrip([np.ones(3), np.ones(5, dtype=np.int32), np.ones((2, 2))])
    for array in out:
        assert array.flags.writeable and array.flags.aligned
    out[0][:] = 7
    assert out[1].tolist() == [1] * 5 and out[2].tolist() == [[1, 1], [1, 1]]


def test_large_array_frame_is_split_into_buffers_not_copied():
    big = np.arange(1 << 16, dtype=np.float64)
    buffers = wire.encode({}, big)
    assert len(buffers) >= 2  # header, then the array's own memory
    np.testing.assert_array_equal(decode(b"".join(bytes(b) for b in buffers))[1], big)


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ([1, {"x": {1, 2}}], "result[1]['x']: object of type set"),
        ({"f": lambda: 0}, "result['f']: object of type function"),
        ([np.array([object()])], "result[0]: numpy array of dtype object"),
        (np.array(["a"]), "result: numpy array of dtype <U1"),
        ({1: "a"}, "result: dict key 1 of type int (keys must be str)"),
        ([range(3)], "result[0]: object of type range"),
        (np.complex128(1j), "result: numpy scalar of dtype complex128"),
        (np.zeros(2, dtype=[("a", "f8")]), "result: numpy array of dtype"),
    ],
)
def test_unsupported_values_raise_type_error_naming_type_and_path(value, message):
    with pytest.raises(TypeError) as info:
        wire.encode({}, value, name="result")
    assert str(info.value).startswith(message)


def test_reference_cycle_is_refused_not_a_recursion_error():
    loop: list = []
    loop.append(loop)
    with pytest.raises(ValueError, match=f"nested deeper than {wire.MAX_DEPTH} levels"):
        wire.encode({}, loop)


def test_oversized_frame_is_refused_from_its_prefix():
    frame = frame_bytes({}, np.zeros(1000))
    with pytest.raises(wire.MessageTooLarge) as info:
        decode(frame, max_bytes=4096)
    assert info.value.size == len(frame) and info.value.limit == 4096


def test_bad_magic_is_refused():
    frame = b"XXXX" + frame_bytes({}, 1)[4:]
    with pytest.raises(wire.WireError, match="bad frame magic"):
        decode(frame)


def marker(dtype: str, shape: list, offset: int = 0) -> dict:
    return {"m": {}, "v": {wire.ARRAY_KEY: [dtype, shape, offset]}}


@pytest.mark.parametrize(
    ("header", "data", "message"),
    [
        (marker("|O", [1]), bytes(16), "not one of the allowed dtypes"),
        (marker("<f16", [1]), bytes(16), "not one of the allowed dtypes"),
        (marker("<f8", [3]), bytes(16), r"needs bytes 0\.\.24 but the frame carries 16"),
        (marker("<f8", [-1]), bytes(16), "not a list of at most"),
        (marker("<f8", [True]), bytes(16), "not a list of at most"),
        (marker("<f8", [1] * 33), bytes(16), "not a list of at most"),
        (marker("<f8", [0, 2**62, 2**62]), bytes(16), "array of shape"),
        (marker("<f8", [1], offset=3), bytes(32), "not aligned"),
        ({"m": {}, "v": {wire.ARRAY_KEY: "nope"}}, b"", "malformed array marker"),
        ({"m": {}, "v": {wire.ESCAPED_KEY: [[1, 2]]}}, b"", "malformed escaped dict"),
        ({"m": [], "v": 1}, b"", "expected an object with 'm'"),
        ({"v": 1}, b"", "expected an object with 'm'"),
    ],
)
def test_hostile_frames_are_refused(header, data, message):
    with pytest.raises(wire.WireError, match=message):
        decode(handmade(header, data))


def test_overlapping_arrays_are_refused():
    header = {"m": {}, "v": [{wire.ARRAY_KEY: ["<f8", [2], 0]}, {wire.ARRAY_KEY: ["<f8", [2], 0]}]}
    with pytest.raises(wire.WireError, match="overlaps"):
        decode(handmade(header, bytes(16)))


def raw_header_frame(text: bytes) -> bytes:
    return wire.PREFIX.pack(wire.MAGIC, len(text), 0) + text


@pytest.mark.parametrize(
    "text",
    [b'{"m": {}, "v": [1, 2', b'{"m": {}, "v": ' + b"9" * 5000 + b"}", '{"m": {}, "v": "\u00e9"}'.encode("latin-1")],
    ids=["truncated-json", "5000-digit-int", "non-ascii"],
)
def test_malformed_headers_are_wire_errors(text):
    with pytest.raises(wire.WireError, match="malformed frame header"):
        decode(raw_header_frame(text))


def test_deeply_nested_hostile_json_is_a_wire_error():
    text = b'{"m": {}, "v": ' + b"[" * 100_000 + b"]" * 100_000 + b"}"
    with pytest.raises(wire.WireError, match="malformed frame header"):
        decode(raw_header_frame(text))


def test_blocking_read_and_write_over_a_pipe_including_a_large_message():
    read_fd, write_fd = os.pipe()
    big = np.random.default_rng(0).standard_normal((512, 1024))  # 4 MiB: many pipe buffers
    writer = threading.Thread(target=lambda: [wire.write_message(write_fd, {"n": i}, {"x": big * i}) for i in range(2)])
    writer.start()
    try:
        for i in range(2):
            meta, value = wire.read_message(read_fd, max_bytes=8 << 20)
            assert meta == {"n": i}
            np.testing.assert_array_equal(value["x"], big * i)
    finally:
        writer.join()
        os.close(write_fd)
    with pytest.raises(EOFError):
        wire.read_message(read_fd, max_bytes=1 << 20)
    os.close(read_fd)


def test_truncated_frame_on_a_pipe_is_a_wire_error():
    read_fd, write_fd = os.pipe()
    frame = frame_bytes({}, list(range(100)))
    os.write(write_fd, frame[:-5])
    os.close(write_fd)
    with pytest.raises(wire.WireError, match="truncated"):
        wire.read_message(read_fd, max_bytes=1 << 20)
    os.close(read_fd)


def test_prefix_layout_is_stable():
    frame = frame_bytes({"id": 1}, 2)
    magic, header_len, data_len = struct.unpack("<4sIQ", frame[:16])
    assert magic == b"EVW1" and data_len == 0 and (16 + header_len) % wire.ALIGN == 0
    assert json.loads(frame[16:]) == {"m": {"id": 1}, "v": 2}
