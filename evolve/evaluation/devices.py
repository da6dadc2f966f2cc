"""GPUs: which ones this machine offers, and dealing them to evaluations.

``visible_gpus`` lists the devices evaluations may use, as ids the sandbox understands
(``CUDA_VISIBLE_DEVICES`` entries: indices or UUIDs): ``CUDA_VISIBLE_DEVICES`` when it is
set (an empty value means none), else the GPUs the NVIDIA driver lists. It never imports
torch (seconds, and it would initialise CUDA in the controller).

``DevicePool`` hands each evaluation exactly ``per_evaluation`` devices and makes the
others wait until enough are free, so two evaluations needing the machine's one GPU run one
after the other. A device's trusted-side name is its position in the visible list
(``cuda:<position>``): that is how a process with the same ``CUDA_VISIBLE_DEVICES`` (or
none) numbers it.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
from contextlib import asynccontextmanager
from typing import AsyncIterator

_DRIVER = "/proc/driver/nvidia/gpus"


def visible_gpus(environ: dict[str, str] | None = None, driver: str = _DRIVER) -> list[str]:
    env = os.environ if environ is None else environ
    if "CUDA_VISIBLE_DEVICES" in env:
        return [d.strip() for d in env["CUDA_VISIBLE_DEVICES"].split(",") if d.strip() and d.strip() != "-1"]
    if os.path.isdir(driver):
        return [str(i) for i in range(len(os.listdir(driver)))]
    try:
        listed = subprocess.run(["nvidia-smi", "-L"], capture_output=True, text=True, timeout=20).stdout
    except (OSError, subprocess.SubprocessError):
        return []
    return [str(i) for i, line in enumerate(line for line in listed.splitlines() if line.startswith("GPU "))]


def gpus_per_evaluation(setting: int | str, available: list[str]) -> int:
    """``[resources] gpus`` resolved on this machine; ValueError when it asks for more than exist."""
    if setting == "auto":
        return 1 if available else 0
    wanted = int(setting)
    if wanted > len(available):
        raise ValueError(
            f"[resources] gpus = {wanted}: each evaluation needs {wanted} GPU(s) but this machine offers "
            f"{len(available)} ({', '.join(available) or 'none'}; CUDA_VISIBLE_DEVICES and the NVIDIA driver decide). "
            "Run where GPUs exist, or set gpus = \"auto\" to fall back to the CPU"
        )
    return wanted


class DevicePool:
    """Exactly ``per_evaluation`` of ``devices`` per holder; FIFO waiting for the rest."""

    def __init__(self, devices: list[str], per_evaluation: int) -> None:
        if per_evaluation > len(devices):
            raise ValueError(f"{per_evaluation} GPU(s) per evaluation but only {len(devices)} available")
        self.devices = list(devices)
        self.per_evaluation = per_evaluation
        self._free = list(range(len(devices)))  # positions in the visible list
        self._changed: asyncio.Condition | None = None

    @property
    def slots(self) -> int:
        """How many evaluations can hold devices at once (unbounded without GPUs)."""
        return len(self.devices) // self.per_evaluation if self.per_evaluation else 1 << 30

    @asynccontextmanager
    async def lease(self) -> AsyncIterator[tuple[tuple[str, ...], str]]:
        """Hold ``per_evaluation`` devices: yields their ids and the trusted side's device name."""
        if not self.per_evaluation:
            yield (), "cpu"
            return
        if self._changed is None:
            self._changed = asyncio.Condition()
        async with self._changed:
            await self._changed.wait_for(lambda: len(self._free) >= self.per_evaluation)
            taken = [self._free.pop(0) for _ in range(self.per_evaluation)]
        try:
            yield tuple(self.devices[i] for i in taken), f"cuda:{taken[0]}"
        finally:
            async with self._changed:
                self._free = sorted(self._free + taken)
                self._changed.notify_all()
