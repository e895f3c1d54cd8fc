"""Lidar collision guard on the mux output (and in ``nav eval``'s ``<variant>+guard`` rows). Pure Python.

:class:`CollisionGuard` keeps the nearest obstacle ahead of and behind the robot from the latest
``sensor_msgs/LaserScan`` and filters each velocity command:

* **No scan, or a stale one** (older than ``guard.scan_timeout``): zero, linear *and* angular. A
  guard that cannot see does not let the robot move.
* **Direction of travel.** Only the sector of ``+-half_angle`` around the direction of travel
  counts: ahead (angle 0, REP 103) when ``linear > 0``, behind (angle pi) when ``linear < 0``.
* **Stop zone.** An obstacle within ``stop_distance`` of the robot's surface, i.e. within
  ``robot_radius + stop_distance`` of the lidar (the lidar is taken to sit over the centre of a
  round footprint, turned by ``lidar_yaw_deg``), sets ``linear`` to zero.
* **Slow zone.** Between ``robot_radius + stop_distance`` and ``robot_radius + slow_distance``
  the speed toward it is scaled linearly from 0 (at the stop zone) to 1 (at the slow zone's edge).
* **Blind sector.** A sector with no usable beam (outside the scan's field of view, or all NaN)
  counts as blocked: with a front-only lidar the robot does not reverse blindly.
* **Swept footprint.** The sector misses what the robot's side sweeps into while it drives an arc
  (in simulation the learned policy's collisions that were examined were all such side-swipes,
  well outside the forward sector). So the commanded arc is followed for ``sweep_horizon`` seconds and the footprint's
  clearance to every scan point checked; if a point the footprint is closing in on comes within
  ``sweep_margin`` at time ``t``, ``linear`` is scaled by ``t / sweep_horizon`` (zero when the
  contact is one sample away). Points the footprint moves away from never stop it. The arc is
  driven at most at the robot's top speed (``max_linear``, which the mux clips to before the guard
  and the base never exceeds), so scan points beyond ``max_linear * sweep_horizon`` plus the
  footprint cannot matter and are left out.
* **Turning in place is allowed**, even next to an obstacle: the footprint is a circle around the
  rotation centre, so rotating sweeps no new area, and rotating is how the robot turns away from
  what blocks it. Only a stale or missing scan stops rotation too, and a scan that reads "too close" on
  nearly every beam (:func:`perception.lidar.covered_scan`): a covered or failed lidar, not a robot boxed in.

Ranges are read as in :mod:`perception.lidar`: NaN is an invalid reading and is ignored; ``-inf``
is "too close to measure" and counts as an obstacle at 0 m; ``+inf`` is free space; finite readings
outside ``[range_min, range_max]`` are discarded as the LaserScan definition says, unless the robot
profile's ``lidar.readings`` state the driver's habit (``0.0`` or ``range_max`` for no return, just
under ``range_min`` for too close). A clockwise scan (negative ``angle_increment``) reads as any other.

Scan times are receipt times on the caller's monotonic clock, not header stamps: a stamp from
another machine's clock cannot say how old the data is here.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from configs.robot import from_profile
from perception.lidar import (
    ScanConventions,
    covered_scan,
    nearest_in_sector,
    rep117_to_ranges,
    to_robot_centre,
    wrap_angle,
)

__all__ = [
    "CollisionGuard",
    "GuardConfig",
    "GuardResult",
    "GuardedController",
    "load_guard_config",
]


@dataclass(frozen=True)
class GuardConfig:
    """The ``guard`` section of ros.yaml; the robot's radius and top speed come from the robot profile."""

    enabled: bool = True
    robot_radius: float = from_profile("radius")
    """m: the footprint's radius around the lidar (the robot profile's ``radius``)."""
    stop_distance: float = 0.12
    slow_distance: float = 0.5
    half_angle_deg: float = 35.0
    scan_timeout: float = 0.3
    sweep_horizon: float = 0.6
    """s: the commanded arc is followed this far ahead for the swept-footprint check (0: off)."""
    sweep_margin: float = 0.03
    """m: least clearance the swept footprint keeps from any scan point."""
    max_linear: float = from_profile("max_linear")
    """m/s: the fastest the swept arc is driven (the robot profile's ``max_linear``, the mux's limit)."""
    lidar_yaw_deg: float = from_profile("lidar.mount.yaw_deg")
    """deg: the lidar frame's turn in ``base_link`` (the robot profile's ``lidar.mount.yaw_deg``): a ray at
    angle a in the scan points at a + yaw on the robot."""
    lidar_xy: tuple[float, float] = from_profile("lidar.mount", lambda m: (m.x, m.y))
    """m: where the lidar sits in ``base_link`` (the robot profile's ``lidar.mount`` x, y): its returns are
    re-measured from the robot's centre (:func:`perception.lidar.to_robot_centre`)."""
    readings: ScanConventions = from_profile("lidar.readings")
    """How the lidar's finite readings outside ``[range_min, range_max]`` read (the robot profile's
    ``lidar.readings``; the LaserScan definition: discarded)."""

    def __post_init__(self) -> None:
        if self.robot_radius <= 0 or self.max_linear <= 0:
            raise ValueError("guard robot_radius and max_linear must be > 0")
        if not 0 <= self.stop_distance < self.slow_distance:
            raise ValueError("guard needs 0 <= stop_distance < slow_distance")
        if not 0 < self.half_angle_deg <= 180:
            raise ValueError("guard half_angle_deg must be in (0, 180]")
        if self.sweep_horizon < 0 or self.sweep_margin < 0:
            raise ValueError("guard sweep_horizon and sweep_margin must be >= 0")

    @property
    def half_angle(self) -> float:
        return math.radians(self.half_angle_deg)


@dataclass(frozen=True)
class GuardResult:
    """A filtered command. Unpacks as ``linear, angular, reason``."""

    linear: float
    angular: float
    reason: str
    code: str
    """``clear``, ``slow``, ``sweep``, ``stop``, ``blind``, ``stale`` or ``no_scan``."""
    distance: float = math.inf
    """Nearest obstacle in the sector of travel, from the robot's surface (m); inf when none."""

    def __iter__(self) -> Iterator[float | str]:
        return iter((self.linear, self.angular, self.reason))


_SWEEP_SAMPLES = 12
"""Poses checked along the arc (every 50 ms over the default 0.6 s)."""


class CollisionGuard:
    """Stop or slow motion toward obstacles seen by a 2D lidar. See the module docstring."""

    def __init__(self, config: GuardConfig) -> None:
        self.config = config
        self._scan_at: float | None = None
        self._nearest = {1: math.inf, -1: math.inf}
        """Nearest obstacle ahead (1) and behind (-1), from the lidar centre; NaN for a blind sector."""
        self._points = np.zeros((0, 2))
        """Obstacle points of the latest scan near enough to matter for the sweep (robot frame, m)."""
        self._covered: str | None = None
        """Why the latest scan looks like a covered or failed lidar (nearly every beam "too close"), or None."""

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
        distance = rep117_to_ranges(r, range_min, range_max, math.inf, self.config.readings)
        valid, free = ~np.isnan(distance), np.isposinf(distance)
        first = angle_min + math.radians(self.config.lidar_yaw_deg)  # in base_link
        angles = first + np.arange(r.size, dtype=np.float64) * angle_increment
        distance, angles = to_robot_centre(distance, angles, self.config.lidar_xy)
        angles = wrap_angle(angles)
        half = self.config.half_angle + 1e-9
        for direction, centre in ((1, 0.0), (-1, math.pi)):
            self._nearest[direction] = float(nearest_in_sector(distance, angles, centre, half))
        reach = self.config.robot_radius + self.config.sweep_margin + self.config.max_linear * self.config.sweep_horizon
        near = valid & ~free & (distance <= reach)
        hit = np.maximum(distance[near], min(range_min, self.config.robot_radius))
        self._points = np.stack([hit * np.cos(angles[near]), hit * np.sin(angles[near])], axis=1)
        self._covered = covered_scan(r)
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
        if self._covered is not None:  # not boxed in but blind: turning on the spot is no safer than driving
            return GuardResult(0.0, 0.0, f"stop: {self._covered}", "blind", math.nan)
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
            return self._sweep(GuardResult(linear * scale, angular, reason, "slow", surface))
        return self._sweep(GuardResult(linear, angular, "clear", "clear", surface))

    def _sweep(self, result: GuardResult) -> GuardResult:
        """Scale ``result.linear`` down if the commanded arc sweeps the footprint into a scan point."""
        cfg = self.config
        if cfg.sweep_horizon <= 0 or result.linear == 0.0 or len(self._points) == 0:
            return result
        t = np.linspace(0.0, cfg.sweep_horizon, _SWEEP_SAMPLES + 1)
        v, w = max(-cfg.max_linear, min(cfg.max_linear, result.linear)), result.angular  # the arc the base drives
        if abs(w) < 1e-6:
            centres = np.stack([v * t, np.zeros_like(t)], axis=1)
        else:
            centres = np.stack([v / w * np.sin(w * t), v / w * (1.0 - np.cos(w * t))], axis=1)
        gaps = np.linalg.norm(self._points[None, :, :] - centres[:, None, :], axis=2)  # (time, point)
        limit = cfg.robot_radius + cfg.sweep_margin
        closing = (gaps < limit) & (gaps < gaps[0][None, :] - 1e-6)
        hits = np.flatnonzero(closing.any(axis=1))
        if hits.size == 0:
            return result
        first = int(hits[0])
        scale = (first - 1) / _SWEEP_SAMPLES if first > 1 else 0.0
        reason = f"sweep: the arc reaches an obstacle in {t[first]:.2f} s (speed x{scale:.2f})"
        return GuardResult(result.linear * scale, result.angular, reason, "sweep", result.distance)

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


def load_guard_config(path: str = "ros.yaml") -> GuardConfig:
    """The robot's guard, as the mux node runs it (``configs/ros.yaml``, section ``guard``, with the robot
    profile's radius and top speed)."""
    from configs import load

    return load(GuardConfig, path, section="guard")


class GuardedController:
    """A controller whose commands pass a :class:`CollisionGuard`, as the robot's mux passes them.

    For closed-loop evaluation of the deployed command path: each ``act`` feeds the observation's
    scan to the guard (read with ``geometry``, a :class:`policy.processing.ScanGeometry`), then
    filters the inner controller's (linear, angular). Time advances ``period_s`` per step.
    """

    def __init__(self, inner: Any, config: GuardConfig, geometry: Any, period_s: float) -> None:
        if period_s <= 0:
            raise ValueError(f"period_s must be > 0, got {period_s}")
        self.inner = inner
        self.config = config
        self.geometry = geometry
        self.period_s = period_s
        self.guard = CollisionGuard(config)
        self.last: GuardResult | None = None
        self._now = 0.0

    def reset(self) -> None:
        self.inner.reset()
        self.guard = CollisionGuard(self.config)
        self.last = None
        self._now = 0.0

    def act(self, obs: dict[str, Any], info: dict[str, Any] | None = None) -> npt.NDArray[np.float32]:
        action = np.asarray(self.inner.act(obs, info), dtype=np.float64).reshape(2)
        g = self.geometry
        self.guard.on_scan(obs["scan"], g.angle_min, g.angle_increment, g.range_min, g.range_max, now=self._now)
        self.last = self.guard.filter(float(action[0]), float(action[1]), now=self._now)
        self._now += self.period_s
        return np.array([self.last.linear, self.last.angular], dtype=np.float32)
