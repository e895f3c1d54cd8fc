"""Differential-drive base in PyBullet, driven by (linear, angular) velocity commands."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from sim.bullet import p
from sim.config import RobotConfig
from sim.scene import yaw_quaternion


@dataclass
class Pose2D:
    x: float
    y: float
    yaw: float


class DiffDriveRobot:
    """Planar base: each physics step sets the body twist from the command and lets contacts act."""

    def __init__(self, client: int, body: int, config: RobotConfig) -> None:
        self.client = client
        self.body = body
        self.config = config
        self._z = config.height / 2 + 0.01

    def clip(self, linear: float, angular: float) -> tuple[float, float]:
        """Limit a command to the configured velocity range."""
        c = self.config
        return float(np.clip(linear, -c.max_linear, c.max_linear)), float(
            np.clip(angular, -c.max_angular, c.max_angular)
        )

    def place(self, pose: Pose2D) -> None:
        p.resetBasePositionAndOrientation(
            self.body, [pose.x, pose.y, self._z], yaw_quaternion(pose.yaw), physicsClientId=self.client
        )
        p.resetBaseVelocity(self.body, [0, 0, 0], [0, 0, 0], physicsClientId=self.client)

    def pose(self) -> Pose2D:
        pos, orn = p.getBasePositionAndOrientation(self.body, physicsClientId=self.client)
        yaw = p.getEulerFromQuaternion(orn)[2]
        return Pose2D(pos[0], pos[1], yaw)

    def step(self, linear: float, angular: float, substeps: int) -> Pose2D:
        """Drive with the (clipped) command for ``substeps`` physics steps; returns the new pose."""
        linear, angular = self.clip(linear, angular)
        cid = self.client
        for _ in range(substeps):
            pose = self.pose()
            vel = [linear * math.cos(pose.yaw), linear * math.sin(pose.yaw), 0.0]
            p.resetBaseVelocity(self.body, vel, [0.0, 0.0, angular], physicsClientId=cid)
            p.stepSimulation(physicsClientId=cid)
        # Keep the base upright and on the floor: it is a planar robot.
        pose = self.pose()
        p.resetBasePositionAndOrientation(
            self.body, [pose.x, pose.y, self._z], yaw_quaternion(pose.yaw), physicsClientId=cid
        )
        return pose

    def contacts(self, exclude: set[int]) -> list[int]:
        """Bodies the robot touches now (other than ``exclude``)."""
        points = p.getContactPoints(bodyA=self.body, physicsClientId=self.client)
        return sorted({pt[2] for pt in points if pt[2] not in exclude})
