"""What a worker assigned a GPU needs to use it, and nothing of the GPUs it was not assigned.

Listed for bubblewrap, which builds the worker's filesystem from nothing (``sandbox.bwrap``);
the process backend shows the host's files anyway and docker asks the daemon for device
requests. For each assigned device (an index, or a UUID the driver lists):

* its ``/dev/nvidiaN`` node, and the driver's control nodes every CUDA process opens
  (``GPU_CONTROL_NODES``): ``gpu_device_nodes``;
* its PCI sysfs entry and ``/sys/module/nvidia`` (what NVML and the driver read of /sys),
  and the directories of the driver's user-space libraries outside the system dirs
  (``LD_LIBRARY_PATH``, as GPU containers set it, and the loader's config): ``gpu_binds``,
  all read-only.

``/proc/driver/nvidia`` is part of the worker's own /proc. With no GPU assigned, nothing is
listed, not even the control nodes. Checked here against fake device trees; on a real GPU
by the ``gpu``-marked test (``tests/test_sandbox_gpu.py``).
"""

from __future__ import annotations

import os
from typing import Callable, Iterable

from sandbox.api import SandboxError

#: NVIDIA control nodes every CUDA process opens, bound only when a GPU is assigned.
GPU_CONTROL_NODES = ("/dev/nvidiactl", "/dev/nvidia-uvm", "/dev/nvidia-uvm-tools", "/dev/nvidia-modeset")


def gpu_device_nodes(devices: Iterable[str], *, dev: str = "/dev", driver: str = "/proc/driver/nvidia/gpus") -> list[str]:
    """``/dev/nvidiaN`` for each assigned device (an index, or a UUID the driver lists), plus control nodes.

    A UUID is resolved through the driver's ``<driver>/*/information`` (its "Device Minor").
    Raises SandboxError for a device that resolves to no node: binding a guess could hand
    the candidate a GPU it was not assigned, and binding none would fail obscurely later.
    """
    devices = list(devices)
    if not devices:
        return []
    by_uuid = _nvidia_minors_by_uuid(driver)
    nodes = []
    for device in devices:
        minor = device if device.isdigit() else by_uuid.get(device)
        if minor is None:
            raise SandboxError(f"GPU {device!r} is neither an index nor a UUID listed in {driver}")
        node = os.path.join(dev, f"nvidia{minor}")
        if not os.path.exists(node):
            raise SandboxError(f"GPU {device!r} was assigned but {node} does not exist on this machine")
        nodes.append(node)
    controls = (os.path.join(dev, os.path.basename(node)) for node in GPU_CONTROL_NODES)
    return nodes + [node for node in controls if os.path.exists(node)]


def _nvidia_minors_by_uuid(driver: str) -> dict[str, str]:
    found: dict[str, str] = {}
    for entry in sorted(os.listdir(driver)) if os.path.isdir(driver) else []:
        fields: dict[str, str] = {}
        try:
            with open(os.path.join(driver, entry, "information")) as f:
                for line in f:
                    key, _, value = line.partition(":")
                    fields[key.strip()] = value.strip()
        except OSError:
            continue
        if "GPU UUID" in fields and "Device Minor" in fields:
            found[fields["GPU UUID"]] = fields["Device Minor"]
    return found


def gpu_binds(
    devices: Iterable[str],
    *,
    driver: str = "/proc/driver/nvidia/gpus",
    sys_root: str = "/sys",
    library_path: str | None = None,
    ld_conf_dir: str = "/etc/ld.so.conf.d",
    bound: Callable[[str], bool] = lambda path: False,
) -> list[str]:
    """bubblewrap options that make the CUDA driver usable for ``devices`` (none when empty).

    * the PCI sysfs entry of each assigned device (the real path, and the
      ``bus/pci/devices/<bus id>`` link to it) and ``module/nvidia``, read-only: what NVML
      and the driver read of /sys; other devices' entries stay hidden;
    * directories holding the driver's user-space libraries (``libcuda.so*``,
      ``libnvidia-*.so*``) that are not ``bound`` already (the system dirs): those named by
      ``library_path`` (default: this process's ``LD_LIBRARY_PATH``, as GPU containers set
      it) and by the loader's config in ``ld_conf_dir``, read-only.
    """
    devices = list(devices)
    if not devices:
        return []
    argv: list[str] = []
    buses = _nvidia_buses_by_minor(driver)
    by_uuid = _nvidia_minors_by_uuid(driver)
    for device in devices:
        minor = device if device.isdigit() else by_uuid.get(device)
        bus = buses.get(minor or "")
        link = os.path.join(sys_root, "bus", "pci", "devices", bus) if bus else ""
        if link and os.path.exists(link):
            real = os.path.realpath(link)
            argv += ["--ro-bind", real, real, "--symlink", real, link]
    module = os.path.join(sys_root, "module", "nvidia")
    if os.path.isdir(module):
        argv += ["--ro-bind", module, module]
    for directory in _driver_library_dirs(library_path, ld_conf_dir, bound):
        argv += ["--ro-bind", directory, directory]
    return argv


def _nvidia_buses_by_minor(driver: str) -> dict[str, str]:
    found: dict[str, str] = {}
    for entry in sorted(os.listdir(driver)) if os.path.isdir(driver) else []:
        try:
            with open(os.path.join(driver, entry, "information")) as f:
                for line in f:
                    key, _, value = line.partition(":")
                    if key.strip() == "Device Minor":
                        found[value.strip()] = entry
        except OSError:
            continue
    return found


def _driver_library_dirs(library_path: str | None, ld_conf_dir: str, bound: Callable[[str], bool]) -> list[str]:
    search = os.environ.get("LD_LIBRARY_PATH", "") if library_path is None else library_path
    candidates = [d for d in search.split(":") if d]
    for name in sorted(os.listdir(ld_conf_dir)) if os.path.isdir(ld_conf_dir) else []:
        try:
            with open(os.path.join(ld_conf_dir, name)) as f:
                candidates += [line.split("#", 1)[0].strip() for line in f if line.strip().startswith("/")]
        except OSError:
            continue
    found = []
    for directory in candidates:
        directory = os.path.realpath(directory)
        if directory in found or bound(directory) or not os.path.isdir(directory):
            continue
        try:
            names = os.listdir(directory)
        except OSError:
            continue
        if any(n.startswith(("libcuda.so", "libnvidia-")) for n in names):
            found.append(directory)
    return found
