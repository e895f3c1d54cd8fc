"""Run episodes of a controller in the env and collect per-episode results and traces."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np

from sim.env import LangNavEnv
from sim.metrics import EpisodeResult


class Controller(Protocol):
    """Anything that maps an observation (and the step's info) to a (linear, angular) command."""

    def reset(self) -> None: ...

    def act(self, obs: dict[str, Any], info: dict[str, Any]) -> np.ndarray: ...


@dataclass
class Trace:
    """What one episode looked like, for artifacts (video, trajectory plot)."""

    poses: list[tuple[float, float, float]] = field(default_factory=list)
    commands: list[tuple[float, float]] = field(default_factory=list)
    frames: list[np.ndarray] = field(default_factory=list)


def run_episode(
    env: Any,
    controller: Controller,
    seed: int | None = None,
    options: dict[str, Any] | None = None,
    trace: Trace | None = None,
    on_step: Callable[[dict[str, Any]], None] | None = None,
) -> tuple[EpisodeResult, dict[str, Any]]:
    """One episode of ``controller`` in ``env`` (a ``make_env`` env); returns the result and last info."""
    obs, info = env.reset(seed=seed, options=options)
    base: LangNavEnv = env.unwrapped
    controller.reset()
    if trace is not None:
        trace.poses.append((base.pose.x, base.pose.y, base.pose.yaw))
        trace.frames.append(obs["image"])
    done = False
    while not done:
        action = np.asarray(controller.act(obs, info), dtype=np.float32)
        obs, _, terminated, truncated, info = env.step(action)
        done = terminated or truncated
        if trace is not None:
            trace.poses.append((base.pose.x, base.pose.y, base.pose.yaw))
            trace.commands.append((float(action[0]), float(action[1])))
            trace.frames.append(obs["image"])
        if on_step is not None:
            on_step(info)
    result = EpisodeResult(
        success=bool(info["success"]),
        shortest_path_length=float(info["shortest_path_length"]),
        path_length=float(info["path_length"]),
        collisions=int(info["collisions"]),
        time_s=float(info["time_s"]),
        steps=int(info["steps"]),
    )
    return result, info
