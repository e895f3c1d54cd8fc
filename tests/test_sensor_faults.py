"""Sensor messages that read but cannot be trusted: a lidar that reads "too close" on every beam, a camera frame
of a pixel (refused), and a scan whose metadata does not fit its ranges (named: real drivers do it on every scan)
(issue 18 items 5 and 8)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from nav.runtime.guard import CollisionGuard, GuardConfig
from perception.camera import too_small
from perception.lidar import covered_scan, metadata_mismatch

pytestmark = pytest.mark.unit

N = 360
FULL = 2.0 * math.pi / N


@pytest.mark.parametrize(
    ("angle_min", "angle_max", "increment"),
    [
        (0.0, (N - 1) * FULL, FULL),  # angle_max is the last ray's angle
        (0.0, 2.0 * math.pi, FULL),  # ... or one increment beyond it (TurtleBot3's LDS says 6.28)
        (-math.pi, math.pi - FULL, FULL),
        (math.pi, math.pi - (N - 1) * FULL, -FULL),  # clockwise
    ],
)
def test_scans_whose_metadata_fits_their_ranges_say_nothing(angle_min: float, angle_max: float, increment: float):
    assert metadata_mismatch(np.full(N, 2.0), angle_min, angle_max, increment) is None


def test_ranges_that_span_half_the_declared_turn_are_named() -> None:
    why = metadata_mismatch(np.full(N, 2.0), 0.0, 2.0 * math.pi, math.pi / (N - 1))
    assert why is not None and "360 ranges" in why and "read by angle_increment" in why


def test_a_lidar_reading_too_close_on_nearly_every_beam_is_taken_for_covered() -> None:
    ranges = np.full(N, -np.inf)
    assert "360 of 360 beams" in (covered_scan(ranges) or "")
    ranges[: N // 2] = 1.0  # half the beams see something: a robot next to a wall, maybe, not a covered lidar
    assert covered_scan(ranges) is None


def test_a_lidar_reading_nan_on_every_beam_is_taken_for_failed() -> None:
    ranges = np.full(N, np.nan)
    assert covered_scan(ranges) == "the lidar reads NaN (invalid) on all 360 beams: failed"
    ranges[0] = 2.0  # one valid beam: read as it is, ray by ray (REP 117: NaN is one invalid measurement)
    assert covered_scan(ranges) is None


def test_the_guard_stops_turning_too_when_the_lidar_looks_covered() -> None:
    guard = CollisionGuard(GuardConfig(robot_radius=0.2, stop_distance=0.1, slow_distance=0.5, half_angle_deg=30.0))
    guard.on_scan(np.full(N, -np.inf), 0.0, FULL, 0.12, 8.0, now=0.0)
    result = guard.filter(0.0, 1.1, now=0.05)
    assert (result.linear, result.angular) == (0.0, 0.0) and result.code == "blind" and "covered" in result.reason
    ranges = np.full(N, 5.0)
    ranges[:10] = -np.inf  # a few beams too close ahead: boxed in there, turning stays allowed
    guard.on_scan(ranges, 0.0, FULL, 0.12, 8.0, now=0.1)
    result = guard.filter(0.3, 1.1, now=0.15)
    assert result.linear == 0.0 and result.angular == 1.1


@pytest.mark.parametrize(("h", "w", "refused"), [(1, 1, True), (8, 640, True), (16, 16, False), (480, 640, False)])
def test_a_camera_frame_of_a_few_pixels_is_refused(h: int, w: int, refused: bool) -> None:
    why = too_small(np.zeros((h, w, 3), dtype=np.uint8))
    assert (why is not None) is refused
    if refused:
        assert f"{w}x{h} px" in why  # type: ignore[operator]


def test_a_real_drivers_inconsistent_metadata_is_named_not_refused() -> None:
    """The ROS 1 LDS recording's driver: 64 ranges at 2 pi / 64, declared over 270 degrees, on every scan."""
    why = metadata_mismatch(np.full(64, 1.0), -1.3046, 3.4078, 0.098175)
    assert why is not None and why.startswith("64 ranges")
    assert covered_scan(np.full(64, 1.0)) is None  # read, and driven on
