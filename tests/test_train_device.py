"""Where training runs: the device names nav train accepts, the optimiser step on the CPU, under autocast and on
CUDA (skipped without a GPU), and nav bench train; the training core imports without the simulator."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from policy.configuration import get_variant
from policy.modeling import NavPolicy
from policy.processing import PolicyProcessor, ScanGeometry
from policy.training import (
    SequenceDataset,
    TrainConfig,
    load_train_config,
    make_batch,
    optimiser_step,
    resolve_device,
)
from policy.training.step import autocast_dtype, batch_threads, prefetched
from sim.config import load_sim_config

ROOT = Path(__file__).resolve().parents[1]
CUDA = torch.cuda.is_available()


@pytest.mark.unit
def test_device_names_are_checked_and_auto_is_cuda_only_where_there_is_one() -> None:
    assert resolve_device("cpu") == torch.device("cpu")
    assert resolve_device("auto").type == ("cuda" if CUDA else "cpu")
    for bad in ("gpu", "cuda:", "CPU", ""):
        with pytest.raises(ValueError, match="device must be auto, cpu, cuda or cuda:N"):
            resolve_device(bad)
        with pytest.raises(ValueError, match="device"):
            TrainConfig(device=bad)
    assert TrainConfig(device="cuda:1").device == "cuda:1"  # a config names a GPU on any machine ...
    if not CUDA:  # ... and only training there needs one
        with pytest.raises(ValueError, match="sees no CUDA GPU"):
            resolve_device("cuda")
    with pytest.raises(ValueError, match="CUDA GPU"):
        resolve_device(f"cuda:{torch.cuda.device_count() + 3}" if CUDA else "cuda:0")
    assert autocast_dtype(torch.device("cpu"), True) is None  # the CPU step is float32 whatever the config says


def _step_setup(device: torch.device, seed: int = 0) -> tuple[NavPolicy, torch.optim.Optimizer, tuple]:
    from nav.bench.train import synthetic_episodes

    sim = load_sim_config()
    config = get_variant("small").with_limits(sim.robot.max_linear, sim.robot.max_angular, sim.task.stop_speed)
    torch.manual_seed(seed)
    model = NavPolicy(config).to(device).train()
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3)
    episodes = synthetic_episodes(sim, 3, 24, seed)
    embedding = np.ones(config.text_dim, np.float32) / np.sqrt(config.text_dim)
    dataset = SequenceDataset(episodes, {e.instruction: embedding for e in episodes}, 8, 4)
    geometry = ScanGeometry.from_lidar_config(sim.lidar)
    batch = make_batch(dataset, np.arange(len(dataset)), PolicyProcessor(config), geometry, device)
    return model, optimizer, batch


@pytest.mark.unit
@pytest.mark.parametrize("amp", [None, torch.bfloat16], ids=["float32", "bf16-autocast"])
def test_an_optimiser_step_moves_the_weights_and_keeps_them_float32(amp: torch.dtype | None) -> None:
    model, optimizer, batch = _step_setup(torch.device("cpu"))
    before = {k: v.clone() for k, v in model.state_dict().items()}
    loss, parts, samples = optimiser_step(model, optimizer, batch, TrainConfig(), 1e-3, amp)
    assert np.isfinite(loss) and loss > 0 and samples == int((batch[3] > 0).sum()) > 0
    assert {"action", "stop", "aux_distance"} <= set(parts)
    changed = [k for k, v in model.state_dict().items() if v.is_floating_point() and not torch.equal(v, before[k])]
    assert changed, "the step changed no weight"
    assert all(p.dtype == torch.float32 for p in model.parameters())


@pytest.mark.unit
def test_the_same_step_twice_gives_the_same_loss() -> None:
    losses = []
    for _ in range(2):
        model, optimizer, batch = _step_setup(torch.device("cpu"))
        losses.append([optimiser_step(model, optimizer, batch, TrainConfig(), 1e-3)[0] for _ in range(2)])
    assert losses[0] == losses[1]


@pytest.mark.unit
@pytest.mark.skipif(not CUDA, reason="needs a CUDA GPU")
def test_a_step_on_cuda_computes_the_cpu_loss() -> None:
    cpu_model, cpu_opt, cpu_batch = _step_setup(torch.device("cpu"))
    gpu_model, gpu_opt, gpu_batch = _step_setup(torch.device("cuda"))
    cpu_loss = optimiser_step(cpu_model, cpu_opt, cpu_batch, TrainConfig(), 1e-3)[0]
    gpu_loss = optimiser_step(gpu_model, gpu_opt, gpu_batch, TrainConfig(), 1e-3)[0]
    assert gpu_loss == pytest.approx(cpu_loss, rel=1e-3)
    bf16_loss = optimiser_step(gpu_model, gpu_opt, gpu_batch, TrainConfig(), 1e-3, torch.bfloat16)[0]
    assert np.isfinite(bf16_loss)


@pytest.mark.unit
def test_the_training_core_and_the_perturbation_table_import_without_the_simulator() -> None:
    """nav bench train runs where PyBullet is not installed (a GPU box): config, dataset, loss and step."""
    blocker = (
        "import importlib.abc, sys\n"
        "class Block(importlib.abc.MetaPathFinder):\n"
        "    def find_spec(self, name, path, target=None):\n"
        "        if name.split('.')[0] in ('pybullet', 'rclpy', 'open3d', 'rosbags', 'ray'):\n"
        "            raise ImportError('blocked ' + name)\n"
        "sys.meta_path.insert(0, Block())\n"
        "from policy.training import load_train_config, optimiser_step, make_batch\n"
        "from sim.perturbations import parse_perturbations\n"
        "import nav.bench.train, nav.bench.encoder\n"
        "print(load_train_config().device, [str(p) for p in parse_perturbations('latency')])\n"
    )
    out = subprocess.run([sys.executable, "-c", blocker], capture_output=True, text=True, cwd=ROOT, check=False)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["auto", "['latency=0.2']"]


@pytest.mark.unit
def test_nav_bench_train_times_the_cpu_step_and_refuses_cuda_without_one(capsys: pytest.CaptureFixture[str]) -> None:
    from nav.cli import main

    code = main(["bench", "train", "--json", "--steps", "1", "--variants", "small", "--device", "cpu"])
    assert code == 0
    result = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    (row,) = result["rows"]
    assert row["variant"] == "small" and row["mode"] == "cpu" and row["speedup_vs_cpu"] == 1.0
    assert row["step_p50_ms"] >= row["batch_p50_ms"] > 0 and row["samples_per_s"] > 0
    train = load_train_config()
    assert result["samples_per_step"] == train.batch_sequences * train.sequence_length
    if not CUDA:
        assert main(["bench", "train", "--device", "cuda", "--variants", "small"]) == 2
        assert "sees no CUDA GPU" in capsys.readouterr().err
        assert main(["bench", "encoder", "--device", "cuda", "--variants", "small"]) == 2
        assert "sees no CUDA GPU" in capsys.readouterr().err


@pytest.mark.unit
@pytest.mark.parametrize("threads", [0, 1, 3])
def test_batches_made_ahead_come_in_order_and_at_most_threads_ahead(threads: int) -> None:
    import threading

    made: list[int] = []
    lock = threading.Lock()

    def make(item: int) -> tuple:
        with lock:
            made.append(item)
        return (item,)

    stream = prefetched(make, range(10), threads)
    first = next(stream)
    assert first == (0,)
    assert len(made) <= 1 + threads  # the one handed out, and at most `threads` in the pool
    rest = [b[0] for b in stream]
    assert rest == list(range(1, 10))
    early = prefetched(make, range(100), threads)
    next(early)
    early.close()  # a run stopped mid-epoch: what is in flight finishes, nothing more is made
    assert len(made) <= 10 + 1 + threads
    assert batch_threads(torch.device("cpu"), -1) == 0 and batch_threads(torch.device("cuda"), -1) > 0
    assert batch_threads(torch.device("cpu"), 2) == 2
