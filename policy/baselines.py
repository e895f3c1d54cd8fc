"""Reference controllers that learn nothing: a hand-written classical baseline and a random policy.

Both see only what the learned policy sees (camera, lidar, instruction, odometry) and satisfy
``sim.rollout.Controller``, so ``nav eval`` reports them in the same table.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np

from configs.robot import profile_default, robot_profile
from sim.instructions import Goal, parse_goal

HUE_RANGES = {
    "red": [(0, 8), (172, 180)],
    "orange": [(9, 20)],
    "yellow": [(21, 35)],
    "green": [(36, 85)],
    "blue": [(100, 130)],
    "purple": [(131, 160)],
}
"""OpenCV hue (0..180) bands of the target colours."""


def colour_mask(rgb: np.ndarray, colour: str, min_saturation: int = 120, min_value: int = 60) -> np.ndarray:
    """Pixels of a saturated ``colour`` in an RGB image (walls, floor and obstacles are unsaturated)."""
    hsv = cv2.cvtColor(rgb, cv2.COLOR_RGB2HSV)
    h, s, v = hsv[..., 0], hsv[..., 1], hsv[..., 2]
    mask = np.zeros(h.shape, dtype=bool)
    for low, high in HUE_RANGES[colour]:
        mask |= (h >= low) & (h <= high)
    return mask & (s >= min_saturation) & (v >= min_value)


@dataclass(frozen=True)
class ClassicalConfig:
    max_linear: float = profile_default("max_linear")
    """Top speed (m/s; default: the robot profile's)."""
    max_angular: float = profile_default("max_angular")
    """Top turn rate (rad/s; default: the robot profile's)."""
    heading_gain: float = 2.0
    min_pixels: int = 3
    """Target pixels that count as seeing it."""
    stop_range: float = 0.45
    """Stop when the lidar reads this close (m from the sensor's centre) toward the target."""
    avoid_range: float = 0.55
    """An obstacle ahead closer than this makes the robot turn away."""
    search_turn: float = 1.0
    wander_steps: int = 25
    """After a full turn without seeing the target, drive this many steps before searching again."""
    dt: float = 0.1


class ClassicalController:
    """Colour segmentation toward the named colour plus reactive lidar obstacle avoidance.

    Turn on the spot until the named colour appears; steer to centre it while the lidar keeps the
    path clear; stop when the lidar beam toward it reads close. It uses the colour of the
    instruction only (it cannot tell a red cube from a red ball), a real limit of such baselines.
    """

    def __init__(self, config: ClassicalConfig | None = None, fov_deg: float = 75.0) -> None:
        self.config = config or ClassicalConfig()
        self.hfov = math.radians(fov_deg)  # square image: horizontal FOV equals the vertical one
        self.reset()

    def reset(self) -> None:
        self._goal: Goal | None = None
        self._turned = 0.0
        self._wander = 0

    def act(self, obs: dict[str, Any], info: dict[str, Any] | None = None) -> np.ndarray:
        c = self.config
        if self._goal is None:
            self._goal = parse_goal(obs["instruction"])
        image, scan = obs["image"], np.asarray(obs["scan"], dtype=np.float32)
        beams = len(scan)
        ranges = np.where(np.isnan(scan), np.inf, scan)
        ranges = np.where(ranges == -np.inf, 0.0, ranges)
        angles = -math.pi + (2 * math.pi / beams) * np.arange(beams)
        ahead = np.abs(angles) <= math.radians(30)
        front = float(np.min(ranges[ahead]))

        mask = colour_mask(image, self._goal.colour)
        if mask.sum() >= c.min_pixels:
            self._turned = 0.0
            self._wander = 0
            cols = np.nonzero(mask)[1]
            x = (cols.mean() + 0.5) / image.shape[1] * 2.0 - 1.0  # -1 left .. +1 right
            bearing = -math.atan(x * math.tan(self.hfov / 2))
            beam = int(round((bearing + math.pi) / (2 * math.pi / beams))) % beams
            toward = float(np.min(ranges[[(beam + k) % beams for k in range(-3, 4)]]))
            if toward <= c.stop_range:
                return np.zeros(2, dtype=np.float32)
            angular = float(np.clip(c.heading_gain * bearing, -c.max_angular, c.max_angular))
            linear = c.max_linear * max(0.0, math.cos(bearing)) * min(1.0, (toward - c.stop_range) / 0.6 + 0.2)
            if front < c.avoid_range and toward > front + 0.2:  # something other than the target ahead
                return self._avoid(ranges, angles)
            return np.array([linear, angular], dtype=np.float32)

        if self._wander > 0:
            self._wander -= 1
            if front < c.avoid_range:
                return self._avoid(ranges, angles)
            return np.array([0.6 * c.max_linear, 0.0], dtype=np.float32)
        if self._turned >= 2 * math.pi:
            self._turned = 0.0
            self._wander = c.wander_steps
        self._turned += c.search_turn * c.dt
        return np.array([0.0, c.search_turn], dtype=np.float32)

    def _avoid(self, ranges: np.ndarray, angles: np.ndarray) -> np.ndarray:
        left = float(np.mean(np.minimum(ranges[(angles > 0.2) & (angles < 1.6)], 5.0)))
        right = float(np.mean(np.minimum(ranges[(angles < -0.2) & (angles > -1.6)], 5.0)))
        turn = self.config.max_angular if left >= right else -self.config.max_angular
        return np.array([0.0, turn], dtype=np.float32)


class RandomController:
    """Uniform random commands within the limits (seeded; default: the robot profile's)."""

    def __init__(self, max_linear: float | None = None, max_angular: float | None = None, seed: int = 0) -> None:
        profile = robot_profile()
        self.high = np.array(
            [
                profile.max_linear if max_linear is None else max_linear,
                profile.max_angular if max_angular is None else max_angular,
            ],
            dtype=np.float32,
        )
        self.rng = np.random.default_rng(seed)

    def reset(self) -> None:
        pass

    def act(self, obs: dict[str, Any], info: dict[str, Any] | None = None) -> np.ndarray:
        return self.rng.uniform(-self.high, self.high).astype(np.float32)
