"""A headless episode of the teacher in the simulator, with its artifacts (the interim ``nav demo``)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sim.artifacts import plot_trajectory, write_camera_video, write_json
from sim.config import SimConfig, load_sim_config
from sim.env import make_env
from sim.instructions import Goal, parse_goal
from sim.rollout import Trace, run_episode
from sim.teacher import Teacher
from sim.world import generate_world

DEFAULT_INSTRUCTION = "go to the red cube"


@dataclass(frozen=True)
class DemoConfig:
    instruction: str = DEFAULT_INSTRUCTION
    """What to ask the robot (it must name a colour and a shape)."""
    seed: int = 0
    """Episode seed; the first world from this seed on that holds the named object is used."""
    out_dir: Path = field(default_factory=lambda: Path("artifacts/demo"))
    max_world_tries: int = 200


def find_world_with(goal: Goal, seed: int, tries: int, config: SimConfig | None = None) -> int:
    """A world seed (from ``seed`` upward) whose world, under ``config``, holds the ``goal`` object."""
    cfg = config if config is not None else load_sim_config()
    for world_seed in range(seed, seed + tries):
        world = generate_world(world_seed, cfg)
        if any(t.colour == goal.colour and t.shape == goal.shape for t in world.targets):
            return world_seed
    raise LookupError(f"no world among seeds {seed}..{seed + tries - 1} holds a {goal.name}")


def run_demo(config: DemoConfig, log: Callable[[str], None] = print) -> dict[str, Any]:
    """Run the episode, write ``camera.mp4``, ``trajectory.png`` and ``metrics.json``; return the metrics."""
    world_seed = find_world_with(parse_goal(config.instruction), config.seed, config.max_world_tries)
    out = Path(config.out_dir)
    out.mkdir(parents=True, exist_ok=True)
    env = make_env()
    try:
        base = env.unwrapped
        trace = Trace()

        def progress(info: dict[str, Any]) -> None:
            if info["steps"] % 20 == 0:
                log(f"  t={info['time_s']:5.1f}s  distance to goal {info['distance_to_goal']:.2f} m")

        log(f"demo: world {world_seed}, instruction {config.instruction!r} (teacher driving)")
        result, info = run_episode(
            env,
            Teacher(base),
            seed=config.seed,
            options={"world_seed": world_seed, "instruction": config.instruction},
            trace=trace,
            on_step=progress,
        )
        metrics = {
            "success": result.success,
            "time_s": round(result.time_s, 2),
            "path_length_m": round(result.path_length, 3),
            "shortest_path_length_m": round(result.shortest_path_length, 3),
            "collisions": result.collisions,
            "instruction": config.instruction,
            "world_seed": world_seed,
            "driver": "teacher",
            "artifacts": {},
        }
        video = write_camera_video(out / "camera.mp4", trace.frames, trace.commands, config.instruction, 1.0 / base.dt)
        plot = plot_trajectory(
            out / "trajectory.png",
            base.episode.world,
            trace.poses,
            base.episode.goal.name,
            f"{config.instruction!r}: {'success' if result.success else 'failure'} in {result.time_s:.1f} s",
        )
        metrics["artifacts"] = {"video": str(video), "trajectory": str(plot), "metrics": str(out / "metrics.json")}
        write_json(out / "metrics.json", metrics)
        return metrics
    finally:
        env.close()
