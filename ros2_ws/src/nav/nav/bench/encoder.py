"""``nav bench encoder``: parameters and per-step latency of every policy variant.

What is timed is one control step as the robot runs it: a batch-1 ``NavPolicy`` forward under
``torch.inference_mode`` with the GRU state carried from the previous step, after a warm-up, with
torch using every core this process may run on. Pre-processing is timed separately (one synthetic
64x64 camera frame and a scan in the robot profile's lidar layout through :class:`PolicyProcessor`,
embedding given), and so is the agent's whole tick, :meth:`PolicyController.act` on a fresh frame each step
(pre-processing, the copy to the device, the forward, the command back), per device.

``device``: ``auto`` times the CPU, and CUDA beside it when torch sees a GPU; ``cpu`` the CPU alone; ``cuda``
the CPU beside CUDA (an error where there is none). On CUDA the forward is also timed under bf16 autocast
(``gpu_bf16_*``), to show whether mixed precision helps a batch-1 step.

Variants are measured in interleaved rounds (small, medium, large, small, ...) so that a neighbour
process taking a core for a while slows every variant alike; p50/p99 are over all timed steps.
On CUDA the step is synchronised before the clock is read.
"""

from __future__ import annotations

import math
import os
import platform
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from configs.robot import robot_profile
from perception.threads import torch_threads
from policy.configuration import DEFAULT_MODELS_CONFIG, PolicyConfig, UnknownVariantError, load_variants
from policy.controller import PolicyController
from policy.modeling import NavPolicy, parameter_count
from policy.processing import PolicyProcessor, ScanGeometry

__all__ = ["EncoderBenchConfig", "bench_encoder", "cpu_name", "format_table", "step_latencies_ms", "times_cuda"]


@dataclass(frozen=True)
class EncoderBenchConfig:
    iters: int = 300
    """Timed control steps per variant and device (split over ``rounds``)."""
    warmup: int = 30
    """Untimed steps per variant before timing."""
    rounds: int = 3
    """Interleaved rounds over the variants (at most ``iters``)."""
    variants: tuple[str, ...] = ()
    """Variant names to run; empty means all of ``models_config``."""
    models_config: str = DEFAULT_MODELS_CONFIG
    threads: int = 0
    """Torch CPU threads; 0 means every core available to this process."""
    device: str = "auto"
    """``auto``: the CPU, and CUDA beside it when present; ``cpu``: the CPU alone; ``cuda``: the CPU and CUDA."""
    seed: int = 0

    def __post_init__(self) -> None:
        if self.iters < 1 or self.rounds < 1 or self.warmup < 0 or self.threads < 0:
            raise ValueError("iters >= 1, rounds >= 1, warmup >= 0 and threads >= 0 are required")
        times_cuda(self.device)

    def use_gpu(self) -> bool:
        """Whether CUDA is timed beside the CPU."""
        return times_cuda(self.device)


def times_cuda(device: str) -> bool:
    """Whether a bench asked for ``device`` times CUDA beside the CPU: ``auto`` where torch sees a GPU, ``cuda``;
    not ``cpu``.

    Raises:
        ValueError: a device other than auto, cpu or cuda; ``cuda`` where torch sees no GPU.
    """
    if device not in ("auto", "cpu", "cuda"):
        raise ValueError(f"device must be auto, cpu or cuda, got {device!r}")
    if device == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device 'cuda': torch {torch.__version__} sees no CUDA GPU here; use auto or cpu")
    return device != "cpu" and torch.cuda.is_available()


def cpu_name() -> str:
    """The CPU model name (``/proc/cpuinfo``), else what :mod:`platform` reports."""
    try:
        with Path("/proc/cpuinfo").open(encoding="utf-8") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _available_cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def _synthetic_inputs(config: PolicyConfig, device: torch.device, seed: int) -> tuple[torch.Tensor, ...]:
    g = torch.Generator().manual_seed(seed)
    image = torch.randn(1, 3, config.image_size, config.image_size, generator=g)
    scan = torch.rand(1, config.lidar_beams, generator=g)
    text = torch.nn.functional.normalize(torch.randn(1, config.text_dim, generator=g), dim=1)
    odom = torch.zeros(1, 2)
    return tuple(t.to(device) for t in (image, scan, text, odom))


class _Runner:
    """A model, its inputs and its carried memory on one device (the forward under ``amp`` autocast if given)."""

    def __init__(self, config: PolicyConfig, device: torch.device, seed: int, amp: torch.dtype | None = None) -> None:
        torch.manual_seed(seed)
        self.model = NavPolicy(config).to(device).eval()
        self.inputs = _synthetic_inputs(config, device, seed)
        self.hidden: torch.Tensor | None = None
        self.sync = device.type == "cuda"
        self.amp = amp
        self.device_type = device.type

    def steps(self, n: int) -> list[float]:
        """``n`` control steps; their latencies in ms."""
        out = []
        autocast = torch.autocast(self.device_type, dtype=self.amp or torch.float32, enabled=self.amp is not None)
        with torch.inference_mode(), autocast:
            for _ in range(n):
                t0 = time.perf_counter()
                _, self.hidden = self.model(*self.inputs, self.hidden)
                if self.sync:
                    torch.cuda.synchronize()
                out.append((time.perf_counter() - t0) * 1e3)
        return out


class _Ticker:
    """The agent's tick on one device: :meth:`PolicyController.act` on a fresh synthetic frame each step."""

    def __init__(self, config: PolicyConfig, device: torch.device, seed: int) -> None:
        torch.manual_seed(seed)
        model = NavPolicy(config).to(device).eval()
        self.geometry = ScanGeometry.from_profile()
        self.controller = PolicyController(model, PolicyProcessor(config), self.geometry, device)
        rng = np.random.default_rng(seed)
        beams = robot_profile().lidar.beams
        self.frames = rng.integers(0, 256, (8, 64, 64, 3), dtype=np.uint8)
        self.obs: dict[str, Any] = {
            "scan": rng.uniform(0.2, self.geometry.range_max, beams).astype(np.float32),
            "instruction": np.full(config.text_dim, 1.0 / math.sqrt(config.text_dim), dtype=np.float32),
            "odom": np.array([0.2, 0.1], dtype=np.float32),
        }
        self.count = 0

    def steps(self, n: int) -> list[float]:
        out = []
        for _ in range(n):
            self.obs["image"] = self.frames[self.count % len(self.frames)]  # a new frame: no cached features
            self.count += 1
            t0 = time.perf_counter()
            self.controller.act(self.obs)  # the command comes back to the host: synchronised
            out.append((time.perf_counter() - t0) * 1e3)
        return out


def _interleaved(runners: dict[str, Any], iters: int, warmup: int, rounds: int) -> dict[str, list[float]]:
    """Each runner's ``steps`` latencies: ``warmup`` untimed, then ``iters`` over ``rounds`` interleaved rounds."""
    for runner in runners.values():
        runner.steps(warmup)
    times: dict[str, list[float]] = {name: [] for name in runners}
    rounds = min(rounds, iters)
    per_round = [iters // rounds + (1 if r < iters % rounds else 0) for r in range(rounds)]
    for n in per_round:
        for name, runner in runners.items():
            times[name] += runner.steps(n)
    return times


def step_latencies_ms(
    configs: list[PolicyConfig],
    device: torch.device,
    iters: int,
    warmup: int,
    rounds: int,
    seed: int = 0,
    amp: torch.dtype | None = None,
) -> dict[str, list[float]]:
    """Per-step forward latencies (ms) of each config on ``device`` (under ``amp`` autocast if given),
    interleaved over ``rounds``."""
    return _interleaved({c.name: _Runner(c, device, seed, amp) for c in configs}, iters, warmup, rounds)


def act_latencies_ms(
    configs: list[PolicyConfig], device: torch.device, iters: int, warmup: int, rounds: int, seed: int = 0
) -> dict[str, list[float]]:
    """Per-tick latencies (ms) of :meth:`PolicyController.act` for each config on ``device``, interleaved."""
    return _interleaved({c.name: _Ticker(c, device, seed) for c in configs}, iters, warmup, rounds)


def _preprocess_ms(config: PolicyConfig, iters: int) -> float:
    """p50 of :meth:`PolicyProcessor.__call__` on a synthetic 64x64 frame and a scan in the robot's lidar layout."""
    rng = np.random.default_rng(0)
    geometry = ScanGeometry.from_profile()
    beams = robot_profile().lidar.beams
    obs = {
        "image": rng.integers(0, 256, (64, 64, 3), dtype=np.uint8),
        "scan": rng.uniform(0.2, geometry.range_max, beams).astype(np.float32),
        "instruction": np.full(config.text_dim, 1.0 / math.sqrt(config.text_dim), dtype=np.float32),
        "odom": np.array([0.2, 0.1], dtype=np.float32),
    }
    processor = PolicyProcessor(config)
    processor(obs, geometry)
    times = []
    for _ in range(iters):
        t0 = time.perf_counter()
        processor(obs, geometry)
        times.append((time.perf_counter() - t0) * 1e3)
    return float(np.percentile(times, 50))


def _p(values: list[float], q: float) -> float:
    return round(float(np.percentile(values, q)), 3)


def bench_encoder(config: EncoderBenchConfig) -> dict[str, Any]:
    """Parameter counts and CPU (and CUDA) step latencies of the variants; see the module docstring."""
    registry = load_variants(config.models_config)
    names = list(config.variants) or list(registry)
    unknown = [n for n in names if n not in registry]
    if unknown:
        raise UnknownVariantError(f"unknown model variant(s) {unknown}; known variants: {', '.join(registry)}")
    configs = [registry[n] for n in names]
    threads = config.threads or _available_cores()
    use_gpu = config.use_gpu()
    timing = (config.iters, config.warmup, config.rounds, config.seed)
    with torch_threads(threads):
        cpu = step_latencies_ms(configs, torch.device("cpu"), *timing)
        cpu_act = act_latencies_ms(configs, torch.device("cpu"), *timing)
        if use_gpu:
            cuda = torch.device("cuda")
            gpu = step_latencies_ms(configs, cuda, *timing)
            gpu_bf16 = step_latencies_ms(configs, cuda, *timing, amp=torch.bfloat16)
            gpu_act = act_latencies_ms(configs, cuda, *timing)
        rows = []
        for c in configs:
            row: dict[str, Any] = {
                "variant": c.name,
                "image_size": c.image_size,
                "lidar_beams": c.lidar_beams,
                "params": parameter_count(NavPolicy(c)),
                "cpu_p50_ms": _p(cpu[c.name], 50),
                "cpu_p99_ms": _p(cpu[c.name], 99),
                "preprocess_p50_ms": round(_preprocess_ms(c, 100), 3),
                "act_cpu_p50_ms": _p(cpu_act[c.name], 50),
            }
            if use_gpu:
                row["gpu_p50_ms"] = _p(gpu[c.name], 50)
                row["gpu_p99_ms"] = _p(gpu[c.name], 99)
                row["gpu_bf16_p50_ms"] = _p(gpu_bf16[c.name], 50)
                row["act_gpu_p50_ms"] = _p(gpu_act[c.name], 50)
            rows.append(row)
    by_name = {r["variant"]: r for r in rows}
    ratio = None
    if "large" in by_name and "small" in by_name:
        ratio = round(by_name["large"]["cpu_p50_ms"] / by_name["small"]["cpu_p50_ms"], 2)
    return {
        "variants": rows,
        "cpu_p50_ratio_large_small": ratio,
        "cpu": cpu_name(),
        "cpu_threads": threads,
        "gpu": torch.cuda.get_device_name(0) if use_gpu else None,
        "torch": torch.__version__,
        "iters": config.iters,
        "warmup": config.warmup,
        "load_average_1min": round(os.getloadavg()[0], 2) if hasattr(os, "getloadavg") else None,
    }


def format_table(result: dict[str, Any]) -> str:
    """The benchmark as a markdown table, with the device line and the large/small ratio under it."""
    gpu = result["gpu"] is not None
    head = "| variant | input | beams | params | CPU p50 ms | CPU p99 ms | pre-process p50 ms | act CPU p50 ms |"
    rule = "|---|---:|---:|---:|---:|---:|---:|---:|"
    if gpu:
        head += " GPU p50 ms | GPU p99 ms | GPU bf16 p50 ms | act GPU p50 ms |"
        rule += "---:|---:|---:|---:|"
    lines = [head, rule]
    for r in result["variants"]:
        line = (
            f"| {r['variant']} | {r['image_size']}x{r['image_size']} | {r['lidar_beams']} | {r['params']:,} | "
            f"{r['cpu_p50_ms']:.2f} | {r['cpu_p99_ms']:.2f} | {r['preprocess_p50_ms']:.2f} | "
            f"{r['act_cpu_p50_ms']:.2f} |"
        )
        if gpu:
            line += (
                f" {r['gpu_p50_ms']:.2f} | {r['gpu_p99_ms']:.2f} | {r['gpu_bf16_p50_ms']:.2f} | "
                f"{r['act_gpu_p50_ms']:.2f} |"
            )
        lines.append(line)
    lines.append("")
    device = f"CPU: {result['cpu']}, {result['cpu_threads']} torch threads; torch {result['torch']}"
    if gpu:
        device += f"; GPU: {result['gpu']}"
    lines.append(device)
    if result["cpu_p50_ratio_large_small"] is not None:
        lines.append(f"CPU p50 ratio large/small: {result['cpu_p50_ratio_large_small']:.1f}x")
    return "\n".join(lines)
