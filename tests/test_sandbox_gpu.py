"""GPU plumbing: what a worker assigned a GPU is given (argv and bind lists, unit-tested on a fake
device tree), the peak-memory statistic, and a real CUDA call where a GPU exists (``gpu`` mark)."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

from sandbox import Limits, confine
from sandbox.bwrap import BwrapSandbox, bwrap_argv, gpu_binds, gpu_device_nodes
from sandbox_backends import make
from test_sandbox_bwrap import spec


@pytest.fixture
def machine(tmp_path: Path) -> dict[str, str]:
    """A fake GPU host: /dev nodes, the driver's /proc entries, sysfs and driver libraries."""
    dev, driver, sys_root = tmp_path / "dev", tmp_path / "gpus", tmp_path / "sys"
    dev.mkdir()
    for name in ("nvidia0", "nvidia1", "nvidiactl", "nvidia-uvm", "nvidia-uvm-tools"):
        (dev / name).write_text("")
    for minor, bus in ((0, "0000:17:00.0"), (1, "0000:65:00.0")):
        (driver / bus).mkdir(parents=True)
        (driver / bus / "information").write_text(f"Model: H200\nGPU UUID: GPU-{minor}aaa\nDevice Minor: {minor}\n")
        real = sys_root / "devices" / "pci0000:00" / bus
        real.mkdir(parents=True)
        (sys_root / "bus" / "pci" / "devices").mkdir(parents=True, exist_ok=True)
        (sys_root / "bus" / "pci" / "devices" / bus).symlink_to(real)
    (sys_root / "module" / "nvidia").mkdir(parents=True)
    libs, other = tmp_path / "nvidia" / "lib64", tmp_path / "plain"
    libs.mkdir(parents=True)
    other.mkdir()
    (libs / "libcuda.so.1").write_text("")
    conf = tmp_path / "ld.so.conf.d"
    conf.mkdir()
    (conf / "nvidia.conf").write_text(f"# the driver\n{libs}\n")
    return {"dev": str(dev), "driver": str(driver), "sys": str(sys_root), "libs": str(libs), "other": str(other), "conf": str(conf)}


def test_a_gpu_worker_gets_its_device_sysfs_entry_and_the_driver_libraries_only(machine):
    argv = gpu_binds(["1"], driver=machine["driver"], sys_root=machine["sys"], library_path=machine["other"], ld_conf_dir=machine["conf"])
    link = os.path.join(machine["sys"], "bus", "pci", "devices", "0000:65:00.0")
    real = os.path.realpath(link)
    assert argv == [
        "--ro-bind", real, real, "--symlink", real, link,
        "--ro-bind", os.path.join(machine["sys"], "module", "nvidia"), os.path.join(machine["sys"], "module", "nvidia"),
        "--ro-bind", machine["libs"], machine["libs"],
    ]
    assert "0000:17:00.0" not in " ".join(argv)  # the other GPU's entry stays hidden


def test_driver_libraries_named_by_ld_library_path_are_bound_read_only(machine):
    argv = gpu_binds(["GPU-0aaa"], driver=machine["driver"], sys_root=machine["sys"], library_path=machine["libs"], ld_conf_dir="/nonexistent")
    assert argv[-3:] == ["--ro-bind", machine["libs"], machine["libs"]]
    assert "0000:17:00.0" in " ".join(argv)  # a UUID resolves to its own device


def test_no_gpu_binds_nothing():
    assert gpu_binds([]) == [] and gpu_device_nodes([]) == []


def test_gpu_nodes_and_paths_reach_the_bwrap_command_line(machine):
    nodes = gpu_device_nodes(["0"], dev=machine["dev"], driver=machine["driver"])
    paths = gpu_binds(["0"], driver=machine["driver"], sys_root=machine["sys"], library_path="", ld_conf_dir=machine["conf"])
    argv = bwrap_argv("bwrap", spec("/tmp/w"), python=sys.executable, tmp_mb=8, gpu_nodes=nodes, gpu_paths=paths)
    options = argv[: argv.index("--")]
    assert [options[i + 1] for i, word in enumerate(options) if word == "--dev-bind"] == nodes
    start = options.index("--remount-ro") - len(paths)  # the first of the two seals
    assert options[start : start + len(paths)] == paths  # bound after the system view, before the root is sealed
    assert options.index("--remount-ro") > max(i for i, word in enumerate(options) if word in ("--dev-bind", "--ro-bind"))


def test_a_gpu_worker_keeps_ld_library_path_and_others_do_not(monkeypatch):
    monkeypatch.setenv("LD_LIBRARY_PATH", "/usr/local/nvidia/lib64")
    assert confine.worker_env(Limits(gpu_devices=("0",)), "/s", "/s/tmp", None)["LD_LIBRARY_PATH"] == "/usr/local/nvidia/lib64"
    assert "LD_LIBRARY_PATH" not in confine.worker_env(Limits(), "/s", "/s/tmp", None)


FAKE_TORCH = """
import sys, types
def fake_cuda_peak(mb):
    torch = types.ModuleType("torch")
    torch.cuda = types.SimpleNamespace(
        is_initialized=lambda: True, device_count=lambda: 2, reset_peak_memory_stats=lambda device: None,
        max_memory_allocated=lambda device: int(mb * (1 << 20)) if device == 1 else 0,
    )
    sys.modules["torch"] = torch
    return "ok"
def nothing():
    return 1
"""


def test_the_peak_gpu_memory_of_a_call_reaches_call_stats(sandbox):
    """Plumbing only (no GPU here): the worker reports what torch.cuda says, the maximum over devices."""
    with sandbox.start(FAKE_TORCH, Limits(timeout_s=30, startup_timeout_s=60)) as worker:
        assert worker.call("nothing") == 1 and worker.stats.gpu_peak_mb is None  # torch never imported
        worker.call("fake_cuda_peak", 12.5)
        assert worker.stats.gpu_peak_mb == 12.5 and worker.stats.max_gpu_peak_mb == 12.5
        worker.call("fake_cuda_peak", 3)
        assert worker.stats.gpu_peak_mb == 3.0 and worker.stats.max_gpu_peak_mb == 12.5


def _cuda() -> bool:
    try:
        import torch
    except ImportError:
        return False
    return torch.cuda.is_available()


@pytest.mark.gpu
@pytest.mark.skipif(not _cuda(), reason="needs torch with a CUDA device (torch.cuda.is_available() is False here)")
def test_torch_computes_on_the_assigned_gpu_inside_bwrap(request):
    import torch

    make(request, "bwrap", {"warm": False})  # skips where bubblewrap cannot run
    source = (
        "import torch\n"
        "def matmul(n):\n"
        "    x = torch.arange(n * n, dtype=torch.float32, device='cuda').reshape(n, n) / (n * n)\n"
        "    y = x @ x.T\n"
        "    return {'y': y, 'device': torch.cuda.get_device_name(0), 'count': torch.cuda.device_count()}\n"
    )
    limits = Limits(timeout_s=300, startup_timeout_s=300, memory_mb=16384, gpu_devices=("0",))
    with BwrapSandbox().start(source, limits) as worker:
        out = worker.call("matmul", 256)
        peak = worker.stats.gpu_peak_mb
    x = torch.arange(256 * 256, dtype=torch.float32).reshape(256, 256) / (256 * 256)
    assert out["count"] == 1 and out["y"].device.type == "cpu"
    torch.testing.assert_close(out["y"], x @ x.T, rtol=1e-3, atol=1e-3)
    assert peak is not None and peak >= 256 * 256 * 4 * 2 / (1 << 20)  # at least x and y were allocated
