"""Data-parallel training over Ray actors: ``nav train --ray [ADDRESS]`` with ``train_workers`` > 1.

Each stage's epochs run in ``train_workers`` Ray actors that form one ``torch.distributed`` group (gloo on the
CPU, NCCL where the actors train on CUDA), started for the stage and stopped after it (the collection actors
need the CPUs between stages). Every rank

- loads the stage's shards from ``out_dir/data`` (a path every node reads) and the state the driver
  checkpointed before the stage (``out_dir/checkpoints``: weights, AdamW, progress);
- walks the same batch order as a local run (seed, stage, epoch), keeps the batches with at least one
  sequence per rank, and trains on its share of each (sequences ``rank``, ``rank + N``, ...);
- averages the gradients over the ranks (one all-reduce of all of them) before the clip and the AdamW step,
  so every rank holds the same weights after every step. The step's loss is the mean of the ranks' losses
  (each a mean over its share), as with ``DistributedDataParallel``; each rank's BatchNorm sees its share,
  and the statistics are averaged over the ranks at every checkpoint.

Rank 0 writes the checkpoints (the local format: a run resumes on either path) and the ``train/*``
TensorBoard scalars. At the end of the stage the driver checks that every rank holds the same weights, takes
up rank 0's last checkpoint, and runs the closed-loop check and the next collection itself.

A rank lost mid-stage (its process killed, its node gone) breaks the group: the stage's training starts again
on fresh actors from the last checkpoint, at most :data:`policy.cluster.MAX_ATTEMPTS` times, as a resumed
local run would; only the steps since that checkpoint are done twice.
"""

from __future__ import annotations

import hashlib
import socket
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import torch
import torch.distributed as dist

from policy.cluster import MAX_ATTEMPTS, ClusterError, connect
from policy.modeling import NavPolicy
from policy.training.config import Log, TrainConfig

__all__ = ["Parallel", "train_stage_on_ray"]

GROUP_TIMEOUT_S = 120.0
"""How long a rank waits in a collective for the others (a lost rank fails the survivors after this)."""


class Parallel:
    """One rank's part in a data-parallel group (the ``parallel`` of the trainer's run state)."""

    def __init__(self, rank: int, world: int) -> None:
        self.rank, self.world = rank, world

    @property
    def writes(self) -> bool:
        """Whether this rank writes the checkpoints, the TensorBoard scalars and the log."""
        return self.rank == 0

    def share(self, chunks: Any) -> Any:
        """This rank's sequences of a batch."""
        return chunks[self.rank :: self.world]

    def average_gradients(self, model: NavPolicy) -> None:
        """Every parameter's gradient replaced by its mean over the ranks (one all-reduce)."""
        params = list(model.parameters())
        grads = [p.grad if p.grad is not None else torch.zeros_like(p) for p in params]
        flat = torch.cat([g.reshape(-1) for g in grads])
        dist.all_reduce(flat)
        flat /= self.world
        offset = 0
        for p in params:
            n = p.numel()
            p.grad = flat[offset : offset + n].view_as(p).clone()
            offset += n

    def mean_step(self, loss: float, parts: dict[str, float], samples: int) -> tuple[float, dict[str, float], int]:
        """The step's loss and parts averaged over the ranks, and the samples trained on summed."""
        names = sorted(parts)
        values = torch.tensor([loss, *(parts[n] for n in names), float(samples)], dtype=torch.float64)
        values = values.to(self._device())
        dist.all_reduce(values)
        values = values.cpu()
        mean = values / self.world
        return float(mean[0]), {n: float(mean[1 + i]) for i, n in enumerate(names)}, int(round(float(values[-1])))

    def sync_buffers(self, model: NavPolicy) -> None:
        """The BatchNorm running statistics averaged over the ranks (counters are equal already)."""
        for buffer in model.buffers():
            if buffer.is_floating_point():
                dist.all_reduce(buffer)
                buffer /= self.world

    @staticmethod
    def _device() -> torch.device:
        return torch.device("cuda") if dist.get_backend() == "nccl" else torch.device("cpu")


def weights_digest(model: torch.nn.Module) -> str:
    """sha256 over every tensor of ``model``'s state (names and bytes), to compare ranks."""
    digest = hashlib.sha256()
    for name, tensor in sorted(model.state_dict().items()):
        digest.update(name.encode())
        digest.update(tensor.detach().cpu().contiguous().numpy().tobytes())
    return digest.hexdigest()


class _Lines:
    """A log that keeps its lines (rank 0's, handed to the driver) or drops them (the other ranks')."""

    def __init__(self, keep: bool) -> None:
        self.keep = keep
        self.lines: list[str] = []

    def __call__(self, line: str) -> None:
        if self.keep:
            self.lines.append(line)


class _NoScalars:
    def add_scalar(self, tag: str, scalar_value: float, global_step: int | None = None) -> None:
        pass

    def close(self) -> None:
        pass


class _TrainWorker:
    """One rank: the body of a training actor."""

    def __init__(self, config: TrainConfig, rank: int, world: int) -> None:
        if config.torch_threads > 0:
            torch.set_num_threads(config.torch_threads)
        self.config, self.rank, self.world = config, rank, world

    def address(self) -> tuple[str, int]:
        """Where the group meets: this node's address and a free port on it (rank 0's)."""
        import ray

        host = ray.util.get_node_ip_address()
        with socket.socket() as s:
            s.bind((host, 0))
            return host, int(s.getsockname()[1])

    def join(self, host: str, port: int) -> int:
        """Join the group at ``host:port``; returns this process's id."""
        import os

        from policy.training.step import resolve_device

        self.device = resolve_device(self.config.device)
        dist.init_process_group(
            "nccl" if self.device.type == "cuda" else "gloo",
            init_method=f"tcp://{host}:{port}",
            rank=self.rank,
            world_size=self.world,
            timeout=timedelta(seconds=GROUP_TIMEOUT_S),
        )
        return os.getpid()

    def train(self, stage: int, epochs: int) -> dict[str, Any]:
        """``stage``'s epochs from the latest checkpoint; returns the digest of the weights and rank 0's log."""
        from torch.utils.tensorboard import SummaryWriter

        from policy.checkpoint import latest_checkpoint, load_checkpoint
        from policy.training.step import autocast_dtype
        from policy.training.trainer import Progress, _Run, build_learner, train_stage
        from sim.config import load_sim_config

        config, writes = self.config, self.rank == 0
        out = Path(config.out_dir)
        sim = load_sim_config(config.sim_config)
        learner, optimizer = build_learner(config, sim, self.device)
        latest = latest_checkpoint(out / "checkpoints")
        if latest is None:
            raise RuntimeError(f"no checkpoint in {out / 'checkpoints'} to start stage {stage} from")
        checkpoint = load_checkpoint(latest)
        checkpoint.restore(learner.model, optimizer)
        state = Progress.from_record(checkpoint.progress)
        torch.manual_seed(config.seed + 1000 * stage + self.rank)
        log = _Lines(writes)
        writer = SummaryWriter(str(out / "tb"), filename_suffix=f".stage{stage}") if writes else _NoScalars()
        run = _Run(
            config, sim, sim, learner, optimizer, writer, state, log, False,
            device=self.device, amp=autocast_dtype(self.device, config.mixed_precision),
            parallel=Parallel(self.rank, self.world),
        )  # fmt: skip
        learner.model.train()
        try:
            train_stage(run, stage, epochs)
        finally:
            writer.close()
        return {"digest": weights_digest(learner.model), "log": log.lines}

    def leave(self) -> None:
        if dist.is_initialized():
            dist.destroy_process_group()


def train_stage_on_ray(
    config: TrainConfig,
    stage: int,
    epochs: int,
    address: str,
    log: Log,
    on_start: Callable[[list[int]], None] | None = None,
) -> None:
    """``stage``'s epochs on ``config.train_workers`` Ray actors from the latest checkpoint in ``out_dir`` (see
    the module docstring); ``on_start`` gets the ranks' process ids once the group has formed.

    Raises:
        ClusterError: the actors could not start, a rank failed with an error of its own, the group was lost
            :data:`MAX_ATTEMPTS` times, or the ranks ended with different weights.
    """
    ray = connect(address)
    world = config.train_workers
    gpus = 1 if config.device.startswith("cuda") else 0
    if config.device == "auto" and ray.cluster_resources().get("GPU", 0) >= world:
        gpus = 1
    actor_class = ray.remote(num_cpus=1, num_gpus=gpus, max_restarts=0)(_TrainWorker)
    lost = (ray.exceptions.RayActorError, ray.exceptions.WorkerCrashedError, ray.exceptions.NodeDiedError)
    for attempt in range(1, MAX_ATTEMPTS + 1):
        actors = [actor_class.remote(config, rank, world) for rank in range(world)]
        try:
            host, port = ray.get(actors[0].address.remote())
            pids = ray.get([a.join.remote(host, port) for a in actors])
            log(f"stage {stage}: data-parallel over {world} Ray actors (group at {host}:{port}, attempt {attempt})")
            if on_start is not None:
                on_start(pids)
            results = ray.get([a.train.remote(stage, epochs) for a in actors])
        except (*lost, ray.exceptions.RayTaskError) as exc:
            if isinstance(exc, ray.exceptions.RayTaskError) and not _any_lost(ray, actors, lost):
                raise ClusterError(f"stage {stage}: a training rank failed: {exc}") from exc
            log(f"stage {stage}: a training rank was lost ({type(exc).__name__}); again from the last checkpoint")
            continue
        finally:
            for actor in actors:
                ray.kill(actor, no_restart=True)
        for line in results[0]["log"]:
            log(line)
        digests = {r["digest"] for r in results}
        if len(digests) != 1:
            raise ClusterError(f"stage {stage}: the {world} ranks ended with different weights ({sorted(digests)})")
        return
    raise ClusterError(f"stage {stage}: the training group was lost {MAX_ATTEMPTS} times in a row")


def _any_lost(ray: Any, actors: list[Any], lost: tuple[type[BaseException], ...]) -> bool:
    """Whether any of ``actors`` is dead (a survivor's collective then fails with a task error)."""
    for actor in actors:
        try:
            ray.get(actor.address.remote(), timeout=30)
        except lost:
            return True
        except ray.exceptions.GetTimeoutError:
            continue
    return False
