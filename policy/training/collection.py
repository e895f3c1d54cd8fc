"""Collection: each stage's episodes, driven by the teacher (BC) or the learner (DAgger), in worker processes
(or Ray actors: ``nav train --ray``).

A stage's ``bc_episodes`` / ``dagger_episodes_per_round`` episodes are cut into chunks of ``shard_episodes``;
a chunk is collected in one process and saved as one shard ``data/<stage>-<chunk>.npz``
(:func:`policy.data.save_episodes`). A shard that exists is reused, so a kill loses at most the chunks in
flight. In DAgger round ``r`` the learner drives an episode with probability ``1 - dagger_beta ** r`` and
the teacher otherwise; the teacher labels every step either way.
"""

from __future__ import annotations

import multiprocessing as mp
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

import numpy as np
import torch
from tqdm import tqdm

from policy.configuration import PolicyConfig
from policy.controller import PolicyController
from policy.data import Episode, collect_episode, load_episodes, save_episodes
from policy.modeling import NavPolicy
from policy.processing import PolicyProcessor, ScanGeometry
from policy.training.config import Log, TrainConfig
from sim.config import SimConfig


def episode_seed(seed: int, stage: int, index: int) -> int:
    """Env reset seed of episode ``index`` of ``stage`` (0 BC, r DAgger round r); distinct per stage."""
    return seed * 100_000_000 + stage * 1_000_000 + index


def learner_drives(config: TrainConfig, stage: int, index: int) -> bool:
    """Whether the learner drives episode ``index`` of DAgger round ``stage`` (never in BC)."""
    if stage == 0:
        return False
    beta = config.dagger_beta**stage
    return bool(np.random.default_rng([config.seed, stage, index]).random() >= beta)


@dataclass(frozen=True)
class _LearnerSpec:
    """What a collection process needs to rebuild the learner: plain config + numpy weights."""

    config: PolicyConfig
    state: dict[str, np.ndarray]


_worker: dict[str, Any] = {}
"""Per-collection-process state, filled by :func:`_init_collector` (env, teacher, learner)."""


def _init_collector(sim_config: SimConfig, learner: _LearnerSpec | None, threads: int, hold_steps: int) -> None:
    from sim.env import LangNavEnv, make_env
    from sim.teacher import Teacher

    if threads > 0:
        torch.set_num_threads(threads)
    env = make_env(sim_config)
    teacher = Teacher(cast(LangNavEnv, env.unwrapped))
    _worker.clear()
    _worker.update(env=env, teacher=teacher, controller=None, hold_steps=hold_steps)
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
    ray: str | None = None,
) -> list[Path]:
    """Collect the missing shards of ``stage`` (existing ones are reused); returns all its shard paths. With
    ``ray`` (a Ray cluster's address), the chunks run on ``config.workers`` Ray actors
    (:func:`policy.cluster.collect_on_ray`) and their shards are written here as they come back."""
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
        if ray is not None:
            from policy.cluster import collect_on_ray

            init_args = (sim_config, spec, 1, config.hold_steps)
            for chunk, episodes in collect_on_ray(init_args, missing, workers, ray):
                _save_chunk(chunk, episodes, data_dir, stage, bar, log)
        elif workers <= 1:
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


def episode_stats(config: TrainConfig, stage: int, paths: list[Path]) -> dict[str, float]:
    """What the shards ``paths`` of ``stage`` hold: episodes, steps and success rates (all, learner- and
    teacher-driven)."""
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
