"""The sim node's episode, without ROS: the env driven by velocity commands, with its trace, outcome and artifacts.

:class:`SimSession` is what :mod:`nav.nodes.sim_node` publishes and steps, and what ``nav demo --teacher``
drives in-process with the privileged teacher's own commands.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from sim.instructions import Goal, parse_goal
from sim.world import find_world_with

__all__ = ["DEFAULT_WORLD_TRIES", "SimNodeParams", "SimSession", "sim_config_path"]

DEFAULT_WORLD_TRIES = 200
"""World seeds searched (from ``seed`` on) for one that holds the named object."""


@dataclass(frozen=True)
class SimNodeParams:
    """Everything the sim node needs, after its ROS parameters are read."""

    config: str = "ros.yaml"
    sim_config: str = ""
    instruction: str = ""
    """What the robot is asked; empty: ``task.default_instruction`` of the sim config."""
    goal: str = ""
    world_seed: int = -1
    seed: int = 0
    artifacts_dir: str = ""
    rate_hz: float = 10.0
    real_time: bool = True
    publish_points: bool = True
    cmd_timeout: float = 0.5
    start_on_motion: bool = False

    def __post_init__(self) -> None:
        if not self.rate_hz > 0:
            raise ValueError(f"rate_hz must be > 0, got {self.rate_hz}")
        if not self.cmd_timeout > 0:
            raise ValueError(f"cmd_timeout must be > 0, got {self.cmd_timeout}")
        if self.world_seed < -1:
            raise ValueError(f"world_seed must be >= 0, or -1 to search, got {self.world_seed}")
        if self.goal and len(self.goal.split()) != 2:
            raise ValueError(f"goal must be '<colour> <shape>' (for example 'red cube'), got {self.goal!r}")

    def target(self, instruction: str | None = None) -> Goal:
        """The object the episode is about: ``goal``, else the one the instruction names (sim table);
        ``instruction`` stands in for an empty ``self.instruction`` (the task's default)."""
        if self.goal:
            colour, shape = self.goal.split()
            return Goal(colour, shape)
        return parse_goal(self.instruction or instruction or "")


def sim_config_path(params: SimNodeParams) -> str | Path:
    """The sim.yaml to use: the parameter, else the one beside ros.yaml (share/nav/configs on a robot)."""
    if params.sim_config:
        return params.sim_config
    from configs import config_dir

    ros_yaml = Path(params.config)
    if not ros_yaml.is_absolute() and not ros_yaml.exists():
        ros_yaml = config_dir() / ros_yaml
    beside = ros_yaml.parent / "sim.yaml"
    return beside if beside.exists() else "sim.yaml"


class SimSession:
    """One episode of the env driven by velocity commands, with its trace and outcome (no ROS here)."""

    def __init__(self, params: SimNodeParams) -> None:
        from sim.config import load_sim_config
        from sim.env import LangNavEnv
        from sim.rollout import Trace
        from sim.sensors import Lidar3D
        from sim.teacher import Teacher

        base = load_sim_config(sim_config_path(params))
        self.time_limit_s = base.task.max_episode_steps / base.task.control_hz
        self.max_steps = max(1, round(self.time_limit_s * params.rate_hz))
        # One env step is one node step: the env's control rate is the node's rate.
        cfg = base.replace(
            task=dataclasses.replace(base.task, control_hz=params.rate_hz, max_episode_steps=self.max_steps)
        )
        self.instruction = params.instruction or base.task.default_instruction
        goal = params.target(self.instruction)
        self.world_seed = (
            params.world_seed
            if params.world_seed >= 0
            else find_world_with(goal, params.seed, DEFAULT_WORLD_TRIES, base)
        )
        self.env = LangNavEnv(config=cfg)
        try:
            self.obs, self.info = self.env.reset(
                seed=params.seed,
                options={
                    "world_seed": self.world_seed,
                    "instruction": self.instruction,
                    "goal": (goal.colour, goal.shape),
                },
            )
        except BaseException:
            self.env.close()
            raise
        self.dt = self.env.dt
        self.lidar3d = Lidar3D(self.env.client, cfg.lidar3d) if params.publish_points else None
        self.teacher = Teacher(self.env)
        self.teacher.reset()
        self.teacher_command = self._teach(self.info)
        """The teacher's (linear, angular) for the current observation: a label, it never drives."""
        self.ticks = 0
        """Steps taken, also after the episode ended (simulated time is ``ticks * dt``)."""
        self.command = (0.0, 0.0)
        """The command executed by the last step (clipped to the robot's limits)."""
        self.outcome: dict[str, Any] | None = None
        self.trace = Trace()
        self._record()

    @property
    def sim_time(self) -> float:
        return self.ticks * self.dt

    @property
    def ended(self) -> bool:
        return self.outcome is not None

    def step(self, linear: float, angular: float) -> None:
        """One control step; once the episode has ended the robot stays stopped whatever the command."""
        if self.ended:
            linear, angular = 0.0, 0.0
        assert self.env.robot is not None
        self.command = self.env.robot.clip(linear, angular)
        self.obs, _, terminated, _, info = self.env.step(self.command)
        self.ticks += 1
        self.teacher_command = self._teach(info)
        if self.ended:
            return
        self.info = info
        self.trace.commands.append(self.command)
        self._record()
        if terminated or info["steps"] >= self.max_steps:
            reason = "success" if info["success"] else ("collision" if terminated else "time_limit")
            self.outcome = self._metrics(reason)

    def _teach(self, info: dict[str, Any]) -> tuple[float, float]:
        linear, angular = self.teacher.act(self.obs, info)  # once per step: the teacher counts its search turn
        return float(linear), float(angular)

    def points(self) -> np.ndarray:
        assert self.lidar3d is not None
        return self.lidar3d.points(self.env.pose, self.env.np_random)

    def odometry(self) -> tuple[float, float, float, float, float]:
        """Wheel odometry: x, y, yaw in the odom frame (the start pose), measured linear and angular speed."""
        od = self.env.odometry
        return od.x, od.y, od.yaw, float(self.obs["odom"][0]), float(self.obs["odom"][1])

    def _record(self) -> None:
        pose = self.env.pose
        self.trace.poses.append((pose.x, pose.y, pose.yaw))
        self.trace.frames.append(self.obs["image"])

    def _metrics(self, reason: str) -> dict[str, Any]:
        info = self.info
        return {
            "success": bool(info["success"]),
            "end_reason": reason,
            "time_s": round(float(info["time_s"]), 2),
            "path_length_m": round(float(info["path_length"]), 3),
            "shortest_path_length_m": round(float(info["shortest_path_length"]), 3),
            "collisions": int(info["collisions"]),
            "steps": int(info["steps"]),
            "instruction": self.instruction,
            "world_seed": self.world_seed,
            "artifacts": {},
        }

    def metrics(self) -> dict[str, Any]:
        """The outcome, or the metrics so far (``end_reason`` "running") while the episode runs."""
        return dict(self.outcome) if self.outcome is not None else self._metrics("running")

    def write_artifacts(self, out_dir: str | Path, metrics: dict[str, Any]) -> dict[str, str]:
        """``camera.mp4``, ``trajectory.png`` and ``metrics.json`` (``metrics`` plus the paths) in ``out_dir``."""
        from sim.artifacts import plot_trajectory, write_camera_video, write_json

        out = Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        ep = self.env.episode
        assert ep is not None
        video = write_camera_video(
            out / "camera.mp4", self.trace.frames, self.trace.commands, self.instruction, 1.0 / self.dt
        )
        verdict = "success" if metrics["success"] else f"failure ({metrics['end_reason']})"
        plot = plot_trajectory(
            out / "trajectory.png",
            ep.world,
            self.trace.poses,
            ep.goal.name,
            f"{self.instruction!r}: {verdict} in {metrics['time_s']:.1f} s",
        )
        paths = {"video": str(video), "trajectory": str(plot), "metrics": str(out / "metrics.json")}
        write_json(out / "metrics.json", {**metrics, "artifacts": paths})
        return paths

    def close(self) -> None:
        self.env.close()
