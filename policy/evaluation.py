"""``nav eval``: closed-loop evaluation of learned variants beside the teacher and the baselines.

Every controller runs the same seeded episodes of a split:

- ``train``: train worlds, train phrasings;
- ``unseen``: worlds training never drew, train phrasings;
- ``heldout``: unseen worlds and held-out phrasings (templates and words training never saw).

Per controller: success rate, SPL, collision rate, time to goal and the latency of its ``act``
(p50/p99 ms, pre-processing and inference together). Episodes are spread over worker processes.
"""

from __future__ import annotations

import multiprocessing as mp
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np

from configs import config_dir
from sim.config import SimConfig, load_sim_config
from sim.evaluate import split_config
from sim.metrics import EpisodeResult, summarize

Split = Literal["train", "unseen", "heldout"]
SPLITS: dict[str, tuple[str, str]] = {
    "train": ("train", "train"),
    "unseen": ("unseen", "train"),
    "heldout": ("unseen", "heldout"),
}
"""split -> (world split, instruction split)."""

REFERENCE_CONTROLLERS = ("teacher", "classical", "random")


def models_dir() -> Path:
    """The shipped models: ``models/<variant>/`` beside ``configs/``."""
    return config_dir().parent / "models"


@dataclass(frozen=True)
class EvalTableConfig:
    controllers: tuple[str, ...] = ("medium", "teacher", "classical", "random")
    """Model variants (folders under ``models_dir``) and/or teacher, classical, random."""
    split: Split = "unseen"
    episodes: int = 200
    seed: int = 0
    workers: int = 2
    models_dir: Path | None = None
    torch_threads: int = 1
    """Threads per worker for model inference (workers x threads should not exceed the cores)."""

    def __post_init__(self) -> None:
        if self.split not in SPLITS:
            raise ValueError(f"unknown split {self.split!r}; known: {sorted(SPLITS)}")
        if self.episodes < 1 or self.workers < 1:
            raise ValueError("episodes and workers must be >= 1")


class _Timed:
    """Wraps a controller and records how long each ``act`` takes."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.latencies_ms: list[float] = []

    def reset(self) -> None:
        self.inner.reset()

    def act(self, obs: dict[str, Any], info: dict[str, Any]) -> np.ndarray:
        t0 = time.perf_counter()
        action = self.inner.act(obs, info)
        self.latencies_ms.append((time.perf_counter() - t0) * 1000.0)
        return action


GUARD_SUFFIX = "+guard"
"""``<controller>+guard``: that controller behind the robot's collision guard (``ros.yaml`` ``guard``)."""


def build_controller(name: str, env: Any, model_root: Path) -> Any:
    """A controller by name: a reference controller or a model variant folder under ``model_root``;
    with the ``+guard`` suffix, behind the collision guard the robot's mux applies."""
    if name.endswith(GUARD_SUFFIX):
        from policy.guard import GuardedController, load_guard_config
        from policy.processing import ScanGeometry

        inner = build_controller(name[: -len(GUARD_SUFFIX)], env, model_root)
        geometry = ScanGeometry.from_lidar_config(env.config.lidar)
        return GuardedController(inner, load_guard_config(), geometry, 1.0 / env.config.task.control_hz)
    if name == "teacher":
        from sim.teacher import Teacher

        return Teacher(env)
    if name == "classical":
        from policy.baselines import ClassicalController

        return ClassicalController(fov_deg=env.config.camera.fov_deg)
    if name == "random":
        from policy.baselines import RandomController

        return RandomController(env.config.robot.max_linear, env.config.robot.max_angular)
    folder = model_root / name
    if not (folder / "manifest.json").exists():
        raise FileNotFoundError(
            f"no model {name!r}: {folder / 'manifest.json'} does not exist (train it with nav train)"
        )
    from policy.controller import PolicyController
    from policy.processing import ScanGeometry

    return PolicyController.from_directory(folder, ScanGeometry.from_lidar_config(env.config.lidar))


def _worker(task: tuple[str, SimConfig, list[int], Path, int]) -> tuple[list[EpisodeResult], list[float]]:
    name, sim_cfg, seeds, model_root, threads = task
    import torch

    from sim.env import make_env
    from sim.rollout import run_episode

    torch.set_num_threads(threads)
    env = make_env(sim_cfg)
    try:
        controller = _Timed(build_controller(name, env.unwrapped, model_root))
        results = [run_episode(env, controller, seed=s)[0] for s in seeds]
    finally:
        env.close()
    return results, controller.latencies_ms


def evaluate_controller(name: str, config: EvalTableConfig, sim: SimConfig | None = None) -> dict[str, Any]:
    """Metrics of one controller on the config's split and seeds."""
    world_split, instruction_split = SPLITS[config.split]
    sim_cfg = split_config(sim or load_sim_config(), world_split, instruction_split)
    seeds = [config.seed + i for i in range(config.episodes)]
    root = Path(config.models_dir) if config.models_dir is not None else models_dir()
    chunks = [seeds[i :: config.workers] for i in range(config.workers) if seeds[i :: config.workers]]
    tasks = [(name, sim_cfg, chunk, root, config.torch_threads) for chunk in chunks]
    if len(tasks) == 1:
        parts = [_worker(tasks[0])]
    else:
        with mp.get_context("spawn").Pool(len(tasks)) as pool:
            parts = pool.map(_worker, tasks)
    results = [r for part, _ in parts for r in part]
    latencies = np.array([x for _, lat in parts for x in lat]) if any(lat for _, lat in parts) else np.zeros(1)
    summary = summarize(results)
    summary.update(
        controller=name,
        latency_ms_p50=round(float(np.percentile(latencies, 50)), 3),
        latency_ms_p99=round(float(np.percentile(latencies, 99)), 3),
    )
    return summary


def evaluate_table(config: EvalTableConfig, sim: SimConfig | None = None) -> list[dict[str, Any]]:
    return [evaluate_controller(name, config, sim) for name in config.controllers]


def format_rows(rows: Sequence[dict[str, Any]], split: str) -> str:
    """Markdown table of :func:`evaluate_table` rows."""
    lines = [
        f"| controller ({split}) | success | SPL | collisions | time to goal (s) | act p50 / p99 (ms) |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        ttg = r["time_to_goal_s"]
        ttg_text = "-" if ttg is None or not np.isfinite(ttg) else f"{ttg:.1f}"
        lines.append(
            f"| {r['controller']} | {r['success_rate']:.3f} | {r['spl']:.3f} | {r['collision_rate']:.3f} | "
            f"{ttg_text} | {r['latency_ms_p50']:.2f} / {r['latency_ms_p99']:.2f} |"
        )
    return "\n".join(lines)
