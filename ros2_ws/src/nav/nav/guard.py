"""Lidar collision guard on the mux output. Pure Python (no rclpy).

:class:`CollisionGuard` keeps the nearest obstacle ahead of and behind the robot from the latest
``sensor_msgs/LaserScan`` and filters each velocity command:

* **No scan, or a stale one** (older than ``guard.scan_timeout``): zero, linear *and* angular. A
  guard that cannot see does not let the robot move.
* **Direction of travel.** Only the sector of ``+-half_angle`` around the direction of travel
  counts: ahead (angle 0, REP 103) when ``linear > 0``, behind (angle pi) when ``linear < 0``.
* **Stop zone.** An obstacle within ``stop_distance`` of the robot's surface, i.e. within
  ``robot_radius + stop_distance`` of the lidar (the lidar is taken to sit at the centre of a
  round footprint), sets ``linear`` to zero.
* **Slow zone.** Between ``robot_radius + stop_distance`` and ``robot_radius + slow_distance``
  the speed toward it is scaled linearly from 0 (at the stop zone) to 1 (at the slow zone's edge).
* **Blind sector.** A sector with no usable beam (outside the scan's field of view, or all NaN)
  counts as blocked: with a front-only lidar the robot does not reverse blindly.
* **Turning in place is allowed**, even next to an obstacle: the footprint is a circle around the
  rotation centre, so rotating sweeps no new area, and rotating is how the robot turns away from
  what blocks it. Only a stale or missing scan stops rotation too.

Ranges follow REP 117 as in :mod:`perception.lidar`: NaN is an invalid reading and is ignored;
``-inf`` and finite values below ``range_min`` are "too close to measure" and count as an obstacle
at 0 m; ``+inf`` and finite values above ``range_max`` are free space.

Scan times are receipt times on the caller's monotonic clock, not header stamps: a stamp from
another machine's clock cannot say how old the data is here.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from nav.ros_config import GuardConfig

__all__ = ["CollisionGuard", "GuardResult"]


@dataclass(frozen=True)
class GuardResult:
    """A filtered command. Unpacks as ``linear, angular, reason``."""

    linear: float
    angular: float
    reason: str
    code: str
    """``clear``, ``slow``, ``stop``, ``blind``, ``stale`` or ``no_scan``."""
    distance: float = math.inf
    """Nearest obstacle in the sector of travel, from the robot's surface (m); inf when none."""

    def __iter__(self) -> Iterator[float | str]:
        return iter((self.linear, self.angular, self.reason))


def _wrap(angles: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    """Angles in [-pi, pi)."""
    return np.mod(angles + math.pi, 2.0 * math.pi) - math.pi


class CollisionGuard:
    """Stop or slow motion toward obstacles seen by a 2D lidar. See the module docstring."""

    def __init__(self, config: GuardConfig) -> None:
        self.config = config
        self._scan_at: float | None = None
        self._nearest = {1: math.inf, -1: math.inf}
        """Nearest obstacle ahead (1) and behind (-1), from the lidar centre; NaN for a blind sector."""

    def on_scan(
        self,
        ranges: npt.ArrayLike,
        angle_min: float,
        angle_increment: float,
        range_min: float,
        range_max: float,
        now: float,
    ) -> None:
        """Take a scan received at ``now``. A malformed scan raises ValueError and keeps the old one."""
        r = np.asarray(ranges, dtype=np.float64).reshape(-1)
        if r.size == 0:
            raise ValueError("scan has no ranges")
        if not (math.isfinite(angle_min) and math.isfinite(angle_increment)):
            raise ValueError(f"scan angles must be finite, got angle_min={angle_min}, increment={angle_increment}")
        valid = ~np.isnan(r)
        too_close = np.isneginf(r) | (np.isfinite(r) & (r < range_min))
        free = np.isposinf(r) | (np.isfinite(r) & (r > range_max))
        distance = np.where(too_close, 0.0, np.where(free, math.inf, r))
        angles = _wrap(angle_min + np.arange(r.size) * angle_increment)
        half = self.config.half_angle + 1e-9
        for direction, centre in ((1, 0.0), (-1, math.pi)):
            in_sector = valid & (np.abs(_wrap(angles - centre)) <= half)
            self._nearest[direction] = float(distance[in_sector].min()) if in_sector.any() else math.nan
        self._scan_at = now

    def scan_age(self, now: float) -> float:
        """Seconds since the last scan; inf when none arrived yet."""
        return math.inf if self._scan_at is None else now - self._scan_at

    def filter(self, linear: float, angular: float, now: float) -> GuardResult:
        """The command made safe against the latest scan."""
        cfg = self.config
        if not cfg.enabled:
            return GuardResult(linear, angular, "guard disabled", "clear")
        if self._scan_at is None:
            return GuardResult(0.0, 0.0, "no scan received yet", "no_scan")
        age = now - self._scan_at
        if age > cfg.scan_timeout:
            return GuardResult(0.0, 0.0, f"scan stale ({age:.2f} s old, timeout {cfg.scan_timeout:g} s)", "stale")
        if linear == 0.0:
            return GuardResult(linear, angular, "clear", "clear")
        direction = 1 if linear > 0 else -1
        where = "ahead" if direction > 0 else "behind"
        nearest = self._nearest[direction]
        if math.isnan(nearest):
            return GuardResult(0.0, angular, f"stop: no valid beam {where} (blind sector)", "blind", math.nan)
        surface = nearest - cfg.robot_radius
        if surface <= cfg.stop_distance:
            reason = f"stop: obstacle {surface:.2f} m {where} (stop distance {cfg.stop_distance:g} m)"
            return GuardResult(0.0, angular, reason, "stop", surface)
        if surface < cfg.slow_distance:
            scale = (surface - cfg.stop_distance) / (cfg.slow_distance - cfg.stop_distance)
            reason = f"slow: obstacle {surface:.2f} m {where} (speed x{scale:.2f})"
            return GuardResult(linear * scale, angular, reason, "slow", surface)
        return GuardResult(linear, angular, "clear", "clear", surface)

    def snapshot(self, now: float) -> dict[str, str]:
        """The state as flat key/value strings (for ``diagnostic_msgs/KeyValue``)."""
        if not self.config.enabled:
            return {"guard": "disabled"}
        radius = self.config.robot_radius
        return {
            "guard.scan_age": f"{self.scan_age(now):.2f}",
            "guard.nearest_ahead": f"{self._nearest[1] - radius:.2f}",
            "guard.nearest_behind": f"{self._nearest[-1] - radius:.2f}",
        }
