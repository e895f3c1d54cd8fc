"""Simulated sensors: forward RGB camera, 2D lidar, multi-ring 3D lidar, wheel odometry.

Frames follow REP 103 (x forward, y left, z up, angles counter-clockwise). Lidar ranges follow
REP 117: ``+inf`` no return within ``range_max``, ``-inf`` an object closer than ``range_min``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from sim.bullet import p
from sim.config import CameraConfig, Lidar2DConfig, Lidar3DConfig, OdometryConfig
from sim.robot import Pose2D


@dataclass
class CameraFrame:
    rgb: np.ndarray
    """(height, width, 3) uint8."""
    segmentation: np.ndarray
    """(height, width) int32 body id per pixel (-1 for background): privileged, never an observation."""


class Camera:
    """Forward-looking pinhole camera rendered with PyBullet's TinyRenderer (no display needed)."""

    def __init__(self, client: int, config: CameraConfig) -> None:
        self.client = client
        self.config = config
        self.projection = p.computeProjectionMatrixFOV(
            fov=config.fov_deg, aspect=config.width / config.height, nearVal=config.near, farVal=config.far
        )
        self._pitch = math.radians(config.pitch_deg)
        self.light: dict[str, Any] | None = None
        """TinyRenderer light arguments (``lightDirection``, ``lightAmbientCoeff``...); None: PyBullet's own."""

    def view_matrix(self, pose: Pose2D) -> list[float]:
        c = self.config
        cy, sy = math.cos(pose.yaw), math.sin(pose.yaw)
        eye = [pose.x + c.mount_x * cy, pose.y + c.mount_x * sy, c.mount_z]
        fwd = [cy * math.cos(self._pitch), sy * math.cos(self._pitch), math.sin(self._pitch)]
        target = [eye[0] + fwd[0], eye[1] + fwd[1], eye[2] + fwd[2]]
        return p.computeViewMatrix(eye, target, [0, 0, 1])

    def capture(self, pose: Pose2D) -> CameraFrame:
        c = self.config
        _, _, rgba, _, seg = p.getCameraImage(
            c.width,
            c.height,
            viewMatrix=self.view_matrix(pose),
            projectionMatrix=self.projection,
            renderer=p.ER_TINY_RENDERER,
            physicsClientId=self.client,
            **(self.light or {}),
        )
        rgb = np.asarray(rgba, dtype=np.uint8).reshape(c.height, c.width, 4)[:, :, :3].copy()
        segmentation = np.asarray(seg, dtype=np.int32).reshape(c.height, c.width)
        return CameraFrame(rgb=rgb, segmentation=segmentation)


def cast_rays(
    client: int,
    origin: np.ndarray,
    directions: np.ndarray,
    range_start: float | np.ndarray,
    range_max: float,
    noise_std: float,
    rng: np.random.Generator | None,
) -> tuple[np.ndarray, np.ndarray]:
    """One ``rayTestBatch`` from ``origin`` along unit ``directions`` over [range_start, range_max]
    (``range_start``: one for all rays, or one per ray).

    Returns the measured ranges from ``origin`` (with Gaussian noise when ``rng`` is given) and
    which rays hit something.
    """
    start = np.asarray(range_start, dtype=np.float64)
    starts = origin + directions * (start[:, None] if start.ndim else start)
    ends = origin + directions * range_max
    results = p.rayTestBatch(starts.tolist(), ends.tolist(), physicsClientId=client)
    frac = np.array([r[2] for r in results])
    hit = np.array([r[0] >= 0 for r in results])
    ranges = start + frac * (range_max - start)
    if rng is not None and noise_std > 0:
        ranges = ranges + rng.normal(0.0, noise_std, size=ranges.shape)
    return ranges, hit


def _apply_rep117(ranges: np.ndarray, hit: np.ndarray, range_min: float) -> np.ndarray:
    out = np.where(hit, ranges, np.inf)
    out[hit & (ranges < range_min)] = -np.inf
    return out.astype(np.float32)


class Lidar2D:
    """Planar lidar at its mount (x, y, z, yaw in ``base_link``), beams counter-clockwise from ``angle_min`` in
    the sensor's own frame: the ranges are what a driver on that robot publishes."""

    def __init__(self, client: int, config: Lidar2DConfig, robot_radius: float) -> None:
        self.client = client
        self.config = config
        c = config
        self.angle_increment = math.radians(c.angle_max_deg - c.angle_min_deg) / c.beams
        self.angles = math.radians(c.angle_min_deg) + self.angle_increment * np.arange(c.beams)
        # Rays start just outside the robot's round body so they never hit it: from a sensor off the centre,
        # how far that is depends on the ray (the exit from the circle of radius + 1 cm around the centre).
        body = robot_radius + 0.01
        offset = np.array([c.mount_x, c.mount_y])
        if np.hypot(*offset) >= body:
            raise ValueError(f"lidar mount ({c.mount_x}, {c.mount_y}) lies outside the robot's radius {robot_radius}")
        base_angles = self.angles + math.radians(c.mount_yaw_deg)  # each ray's direction in base_link
        along = offset[0] * np.cos(base_angles) + offset[1] * np.sin(base_angles)
        self._start = (
            -along + np.sqrt(along**2 - (offset @ offset - body**2)) if offset.any() else np.full(c.beams, body)
        )

    def scan(self, pose: Pose2D, rng: np.random.Generator | None = None) -> np.ndarray:
        """Ranges (float32, metres, REP 117, from the sensor) for the robot at ``pose``."""
        c = self.config
        cy, sy = math.cos(pose.yaw), math.sin(pose.yaw)
        world_angles = self.angles + math.radians(c.mount_yaw_deg) + pose.yaw
        dirs = np.stack([np.cos(world_angles), np.sin(world_angles), np.zeros_like(world_angles)], axis=1)
        origin = np.array(
            [pose.x + c.mount_x * cy - c.mount_y * sy, pose.y + c.mount_x * sy + c.mount_y * cy, c.mount_z]
        )
        ranges, hit = cast_rays(self.client, origin, dirs, self._start, c.range_max, c.noise_std, rng)
        return _apply_rep117(ranges, hit & (ranges <= c.range_max), c.range_min)


class Lidar3D:
    """Multi-ring lidar: returns hit points (N, 3) in the sensor frame (no-returns are dropped)."""

    def __init__(self, client: int, config: Lidar3DConfig) -> None:
        self.client = client
        self.config = config
        az = np.linspace(-math.pi, math.pi, config.beams_per_ring, endpoint=False)
        el = np.radians(np.asarray(config.elevations_deg))
        azg, elg = np.meshgrid(az, el, indexing="xy")
        self.directions = np.stack(
            [np.cos(elg) * np.cos(azg), np.cos(elg) * np.sin(azg), np.sin(elg)], axis=-1
        ).reshape(-1, 3)

    def points(self, pose: Pose2D, rng: np.random.Generator | None = None) -> np.ndarray:
        c = self.config
        cy, sy = math.cos(pose.yaw), math.sin(pose.yaw)
        rot = np.array([[cy, -sy, 0.0], [sy, cy, 0.0], [0.0, 0.0, 1.0]])
        world_dirs = self.directions @ rot.T
        centre = np.array([pose.x, pose.y, c.mount_z])
        ranges, hit = cast_rays(self.client, centre, world_dirs, c.range_min, c.range_max, c.noise_std, rng)
        return (self.directions[hit] * ranges[hit, None]).astype(np.float32)


@dataclass
class OdometryReading:
    x: float
    y: float
    yaw: float
    linear: float
    angular: float


class Odometry:
    """Wheel odometry: measured twist with relative noise, integrated from the start pose (the odom frame)."""

    def __init__(self, config: OdometryConfig) -> None:
        self.config = config
        self.reset()

    def reset(self) -> None:
        self.x = self.y = self.yaw = 0.0
        self._last: Pose2D | None = None

    def update(self, pose: Pose2D, dt: float, rng: np.random.Generator) -> OdometryReading:
        """Measure the motion since the last call (true pose in, noisy odometry out)."""
        if self._last is None:
            self._last = pose
            return OdometryReading(0.0, 0.0, 0.0, 0.0, 0.0)
        last = self._last
        dx, dy = pose.x - last.x, pose.y - last.y
        forward = dx * math.cos(last.yaw) + dy * math.sin(last.yaw)
        dyaw = math.atan2(math.sin(pose.yaw - last.yaw), math.cos(pose.yaw - last.yaw))
        c = self.config
        linear = forward / dt * (1.0 + rng.normal(0.0, c.linear_noise))
        angular = dyaw / dt * (1.0 + rng.normal(0.0, c.angular_noise))
        mid = self.yaw + 0.5 * angular * dt
        self.x += linear * dt * math.cos(mid)
        self.y += linear * dt * math.sin(mid)
        self.yaw = math.atan2(math.sin(self.yaw + angular * dt), math.cos(self.yaw + angular * dt))
        self._last = pose
        return OdometryReading(self.x, self.y, self.yaw, linear, angular)
