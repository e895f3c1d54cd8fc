"""The language-conditioned navigation task as a gymnasium environment (``nav/LangNav-v0``).

Observation (``spaces.Dict``): the forward camera image (uint8), the 2D lidar scan (float32, REP 117
ranges), the instruction (``Text``) and the measured odometry twist. No ground-truth pose or target
position is observed. Action: (linear m/s, angular rad/s), clipped to the robot's limits.

An episode ends with success (the robot commanded to stop within ``success_radius`` of the named
target's surface), a collision (when ``collision_mode`` is ``end``) or the time limit (the
``TimeLimit`` wrapper from registration). ``info`` holds the success flag, the inputs of SPL, the
collision count and every reward term on its own.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium import spaces
from scipy import ndimage

from perception.language import INSTRUCTION_CHARSET, MAX_CHARS, normalise_instruction
from sim.bullet import p
from sim.config import SimConfig, load_sim_config
from sim.grid import (
    OccupancyGrid,
    any_angle_length,
    build_grid,
    distance_to_target_surface,
    geodesic_field,
    line_of_sight,
)
from sim.instructions import Goal, InstructionError, generate_instruction, parse_goal
from sim.registration import ENV_ID, register_env
from sim.robot import DiffDriveRobot, Pose2D
from sim.scene import Scene, build_scene, connect
from sim.sensors import Camera, CameraFrame, Lidar2D, Odometry
from sim.world import Target, World, generate_world

INSTRUCTION_MAX_LENGTH = MAX_CHARS
UNSEEN_WORLD_OFFSET = 1_000_000
"""Unseen worlds draw their seeds from here (or from ``train_worlds`` if larger) upward, outside the train
range 0..train_worlds-1."""


@dataclass
class Episode:
    """Privileged state of the running episode (for the teacher and metrics, never observed)."""

    world: World
    scene: Scene
    target: Target
    target_body: int
    goal: Goal
    instruction: str
    grid: OccupancyGrid
    traversable: np.ndarray
    goal_cells: np.ndarray
    cost_to_go: np.ndarray
    """Shortest-path distance (m) from each cell to the goal region, filled into untraversable cells."""
    start: Pose2D
    shortest_path_length: float


class LangNavEnv(gym.Env):
    """Go to the object the instruction names, using the camera and the lidar."""

    metadata = {"render_modes": ["rgb_array"], "render_fps": 10}

    def __init__(
        self,
        config: SimConfig | None = None,
        config_path: str | Path | None = None,
        render_mode: str | None = None,
    ) -> None:
        if config is not None and config_path is not None:
            raise ValueError("give either config or config_path, not both")
        self.config = config if config is not None else load_sim_config(config_path or "sim.yaml")
        if render_mode is not None and render_mode not in self.metadata["render_modes"]:
            raise ValueError(f"render_mode must be one of {self.metadata['render_modes']}, got {render_mode!r}")
        self.render_mode = render_mode
        cfg = self.config
        cam, lid, rob = cfg.camera, cfg.lidar, cfg.robot
        self.observation_space = spaces.Dict(
            {
                "image": spaces.Box(0, 255, shape=(cam.height, cam.width, 3), dtype=np.uint8),
                "scan": spaces.Box(-np.inf, np.inf, shape=(lid.beams,), dtype=np.float32),
                "instruction": spaces.Text(
                    max_length=INSTRUCTION_MAX_LENGTH, min_length=1, charset=INSTRUCTION_CHARSET
                ),
                "odom": spaces.Box(-np.inf, np.inf, shape=(2,), dtype=np.float32),
            }
        )
        self.action_space = spaces.Box(
            low=np.array([-rob.max_linear, -rob.max_angular], dtype=np.float32),
            high=np.array([rob.max_linear, rob.max_angular], dtype=np.float32),
            dtype=np.float32,
        )
        self.dt = 1.0 / cfg.task.control_hz
        self.client = connect()
        self.camera = Camera(self.client, cam)
        self.lidar = Lidar2D(self.client, lid, rob.radius)
        self.odometry = Odometry(cfg.odometry)
        self.episode: Episode | None = None
        self.robot: DiffDriveRobot | None = None
        self._frame: CameraFrame | None = None
        self._observed_at = time.perf_counter()
        self._action_delay: float | None = None

    # ------------------------------------------------------------------ episode set-up
    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        """Start an episode in a new world.

        ``options``: ``world_seed`` (int) picks the world; ``instruction`` (str) sets the instruction
        (it must name an object in that world); ``goal`` ((colour, shape)) picks the target and
        phrases a fresh instruction for it. With both, ``goal`` is the target and ``instruction`` its
        words as given (a phrasing the simulator's own table does not know, grounded elsewhere).
        """
        super().reset(seed=seed)
        options = dict(options or {})
        unknown = set(options) - {"world_seed", "instruction", "goal"}
        if unknown:
            raise ValueError(f"unknown reset option(s) {sorted(unknown)}; known: world_seed, instruction, goal")
        cfg = self.config
        rng = self.np_random
        world_seed = options.get("world_seed")
        if world_seed is None:
            if cfg.task.world_split == "train":
                world_seed = int(rng.integers(cfg.task.train_worlds))
            else:
                world_seed = max(UNSEEN_WORLD_OFFSET, cfg.task.train_worlds) + int(rng.integers(2**30))
        world = generate_world(int(world_seed), cfg)
        scene = build_scene(self.client, world, cfg)
        self.robot = DiffDriveRobot(self.client, scene.robot, cfg.robot)

        if options.get("goal") is not None:
            colour, shape = options["goal"]
            goal = Goal(str(colour), str(shape))
        elif options.get("instruction") is not None:
            goal = parse_goal(str(options["instruction"]))
        else:
            picked = world.targets[int(rng.integers(len(world.targets)))]
            goal = Goal(picked.colour, picked.shape)
        if options.get("instruction") is not None:
            instruction = str(options["instruction"])
            if not instruction.strip():
                raise InstructionError("instruction is empty")
        else:
            instruction = generate_instruction(goal, cfg.task.instruction_split, rng)
        try:
            target = world.find_target(goal.colour, goal.shape)
        except LookupError as exc:
            raise InstructionError(f"instruction {instruction!r}: {exc}") from exc
        normalise_instruction(instruction)  # the agent's rule (perception.language): what it refuses, so does the sim

        grid = build_grid(world, cfg.task.grid_resolution, cfg.room.wall_thickness)
        xs, ys = grid.cell_centres()
        traversable = grid.clearance >= cfg.robot.radius + 0.03
        goal_cells = traversable & (distance_to_target_surface(target, xs, ys) <= 0.9 * cfg.task.success_radius)
        field = geodesic_field(grid, goal_cells, traversable)
        # Untraversable cells take the value of the nearest traversable one, so progress is defined
        # even when the robot brushes an obstacle.
        _, (ni, nj) = ndimage.distance_transform_edt(~traversable, return_indices=True)
        cost_to_go = field[ni, nj]

        start = self._sample_start(grid, traversable, cost_to_go, target, rng)
        self.robot.place(start)
        self.episode = Episode(
            world=world,
            scene=scene,
            target=target,
            target_body=scene.targets[world.targets.index(target)],
            goal=goal,
            instruction=instruction,
            grid=grid,
            traversable=traversable,
            goal_cells=goal_cells,
            cost_to_go=cost_to_go,
            start=start,
            shortest_path_length=any_angle_length(field, traversable, grid.to_cell(start.x, start.y), grid.resolution),
        )
        self.odometry.reset()
        self.odometry.update(start, self.dt, rng)
        self._pose = start
        self._steps = 0
        self._path_length = 0.0
        self._collisions = 0
        self._last_cmd = (0.0, 0.0)
        self._odom = np.zeros(2, dtype=np.float32)
        obs = self._observe()
        return obs, self._info(success=False, collided=False, terms=self._zero_terms())

    def _sample_start(
        self,
        grid: OccupancyGrid,
        traversable: np.ndarray,
        cost_to_go: np.ndarray,
        target: Target,
        rng: np.random.Generator,
    ) -> Pose2D:
        cfg = self.config
        xs, ys = grid.cell_centres()
        roomy = traversable & (grid.clearance >= cfg.robot.radius + 0.15) & np.isfinite(cost_to_go)
        far = np.hypot(xs - target.x, ys - target.y) >= cfg.task.start_min_distance
        candidates = np.argwhere(roomy & far)
        if len(candidates) == 0:
            candidates = np.argwhere(roomy & ~(cost_to_go <= 0))
        if len(candidates) == 0:
            raise RuntimeError(f"world {self.episode.world.seed if self.episode else '?'}: no free start cell")
        i, j = candidates[int(rng.integers(len(candidates)))]
        if cfg.task.start_in_view:
            i, j = self._first_in_view(grid, candidates, target, rng, default=(i, j))
        x, y = grid.to_world(i, j)
        return Pose2D(float(x), float(y), float(rng.uniform(-math.pi, math.pi)))

    @staticmethod
    def _first_in_view(
        grid: OccupancyGrid,
        candidates: np.ndarray,
        target: Target,
        rng: np.random.Generator,
        default: tuple[int, int],
    ) -> tuple[int, int]:
        """A random candidate cell with a clear line to the target (walls, obstacles and the other
        objects block it), or ``default`` when none has."""
        xs, ys = grid.cell_centres()
        free = ~grid.occupied | (distance_to_target_surface(target, xs, ys) <= grid.resolution)
        goal = grid.to_cell(target.x, target.y)
        for k in rng.permutation(len(candidates)):
            cell = (int(candidates[k][0]), int(candidates[k][1]))
            if line_of_sight(free, cell, goal):
                return cell
        return default

    @staticmethod
    def _cost_at(cost_to_go: np.ndarray, grid: OccupancyGrid, pose: Pose2D) -> float:
        return float(cost_to_go[grid.to_cell(pose.x, pose.y)])

    # ------------------------------------------------------------------ stepping
    def step(self, action):
        if self.episode is None or self.robot is None:
            raise RuntimeError("call reset() before step()")
        action = np.asarray(action, dtype=np.float64).reshape(-1)
        if action.shape != (2,) or not np.all(np.isfinite(action)):
            raise ValueError(f"action must be two finite numbers (linear m/s, angular rad/s), got {action!r}")
        ep, cfg = self.episode, self.config
        linear, angular = self.robot.clip(float(action[0]), float(action[1]))
        before = self._pose
        cost_before = self._cost_at(ep.cost_to_go, ep.grid, before)
        late = self._late_substeps()
        if late:  # the previous command runs on while the new one is being computed
            self.robot.step(*self._last_cmd, late)
        pose = self.robot.step(linear, angular, cfg.task.substeps - late)
        self._pose = pose
        self._steps += 1
        self._path_length += math.hypot(pose.x - before.x, pose.y - before.y)
        collided = bool(self.robot.contacts(exclude={ep.scene.floor}))
        self._collisions += int(collided)
        self._last_cmd = (linear, angular)
        reading = self.odometry.update(pose, self.dt, self.np_random)
        self._odom = np.array([reading.linear, reading.angular], dtype=np.float32)

        near = float(distance_to_target_surface(ep.target, pose.x, pose.y)) <= cfg.task.success_radius
        success = near and abs(linear) <= cfg.task.stop_speed and not collided
        rw = cfg.task.reward
        cost_after = self._cost_at(ep.cost_to_go, ep.grid, pose)
        terms = {
            "progress": rw.progress * (cost_before - cost_after),
            "success": rw.success if success else 0.0,
            "collision": rw.collision if collided else 0.0,
            "time": rw.time,
        }
        reward = float(sum(terms.values()))
        terminated = success or (collided and cfg.task.collision_mode == "end")
        obs = self._observe()
        return obs, reward, terminated, False, self._info(success, collided, terms)

    def set_action_delay(self, seconds: float | None) -> None:
        """With ``task.action_latency``: the next action takes effect ``seconds`` after its observation
        (for a caller that measured the compute time itself, like the sim node); ``None``: measure the
        wall time from the observation's return to ``step()``."""
        if seconds is not None and not (math.isfinite(seconds) and seconds >= 0):
            raise ValueError(f"action delay must be a finite number of seconds >= 0, got {seconds!r}")
        self._action_delay = seconds

    def _late_substeps(self) -> int:
        """Physics substeps the new action comes too late for (0 unless ``task.action_latency``)."""
        task = self.config.task
        if not task.action_latency:
            return 0
        delay = self._action_delay if self._action_delay is not None else time.perf_counter() - self._observed_at
        self._action_delay = None
        return min(task.substeps, round(delay * task.physics_hz))

    # ------------------------------------------------------------------ observation / info
    def _observe(self) -> dict[str, Any]:
        assert self.episode is not None
        self._frame = self.camera.capture(self._pose)
        obs = {
            "image": self._frame.rgb,
            "scan": self.lidar.scan(self._pose, self.np_random),
            "instruction": self.episode.instruction,
            "odom": self._odom.copy(),
        }
        self._observed_at = time.perf_counter()
        return obs

    @staticmethod
    def _zero_terms() -> dict[str, float]:
        return {"progress": 0.0, "success": 0.0, "collision": 0.0, "time": 0.0}

    def _info(self, success: bool, collided: bool, terms: dict[str, float]) -> dict[str, Any]:
        ep = self.episode
        assert ep is not None and self._frame is not None
        return {
            "success": bool(success),
            "collision": bool(collided),
            "collisions": self._collisions,
            "shortest_path_length": ep.shortest_path_length,
            "path_length": self._path_length,
            "distance_to_goal": self._cost_at(ep.cost_to_go, ep.grid, self._pose),
            "steps": self._steps,
            "time_s": self._steps * self.dt,
            "reward_terms": dict(terms),
            "goal": ep.goal.name,
            "instruction": ep.instruction,
            "world_seed": ep.world.seed,
            **self._target_view(),
        }

    def _target_view(self) -> dict[str, Any]:
        """Privileged: where the named object is, relative to the robot and in the camera image."""
        ep, pose = self.episode, self._pose
        assert ep is not None and self._frame is not None
        mask = self._frame.segmentation == ep.target_body
        columns = np.nonzero(mask.any(axis=0))[0]
        width = mask.shape[1]
        bearing = math.atan2(ep.target.y - pose.y, ep.target.x - pose.x) - pose.yaw
        return {
            "target_visible_px": int(np.count_nonzero(mask)),
            # -1 left edge .. 1 right edge; 0 when out of view (target_visible_px says which)
            "target_column": float(2.0 * (columns.mean() + 0.5) / width - 1.0) if len(columns) else 0.0,
            "target_bearing": math.atan2(math.sin(bearing), math.cos(bearing)),
            "target_distance": float(distance_to_target_surface(ep.target, pose.x, pose.y)),
        }

    # ------------------------------------------------------------------ extras
    @property
    def pose(self) -> Pose2D:
        """True robot pose (privileged: for the teacher, plots and the sim node)."""
        return self._pose

    def render(self):
        if self.render_mode == "rgb_array":
            return None if self._frame is None else self._frame.rgb.copy()
        return None

    def close(self) -> None:
        if getattr(self, "client", None) is not None and p.isConnected(physicsClientId=self.client):
            p.disconnect(physicsClientId=self.client)
        self.client = None  # type: ignore[assignment]  # closed: no client any more
        super().close()


def make_env(config: SimConfig | None = None, **kwargs: Any) -> gym.Env:
    """``gym.make`` the registered env with the episode limit of ``config`` (or the default config)."""
    register_env()
    cfg = config if config is not None else load_sim_config()
    env = gym.make(ENV_ID, config=cfg, max_episode_steps=cfg.task.max_episode_steps, **kwargs)
    if cfg.perturbations or cfg.randomise:  # sim.perturb: what the robot senses and how its base obeys, perturbed
        from sim.perturb import PerturbedEnv, parse_perturbations

        fixed, drawn = parse_perturbations(cfg.perturbations), parse_perturbations(cfg.randomise)
        env = PerturbedEnv(
            env, fixed, drawn, cfg.randomise_probability, cfg.randomise_probabilities, cfg.randomise_clean_fraction
        )
    return env
