"""``nav bench sim``: env steps per second beside the bare PyBullet floor measured in the same run.

The floor is what the simulator itself costs per control step with the same sensors: the physics
substeps, one TinyRenderer camera image and one 2D lidar ``rayTestBatch``, called back to back on a
built world with precomputed arguments. ``ratio_to_floor`` = env steps/s / floor steps/s.

The vector env (:class:`sim.vector.GroupedVectorEnv`: ``vector_envs`` envs in ``vector_workers`` processes, each
stepping its group back to back) is judged two ways: against ``vector_workers`` times the one-client floor
(``vector_ratio_to_floor``: perfect scaling over the cores), and against the same number of bare floors running at
once in as many processes (``vector_ratio_to_parallel_floor``: what this machine's cores give PyBullet together).
What separates it from the parallel floor is reported too: each worker's share of the wall time spent inside its
envs' ``step``/``reset`` (``vector_worker_busy``; the rest it waits for the slowest worker of the lockstep and for
the main process), each env's wall ms inside ``step`` per step beside the single env's (``vector_env_step_ms``,
``env_step_ms``), and the main process's CPU per vector step. It is run a second time with the robots standing
still (``vector_still_*``): no motion and no episode end within ``max_episode_steps``, so no reset at all. Gymnasium's
``AsyncVectorEnv`` with one env per process (``vector_workers`` of them) is run beside it as the baseline
(``async_vector_*``), and the same groups of envs stepped in the same number of processes with no pipe and no
lockstep at all (``independent_groups_ratio_to_floor``): the most any vector env of them could give.
"""

from __future__ import annotations

import math
import multiprocessing
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
from sim.vector import GroupedVectorEnv, split_groups
from sim.world import generate_world


@dataclass(frozen=True)
class SimBenchConfig:
    steps: int = 400
    """Env steps per timed round (per env in the vector run)."""
    rounds: int = 3
    """Floor and env are timed alternately this many times; the median round is reported."""
    vector_envs: int = 8
    """Envs in the grouped vector run, over ``vector_workers`` processes."""
    vector_workers: int = 2
    """Processes of the vector runs (this machine's cores); the AsyncVectorEnv baseline has one env in each."""
    seed: int = 0

    def __post_init__(self) -> None:
        if self.steps < 10 or self.rounds < 1 or self.vector_workers < 1 or self.vector_envs < self.vector_workers:
            raise ValueError(
                "steps >= 10, rounds >= 1, vector_workers >= 1 and vector_envs >= vector_workers are required"
            )


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


def _floor_in_process(args: tuple[SimConfig, int, int]) -> float:
    return floor_steps_per_second(*args)


def parallel_floor_steps_per_second(pool: Any, sim: SimConfig, steps: int, seed: int, n: int) -> float:
    """Total steps/s of ``n`` bare floors (the same world) running at once, one per process of ``pool``."""
    return float(sum(pool.map(_floor_in_process, [(sim, steps, seed)] * n, chunksize=1)))


def _group_in_process(args: tuple[SimConfig, int, int, int]) -> float:
    """Steps/s of ``count`` envs stepped back to back in this process, as a vector worker steps its group."""
    sim, steps, seed, count = args
    envs = [make_env(sim) for _ in range(count)]
    try:
        for i, env in enumerate(envs):
            env.reset(seed=seed + i)
        action = np.array([0.25, 0.4], dtype=np.float32)
        t0 = time.perf_counter()
        for _ in range(steps):
            for env in envs:
                _, _, terminated, truncated, _ = env.step(action)
                if terminated or truncated:
                    env.reset()
        return steps * count / (time.perf_counter() - t0)
    finally:
        for env in envs:
            env.close()


def independent_groups_steps_per_second(
    pool: Any, sim: SimConfig, steps: int, seed: int, n_envs: int, workers: int
) -> float:
    """Total steps/s of the vector's groups of envs stepped in the ``workers`` processes of ``pool`` with no pipe
    and no lockstep between them: the most a vector env of these envs on these processes could give."""
    groups = split_groups(n_envs, workers)
    tasks = [(sim, steps, seed + g.start, len(g)) for g in groups]
    return float(sum(pool.map(_group_in_process, tasks, chunksize=1)))


class _Timed(gym.Wrapper):  # type: ignore[type-arg]
    """Counts the wall time the env spends inside ``step`` and ``reset`` (a vector env's worker is busy)."""

    def __init__(self, env: gym.Env) -> None:  # type: ignore[type-arg]
        super().__init__(env)
        self.busy_s = 0.0

    def step(self, action: Any) -> Any:
        t0 = time.perf_counter()
        try:
            return self.env.step(action)
        finally:
            self.busy_s += time.perf_counter() - t0

    def reset(self, **kwargs: Any) -> Any:
        t0 = time.perf_counter()
        try:
            return self.env.reset(**kwargs)
        finally:
            self.busy_s += time.perf_counter() - t0

    def take_busy(self) -> float:
        """The busy seconds since the last call, and start counting again."""
        busy, self.busy_s = self.busy_s, 0.0
        return busy


def _timed_env(sim: SimConfig) -> gym.Env:  # type: ignore[type-arg]
    return _Timed(make_env(sim))


def _drive_vector(vec: Any, steps: int, seed: int, action: tuple[float, float]) -> tuple[float, float, list[float]]:
    """Wall s and main-process CPU s of ``steps`` vector steps under ``action``, and each env's busy s meanwhile."""
    vec.reset(seed=seed)
    vec.call("take_busy")
    actions = np.tile(np.array([action], dtype=np.float32), (vec.num_envs, 1))
    t0, cpu0 = time.perf_counter(), time.process_time()
    for _ in range(steps):
        vec.step(actions)  # autoreset handles finished episodes
    wall, cpu = time.perf_counter() - t0, time.process_time() - cpu0
    return wall, cpu, [float(b) for b in vec.call("take_busy")]


def vector_steps_per_second(
    sim: SimConfig, steps: int, seed: int, n_envs: int, workers: int, action: tuple[float, float] = (0.25, 0.4)
) -> dict[str, Any]:
    """Total env steps/s of a :class:`GroupedVectorEnv` of ``n_envs`` envs in ``workers`` processes driven with
    ``action``, each worker's busy share of the wall time, each env's ms inside ``step``/``reset`` per step, and
    the main process's CPU ms per vector step."""
    vec = GroupedVectorEnv(sim, n_envs, workers, make=_timed_env)
    try:
        wall, cpu, busy = _drive_vector(vec, steps, seed, action)
        groups = vec.groups
    finally:
        vec.close()
    return {
        "steps_per_second": steps * n_envs / wall,
        "worker_busy": [round(sum(busy[i] for i in g) / wall, 3) for g in groups],
        "env_step_ms": [round(b / steps * 1000.0, 3) for b in busy],
        "main_cpu_ms_per_step": round(cpu / steps * 1000.0, 3),
    }


def async_vector_steps_per_second(sim: SimConfig, steps: int, seed: int, n_envs: int) -> dict[str, Any]:
    """The same for gymnasium's ``AsyncVectorEnv`` with one env per process (observations through shared memory
    without a copy per step)."""
    vec = gym.vector.AsyncVectorEnv([lambda: _timed_env(sim) for _ in range(n_envs)], shared_memory=True, copy=False)
    try:
        wall, cpu, busy = _drive_vector(vec, steps, seed, (0.25, 0.4))
    finally:
        vec.close()
    return {
        "steps_per_second": steps * n_envs / wall,
        "worker_busy": [round(b / wall, 3) for b in busy],
        "main_cpu_ms_per_step": round(cpu / steps * 1000.0, 3),
    }


def bench_sim(config: SimBenchConfig, sim: SimConfig | None = None) -> dict[str, Any]:
    sim = sim or load_sim_config()
    floors, parallel, singles = [], [], []
    workers, n_envs = config.vector_workers, config.vector_envs
    with multiprocessing.get_context("spawn").Pool(workers) as pool:
        for r in range(config.rounds):
            floors.append(floor_steps_per_second(sim, config.steps, config.seed + r))
            parallel.append(parallel_floor_steps_per_second(pool, sim, config.steps, config.seed + r, workers))
            singles.append(env_steps_per_second(sim, config.steps, config.seed + r))
        independent = independent_groups_steps_per_second(pool, sim, config.steps, config.seed, n_envs, workers)
    floor = statistics.median(floors)
    parallel_floor = statistics.median(parallel)
    single = statistics.median(singles)
    vec = vector_steps_per_second(sim, config.steps, config.seed, n_envs, workers)
    vector = vec["steps_per_second"]
    still = vector_steps_per_second(sim, config.steps, config.seed, n_envs, workers, action=(0.0, 0.0))
    baseline = async_vector_steps_per_second(sim, config.steps, config.seed, workers)
    return {
        "floor_steps_per_second": round(floor, 1),
        "env_steps_per_second": round(single, 1),
        "env_step_ms": round(1000.0 / single, 3),
        "ratio_to_floor": round(single / floor, 3),
        "vector_envs": n_envs,
        "vector_workers": workers,
        "parallel_floor_steps_per_second": round(parallel_floor, 1),
        "parallel_floor_scaling": round(parallel_floor / (floor * workers), 3),
        "vector_steps_per_second": round(vector, 1),
        "vector_ratio_to_floor": round(vector / (floor * workers), 3),
        "vector_ratio_to_parallel_floor": round(vector / parallel_floor, 3),
        "independent_groups_ratio_to_floor": round(independent / (floor * workers), 3),
        "vector_worker_busy": vec["worker_busy"],
        "vector_env_step_ms": vec["env_step_ms"],
        "vector_main_cpu_ms_per_step": vec["main_cpu_ms_per_step"],
        "vector_still_ratio_to_floor": round(still["steps_per_second"] / (floor * workers), 3),
        "vector_still_worker_busy": still["worker_busy"],
        "async_vector_steps_per_second": round(baseline["steps_per_second"], 1),
        "async_vector_ratio_to_floor": round(baseline["steps_per_second"] / (floor * workers), 3),
        "async_vector_worker_busy": baseline["worker_busy"],
        "async_vector_main_cpu_ms_per_step": baseline["main_cpu_ms_per_step"],
        "camera": f"{sim.camera.width}x{sim.camera.height}",
        "lidar_beams": sim.lidar.beams,
        "physics_substeps": sim.task.substeps,
        "steps_per_round": config.steps,
        "rounds": config.rounds,
    }


def format_table(result: dict[str, Any]) -> str:
    """The benchmark as a markdown table (what the README shows)."""
    w, n = result["vector_workers"], result["vector_envs"]
    rows = [
        ("bare PyBullet floor (1 client)", result["floor_steps_per_second"], 1.0),
        (
            f"bare PyBullet floor, {w} clients at once (per client)",
            result["parallel_floor_steps_per_second"] / w,
            result["parallel_floor_scaling"],
        ),
        ("LangNav-v0, 1 env", result["env_steps_per_second"], result["ratio_to_floor"]),
        (
            f"LangNav-v0, gymnasium AsyncVectorEnv x{w} (of {w}x the floor)",
            result["async_vector_steps_per_second"],
            result["async_vector_ratio_to_floor"],
        ),
        (
            f"LangNav-v0, GroupedVectorEnv {n} envs in {w} processes (of {w}x the floor)",
            result["vector_steps_per_second"],
            result["vector_ratio_to_floor"],
        ),
    ]
    lines = ["| run | steps/s | ratio to floor |", "|---|---:|---:|"]
    lines += [f"| {name} | {sps:.0f} | {ratio:.2f} |" for name, sps, ratio in rows]
    busy = ", ".join(f"{b:.2f}" for b in result["vector_worker_busy"])
    async_busy = ", ".join(f"{b:.2f}" for b in result["async_vector_worker_busy"])
    lines.append(
        f"\ngrouped vector env against {w} bare floors at once: {result['vector_ratio_to_parallel_floor']:.2f}; "
        f"its groups stepped with no pipe or lockstep: {result['independent_groups_ratio_to_floor']:.2f} of {w}x "
        "the floor; "
        f"workers busy {busy} of the wall time (AsyncVectorEnv: {async_busy}); main process "
        f"{result['vector_main_cpu_ms_per_step']:.2f} ms CPU per vector step"
    )
    steps_ms = result["vector_env_step_ms"]
    still = ", ".join(f"{b:.2f}" for b in result["vector_still_worker_busy"])
    lines.append(
        f"a step inside the vector's envs {min(steps_ms):.2f}-{max(steps_ms):.2f} ms against "
        f"{result['env_step_ms']:.2f} ms alone; robots standing still (no resets): "
        f"{result['vector_still_ratio_to_floor']:.2f} of {w}x the floor, workers busy {still}"
    )
    return "\n".join(lines)
