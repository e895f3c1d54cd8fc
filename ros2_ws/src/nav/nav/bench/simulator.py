"""``nav bench sim``: env steps per second beside the bare PyBullet floor measured in the same run.

The floor is what the simulator itself costs per control step with the same sensors: the physics
substeps, one TinyRenderer camera image and one 2D lidar ``rayTestBatch``, called back to back on a
built world with precomputed arguments. ``ratio_to_floor`` = env steps/s / floor steps/s.
"""

from __future__ import annotations

import math
import statistics
import time
from dataclasses import dataclass
from typing import Any

import gymnasium as gym
import numpy as np

from sim.bullet import p
from sim.config import SimConfig, load_sim_config
from sim.env import make_env
from sim.robot import Pose2D
from sim.scene import build_scene, connect
from sim.sensors import Camera
from sim.world import generate_world


@dataclass(frozen=True)
class SimBenchConfig:
    steps: int = 400
    """Env steps per timed round (per env in the vector run)."""
    rounds: int = 3
    """Floor and env are timed alternately this many times; the median round is reported."""
    vector_envs: int = 2
    """Envs in the AsyncVectorEnv run (one process each)."""
    seed: int = 0

    def __post_init__(self) -> None:
        if self.steps < 10 or self.rounds < 1 or self.vector_envs < 1:
            raise ValueError("steps >= 10, rounds >= 1 and vector_envs >= 1 are required")


def floor_steps_per_second(sim: SimConfig, steps: int, seed: int) -> float:
    """Bare PyBullet cost of one control step: substeps + camera render + lidar ray batch."""
    client = connect()
    try:
        world = generate_world(seed, sim)
        scene = build_scene(client, world, sim)
        camera = Camera(client, sim.camera)
        view = camera.view_matrix(Pose2D(0.0, 0.0, 0.0))
        lid = sim.lidar
        angles = (
            math.radians(lid.angle_min_deg)
            + np.arange(lid.beams) * math.radians(lid.angle_max_deg - lid.angle_min_deg) / lid.beams
        )
        dirs = np.stack([np.cos(angles), np.sin(angles), np.zeros_like(angles)], axis=1)
        centre = np.array([0.0, 0.0, lid.mount_z])
        starts = (centre + dirs * (sim.robot.radius + 0.01)).tolist()
        ends = (centre + dirs * lid.range_max).tolist()
        substeps = sim.task.substeps
        cam = sim.camera
        p.resetBaseVelocity(scene.robot, [0, 0, 0], [0, 0, 0.1], physicsClientId=client)
        t0 = time.perf_counter()
        for _ in range(steps):
            for _ in range(substeps):
                p.stepSimulation(physicsClientId=client)
            p.getCameraImage(
                cam.width,
                cam.height,
                viewMatrix=view,
                projectionMatrix=camera.projection,
                renderer=p.ER_TINY_RENDERER,
                physicsClientId=client,
            )
            p.rayTestBatch(starts, ends, physicsClientId=client)
        return steps / (time.perf_counter() - t0)
    finally:
        p.disconnect(physicsClientId=client)


def _drive(env: gym.Env, steps: int, seed: int) -> float:
    """Steps/s of ``env`` under a fixed gentle arc, resetting whenever an episode ends."""
    env.reset(seed=seed)
    action = np.array([0.25, 0.4], dtype=np.float32)
    t0 = time.perf_counter()
    for _ in range(steps):
        _, _, terminated, truncated, _ = env.step(action)
        if terminated or truncated:
            env.reset()
    return steps / (time.perf_counter() - t0)


def env_steps_per_second(sim: SimConfig, steps: int, seed: int) -> float:
    env = make_env(sim)
    try:
        return _drive(env, steps, seed)
    finally:
        env.close()


def vector_steps_per_second(sim: SimConfig, steps: int, seed: int, n_envs: int) -> float:
    """Total env steps/s of an ``AsyncVectorEnv`` of ``n_envs`` processes.

    Observations come through shared memory without a copy per step (``copy=False``: a consumer
    that keeps an observation past the next step copies it itself); the copy cost about 12 % here.
    """
    vec = gym.vector.AsyncVectorEnv([lambda: make_env(sim) for _ in range(n_envs)], shared_memory=True, copy=False)
    try:
        vec.reset(seed=seed)
        actions = np.tile(np.array([[0.25, 0.4]], dtype=np.float32), (n_envs, 1))
        t0 = time.perf_counter()
        for _ in range(steps):
            vec.step(actions)  # autoreset handles finished episodes
        return steps * n_envs / (time.perf_counter() - t0)
    finally:
        vec.close()


def bench_sim(config: SimBenchConfig, sim: SimConfig | None = None) -> dict[str, Any]:
    sim = sim or load_sim_config()
    floors, singles = [], []
    for r in range(config.rounds):
        floors.append(floor_steps_per_second(sim, config.steps, config.seed + r))
        singles.append(env_steps_per_second(sim, config.steps, config.seed + r))
    floor = statistics.median(floors)
    single = statistics.median(singles)
    vector = vector_steps_per_second(sim, config.steps, config.seed, config.vector_envs)
    return {
        "floor_steps_per_second": round(floor, 1),
        "env_steps_per_second": round(single, 1),
        "ratio_to_floor": round(single / floor, 3),
        "vector_envs": config.vector_envs,
        "vector_steps_per_second": round(vector, 1),
        "vector_ratio_to_floor": round(vector / (floor * config.vector_envs), 3),
        "camera": f"{sim.camera.width}x{sim.camera.height}",
        "lidar_beams": sim.lidar.beams,
        "physics_substeps": sim.task.substeps,
        "steps_per_round": config.steps,
        "rounds": config.rounds,
    }


def format_table(result: dict[str, Any]) -> str:
    """The benchmark as a markdown table (what the README shows)."""
    rows = [
        ("bare PyBullet floor (1 client)", result["floor_steps_per_second"], 1.0),
        ("LangNav-v0, 1 env", result["env_steps_per_second"], result["ratio_to_floor"]),
        (
            f"LangNav-v0, AsyncVectorEnv x{result['vector_envs']}",
            result["vector_steps_per_second"],
            result["vector_ratio_to_floor"],
        ),
    ]
    lines = ["| run | steps/s | ratio to floor |", "|---|---:|---:|"]
    lines += [f"| {name} | {sps:.0f} | {ratio:.2f} |" for name, sps, ratio in rows]
    return "\n".join(lines)
