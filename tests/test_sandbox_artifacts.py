"""Artifacts across a real worker, on every local backend: tensors and bytes, malformed frames, file fetch.

Tensors need torch on both sides (skipped without it); one torch-importing worker per
backend variant serves all tensor tests of this module.
"""

from __future__ import annotations

import os

import pytest

from evaluators import Candidate
from process_sandbox_helpers import failure_of, start
from sandbox import CandidateFailure, FailureKind, Limits

LIMITS = Limits(timeout_s=60.0, startup_timeout_s=120.0, memory_mb=4096, max_fetch_mb=1)
TENSORS = """
import torch
def echo(value):
    return value
def made_here():
    base = torch.arange(24, dtype=torch.float32).reshape(4, 6)
    bits = torch.tensor([0, 0x8000, 0x7FC1, 0x3F80, 1], dtype=torch.int32).to(torch.int16)
    return {
        "float32": base,
        "bfloat16": bits.view(torch.bfloat16),
        "int64": torch.arange(5, dtype=torch.int64) * (2**40),
        "empty": torch.zeros(0, 3),
        "strided": base.t(),
        "scalar": torch.tensor(1.5, dtype=torch.float64),
        "bool": torch.tensor([True, False]),
        "bytes": bytes(range(256)),
    }
def describe(t):
    return [str(t.dtype), list(t.shape), t.is_contiguous(), bytes(t.contiguous().view(-1).view(torch.uint8).numpy())]
"""
FILES = """
import os
def write(name, size):
    os.makedirs(os.path.dirname(name) or ".", exist_ok=True)
    with open(name, "wb") as f:
        f.write(bytes(i % 251 for i in range(size)))
def link(name, target):
    os.symlink(target, name)
def train():
    with open("ckpt.bin", "wb") as f:
        f.write(b"weights" * 10)
    return "done"
"""


@pytest.fixture(scope="module")
def torch_worker(sandbox):
    pytest.importorskip("torch")
    worker = start(sandbox, TENSORS, LIMITS)
    yield worker
    worker.close()


def test_tensors_made_in_the_worker_arrive_as_cpu_tensors_bit_exactly(torch_worker):
    import torch

    out = torch_worker.call("made_here")
    assert out["float32"].dtype == torch.float32 and torch.equal(out["float32"], torch.arange(24.0).reshape(4, 6))
    bits = torch.tensor([0, 0x8000, 0x7FC1, 0x3F80, 1], dtype=torch.int32).to(torch.int16)
    assert out["bfloat16"].dtype == torch.bfloat16 and torch.equal(out["bfloat16"].view(torch.int16), bits)
    assert torch.equal(out["int64"], torch.arange(5, dtype=torch.int64) * (2**40))
    assert out["empty"].shape == (0, 3) and torch.equal(out["strided"], torch.arange(24.0).reshape(4, 6).t())
    assert out["scalar"].shape == () and out["scalar"].item() == 1.5 and out["bool"].tolist() == [True, False]
    assert out["bytes"] == bytes(range(256))


@pytest.mark.parametrize(
    "make",
    [
        lambda torch: torch.randn(3, 4),
        lambda torch: torch.randn(5, 2).to(torch.bfloat16),
        lambda torch: torch.arange(10, dtype=torch.int64),
        lambda torch: torch.zeros(0, dtype=torch.float16),
        lambda torch: torch.randn(6, 4)[::2, 1:],
        lambda torch: torch.tensor([1 + 2j], dtype=torch.complex64),
    ],
    ids=["float32", "bfloat16", "int64", "empty", "non-contiguous", "complex64"],
)
def test_tensors_sent_to_the_worker_are_what_it_sees(torch_worker, make):
    import torch

    tensor = make(torch)
    dtype, shape, contiguous, raw = torch_worker.call("describe", tensor)
    assert (dtype, shape, contiguous) == (str(tensor.dtype), list(tensor.shape), True)
    assert raw == bytes(tensor.contiguous().view(-1).view(torch.uint8).numpy())
    echoed = torch_worker.call("echo", {"t": tensor})["t"]
    assert echoed.dtype == tensor.dtype and torch.equal(echoed.view(torch.uint8), tensor.contiguous().view(torch.uint8))


def test_bytes_cross_both_ways_on_every_backend(sandbox):
    with start(sandbox, "def echo(x):\n    return x\ndef ba():\n    return bytearray(b'made'), memoryview(b'here')\n") as worker:
        assert worker.call("echo", [b"\x00\x01", bytearray(b"xy"), memoryview(b"z")]) == [b"\x00\x01", b"xy", b"z"]
        assert worker.call("ba") == [b"made", b"here"]


HOSTILE_TENSOR = """
import json, os, struct
def forge():
    header = json.dumps({"m": {"id": 1, "ok": True}, "v": {"w": {"\\\\u0000pt": ["float128", [4], 0]}}}).encode()
    header = header.replace(b"\\\\\\\\u0000", b"\\\\u0000")
    header += b" " * (-(16 + len(header)) % 16)
    frame = struct.pack("<4sIQ", b"EVW1", len(header), 16) + header + bytes(16)
    for fd in [int(n) for n in os.listdir("/proc/self/fd") if int(n) >= 3]:
        try:
            os.write(fd, frame)
        except OSError:
            pass
    import time
    time.sleep(60)
"""


def test_a_malformed_tensor_frame_is_invalid_output_naming_the_field(sandbox):
    worker = start(sandbox, HOSTILE_TENSOR)
    with worker:
        failure = failure_of(worker, "forge")
    assert failure.kind is FailureKind.INVALID_OUTPUT and "returned a malformed value" in failure.message
    assert "result['w']: tensor dtype 'float128' is not one of the allowed torch dtypes" in failure.message


# ------------------------------------------------------------------------------ file fetch


@pytest.fixture(scope="module")
def files_worker(sandbox):
    """One worker per backend variant for the fetch tests (each test uses its own file names)."""
    worker = start(sandbox, FILES, LIMITS)
    yield worker
    worker.close()


def test_a_file_in_the_scratch_dir_is_fetched_with_its_bytes(files_worker):
    files_worker.call("write", "out/ckpt.bin", 1000)
    assert files_worker.read_file("out/ckpt.bin") == bytes(i % 251 for i in range(1000))
    assert files_worker.read_file("out/ckpt.bin", max_bytes=1000) == bytes(i % 251 for i in range(1000))


def test_fetching_respects_the_size_cap(files_worker):
    files_worker.call("write", "big.bin", (1 << 20) + 1)
    failure = failure_of_fetch(files_worker, "big.bin")
    assert failure.kind is FailureKind.INVALID_OUTPUT and "over the limit of 1048576 bytes" in failure.message
    files_worker.call("write", "small.bin", 100)
    failure = failure_of_fetch(files_worker, "small.bin", max_bytes=99)
    assert "over the limit of 99 bytes" in failure.message
    with pytest.raises(ValueError, match="max_bytes=2097152 must be between 0 and 1048576"):
        files_worker.read_file("small.bin", max_bytes=2 << 20)
    assert files_worker.read_file("small.bin") == bytes(range(100))  # the worker stayed usable


def failure_of_fetch(worker, path, **kwargs) -> CandidateFailure:
    with pytest.raises(CandidateFailure) as info:
        worker.read_file(path, **kwargs)
    return info.value


@pytest.mark.parametrize("path", ["../etc/passwd", "/etc/passwd", "a/../../b", "", "./x", "a//b"])
def test_paths_leaving_the_scratch_dir_are_the_callers_error(files_worker, path):
    with pytest.raises(ValueError, match="must be relative to the worker's scratch dir"):
        files_worker.read_file(path)


@pytest.mark.parametrize("target", ["/etc/passwd", "../../../../etc/hostname", "inside.bin"], ids=["absolute", "up", "inside"])
def test_symlinks_are_never_followed(files_worker, target, request):
    name = request.node.callspec.id
    files_worker.call("write", "inside.bin", 10)
    files_worker.call("link", f"link-{name}.bin", target)
    failure = failure_of_fetch(files_worker, f"link-{name}.bin")
    assert failure.kind is FailureKind.INVALID_OUTPUT and "symlink" in failure.message
    files_worker.call("link", f"dir-{name}", "/etc")
    failure = failure_of_fetch(files_worker, f"dir-{name}/passwd")
    assert failure.kind is FailureKind.INVALID_OUTPUT and "symlink" in failure.message


def test_a_missing_file_or_a_directory_is_invalid_output(files_worker):
    assert "no such file" in failure_of_fetch(files_worker, "nothing.bin").message
    files_worker.call("write", "plain-dir/x.bin", 1)
    assert "not a regular file" in failure_of_fetch(files_worker, "plain-dir").message


def test_candidate_call_and_fetch_reads_the_checkpoint_before_the_worker_stops(sandbox):
    candidate = Candidate(FILES, sandbox, LIMITS)
    result, files = candidate.call_and_fetch("train", files=["ckpt.bin"])
    assert result == "done" and files == {"ckpt.bin": b"weights" * 10}
    assert candidate.total_call_seconds > 0
    with pytest.raises(CandidateFailure) as info:
        candidate.call_and_fetch("train", files=["missing.bin"])
    assert info.value.kind is FailureKind.INVALID_OUTPUT
    with pytest.raises(TypeError, match="sequence of paths"):
        candidate.call_and_fetch("train", files="ckpt.bin")


def test_the_trusted_side_opens_nothing_itself(files_worker, tmp_path):
    """The path rule is enforced inside the worker: a file the trusted side could read is not fetched."""
    secret = tmp_path / "secret.txt"
    secret.write_text("trusted-only")
    os.chmod(tmp_path, 0o755)
    files_worker.call("link", "escape", str(secret))
    assert "symlink" in failure_of_fetch(files_worker, "escape").message
    assert files_worker.call("write", "after.bin", 3) is None and files_worker.read_file("after.bin") == bytes(range(3))
