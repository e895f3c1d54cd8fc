"""Readings of the onboard compute (pure Python, no ROS): CPU load and frequency, memory,
temperature where the kernel exposes it, and GPU utilisation and memory where NVML finds a GPU.

A reading that this machine cannot give is ``None`` (no sensors, no GPU, no ``pynvml``), never a
made-up value. ``pynvml`` is imported lazily, only when a :class:`ResourceSampler` is asked for GPU
readings.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import psutil

__all__ = ["ResourceSample", "ResourceSampler"]


@dataclass(frozen=True)
class ResourceSample:
    cpu_percent: float
    """Whole-machine CPU use since the previous sample (0..100)."""
    load_avg_1m: float
    cpu_freq_mhz: float | None
    memory_percent: float
    memory_available_mb: float
    temperature_c: float | None
    """The hottest CPU/package sensor, where readable."""
    gpu_util_percent: float | None = None
    gpu_memory_used_mb: float | None = None
    gpu_memory_total_mb: float | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class ResourceSampler:
    """``sample()`` reads the machine now. Create once: CPU percent is measured between calls."""

    def __init__(self, gpu: bool = True) -> None:
        psutil.cpu_percent(interval=None)  # start the interval the first sample() reads
        self._nvml: Any = None
        self._gpu_handle: Any = None
        if gpu:
            self._open_nvml()

    def _open_nvml(self) -> None:
        try:
            import pynvml
        except ImportError:
            return  # no NVML bindings: no GPU fields
        try:
            pynvml.nvmlInit()
            if pynvml.nvmlDeviceGetCount() > 0:
                self._nvml = pynvml
                self._gpu_handle = pynvml.nvmlDeviceGetHandleByIndex(0)
        except pynvml.NVMLError:
            self._nvml = None  # no driver or no GPU

    @property
    def has_gpu(self) -> bool:
        return self._gpu_handle is not None

    def sample(self) -> ResourceSample:
        memory = psutil.virtual_memory()
        freq = psutil.cpu_freq()
        gpu_util = gpu_used = gpu_total = None
        if self._gpu_handle is not None:
            try:
                util = self._nvml.nvmlDeviceGetUtilizationRates(self._gpu_handle)
                mem = self._nvml.nvmlDeviceGetMemoryInfo(self._gpu_handle)
                gpu_util, gpu_used, gpu_total = float(util.gpu), mem.used / 2**20, mem.total / 2**20
            except self._nvml.NVMLError:
                pass
        return ResourceSample(
            cpu_percent=float(psutil.cpu_percent(interval=None)),
            load_avg_1m=float(psutil.getloadavg()[0]),
            cpu_freq_mhz=float(freq.current) if freq is not None and freq.current > 0 else None,
            memory_percent=float(memory.percent),
            memory_available_mb=memory.available / 2**20,
            temperature_c=_cpu_temperature(),
            gpu_util_percent=gpu_util,
            gpu_memory_used_mb=gpu_used,
            gpu_memory_total_mb=gpu_total,
        )


def _cpu_temperature() -> float | None:
    reader = getattr(psutil, "sensors_temperatures", None)
    if reader is None:
        return None
    try:
        sensors = reader()
    except (OSError, RuntimeError):
        return None
    readings = [t.current for entries in sensors.values() for t in entries if t.current is not None and t.current > 0]
    return float(max(readings)) if readings else None
