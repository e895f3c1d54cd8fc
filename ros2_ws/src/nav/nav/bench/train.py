"""``nav bench train``: ``nav train``'s optimiser step per variant and device, CPU beside GPU.

What is timed is one step as :func:`policy.training.trainer.train` takes it: ``batch_sequences`` sequences of
``sequence_length`` steps (after ``burn_in``) made on the CPU from the raw arrays of a
:class:`~policy.training.dataset.SequenceDataset` (:func:`~policy.training.dataset.make_batch`: images
resized and normalised, scans resampled), copied to the device, then
:func:`~policy.training.step.optimiser_step` (forward over the sequence, loss, backward, clip, AdamW). The
shapes and the loss weights are ``train.yaml``'s (``--config``). The episodes are synthetic (random frames at
the sim camera's size, ranges inside the lidar's, labels inside the limits, auxiliary truth): a step's cost
does not depend on the values. ``batch_p50_ms`` is the CPU-side batch alone, the part a GPU does not speed up;
with ``batch_threads`` (train.yaml's, or ``--batch-threads``) the next batches are made while the device steps,
as ``nav train`` does, and ``step_p50_ms`` is the time between two finished steps.

Rows per variant: ``cpu`` (float32), and where CUDA is timed ``cuda`` (float32) and ``cuda+bf16`` (autocast).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from nav.bench.encoder import cpu_name, times_cuda
from perception.threads import torch_threads
from policy.configuration import UnknownVariantError, get_variant, load_variants
from policy.data import Episode
from policy.modeling import NavPolicy
from policy.processing import PolicyProcessor, ScanGeometry
from policy.training.config import DEFAULT_TRAIN_CONFIG, TrainConfig, load_train_config
from policy.training.dataset import SequenceDataset, make_batch
from policy.training.step import Batch, batch_threads, check_batch_threads, optimiser_step, prefetched
from sim.config import SimConfig, load_sim_config

__all__ = ["TrainBenchConfig", "bench_train", "format_table"]


@dataclass(frozen=True)
class TrainBenchConfig:
    steps: int = 20
    """Timed optimiser steps per variant and device."""
    warmup: int = 3
    """Untimed steps before timing (CUDA kernels chosen, allocator warm)."""
    variants: tuple[str, ...] = ()
    """Variant names; empty means every variant of ``configs/models.yaml``."""
    device: str = "auto"
    """``auto``: the CPU, and CUDA beside it when present; ``cpu``: the CPU alone; ``cuda``: the CPU and CUDA."""
    config: str = DEFAULT_TRAIN_CONFIG
    """The training config whose batch shape and loss weights are timed."""
    threads: int = 0
    """Torch CPU threads (0: torch's default, every core)."""
    batch_threads: int | None = None
    """Threads making batches ahead (:func:`policy.training.step.batch_threads`); None: the training config's."""
    seed: int = 0

    def __post_init__(self) -> None:
        if self.steps < 1 or self.warmup < 0 or self.threads < 0:
            raise ValueError("steps >= 1, warmup >= 0 and threads >= 0 are required")
        if self.batch_threads is not None:
            check_batch_threads(self.batch_threads)
        times_cuda(self.device)

    def modes(self) -> list[tuple[str, torch.device, torch.dtype | None]]:
        """(row name, device, autocast dtype) of every timed mode."""
        modes: list[tuple[str, torch.device, torch.dtype | None]] = [("cpu", torch.device("cpu"), None)]
        if times_cuda(self.device):
            cuda = torch.device("cuda")
            modes += [("cuda", cuda, None), ("cuda+bf16", cuda, torch.bfloat16)]
        return modes


def synthetic_episodes(sim: SimConfig, count: int, length: int, seed: int) -> list[Episode]:
    """``count`` episodes of ``length`` steps shaped as the simulator records them (values random)."""
    rng = np.random.default_rng(seed)
    cam, lidar, robot = sim.camera, sim.lidar, sim.robot
    limits = np.array([robot.max_linear, robot.max_angular], dtype=np.float32)
    episodes = []
    for index in range(count):
        aux = np.column_stack(
            [
                rng.integers(0, 2, length),
                rng.uniform(-1, 1, length),
                rng.uniform(-np.pi, np.pi, length),
                rng.uniform(0, 5, length),
                rng.integers(0, 2, length),
            ]
        ).astype(np.float32)
        episodes.append(
            Episode(
                images=rng.integers(0, 256, (length, cam.height, cam.width, 3), dtype=np.uint8),
                scans=rng.uniform(lidar.range_min, lidar.range_max, (length, lidar.beams)).astype(np.float32),
                odom=(rng.uniform(-1, 1, (length, 2)) * limits).astype(np.float32),
                labels=(rng.uniform(-1, 1, (length, 2)) * limits).astype(np.float32),
                instruction=f"go to the object number {index % 4}",
                success=True,
                aux=aux,
            )
        )
    return episodes


def _time_mode(
    name: str,
    train: TrainConfig,
    sim: SimConfig,
    device: torch.device,
    amp: torch.dtype | None,
    config: TrainBenchConfig,
) -> dict[str, Any]:
    """Step and batch latencies of one variant in one mode."""
    policy_config = get_variant(name).with_limits(sim.robot.max_linear, sim.robot.max_angular, sim.task.stop_speed)
    torch.manual_seed(config.seed)
    model = NavPolicy(policy_config).to(device).train()
    optimizer = torch.optim.AdamW(model.parameters(), lr=train.learning_rate, weight_decay=train.weight_decay)
    processor = PolicyProcessor(policy_config)
    geometry = ScanGeometry.from_lidar_config(sim.lidar)
    episodes = synthetic_episodes(sim, 16, 4 * train.sequence_length, config.seed)
    rng = np.random.default_rng(config.seed)
    embeddings = {
        e.instruction: (v / np.linalg.norm(v)).astype(np.float32)
        for e in episodes
        for v in [rng.normal(size=policy_config.text_dim)]
    }
    dataset = SequenceDataset(episodes, embeddings, train.sequence_length, train.burn_in)
    batches = dataset.epoch_batches(rng, train.batch_sequences)
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    threads = batch_threads(device, train.batch_threads if config.batch_threads is None else config.batch_threads)
    batch_ms: list[float] = []

    def make(chunks: np.ndarray) -> Batch:
        t0 = time.perf_counter()
        batch = make_batch(dataset, chunks, processor, geometry, device)
        batch_ms.append((time.perf_counter() - t0) * 1e3)
        return batch

    chunk_list = [batches[i % len(batches)] for i in range(config.warmup + config.steps)]
    steps, samples = [], 0
    last = time.perf_counter()
    for index, batch in enumerate(prefetched(make, chunk_list, threads)):
        _, _, trained = optimiser_step(model, optimizer, batch, train, train.learning_rate, amp)
        sync()  # loss.item() has synchronised already; the optimiser's last kernels too
        now = time.perf_counter()
        if index >= config.warmup:
            steps.append((now - last) * 1e3)
            samples += trained
        last = now
    batch_ms = batch_ms[config.warmup :]
    total_s = sum(steps) / 1e3
    return {
        "step_p50_ms": round(float(np.percentile(steps, 50)), 2),
        "step_p90_ms": round(float(np.percentile(steps, 90)), 2),
        "batch_p50_ms": round(float(np.percentile(batch_ms, 50)), 2),
        "samples_per_s": round(samples / total_s, 1),
        "batch_threads": threads,
    }


def bench_train(config: TrainBenchConfig) -> dict[str, Any]:
    """Optimiser step latencies of the variants on the CPU (and CUDA); see the module docstring."""
    train = load_train_config(config.config)
    sim = load_sim_config(train.sim_config)
    registry = load_variants()
    names = list(config.variants) or list(registry)
    unknown = [n for n in names if n not in registry]
    if unknown:
        raise UnknownVariantError(f"unknown model variant(s) {unknown}; known variants: {', '.join(registry)}")
    rows = []
    with torch_threads(config.threads):
        for name in names:
            for mode, device, amp in config.modes():
                rows.append({"variant": name, "mode": mode, **_time_mode(name, train, sim, device, amp, config)})
    cpu_steps = {r["variant"]: r["step_p50_ms"] for r in rows if r["mode"] == "cpu"}
    for row in rows:
        row["speedup_vs_cpu"] = round(cpu_steps[row["variant"]] / row["step_p50_ms"], 2)
    return {
        "rows": rows,
        "samples_per_step": train.batch_sequences * train.sequence_length,
        "burn_in": train.burn_in,
        "config": config.config,
        "cpu": cpu_name(),
        "cpu_threads": torch.get_num_threads() if not config.threads else config.threads,
        "gpu": torch.cuda.get_device_name(0) if any(m[1].type == "cuda" for m in config.modes()) else None,
        "torch": torch.__version__,
        "steps": config.steps,
    }


def format_table(result: dict[str, Any]) -> str:
    """The benchmark as a markdown table with the device line under it."""
    lines = [
        "| variant | mode | batch threads | step p50 ms | step p90 ms | batch (CPU) p50 ms | samples/s | vs CPU |",
        "|---|---|---:|---:|---:|---:|---:|---:|",
    ]
    for r in result["rows"]:
        lines.append(
            f"| {r['variant']} | {r['mode']} | {r['batch_threads']} | {r['step_p50_ms']:.2f} | "
            f"{r['step_p90_ms']:.2f} | {r['batch_p50_ms']:.2f} | {r['samples_per_s']:.0f} | "
            f"{r['speedup_vs_cpu']:.2f}x |"
        )
    device = f"CPU: {result['cpu']}, {result['cpu_threads']} torch threads; torch {result['torch']}"
    if result["gpu"]:
        device += f"; GPU: {result['gpu']}"
    lines += ["", device, f"{result['samples_per_step']} samples per step ({result['config']})"]
    return "\n".join(lines)
