"""The training loop: stages of collection and training, each a few epochs of optimiser steps (``nav train``).

A stage collects its episodes (:mod:`policy.training.collection`), then trains on all data collected so
far and the extra ``demonstrations`` (DAgger aggregation) for ``epochs_bc``/``epochs_dagger`` epochs, with a
cosine learning-rate decay (to ``lr_final_fraction``) restarting at each stage, and ends with a
closed-loop check (:mod:`policy.training.stage_eval`).

**Resume.** ``out_dir/checkpoints`` holds safetensors + JSON checkpoints (:mod:`policy.checkpoint`)
written every ``checkpoint_every_steps`` steps and at each epoch end; the batch order of an epoch is
a function of (seed, stage, epoch), so a resumed run continues with the next batch of the same
epoch. Only the steps since the last checkpoint are lost.

At the end the learner is evaluated closed-loop on unseen worlds and saved with
:func:`policy.model_io.save_model` into ``out_dir/model`` (metrics and the config in the manifest).
"""

from __future__ import annotations

import dataclasses
import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from tqdm import tqdm

from policy.checkpoint import latest_checkpoint, load_checkpoint, save_checkpoint
from policy.configuration import get_variant
from policy.evaluation import split_config
from policy.model_io import save_model
from policy.modeling import NavPolicy
from policy.processing import PolicyProcessor, ScanGeometry
from policy.training.collection import collect_stage, episode_stats, training_episodes
from policy.training.config import Log, TrainConfig
from policy.training.dataset import SequenceDataset, embed_instructions, make_batch
from policy.training.loss import near_obstacle_weights
from policy.training.stage_eval import Learner, ScalarWriter, final_eval, stage_eval
from policy.training.step import Batch, autocast_dtype, batch_threads, optimiser_step, prefetched, resolve_device
from sim.config import SimConfig, load_sim_config

if TYPE_CHECKING:
    from policy.training.distributed import Parallel


@dataclass
class Progress:
    """Where a run stands; saved in every checkpoint (as JSON) and restored on resume."""

    stage: int = 0
    """The stage being trained (``1 + dagger_rounds`` once all are done)."""
    epoch: int = 0
    """The epoch of ``stage`` being trained."""
    batch: int = 0
    """The next batch of ``epoch``."""
    global_step: int = 0
    """Optimiser steps so far, over all stages."""
    history: dict[str, dict[str, float]] = field(default_factory=dict)
    """Stage (as a string) -> what its collected data holds (:func:`episode_stats`)."""

    @classmethod
    def from_record(cls, record: dict[str, Any]) -> Progress:
        """The progress a checkpoint's record (:func:`progress_record`) holds."""
        return cls(**{f.name: record[f.name] for f in dataclasses.fields(cls)})


@dataclass
class _Run:
    """What the stages of one run share."""

    config: TrainConfig
    sim: SimConfig
    """What the episodes are collected in (randomised where train.yaml says so)."""
    clean: SimConfig
    """What the closed-loop checks run in: the simulator config without randomisation."""
    learner: Learner
    optimizer: torch.optim.Optimizer
    writer: ScalarWriter
    state: Progress
    log: Log
    progress: bool
    """Show progress bars."""
    embeddings: dict[str, np.ndarray] = field(default_factory=dict)
    """Instruction -> embedding, computed once per string over the whole run."""
    ray: str | None = None
    """Collect on the Ray cluster at this address (:func:`policy.training.collection.collect_stage`)."""
    device: torch.device = torch.device("cpu")
    """Where the model, its batches and the closed-loop checks run (``config.device`` resolved)."""
    amp: torch.dtype | None = None
    """The autocast dtype of the forward pass (None: float32)."""
    parallel: Parallel | None = None
    """In a data-parallel worker (:mod:`policy.training.distributed`): its rank's share of each batch, the
    gradient average, and whether it writes the checkpoints; None: the one process that trains."""

    @property
    def out(self) -> Path:
        return Path(self.config.out_dir)

    def checkpoint(self) -> None:
        """Save the model, the optimiser and :attr:`state` (with the config and the torch RNG state); in a
        data-parallel group every rank averages its BatchNorm statistics first and rank 0 saves."""
        if self.parallel is not None:
            self.parallel.sync_buffers(self.learner.model)
            if not self.parallel.writes:
                return
        path = save_checkpoint(
            self.out / "checkpoints", self.learner.model, self.optimizer, progress_record(self.state, self.config)
        )
        s = self.state
        self.log(f"checkpoint {path.name} (stage {s.stage}, epoch {s.epoch}, batch {s.batch})")


def progress_record(state: Progress, config: TrainConfig) -> dict[str, Any]:
    """What a checkpoint keeps beside the weights: ``state``, the config and the torch RNG state (as JSON)."""
    return dict(dataclasses.asdict(state), config=dataclasses.asdict(config), torch_rng=torch.get_rng_state().tolist())


def build_learner(config: TrainConfig, sim: SimConfig, device: torch.device) -> tuple[Learner, torch.optim.Optimizer]:
    """A fresh model of ``config``'s variant on ``device`` (velocity limits from ``sim``), its processor, the
    lidar's geometry, and its AdamW: what a run, or a rank of one, trains."""
    policy_config = get_variant(config.variant).with_limits(
        sim.robot.max_linear, sim.robot.max_angular, sim.task.stop_speed
    )
    model = NavPolicy(policy_config).to(device)
    optimizer = torch.optim.AdamW(model.parameters(), lr=config.learning_rate, weight_decay=config.weight_decay)
    return Learner(model, PolicyProcessor(policy_config), ScanGeometry.from_lidar_config(sim.lidar)), optimizer


def train(config: TrainConfig, log: Log = print, progress: bool = True, ray: str | None = None) -> Path:
    """Run (or resume) BC + DAgger (see :mod:`policy.training`); returns ``out_dir/model``. ``ray``: collect on
    the Ray cluster at this address (``nav train --ray``; the checks and the optimiser stay in this process)."""
    from torch.utils.tensorboard import SummaryWriter

    if config.train_workers > 1 and ray is None:
        raise ValueError(f"train_workers {config.train_workers} needs a Ray cluster: nav train --ray [ADDRESS]")
    out = Path(config.out_dir)
    out.mkdir(parents=True, exist_ok=True)
    if config.torch_threads > 0:
        torch.set_num_threads(config.torch_threads)
    torch.manual_seed(config.seed)

    clean = load_sim_config(config.sim_config)  # the closed-loop checks: clean worlds, comparable run to run
    sim = clean
    if config.perturbations:  # domain randomisation of the collected episodes (sim.perturb)
        sim = clean.replace(
            randomise=config.perturbations,
            randomise_probability=config.perturbation_probability,
            randomise_probabilities=dict(config.perturbation_probabilities),
            randomise_clean_fraction=config.clean_episode_fraction,
        )
    device = resolve_device(config.device)
    amp = autocast_dtype(device, config.mixed_precision)
    learner, optimizer = build_learner(config, sim, device)
    log(f"training {config.variant} on {device}" + (f" ({str(amp).removeprefix('torch.')} autocast)" if amp else ""))
    state, resumed = _resume(config, learner.model, optimizer, log)
    writer = SummaryWriter(str(out / "tb"), purge_step=state.global_step if resumed else None)
    run = _Run(config, sim, clean, learner, optimizer, writer, state, log, progress, ray=ray, device=device, amp=amp)
    try:
        for stage in range(state.stage, 1 + config.dagger_rounds):
            _run_stage(run, stage)
        state = run.state  # a data-parallel stage hands back the progress its ranks reached
        summary = final_eval(learner, clean, config, state.global_step, writer, log, progress)
        metrics = {"eval_unseen": summary, "collection": state.history, "global_step": state.global_step}
        model, policy_config = learner.model, learner.processor.config
        save_model(model, policy_config, out / "model", dataclasses.asdict(config), metrics, config.weights_dtype)
        log(f"model saved to {out / 'model'}")
    finally:
        writer.close()
    return out / "model"


def _resume(config: TrainConfig, model: NavPolicy, optimizer: torch.optim.Optimizer, log: Log) -> tuple[Progress, bool]:
    """Restore the latest checkpoint of ``out_dir`` into ``model`` and ``optimizer`` (and the torch RNG);
    returns the progress it saved (a fresh one if there is none) and whether there was one."""
    out = Path(config.out_dir)
    latest = latest_checkpoint(out / "checkpoints")
    if latest is None:
        return Progress(), False
    checkpoint = load_checkpoint(latest)
    saved_variant = checkpoint.progress.get("config", {}).get("variant")
    if saved_variant != config.variant:
        raise ValueError(f"{latest} is a {saved_variant!r} run; out_dir {out} cannot resume it as {config.variant!r}")
    checkpoint.restore(model, optimizer)
    state = Progress.from_record(checkpoint.progress)
    torch.set_rng_state(torch.tensor(checkpoint.progress["torch_rng"], dtype=torch.uint8))
    log(
        f"resumed from {latest} (stage {state.stage}, epoch {state.epoch}, "
        f"batch {state.batch}, step {state.global_step})"
    )
    return state, True


def _run_stage(run: _Run, stage: int) -> None:
    """Collect ``stage``'s data, train on everything collected so far, then check the learner closed-loop."""
    config, state = run.config, run.state
    _collect(run, stage)
    epochs = config.epochs_bc if stage == 0 else config.epochs_dagger
    run.learner.model.train()
    if epochs > 0 and config.train_workers > 1:
        _train_stage_on_ray(run, stage, epochs)
    else:
        train_stage(run, stage, epochs)
    if epochs == 0:
        state.stage, state.epoch, state.batch = stage + 1, 0, 0
        run.checkpoint()
    if config.stage_eval_episodes > 0:
        stage_eval(run.learner, run.clean, config, stage, run.writer, run.log)


def train_stage(run: _Run, stage: int, epochs: int) -> None:
    """The epochs of ``stage`` left to train, on the data collected so far (in this process, or as one rank
    of a data-parallel group)."""
    dataset = stage_dataset(run, stage)
    run.log(f"stage {stage}: {dataset.samples} samples in {len(dataset)} sequences, {epochs} epoch(s)")
    for epoch in range(run.state.epoch, epochs):
        _run_epoch(run, dataset, stage, epoch, epochs)


def _train_stage_on_ray(run: _Run, stage: int, epochs: int) -> None:
    """``stage``'s epochs in ``train_workers`` Ray actors from the state checkpointed here; then this process
    takes up the checkpoint their rank 0 wrote last (:mod:`policy.training.distributed`)."""
    from policy.training.distributed import train_stage_on_ray

    assert run.ray is not None  # train() refuses train_workers > 1 without a cluster
    run.checkpoint()  # where the workers start
    train_stage_on_ray(run.config, stage, epochs, run.ray, run.log)
    latest = latest_checkpoint(run.out / "checkpoints")
    if latest is None:
        raise RuntimeError(f"the data-parallel workers left no checkpoint in {run.out / 'checkpoints'}")
    checkpoint = load_checkpoint(latest)
    checkpoint.restore(run.learner.model, run.optimizer)
    run.state = Progress.from_record(checkpoint.progress)


def _collect(run: _Run, stage: int) -> None:
    """Collect ``stage``'s missing shards (on train worlds and phrasings) and record what its data holds."""
    train_sim = split_config(run.sim, "train", "train")
    driver = run.learner.model if stage > 0 else None
    data_dir = run.out / "data"
    paths = collect_stage(run.config, stage, train_sim, data_dir, driver, run.log, run.progress, run.ray)
    stats = episode_stats(run.config, stage, paths)
    run.state.history[str(stage)] = stats
    for key, value in stats.items():
        run.writer.add_scalar(f"{'bc' if stage == 0 else 'dagger'}/{key}", value, stage)
    run.log(f"stage {stage} data: {stats}")


def stage_dataset(run: _Run, stage: int) -> SequenceDataset:
    """The sequences ``stage`` trains on, each step weighted for ``near_weight``."""
    config = run.config
    episodes = training_episodes(config, stage, run.out / "data")
    embed_instructions(run.learner.processor, episodes, run.embeddings)
    dataset = SequenceDataset(episodes, run.embeddings, config.sequence_length, config.burn_in)
    if config.near_weight > 0:
        dataset.weights = near_obstacle_weights(
            dataset.scans,
            run.learner.geometry,
            run.sim.robot.radius,
            config.near_distance,
            config.near_weight,
            config.near_half_angle_deg,
        )
    return dataset


def cosine_lr(base: float, step: int, total: int, final_fraction: float) -> float:
    """The learning rate at ``step`` of ``total``: a cosine from ``base`` down to ``final_fraction * base``."""
    fraction = min(1.0, step / max(1, total))
    return base * (final_fraction + (1.0 - final_fraction) * 0.5 * (1.0 + math.cos(math.pi * fraction)))


def _run_epoch(run: _Run, dataset: SequenceDataset, stage: int, epoch: int, epochs: int) -> None:
    """Train ``epoch`` of ``stage`` from the state's next batch on; checkpoint on the way and at its end."""
    config, state = run.config, run.state
    batches = dataset.epoch_batches(np.random.default_rng([config.seed, stage, epoch]), config.batch_sequences)
    parallel = run.parallel
    if parallel is not None:  # every rank walks the same batches and trains on its share of each
        batches = [b for b in batches if len(b) >= parallel.world]
    total = epochs * len(batches)
    desc = f"stage {stage} epoch {epoch}"
    bar = tqdm(total=len(batches), initial=state.batch, desc=desc, unit="batch", disable=not run.progress)
    tic, samples, loss = time.perf_counter(), 0, math.nan
    learner = run.learner

    def make(chunks: np.ndarray) -> Batch:
        mine = chunks if parallel is None else parallel.share(chunks)
        return make_batch(dataset, mine, learner.processor, learner.geometry, run.device)

    stream = prefetched(make, batches[state.batch :], batch_threads(run.device, config.batch_threads))
    reduce = None if parallel is None else parallel.average_gradients
    try:
        for index, batch in zip(range(state.batch, len(batches)), stream, strict=True):
            lr = cosine_lr(config.learning_rate, epoch * len(batches) + index, total, config.lr_final_fraction)
            loss, parts, trained = optimiser_step(learner.model, run.optimizer, batch, config, lr, run.amp, reduce)
            if parallel is not None:
                loss, parts, trained = parallel.mean_step(loss, parts, trained)
            samples += trained
            state.global_step, state.batch = state.global_step + 1, index + 1
            _write_step(run.writer, state.global_step, loss, parts, lr)
            bar.set_postfix(loss=f"{loss:.4f}", action=f"{parts['action']:.4f}")
            if state.global_step % config.checkpoint_every_steps == 0 and state.batch < len(batches):
                run.checkpoint()
            bar.update(1)
    finally:
        stream.close()
        bar.close()
    elapsed = time.perf_counter() - tic
    run.writer.add_scalar("train/samples_per_s", samples / max(elapsed, 1e-9), state.global_step)
    run.log(
        f"{desc}: {samples} samples in {elapsed:.1f} s "
        f"({samples / max(elapsed, 1e-9):.0f} samples/s), last loss {loss:.4f}"
        if samples
        else f"{desc}: nothing left to train"
    )
    state.epoch, state.batch = epoch + 1, 0
    if state.epoch == epochs:
        state.stage, state.epoch = stage + 1, 0
    run.checkpoint()


def _write_step(writer: ScalarWriter, step: int, loss: float, parts: dict[str, float], lr: float) -> None:
    """The TensorBoard scalars of one optimiser step."""
    writer.add_scalar("train/loss", loss, step)
    for name, value in parts.items():
        writer.add_scalar(f"train/{name}", value, step)
    writer.add_scalar("train/lr", lr, step)
