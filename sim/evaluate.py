"""Closed-loop evaluation of a controller over seeded episodes."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

from tqdm import tqdm

from sim.config import SimConfig, load_sim_config
from sim.env import make_env
from sim.metrics import EpisodeResult, summarize
from sim.rollout import Controller, run_episode
from sim.teacher import Teacher


@dataclass(frozen=True)
class EvalConfig:
    episodes: int = 200
    """Number of episodes; episode i is reset with seed ``seed + i``."""
    seed: int = 0
    world_split: Literal["train", "unseen"] = "train"
    instruction_split: Literal["train", "heldout"] = "train"
    progress: bool = True
    """Show a progress bar (on stderr)."""

    def __post_init__(self) -> None:
        if self.episodes < 1:
            raise ValueError(f"episodes must be >= 1, got {self.episodes}")


def split_config(sim: SimConfig, world_split: str, instruction_split: str) -> SimConfig:
    """``sim`` with the task's world and instruction splits set."""
    task = dataclasses.replace(sim.task, world_split=world_split, instruction_split=instruction_split)
    return sim.replace(task=task)


def evaluate(
    make_controller: Callable[[Any], Controller],
    config: EvalConfig,
    sim: SimConfig | None = None,
) -> tuple[dict[str, Any], list[EpisodeResult]]:
    """Run ``config.episodes`` episodes; ``make_controller(env.unwrapped)`` builds the controller once."""
    sim_cfg = split_config(sim or load_sim_config(), config.world_split, config.instruction_split)
    env = make_env(sim_cfg)
    try:
        controller = make_controller(env.unwrapped)
        results = []
        for i in tqdm(range(config.episodes), disable=not config.progress, desc="episodes", unit="ep"):
            result, _ = run_episode(env, controller, seed=config.seed + i)
            results.append(result)
    finally:
        env.close()
    summary = summarize(results)
    summary.update(seed=config.seed, world_split=config.world_split, instruction_split=config.instruction_split)
    return summary, results


def evaluate_teacher(config: EvalConfig, sim: SimConfig | None = None) -> dict[str, Any]:
    """Metrics of the privileged teacher (``nav teacher-eval``)."""
    summary, _ = evaluate(Teacher, config, sim)
    return summary
