"""``nav bench collect``: collection episodes/s in local worker processes against Ray actors, in one run.

Both paths collect the same teacher chunks (the BC stage of ``train.yaml``'s recipe, its first ``episodes``
seeds, ``shard_episodes`` per chunk) with the same number of workers, one torch thread each. Each path's
workers are started and their env built before the clock starts (a local process runs its initializer on a
warm-up task; a Ray actor is up when it has answered), so what is timed is the collection and the hand-over
of the episodes to the driver: for Ray, the object store and the scheduling. ``ray_overhead`` = 1 - Ray's
episodes/s over the local path's.
"""

from __future__ import annotations

import dataclasses
import multiprocessing as mp
import os
import time
from concurrent.futures import ProcessPoolExecutor, wait
from dataclasses import dataclass
from typing import Any

from policy.cluster import LOCAL
from policy.training import load_train_config
from policy.training.collection import _collect_chunk, _init_collector, _stage_chunks
from sim.config import load_sim_config


@dataclass(frozen=True)
class CollectBenchConfig:
    episodes: int = 24
    """Teacher episodes collected by each path."""
    workers: int = 2
    """Local processes, and Ray actors."""
    shard_episodes: int = 2
    """Episodes per chunk (one task)."""
    ray: str = LOCAL
    """The Ray cluster (:func:`policy.cluster.connect`; ``local``: Ray's default, a Ray instance for this run)."""

    def __post_init__(self) -> None:
        if self.episodes < 1 or self.workers < 1 or self.shard_episodes < 1:
            raise ValueError("episodes, workers and shard_episodes must be >= 1")


def _pid() -> int:
    return os.getpid()


def bench_collect(config: CollectBenchConfig, log: Any = None) -> dict[str, Any]:
    from policy.cluster import collect_on_ray

    train = dataclasses.replace(load_train_config(), bc_episodes=config.episodes, shard_episodes=config.shard_episodes)
    sim = load_sim_config(train.sim_config)
    tasks = _stage_chunks(train, 0)
    init_args = (sim, None, 1, train.hold_steps)
    episodes = sum(len(seeds) for _, seeds, _ in tasks)
    steps: dict[str, int] = {}

    with ProcessPoolExecutor(
        config.workers, mp_context=mp.get_context("spawn"), initializer=_init_collector, initargs=init_args
    ) as pool:
        wait([pool.submit(_pid) for _ in range(config.workers * 4)])  # every process up, its env built
        t0 = time.perf_counter()
        results = [f.result() for f in [pool.submit(_collect_chunk, t) for t in tasks]]
        local_s = time.perf_counter() - t0
    steps["local"] = sum(len(e) for _, part in results for e in part)
    if log is not None:
        log(f"bench collect: local {episodes} episodes in {local_s:.1f} s")

    started: list[float] = []
    got, ended = 0, 0.0
    for _, part in collect_on_ray(
        init_args, tasks, config.workers, config.ray, on_start=lambda _: started.append(time.perf_counter())
    ):
        got += sum(len(e) for e in part)
        ended = time.perf_counter()
    ray_s = ended - started[0]
    steps["ray"] = got
    if log is not None:
        log(f"bench collect: Ray {episodes} episodes in {ray_s:.1f} s")
    local_rate, ray_rate = episodes / local_s, episodes / ray_s
    return {
        "episodes": episodes,
        "workers": config.workers,
        "shard_episodes": config.shard_episodes,
        "steps": steps,
        "same_steps": steps["local"] == steps["ray"],
        "local_episodes_per_second": round(local_rate, 3),
        "ray_episodes_per_second": round(ray_rate, 3),
        "ray_overhead": round(1.0 - ray_rate / local_rate, 3),
        "local_seconds_per_episode_per_worker": round(local_s * config.workers / episodes, 3),
        "ray_address": config.ray,
    }


def format_table(result: dict[str, Any]) -> str:
    lines = ["| path | episodes/s | s per episode per worker |", "|---|---:|---:|"]
    for path in ("local", "ray"):
        rate = result[f"{path}_episodes_per_second"]
        lines.append(f"| {path} x{result['workers']} | {rate:.2f} | {result['workers'] / rate:.2f} |")
    lines.append(f"\nRay overhead: {result['ray_overhead']:.1%} ({result['episodes']} teacher episodes each)")
    return "\n".join(lines)
