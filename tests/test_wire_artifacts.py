"""Artifacts on the wire: bytes and torch tensors round-trip exactly; caps and malformed frames are refused.

Codec level (no worker); ``test_sandbox_artifacts.py`` sends the same through real workers.
"""

from __future__ import annotations

import json
import sys

import numpy as np
import pytest

from sandbox import wire
from test_wire import decode, frame_bytes, handmade, raw_header_frame, roundtrip

torch = pytest.importorskip("torch")


def test_bytes_like_values_roundtrip_as_bytes():
    value = {"b": b"\x00\xffraw", "ba": bytearray(b"mutable"), "mv": memoryview(b"viewed"), "empty": b""}
    out = roundtrip(value)
    assert out == {"b": b"\x00\xffraw", "ba": b"mutable", "mv": b"viewed", "empty": b""}
    assert all(type(v) is bytes for v in out.values())


def test_a_non_contiguous_memoryview_is_copied_not_refused():
    strided = memoryview(bytes(range(10)))[::2]
    assert roundtrip([strided]) == [bytes(range(0, 10, 2))]


DTYPES = [
    torch.float32, torch.float64, torch.float16, torch.bfloat16, torch.int64, torch.int32, torch.int16,
    torch.int8, torch.uint8, torch.bool, torch.complex64, torch.complex128, torch.float8_e4m3fn,
]


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: str(d).removeprefix("torch."))
def test_tensors_of_every_dtype_roundtrip_bit_exactly(dtype):
    source = (torch.randn(3, 5, dtype=torch.float64) * 100).to(dtype)
    out = roundtrip({"t": source})["t"]
    assert isinstance(out, torch.Tensor) and out.dtype == dtype and out.shape == source.shape and out.device.type == "cpu"
    assert bytes(out.reshape(-1).view(torch.uint8).numpy()) == bytes(source.reshape(-1).view(torch.uint8).numpy())


def test_bfloat16_keeps_every_bit_including_nan_payloads_and_signed_zero():
    bits = torch.tensor([0x0000, 0x8000, 0x7FC1, 0xFF81, 0x7F80, 0x3F80, 0x0001], dtype=torch.int32).to(torch.int16)
    source = bits.view(torch.bfloat16)
    out = roundtrip(source)
    assert torch.equal(out.view(torch.int16), bits)


@pytest.mark.parametrize(
    "tensor",
    [
        torch.arange(24, dtype=torch.float32).reshape(4, 6).t(),  # transposed
        torch.arange(20, dtype=torch.int64)[::3],  # strided
        torch.zeros(0, 4, dtype=torch.bfloat16),  # empty
        torch.tensor(2.5),  # 0-d
        torch.ones(2, 3, requires_grad=True) * 2,  # needs grad: sent detached
    ],
    ids=["transposed", "strided", "empty", "0-d", "requires-grad"],
)
def test_odd_tensors_roundtrip(tensor):
    out = roundtrip(tensor)
    assert out.shape == tensor.shape and out.dtype == tensor.dtype and not out.requires_grad
    assert torch.equal(out, tensor.detach())


def test_decoded_tensors_are_writable_and_do_not_alias():
    out = roundtrip([torch.ones(3), torch.zeros(3, dtype=torch.int64), b"xyz"])
    out[0] += 1
    assert out[1].tolist() == [0, 0, 0] and out[2] == b"xyz"


def test_tensors_arrays_and_bytes_mix_in_text_order():
    value = {"a": np.arange(3.0), "t": torch.arange(4), "b": b"12345", "nested": [torch.eye(2), np.ones(2, np.int8)]}
    out = roundtrip(value)
    np.testing.assert_array_equal(out["a"], np.arange(3.0))
    assert torch.equal(out["t"], torch.arange(4)) and out["b"] == b"12345" and torch.equal(out["nested"][0], torch.eye(2))


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda: torch.zeros(2, dtype=torch.complex32), "torch tensor of dtype torch.complex32"),
        (lambda: torch.zeros(2).to_sparse(), "torch tensor with layout torch.sparse_coo"),
        (lambda: torch.empty(2, device="meta"), "cannot be copied to host memory"),
    ],
    ids=["complex32", "sparse", "meta"],
)
@pytest.mark.filterwarnings("ignore:ComplexHalf support is experimental")
def test_unsupported_tensors_are_refused_naming_the_path(make, message):
    with pytest.raises(TypeError) as info:
        wire.encode({}, {"w": [make()]}, name="result")
    assert str(info.value).startswith("result['w'][0]: ") and message in str(info.value)


def tensor_marker(name: str, shape: list, offset: int = 0) -> dict:
    return {wire.TENSOR_KEY: [name, shape, offset]}


@pytest.mark.parametrize(
    ("value", "data", "message"),
    [
        ({"w": tensor_marker("float128", [1])}, bytes(16), r"value\['w'\]: tensor dtype 'float128' is not one of"),
        ({"w": tensor_marker("float32", [5])}, bytes(16), r"value\['w'\]: tensor of shape \(5,\) and dtype float32 needs bytes 0\.\.20"),
        ({"w": tensor_marker("float32", [-1])}, bytes(16), r"value\['w'\]: tensor shape \[-1\]"),
        ({"w": [tensor_marker("int64", [2]), tensor_marker("int64", [2])]}, bytes(32), r"value\['w'\]\[1\]: .*overlaps"),
        ({"w": {wire.BYTES_KEY: [0, 64]}}, bytes(16), r"value\['w'\]: bytes of length 64 needs bytes 0\.\.64"),
        ({"w": {wire.BYTES_KEY: ["0", 1]}}, bytes(16), r"value\['w'\]: bytes of length 1: offset '0'"),
        ({"w": tensor_marker("float32", [1], offset=8)}, bytes(32), r"value\['w'\]: .*not aligned"),
    ],
    ids=["dtype", "size", "shape", "overlap", "bytes-size", "bytes-offset", "unaligned"],
)
def test_malformed_tensor_and_bytes_frames_are_wire_errors_naming_the_field(value, data, message):
    with pytest.raises(wire.WireError, match=message):
        decode(handmade({"m": {}, "v": value}, data))


def test_a_tensor_frame_without_torch_is_a_clear_error(monkeypatch):
    frame = frame_bytes({}, {"w": torch.ones(2)})
    monkeypatch.setitem(sys.modules, "torch", None)  # import torch now raises ImportError
    with pytest.raises(wire.WireError, match=r"value\['w'\]: a torch tensor cannot be decoded here: torch is not importable"):
        decode(frame)


# ---------------------------------------------------------------------------- header caps


def test_a_header_over_its_cap_is_refused_from_the_prefix():
    frame = frame_bytes({"id": 1}, ["x" * 5000])
    with pytest.raises(wire.HeaderRefused, match="over the limit of 4096 bytes") as info:
        wire.parse_prefix(frame[: wire.PREFIX.size], 1 << 20, 4096)
    assert info.value.size > 4096 and info.value.limit == 4096


def test_the_encoder_refuses_what_the_reader_would_refuse():
    with pytest.raises(wire.HeaderRefused, match="over the limit of 1024 bytes"):
        wire.encode({}, "y" * 2000, name="result", max_header=1024)
    with pytest.raises(wire.HeaderRefused, match="lists/dicts .* send bulk data as numpy arrays"):
        wire.encode({}, [[]] * 10_000, name="result", max_header=1 << 20)
    assert len(wire.encode({}, [[1, 2]] * 10_000, max_header=1 << 20)) == 1  # pairs of ints: within the budget


def test_a_header_of_empty_lists_is_refused_before_parsing():
    text = b'{"m": {}, "v": [' + b"[]," * 100_000 + b"[]]}"
    with pytest.raises(wire.HeaderRefused, match="malformed frame header: .* 100004 lists/dicts"):
        decode(raw_header_frame(text))


def test_the_structural_budget_has_slack_for_small_headers():
    text = json.dumps({"m": {}, "v": [[]] * 300}).encode()  # 3 bytes per list, but a small header
    assert decode(raw_header_frame(text))[1] == [[]] * 300


def test_an_int_too_long_to_convert_is_named_on_encode():
    with pytest.raises(wire.WireError, match=r"cannot encode result\['a'\]\[2\]: Exceeds the limit"):
        wire.encode({}, {"a": [1, 2, 10**5000]}, name="result")


def test_the_trusted_side_may_send_what_a_candidate_may_not():
    text = json.dumps({"m": {}, "v": [[]] * 10_000}, separators=(",", ":")).encode()
    with pytest.raises(wire.HeaderRefused):
        decode(raw_header_frame(text))
    header_len = len(text)
    assert wire.decode_body(bytearray(text), header_len, check=False)[1] == [[]] * 10_000
