"""A privileged teacher: shortest path on the occupancy grid plus a path-following controller.

It reads simulator state (map, pose, target), but behaves in a way a learner can imitate from its
own observations: until it has seen the target in the camera it turns left on the spot (until the
robot has really turned a full circle, whoever drives); once it has, it follows the shortest path
(keeping clear of obstacles) and stops inside the success radius.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from scipy import ndimage

from configs import load
from sim.env import LangNavEnv
from sim.grid import descend, distance_to_target_surface, geodesic_field


@dataclass(frozen=True)
class TeacherConfig:
    clearance_margin: float = 0.06
    clearance_penalty: float = 3.0
    soft_clearance: float = 0.45
    lookahead: float = 0.4
    heading_gain: float = 2.5
    turn_in_place_deg: float = 45.0
    stop_distance: float = 0.28
    slow_distance: float = 0.8
    search_turn_rate: float = 1.2
    visible_pixels: int = 4

    def __post_init__(self) -> None:
        for name in ("lookahead", "heading_gain", "turn_in_place_deg", "stop_distance", "search_turn_rate"):
            if getattr(self, name) <= 0:
                raise ValueError(f"{name} must be > 0")


def load_teacher_config(path: str | Path = "teacher.yaml") -> TeacherConfig:
    return load(TeacherConfig, path)


class Teacher:
    """Call :meth:`reset` after each ``env.reset`` and :meth:`act` with each observation's ``info``."""

    def __init__(self, env: LangNavEnv, config: TeacherConfig | None = None) -> None:
        self.env = env
        self.config = config or load_teacher_config()
        self._field: np.ndarray | None = None

    def reset(self) -> None:
        ep = self.env.episode
        if ep is None:
            raise RuntimeError("reset the env before the teacher")
        c, grid = self.config, ep.grid
        robot_radius = self.env.config.robot.radius
        drivable = grid.clearance >= robot_radius + c.clearance_margin
        drivable |= ep.goal_cells
        field = geodesic_field(grid, ep.goal_cells, drivable, c.clearance_penalty, c.soft_clearance)
        # Where the teacher's stricter clearance leaves no way out, fall back on the env's field.
        reachable = np.isfinite(field)
        if not reachable.any():
            field = ep.cost_to_go.copy()
        else:
            _, (ni, nj) = ndimage.distance_transform_edt(~reachable, return_indices=True)
            field = field[ni, nj] + np.where(reachable, 0.0, 100.0)
        self._field = field
        self.seen = False
        self.searched = 0.0
        self._last_yaw = self.env.pose.yaw

    def act(self, obs: dict[str, Any], info: dict[str, Any]) -> np.ndarray:
        """The (linear, angular) command for the current state (``obs`` is unused: the teacher is privileged)."""
        if self._field is None:
            raise RuntimeError("call reset() first")
        env, c = self.env, self.config
        ep, pose = env.episode, env.pose
        assert ep is not None  # reset() checked it
        robot = env.config.robot
        if info["target_visible_px"] >= c.visible_pixels:
            self.seen = True
        # The search is measured in the robot's real rotation, not in the teacher's own commands: when
        # a learner drives (DAgger) and turns too slowly, the label keeps saying "turn" until the
        # robot has turned all the way round, instead of switching to a path it has no way to see.
        turned = pose.yaw - self._last_yaw
        self.searched += abs(math.atan2(math.sin(turned), math.cos(turned)))
        self._last_yaw = pose.yaw
        surface = float(distance_to_target_surface(ep.target, pose.x, pose.y))
        # Stop outright once the approach speed would be a stop anyway: a clear zero label at the
        # goal (a creeping one teaches a learner to creep into the object).
        approach = min(1.0, (surface - c.stop_distance) / c.slow_distance)
        if robot.max_linear * approach <= env.config.task.stop_speed:
            return np.zeros(2, dtype=np.float32)
        if not self.seen and self.searched < 2.0 * math.pi:
            return np.array([0.0, c.search_turn_rate], dtype=np.float32)

        grid = ep.grid
        cell = grid.to_cell(pose.x, pose.y)
        n_cells = max(2, int(round(c.lookahead / grid.resolution)))
        path = descend(self._field, cell, grid.resolution, max_steps=n_cells)
        if len(path) > 1:
            gx, gy = map(float, grid.to_world(*path[-1]))
        else:  # at the bottom of the field: head for the target itself
            gx, gy = ep.target.x, ep.target.y
        heading = math.atan2(float(gy) - pose.y, float(gx) - pose.x)
        error = math.atan2(math.sin(heading - pose.yaw), math.cos(heading - pose.yaw))
        angular = float(np.clip(c.heading_gain * error, -robot.max_angular, robot.max_angular))
        # Speed is a continuous function of the state (easier to imitate than switches): it fades
        # out with the heading error (turning on the spot beyond turn_in_place_deg) and, linearly,
        # toward the stop distance (to the stop above).
        aligned = max(0.0, 1.0 - abs(error) / math.radians(c.turn_in_place_deg))
        return np.array([robot.max_linear * aligned * approach, angular], dtype=np.float32)
