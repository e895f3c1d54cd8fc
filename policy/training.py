"""Behaviour cloning + DAgger for :class:`NavPolicy`, resumable after a kill (``nav train``).

The run is a list of *stages*: stage 0 is behaviour cloning (BC), stage ``r`` (1..``dagger_rounds``)
is DAgger round ``r``. Each stage

1. **collects** episodes into ``out_dir/data/<stage>-<chunk>.npz`` shards, one shard per chunk of
   ``shard_episodes`` episodes, in ``workers`` processes. A shard that exists is reused, so a kill
   loses at most the chunks in flight. In BC the privileged teacher drives; in DAgger round ``r``
   the learner (the model at the end of the previous stage) drives an episode with probability
   ``1 - dagger_beta ** r`` and the teacher otherwise, and the teacher labels every step either way.
2. **trains** on all data collected so far (DAgger aggregation) for ``epochs_bc``/``epochs_dagger``
   epochs, with a cosine learning-rate decay (to 10 %) restarting at each stage.

**Sequences.** Episodes are cut into chunks of ``sequence_length`` steps (truncated BPTT). A chunk
that starts an episode starts from the zero GRU memory, exactly as on the robot. A later chunk
starts from a memory *burned in* without gradient over the ``burn_in`` steps before it (from zero),
an approximation of the memory the robot would carry that needs no stored state. The loss is the
MSE between the tanh action and the teacher's label normalised by ``PolicyProcessor.normalise_action``,
the cross-entropy of the stop decision, and the auxiliary losses (:func:`sequence_loss`). With
``near_weight`` a step with something close in front of the robot counts more (:func:`near_obstacle_weights`):
those few steps are where a learner's loose speed turns into a collision.

**One pre-processing path.** Raw observations are stored; every batch goes through
``PolicyProcessor.batch`` (each row through ``PolicyProcessor.prepare``, as on the robot).
Instruction embeddings are computed once per unique instruction string with the sentence encoder
and passed to ``batch`` as arrays. Rollouts and evaluation use :class:`policy.controller.PolicyController`,
which calls the same processor one observation at a time.

**Resume.** ``out_dir/checkpoints`` holds safetensors + JSON checkpoints (:mod:`policy.checkpoint`)
written every ``checkpoint_every_steps`` steps and at each epoch end; the batch order of an epoch is
a function of (seed, stage, epoch), so a resumed run continues with the next batch of the same
epoch. Only the steps since the last checkpoint are lost.

At the end the learner is evaluated closed-loop on unseen worlds and saved with
:func:`policy.model_io.save_model` into ``out_dir/model`` (metrics and this config in the manifest).
"""

from __future__ import annotations

import dataclasses
import math
import multiprocessing as mp
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from tqdm import tqdm

from configs import load
from perception.lidar import rep117_to_ranges
from policy.checkpoint import latest_checkpoint, load_checkpoint, save_checkpoint
from policy.configuration import PolicyConfig, get_variant
from policy.controller import PolicyController
from policy.data import AUX_COLUMNS, Episode, collect_episode, load_episodes, save_episodes
from policy.guard import nearest_in_sector
from policy.model_io import save_model
from policy.modeling import Encoded, NavPolicy
from policy.processing import PolicyProcessor, ScanGeometry
from sim.config import SimConfig, load_sim_config

__all__ = [
    "DEFAULT_TRAIN_CONFIG",
    "SequenceDataset",
    "TrainConfig",
    "load_train_config",
    "train",
    "training_episodes",
]

DEFAULT_TRAIN_CONFIG = "train.yaml"
"""The training config, relative to ``configs/``."""

Log = Callable[[str], None]


@dataclass(frozen=True)
class TrainConfig:
    """One training run (``configs/train.yaml``). Every field is a YAML key."""

    variant: str = "medium"
    """Model variant in ``configs/models.yaml`` (its velocity limits are taken from the sim config)."""
    seed: int = 0
    """Seeds everything: episode seeds, DAgger driver draws, weight init, batch order, eval seeds."""
    bc_episodes: int = 600
    """Teacher-driven episodes for behaviour cloning (0 allowed when ``demonstrations`` supply the data)."""
    dagger_rounds: int = 2
    """DAgger rounds after BC (0: BC only)."""
    dagger_episodes_per_round: int = 150
    """Episodes collected in each DAgger round."""
    hold_steps: int = 10
    """Steps recorded after each successful episode, the teacher holding still at the goal
    (:func:`policy.data.collect_episode`)."""
    dagger_beta: float = 0.5
    """In round ``r`` (1-based) the teacher drives an episode with probability ``dagger_beta ** r``,
    the learner otherwise; the teacher labels every step either way."""
    epochs_bc: int = 4
    """Passes over the BC data."""
    epochs_dagger: int = 1
    """Passes over all data aggregated so far, after each DAgger round's collection."""
    sequence_length: int = 16
    """Steps per training sequence (truncated back-propagation through time)."""
    burn_in: int = 8
    """Steps before a sequence that does not start an episode, run without gradient from a zero
    memory to warm the GRU up (0: every sequence starts from zero memory)."""
    batch_sequences: int = 16
    """Sequences per optimiser step (samples per step: this times ``sequence_length``)."""
    learning_rate: float = 1e-3
    """AdamW peak learning rate (cosine decay to 10 % within each stage)."""
    weight_decay: float = 1e-4
    """AdamW decoupled weight decay."""
    grad_clip: float = 1.0
    """Gradient norm clip (0: off)."""
    aux_weight: float = 0.5
    """Weight of the auxiliary losses (object in view and where; its bearing, distance and whether it
    was seen, from the memory) against the action loss (0: off). Steps without simulator truth (e.g.
    from bags) only train the action."""
    workers: int = 2
    """Collection processes (1: collect in the training process)."""
    shard_episodes: int = 25
    """Episodes per data shard (what a kill during collection can lose, per worker)."""
    out_dir: str = "runs/train"
    """Run folder: ``data/`` shards, ``checkpoints/``, ``tb/`` TensorBoard, ``model/`` the result."""
    eval_episodes: int = 50
    """Closed-loop evaluation episodes on unseen worlds at the end."""
    stage_eval_episodes: int = 20
    """Closed-loop episodes on unseen worlds after each stage's training, for the log and TensorBoard
    (0: none)."""
    checkpoint_every_steps: int = 200
    """Optimiser steps between checkpoints (and one at every epoch end)."""
    sim_config: str = "sim.yaml"
    """Simulator config (relative paths resolve in ``configs/``)."""
    torch_threads: int = 0
    """Torch CPU threads in the training process (0: torch's default, every core)."""
    demonstrations: tuple[str, ...] = ()
    """Extra demonstration shards (``policy.data`` ``.npz`` files, or folders of them: e.g. written by
    ``nav train --from-bags``, or another run's ``data/``) trained on in every stage beside the
    collected data. Steps without simulator truth (bags) train the action only."""
    weights_dtype: str = "float32"
    """How the final model's weights are stored (``float32``, ``float16``, ``bfloat16``)."""
    near_weight: float = 0.0
    """Extra loss weight on a step where an obstacle or object is within ``near_distance`` of the
    robot's front (a step counts ``1 + near_weight``; 0: every step counts the same)."""
    near_distance: float = 0.12
    """Clearance (m, from the robot's surface, within 45 degrees of straight ahead) that makes a step
    a near step for ``near_weight``."""

    def __post_init__(self) -> None:
        positive = (
            "sequence_length",
            "batch_sequences",
            "workers",
            "shard_episodes",
            "eval_episodes",
            "checkpoint_every_steps",
            "epochs_bc",
        )
        for name in positive:
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        if self.bc_episodes < 0 or (self.bc_episodes == 0 and not self.demonstrations):
            raise ValueError(f"bc_episodes must be >= 1 (or 0 with demonstrations), got {self.bc_episodes}")
        non_negative = (
            "dagger_rounds",
            "dagger_episodes_per_round",
            "epochs_dagger",
            "burn_in",
            "torch_threads",
            "stage_eval_episodes",
            "hold_steps",
        )
        for name in non_negative:
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must be >= 0, got {getattr(self, name)}")
        if self.dagger_rounds > 0 and self.dagger_episodes_per_round < 1:
            raise ValueError("dagger_episodes_per_round must be >= 1 when dagger_rounds > 0")
        if not 0.0 <= self.dagger_beta <= 1.0:
            raise ValueError(f"dagger_beta must be in [0, 1], got {self.dagger_beta}")
        if self.near_weight < 0 or self.near_distance <= 0:
            raise ValueError(
                f"near_weight must be >= 0 and near_distance > 0, got {self.near_weight} and {self.near_distance}"
            )
        if self.learning_rate <= 0 or self.weight_decay < 0 or self.grad_clip < 0 or self.aux_weight < 0:
            raise ValueError("learning_rate must be > 0, weight_decay, grad_clip and aux_weight >= 0")
        if self.weights_dtype not in ("float32", "float16", "bfloat16"):
            raise ValueError(f"weights_dtype must be float32, float16 or bfloat16, got {self.weights_dtype!r}")
        if not self.variant or not self.out_dir:
            raise ValueError("variant and out_dir must be non-empty")


def load_train_config(path: str | Path = DEFAULT_TRAIN_CONFIG) -> TrainConfig:
    """Read a :class:`TrainConfig` (unknown keys and wrong types are a ``ConfigError``)."""
    return load(TrainConfig, path)


# ----------------------------------------------------------------------------------------- seeds


def episode_seed(seed: int, stage: int, index: int) -> int:
    """Env reset seed of episode ``index`` of ``stage`` (0 BC, r DAgger round r); distinct per stage."""
    return seed * 100_000_000 + stage * 1_000_000 + index


def learner_drives(config: TrainConfig, stage: int, index: int) -> bool:
    """Whether the learner drives episode ``index`` of DAgger round ``stage`` (never in BC)."""
    if stage == 0:
        return False
    beta = config.dagger_beta**stage
    return bool(np.random.default_rng([config.seed, stage, index]).random() >= beta)


# ------------------------------------------------------------------------------------ collection


@dataclass(frozen=True)
class _LearnerSpec:
    """What a collection process needs to rebuild the learner: plain config + numpy weights."""

    config: PolicyConfig
    state: dict[str, np.ndarray]


_worker: dict[str, Any] = {}
"""Per-collection-process state, filled by :func:`_init_collector` (env, teacher, learner)."""


def _init_collector(sim_config: SimConfig, learner: _LearnerSpec | None, threads: int, hold_steps: int) -> None:
    from sim.env import make_env
    from sim.teacher import Teacher

    if threads > 0:
        torch.set_num_threads(threads)
    env = make_env(sim_config)
    _worker.clear()
    _worker.update(env=env, teacher=Teacher(env.unwrapped), controller=None, hold_steps=hold_steps)
    if learner is not None:
        model = NavPolicy(learner.config)
        model.load_state_dict({k: torch.from_numpy(v) for k, v in learner.state.items()}, strict=True)
        geometry = ScanGeometry.from_lidar_config(sim_config.lidar)
        _worker["controller"] = PolicyController(model, PolicyProcessor(learner.config), geometry, "cpu")


def _collect_chunk(task: tuple[int, list[int], list[bool]]) -> tuple[int, list[Episode]]:
    chunk, seeds, learner_flags = task
    env, teacher, controller = _worker["env"], _worker["teacher"], _worker["controller"]
    episodes = []
    for seed, learner in zip(seeds, learner_flags, strict=True):
        driver = None
        if learner:
            controller.reset()
            driver = _learner_driver(controller)
        episodes.append(collect_episode(env, teacher, seed, driver, _worker["hold_steps"]))
    return chunk, episodes


def _learner_driver(controller: PolicyController) -> Callable[[dict[str, Any], dict[str, Any], np.ndarray], np.ndarray]:
    def drive(obs: dict[str, Any], info: dict[str, Any], _teacher_action: np.ndarray) -> np.ndarray:
        return controller.act(obs, info)

    return drive


def _shard_path(data_dir: Path, stage: int, chunk: int) -> Path:
    name = "bc" if stage == 0 else f"dagger{stage:02d}"
    return data_dir / f"{name}-{chunk:05d}.npz"


def _stage_episodes(config: TrainConfig, stage: int) -> int:
    return config.bc_episodes if stage == 0 else config.dagger_episodes_per_round


def _stage_chunks(config: TrainConfig, stage: int) -> list[tuple[int, list[int], list[bool]]]:
    n, size = _stage_episodes(config, stage), config.shard_episodes
    tasks = []
    for chunk, first in enumerate(range(0, n, size)):
        indices = range(first, min(n, first + size))
        tasks.append(
            (
                chunk,
                [episode_seed(config.seed, stage, i) for i in indices],
                [learner_drives(config, stage, i) for i in indices],
            )
        )
    return tasks


def collect_stage(
    config: TrainConfig,
    stage: int,
    sim_config: SimConfig,
    data_dir: Path,
    learner: NavPolicy | None,
    log: Log,
    progress: bool,
) -> list[Path]:
    """Collect the missing shards of ``stage`` (existing ones are reused); returns all its shard paths."""
    tasks = _stage_chunks(config, stage)
    paths = [_shard_path(data_dir, stage, chunk) for chunk, _, _ in tasks]
    missing = [t for t, p in zip(tasks, paths, strict=True) if not p.is_file()]
    if len(missing) < len(tasks):
        log(f"stage {stage}: reusing {len(tasks) - len(missing)} existing shard(s) in {data_dir}")
    if not missing:
        return paths
    spec = None
    if learner is not None and any(any(flags) for _, _, flags in missing):
        spec = _LearnerSpec(
            learner.config, {k: v.detach().cpu().numpy().copy() for k, v in learner.state_dict().items()}
        )
    episodes_todo = sum(len(seeds) for _, seeds, _ in missing)
    bar = tqdm(total=episodes_todo, desc=f"collect stage {stage}", unit="ep", disable=not progress)
    start = time.perf_counter()
    workers = min(config.workers, len(missing))
    try:
        if workers <= 1:
            _init_collector(sim_config, spec, 0, config.hold_steps)
            try:
                for task in missing:
                    _save_chunk(*_collect_chunk(task), data_dir, stage, bar, log)
            finally:
                _worker["env"].close()
                _worker.clear()
        else:
            # An executor (unlike mp.Pool) fails loudly when a worker's initializer or the worker dies.
            with ProcessPoolExecutor(
                workers,
                mp_context=mp.get_context("spawn"),
                initializer=_init_collector,
                initargs=(sim_config, spec, 1, config.hold_steps),
            ) as pool:
                for future in as_completed([pool.submit(_collect_chunk, task) for task in missing]):
                    _save_chunk(*future.result(), data_dir, stage, bar, log)
    finally:
        bar.close()
    elapsed = time.perf_counter() - start
    log(f"stage {stage}: collected {episodes_todo} episodes in {elapsed:.1f} s ({episodes_todo / elapsed:.2f} ep/s)")
    return paths


def _save_chunk(chunk: int, episodes: list[Episode], data_dir: Path, stage: int, bar: tqdm, log: Log) -> None:
    path = save_episodes(_shard_path(data_dir, stage, chunk), episodes)
    bar.update(len(episodes))
    log(f"shard {path.name}: {len(episodes)} episodes, {sum(len(e) for e in episodes)} steps")


# ------------------------------------------------------------------------------------- sequences


class SequenceDataset:
    """Episodes as one set of raw arrays, cut into training sequences with burn-in.

    Args:
        episodes: The demonstration episodes.
        embeddings: Instruction string -> ``(text_dim,)`` embedding, for every episode's instruction.
        sequence_length: Steps per sequence.
        burn_in: Steps of gradient-free memory warm-up before a sequence that does not start an episode.
    """

    def __init__(
        self,
        episodes: Sequence[Episode],
        embeddings: dict[str, np.ndarray],
        sequence_length: int,
        burn_in: int,
    ) -> None:
        if not episodes:
            raise ValueError("no episodes to train on")
        self.images = np.concatenate([e.images for e in episodes])
        self.scans = np.concatenate([e.scans for e in episodes])
        self.odom = np.concatenate([e.odom for e in episodes])
        self.labels = np.concatenate([e.labels for e in episodes])
        missing = np.full((1, len(AUX_COLUMNS)), np.nan, dtype=np.float32)
        self.aux = np.concatenate(
            [e.aux if e.aux is not None else np.repeat(missing, len(e), axis=0) for e in episodes]
        ).astype(np.float32)
        names = sorted({e.instruction for e in episodes})
        self.text_table = np.stack([embeddings[n] for n in names]).astype(np.float32)
        lengths = np.array([len(e) for e in episodes])
        starts = np.concatenate([[0], np.cumsum(lengths)[:-1]])
        self.text_index = np.repeat([names.index(e.instruction) for e in episodes], lengths)
        self.sequence_length = sequence_length
        self.burn_in = burn_in
        chunk_starts, chunk_offsets, chunk_ends = [], [], []
        for start, n in zip(starts, lengths, strict=True):
            for offset in range(0, int(n), sequence_length):
                chunk_starts.append(start + offset)
                chunk_offsets.append(offset)
                chunk_ends.append(start + n)
        self.chunk_start = np.array(chunk_starts, dtype=np.int64)
        self.chunk_offset = np.array(chunk_offsets, dtype=np.int64)
        self.chunk_end = np.array(chunk_ends, dtype=np.int64)
        self.weights = np.ones(len(self.labels), dtype=np.float32)
        """Loss weight of each step (all 1 unless the trainer sets them, e.g. :func:`near_obstacle_weights`)."""

    def __len__(self) -> int:
        """Number of sequences."""
        return len(self.chunk_start)

    @property
    def samples(self) -> int:
        return len(self.labels)

    def epoch_batches(self, rng: np.random.Generator, batch_sequences: int) -> list[np.ndarray]:
        """A shuffled split of the sequences into batches (a last batch of one sequence is dropped:
        BatchNorm needs two rows)."""
        order = rng.permutation(len(self))
        batches = [order[i : i + batch_sequences] for i in range(0, len(order), batch_sequences)]
        return [b for b in batches if len(b) >= 2]

    def layout(self, chunks: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, int]:
        """Row indices ``(B, W)``, ``valid`` and ``train`` masks ``(B, W)`` and the burn-in width.

        Column ``burn`` is every sequence's first training step; a sequence with a shorter burn-in
        (near its episode start) or that ends early is padded with its nearest real row (masked out).
        """
        start, offset, end = self.chunk_start[chunks], self.chunk_offset[chunks], self.chunk_end[chunks]
        burn_each = np.minimum(offset, self.burn_in)
        burn = int(burn_each.max())
        width = burn + self.sequence_length
        cols = np.arange(width)[None, :] - burn  # relative to the first training step
        rows = start[:, None] + cols
        first = (start - burn_each)[:, None]
        valid = (rows >= first) & (rows < end[:, None])
        train = valid & (cols >= 0)
        rows = np.clip(rows, first, end[:, None] - 1)
        return rows, valid, train, burn


STOP_WEIGHT = 0.5
"""Weight of the stop decision's cross-entropy beside the action's MSE."""
DISTANCE_SCALE = 5.0
"""Metres per unit of the auxiliary distance output."""


def sequence_loss(
    model: NavPolicy,
    inputs: Any,
    labels: torch.Tensor,
    valid: torch.Tensor,
    train: torch.Tensor,
    burn: int,
    aux: torch.Tensor | None = None,
    aux_weight: float = 0.0,
) -> tuple[torch.Tensor, dict[str, float]]:
    """Masked loss over a ``(B, W)`` batch of sequences, the memory carried step by step.

    ``inputs`` is a :class:`PolicyInputs` of ``B * W`` rows (row-major over ``(B, W)``); the first
    ``burn`` columns only warm the memory up (no gradient). A padded step keeps the memory unchanged.
    The memory-free part of each step (:meth:`NavPolicy.encode`) runs once for all the burn-in rows
    and once for all the training rows; only the memory update runs step by step.
    The loss is the MSE of the action, plus ``STOP_WEIGHT`` times the cross-entropy of the stop
    decision (the label is a stop where the teacher's command is exactly zero), plus ``aux_weight``
    times the auxiliary losses on the steps
    whose ``aux`` row (``(B, W, len(AUX_COLUMNS))``, NaN where unknown) is known. Returns the loss
    and its parts (floats, for logging).
    """
    batch, width = valid.shape

    def encode(columns: slice) -> Encoded:
        """Every row of ``columns`` in one :meth:`NavPolicy.encode` call, as ``(B, columns, ...)``."""
        rows = [x.reshape(batch, width, *x.shape[1:])[:, columns].flatten(0, 1) for x in inputs.as_tuple()]
        rows[0] = rows[0].contiguous(memory_format=torch.channels_last)  # faster convolutions on CPU
        return Encoded(*(f.unflatten(0, (batch, -1)) for f in model.encode(*rows)))

    hidden = model.initial_hidden(batch, valid.device)
    if burn:
        with torch.no_grad():
            warm = encode(slice(0, burn))
            for t in range(burn):
                new = model.recur(warm.at(t), hidden).hidden
                hidden = torch.where(valid[:, t, None], new, hidden)
    hidden = hidden.detach()
    encoded = encode(slice(burn, width))
    actions, stops, views, memories = [], [], [], []
    for t in range(width - burn):
        out = model.recur(encoded.at(t), hidden)
        hidden = torch.where(valid[:, burn + t, None], out.hidden, hidden)
        actions.append(out.action)
        stops.append(out.stop_logit)
        views.append(out.view)
        memories.append(out.memory)
    weight = train[:, burn:]
    count = weight.sum().clamp(min=1)
    target = labels[:, burn:]
    action_error = F.mse_loss(torch.stack(actions, 1), target, reduction="none").mean(dim=2)
    stop_label = (target == 0).all(dim=2).to(target.dtype)  # the teacher's stop: exactly zero
    stop_error = F.binary_cross_entropy_with_logits(torch.stack(stops, 1), stop_label, reduction="none")
    action_loss = (action_error * weight).sum() / count
    stop_loss = (stop_error * weight).sum() / count
    parts = {"action": float(action_loss.detach()), "stop": float(stop_loss.detach())}
    action_loss = action_loss + STOP_WEIGHT * stop_loss
    if aux is None or aux_weight <= 0:
        return action_loss, parts
    aux_loss = _aux_loss(torch.stack(views, 1), torch.stack(memories, 1), aux[:, burn:], weight, parts)
    return action_loss + aux_weight * aux_loss, parts


def _aux_loss(
    view: torch.Tensor, memory: torch.Tensor, truth: torch.Tensor, weight: torch.Tensor, parts: dict[str, float]
) -> torch.Tensor:
    """The auxiliary losses (see :data:`policy.data.AUX_COLUMNS`), each a masked mean."""
    known = torch.isfinite(truth[..., 0]).float() * weight
    truth = torch.nan_to_num(truth)
    visible, column, bearing, distance, seen = truth.unbind(-1)

    def masked(error: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        return (error * mask).sum() / mask.sum().clamp(min=1)

    terms = {
        "in_view": masked(F.binary_cross_entropy_with_logits(view[..., 0], visible, reduction="none"), known),
        "column": masked((view[..., 1] - column) ** 2, known * visible),
        "seen": masked(F.binary_cross_entropy_with_logits(memory[..., 3], seen, reduction="none"), known),
        "bearing": masked(
            (memory[..., 0] - torch.sin(bearing)) ** 2 + (memory[..., 1] - torch.cos(bearing)) ** 2, known * seen
        ),
        "distance": masked((memory[..., 2] - distance / DISTANCE_SCALE) ** 2, known * seen),
    }
    parts.update({f"aux_{k}": float(v.detach()) for k, v in terms.items()})
    return sum(terms.values(), torch.zeros((), device=view.device))


NEAR_HALF_ANGLE = math.radians(45.0)
"""Half-width of the sector ahead that :func:`near_obstacle_weights` looks at."""


def near_obstacle_weights(
    scans: np.ndarray, geometry: ScanGeometry, robot_radius: float, distance: float, extra: float
) -> np.ndarray:
    """Per-step loss weights from raw scans ``(N, beams)`` (``geometry``'s layout, REP 117 ranges):
    ``1 + extra`` where a return within 45 degrees of straight ahead is less than ``distance`` from the
    robot's surface (too close to measure counts as near; NaN and no return do not), else 1. The
    sector is read as the robot's collision guard reads its own (:func:`policy.guard.nearest_in_sector`)."""
    ranges = rep117_to_ranges(scans, geometry.range_min, geometry.range_max, math.inf)
    angles = geometry.angle_min + geometry.angle_increment * np.arange(scans.shape[1])
    nearest = nearest_in_sector(ranges, angles, 0.0, NEAR_HALF_ANGLE)
    near = nearest - robot_radius < distance  # NaN (no valid beam ahead) is not near
    return np.where(near, 1.0 + extra, 1.0).astype(np.float32)


def make_batch(
    dataset: SequenceDataset, chunks: np.ndarray, processor: PolicyProcessor, geometry: ScanGeometry
) -> tuple[Any, torch.Tensor, torch.Tensor, torch.Tensor, int, torch.Tensor]:
    """Pre-process the rows of ``chunks`` through ``PolicyProcessor.batch`` (each distinct row once).
    The ``train`` mask it returns carries the dataset's step weights."""
    rows, valid, train, burn = dataset.layout(chunks)
    unique, inverse = np.unique(rows.reshape(-1), return_inverse=True)
    prepared = processor.batch(
        dataset.images[unique],
        dataset.scans[unique],
        geometry,
        dataset.text_table[dataset.text_index[unique]],
        dataset.odom[unique],
    )
    gather = torch.from_numpy(inverse.reshape(-1))
    inputs = type(prepared)(*(x[gather] for x in prepared.as_tuple()))
    labels = torch.from_numpy(processor.normalise_action(dataset.labels[rows]))
    aux = torch.from_numpy(dataset.aux[rows])
    weights = torch.from_numpy(train * dataset.weights[rows])
    return inputs, labels, torch.from_numpy(valid), weights, burn, aux


# ------------------------------------------------------------------------------------ the run


def _cosine_lr(base: float, step: int, total: int) -> float:
    fraction = min(1.0, step / max(1, total))
    return base * (0.1 + 0.9 * 0.5 * (1.0 + math.cos(math.pi * fraction)))


def _embeddings(processor: PolicyProcessor, episodes: Sequence[Episode], cache: dict[str, np.ndarray]) -> None:
    for instruction in sorted({e.instruction for e in episodes} - set(cache)):
        cache[instruction] = processor.text(instruction)  # the sentence encoder, once per string


def _episode_stats(config: TrainConfig, stage: int, paths: list[Path]) -> dict[str, float]:
    episodes = [e for p in paths for e in load_episodes(p)]
    flags = [learner_drives(config, stage, i) for i in range(len(episodes))]
    learner = [e.success for e, f in zip(episodes, flags, strict=True) if f]
    teacher = [e.success for e, f in zip(episodes, flags, strict=True) if not f]
    stats = {"episodes": float(len(episodes)), "steps": float(sum(len(e) for e in episodes))}
    if learner:
        stats["learner_success_rate"] = float(np.mean(learner))
    if teacher:
        stats["teacher_success_rate"] = float(np.mean(teacher))
    if episodes:
        stats["success_rate"] = float(np.mean([e.success for e in episodes]))
    return stats


def _iter_batches(batches: list[np.ndarray], start: int, bar: tqdm) -> Iterator[tuple[int, np.ndarray]]:
    for index in range(start, len(batches)):
        yield index, batches[index]
        bar.update(1)


def train(config: TrainConfig, log: Log = print, progress: bool = True) -> Path:
    """Run (or resume) BC + DAgger as described in the module docstring; returns ``out_dir/model``."""
    from torch.utils.tensorboard import SummaryWriter

    from sim.evaluate import EvalConfig, evaluate, split_config

    out = Path(config.out_dir)
    data_dir, ckpt_dir, model_dir = out / "data", out / "checkpoints", out / "model"
    out.mkdir(parents=True, exist_ok=True)
    if config.torch_threads > 0:
        torch.set_num_threads(config.torch_threads)
    torch.manual_seed(config.seed)

    sim = load_sim_config(config.sim_config)
    train_sim = split_config(sim, "train", "train")
    policy_config = get_variant(config.variant).with_limits(
        sim.robot.max_linear, sim.robot.max_angular, sim.task.stop_speed
    )
    geometry = ScanGeometry.from_lidar_config(sim.lidar)
    model = NavPolicy(policy_config)
    optimizer = torch.optim.AdamW(model.parameters(), lr=config.learning_rate, weight_decay=config.weight_decay)
    processor = PolicyProcessor(policy_config)
    stages = 1 + config.dagger_rounds
    state: dict[str, Any] = {"stage": 0, "epoch": 0, "batch": 0, "global_step": 0, "history": {}}

    latest = latest_checkpoint(ckpt_dir)
    if latest is not None:
        checkpoint = load_checkpoint(latest)
        saved_variant = checkpoint.progress.get("config", {}).get("variant")
        if saved_variant != config.variant:
            raise ValueError(
                f"{latest} is a {saved_variant!r} run; out_dir {out} cannot resume it as {config.variant!r}"
            )
        checkpoint.restore(model, optimizer)
        state = {k: checkpoint.progress[k] for k in ("stage", "epoch", "batch", "global_step", "history")}
        torch.set_rng_state(torch.tensor(checkpoint.progress["torch_rng"], dtype=torch.uint8))
        log(
            f"resumed from {latest} (stage {state['stage']}, epoch {state['epoch']}, "
            f"batch {state['batch']}, step {state['global_step']})"
        )

    def checkpoint_now() -> None:
        progress_state = dict(state, config=dataclasses.asdict(config), torch_rng=torch.get_rng_state().tolist())
        path = save_checkpoint(ckpt_dir, model, optimizer, progress_state)
        log(f"checkpoint {path.name} (stage {state['stage']}, epoch {state['epoch']}, batch {state['batch']})")

    writer = SummaryWriter(str(out / "tb"), purge_step=state["global_step"] if latest is not None else None)
    embeddings: dict[str, np.ndarray] = {}
    try:
        for stage in range(state["stage"], stages):
            paths = collect_stage(config, stage, train_sim, data_dir, model if stage > 0 else None, log, progress)
            stats = _episode_stats(config, stage, paths)
            state["history"][str(stage)] = stats
            for key, value in stats.items():
                writer.add_scalar(f"{'bc' if stage == 0 else 'dagger'}/{key}", value, stage)
            log(f"stage {stage} data: {stats}")
            episodes = training_episodes(config, stage, data_dir)
            _embeddings(processor, episodes, embeddings)
            dataset = SequenceDataset(episodes, embeddings, config.sequence_length, config.burn_in)
            if config.near_weight > 0:
                dataset.weights = near_obstacle_weights(
                    dataset.scans, geometry, sim.robot.radius, config.near_distance, config.near_weight
                )
            del episodes
            epochs = config.epochs_bc if stage == 0 else config.epochs_dagger
            log(f"stage {stage}: {dataset.samples} samples in {len(dataset)} sequences, {epochs} epoch(s)")
            model.train()
            for epoch in range(state["epoch"], epochs):
                rng = np.random.default_rng([config.seed, stage, epoch])
                batches = dataset.epoch_batches(rng, config.batch_sequences)
                total = epochs * len(batches)
                bar = tqdm(
                    total=len(batches),
                    initial=state["batch"],
                    desc=f"stage {stage} epoch {epoch}",
                    unit="batch",
                    disable=not progress,
                )
                tic, samples = time.perf_counter(), 0
                try:
                    for index, chunks in _iter_batches(batches, state["batch"], bar):
                        lr = _cosine_lr(config.learning_rate, epoch * len(batches) + index, total)
                        for group in optimizer.param_groups:
                            group["lr"] = lr
                        inputs, labels, valid, train_mask, burn, aux = make_batch(dataset, chunks, processor, geometry)
                        loss, parts = sequence_loss(
                            model, inputs, labels, valid, train_mask, burn, aux, config.aux_weight
                        )
                        optimizer.zero_grad(set_to_none=True)
                        loss.backward()
                        if config.grad_clip > 0:
                            torch.nn.utils.clip_grad_norm_(model.parameters(), config.grad_clip)
                        optimizer.step()
                        samples += int((train_mask > 0).sum())
                        state["global_step"] += 1
                        state["batch"] = index + 1
                        step = state["global_step"]
                        writer.add_scalar("train/loss", loss.item(), step)
                        for name, value in parts.items():
                            writer.add_scalar(f"train/{name}", value, step)
                        writer.add_scalar("train/lr", lr, step)
                        bar.set_postfix(loss=f"{loss.item():.4f}", action=f"{parts['action']:.4f}")
                        if step % config.checkpoint_every_steps == 0 and state["batch"] < len(batches):
                            checkpoint_now()
                finally:
                    bar.close()
                elapsed = time.perf_counter() - tic
                writer.add_scalar("train/samples_per_s", samples / max(elapsed, 1e-9), state["global_step"])
                log(
                    f"stage {stage} epoch {epoch}: {samples} samples in {elapsed:.1f} s "
                    f"({samples / max(elapsed, 1e-9):.0f} samples/s), last loss {loss.item():.4f}"
                    if samples
                    else f"stage {stage} epoch {epoch}: nothing left to train"
                )
                state["epoch"], state["batch"] = epoch + 1, 0
                if state["epoch"] == epochs:
                    state["stage"], state["epoch"] = stage + 1, 0
                checkpoint_now()
            if epochs == 0:
                state["stage"], state["epoch"], state["batch"] = stage + 1, 0, 0
                checkpoint_now()
            del dataset
            if config.stage_eval_episodes > 0:
                model.eval()
                stage_config = EvalConfig(
                    episodes=config.stage_eval_episodes, seed=config.seed + 7919, world_split="unseen", progress=False
                )
                summary, _ = evaluate(lambda env: PolicyController(model, processor, geometry), stage_config, sim)
                log(f"stage {stage} closed loop on unseen worlds: {summary}")
                for key in ("success_rate", "spl", "collision_rate"):
                    if isinstance(summary.get(key), (int, float)):
                        writer.add_scalar(f"stage_eval/{key}", summary[key], stage)
                model.train()

        model.eval()
        eval_config = EvalConfig(
            episodes=config.eval_episodes, seed=config.seed, world_split="unseen", progress=progress
        )
        summary, _ = evaluate(lambda env: PolicyController(model, processor, geometry), eval_config, sim)
        log(f"eval on unseen worlds: {summary}")
        for key in ("success_rate", "spl"):
            if isinstance(summary.get(key), (int, float)):
                writer.add_scalar(f"eval/{key}", summary[key], state["global_step"])
        metrics = {"eval_unseen": summary, "collection": state["history"], "global_step": state["global_step"]}
        save_model(model, policy_config, model_dir, dataclasses.asdict(config), metrics, config.weights_dtype)
        log(f"model saved to {model_dir}")
    finally:
        writer.close()
    return model_dir


def training_episodes(config: TrainConfig, stage: int, data_dir: Path) -> list[Episode]:
    """What ``stage`` trains on: every shard collected up to it (DAgger aggregation) and the extra
    ``demonstrations``."""
    collected = [e for s in range(stage + 1) for p in _stage_paths(config, s, data_dir) for e in load_episodes(p)]
    return collected + [e for p in demonstration_shards(config) for e in load_episodes(p)]


def demonstration_shards(config: TrainConfig) -> list[Path]:
    """The ``demonstrations`` as shard files (a folder stands for its ``*.npz``, sorted); a missing
    path or an empty folder is an error naming it."""
    shards: list[Path] = []
    for entry in map(Path, config.demonstrations):
        if entry.is_dir():
            found = sorted(entry.glob("*.npz"))
            if not found:
                raise FileNotFoundError(f"demonstrations: no .npz shard in folder {entry}")
            shards += found
        elif entry.is_file():
            shards.append(entry)
        else:
            raise FileNotFoundError(f"demonstrations: {entry} does not exist")
    return shards


def _stage_paths(config: TrainConfig, stage: int, data_dir: Path) -> list[Path]:
    return [_shard_path(data_dir, stage, chunk) for chunk, _, _ in _stage_chunks(config, stage)]
