"""The lidar collision guard, as a specification (robot radius 0.2 m, stop 0.1 m, slow 0.5 m, +-30 deg)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from nav.runtime.guard import CollisionGuard, GuardConfig

pytestmark = pytest.mark.unit

CONFIG = GuardConfig(robot_radius=0.2, stop_distance=0.1, slow_distance=0.5, half_angle_deg=30.0, scan_timeout=0.3)
BEAMS = 360
ANGLE_MIN = -math.pi
INC = 2 * math.pi / BEAMS  # beam i at -180 + i degrees: beam 180 straight ahead, beam 0 behind


def scan(obstacles: dict[float, float] | None = None, fill: float = math.inf) -> np.ndarray:
    """A 360-beam scan, ``fill`` everywhere except ``{angle_deg: range}``."""
    ranges = np.full(BEAMS, fill, dtype=np.float32)
    for angle, r in (obstacles or {}).items():
        ranges[int(round(angle)) + 180] = r
    return ranges


def guard_with(ranges: np.ndarray, now: float = 0.0, config: GuardConfig = CONFIG) -> CollisionGuard:
    guard = CollisionGuard(config)
    guard.on_scan(ranges, ANGLE_MIN, INC, 0.05, 10.0, now=now)
    return guard


def test_clear_space_passes_the_command() -> None:
    linear, angular, reason = guard_with(scan()).filter(0.4, 0.3, now=0.1)
    assert (linear, angular, reason) == (0.4, 0.3, "clear")


def test_no_scan_yet_means_zero() -> None:
    result = CollisionGuard(CONFIG).filter(0.4, 0.3, now=0.0)
    assert (result.linear, result.angular, result.code) == (0.0, 0.0, "no_scan")


def test_stale_scan_means_zero_even_for_turning() -> None:
    guard = guard_with(scan(), now=0.0)
    assert guard.filter(0.4, 0.3, now=0.3).code == "clear"  # exactly at the timeout: still fresh
    result = guard.filter(0.0, 0.3, now=0.31)
    assert (result.linear, result.angular, result.code) == (0.0, 0.0, "stale")
    assert "stale" in result.reason


def test_obstacle_in_the_stop_zone_ahead_stops_forward_motion() -> None:
    guard = guard_with(scan({0: 0.29}))  # 0.09 m from the robot's surface < stop 0.1 m
    result = guard.filter(0.4, 0.3, now=0.0)
    assert result.linear == 0.0 and result.code == "stop"
    assert result.distance == pytest.approx(0.09, abs=1e-6)
    assert "0.09 m ahead" in result.reason


def test_turning_in_place_and_reversing_stay_allowed_next_to_an_obstacle() -> None:
    guard = guard_with(scan({0: 0.25}))
    assert tuple(guard.filter(0.0, 1.0, now=0.0)) == (0.0, 1.0, "clear")  # round footprint: no new area swept
    assert guard.filter(0.4, 1.0, now=0.0).angular == 1.0
    assert guard.filter(-0.2, 0.0, now=0.0).linear == -0.2  # away from it


def test_obstacle_behind_stops_reversing_only() -> None:
    guard = guard_with(scan({-180: 0.25, 178: 0.5}))
    assert guard.filter(-0.2, 0.0, now=0.0).code == "stop"
    assert "behind" in guard.filter(-0.2, 0.0, now=0.0).reason
    assert guard.filter(0.3, 0.0, now=0.0).linear == 0.3


def test_only_the_sector_of_travel_counts() -> None:
    guard = guard_with(scan({29: 0.25, 31: 0.21, 90: 0.21, -31: 0.21}))
    assert guard.filter(0.3, 0.0, now=0.0).code == "stop"  # 29 deg is inside +-30
    guard = guard_with(scan({31: 0.5, 90: 0.21, -31: 0.5}))
    assert guard.filter(0.3, 0.0, now=0.0).code == "clear"  # beside the robot, not in the way


def test_an_arc_that_sweeps_the_side_into_an_obstacle_is_slowed_then_stopped() -> None:
    # A post 0.35 m away at 60 deg left: outside the +-30 deg sector, clear of a straight drive
    # (0.30 m to the side > 0.2 m radius + 0.03 m margin), but a left arc swings the body into it.
    guard = guard_with(scan({60: 0.35}))
    assert guard.filter(0.4, 0.0, now=0.0).code == "clear"
    arc = guard.filter(0.4, 1.2, now=0.0)  # 0.33 m turning radius: the body passes within 0.16 m
    assert arc.code == "sweep" and 0.0 <= arc.linear < 0.4 and arc.angular == 1.2
    assert "arc reaches an obstacle" in arc.reason
    assert guard.filter(0.4, -1.2, now=0.0).code == "clear"  # the right arc swings away from it
    close = guard_with(scan({60: 0.24})).filter(0.4, 1.5, now=0.0)  # contact within one sample
    assert close.code == "sweep" and close.linear == 0.0 and close.angular == 1.5


def test_the_footprint_moving_away_from_a_close_point_is_not_stopped() -> None:
    guard = guard_with(scan({120: 0.21, -150: 0.22}))  # touching-close behind the left and right
    assert guard.filter(0.4, 0.3, now=0.0).code == "clear"


def test_the_sweep_can_be_switched_off() -> None:
    off = GuardConfig(robot_radius=0.2, stop_distance=0.1, slow_distance=0.5, half_angle_deg=30.0, sweep_horizon=0.0)
    assert guard_with(scan({60: 0.35}), config=off).filter(0.4, 1.2, now=0.0).code == "clear"


def test_slow_zone_scales_forward_speed_linearly() -> None:
    # surface distance 0.3 m: halfway between stop (0.1) and slow (0.5) -> half speed
    result = guard_with(scan({5: 0.5})).filter(0.4, 0.2, now=0.0)
    assert result.code == "slow"
    assert result.linear == pytest.approx(0.2, abs=1e-6) and result.angular == 0.2
    assert guard_with(scan({5: 0.7})).filter(0.4, 0.0, now=0.0).linear == pytest.approx(0.4)  # at slow edge


def test_rep117_values() -> None:
    # NaN: invalid, ignored (the rest of the sector is clear)
    assert guard_with(scan({0: math.nan})).filter(0.3, 0.0, now=0.0).code == "clear"
    # -inf: too close to measure -> an obstacle at 0 m
    assert guard_with(scan({0: -math.inf})).filter(0.3, 0.0, now=0.0).code == "stop"
    # +inf: free
    assert guard_with(scan({0: math.inf})).filter(0.3, 0.0, now=0.0).code == "clear"


def test_blind_sector_counts_as_blocked() -> None:
    front_only = np.full(181, np.inf, dtype=np.float32)  # -90..+90 deg
    guard = CollisionGuard(CONFIG)
    guard.on_scan(front_only, -math.pi / 2, math.pi / 180, 0.05, 10.0, now=0.0)
    assert guard.filter(0.3, 0.0, now=0.0).code == "clear"
    result = guard.filter(-0.3, 0.0, now=0.0)
    assert (result.linear, result.code) == (0.0, "blind")
    all_nan = guard_with(scan({0: 5.0}, fill=math.nan))  # one valid beam, straight ahead
    assert all_nan.filter(0.3, 0.0, now=0.0).code == "clear"
    assert all_nan.filter(-0.3, 0.0, now=0.0).code == "blind"  # every beam behind is NaN


def test_clockwise_scan_angles_are_understood() -> None:
    ranges = scan({0: 0.25})[::-1].copy()  # same scan, listed from +180 deg downwards
    guard = CollisionGuard(CONFIG)
    guard.on_scan(ranges, math.pi - INC, -INC, 0.05, 10.0, now=0.0)
    assert guard.filter(0.3, 0.0, now=0.0).code == "stop"


def test_malformed_scan_is_rejected_and_the_old_one_kept() -> None:
    guard = guard_with(scan(), now=0.0)
    with pytest.raises(ValueError, match="no ranges"):
        guard.on_scan([], ANGLE_MIN, INC, 0.05, 10.0, now=0.1)
    assert guard.scan_age(0.2) == pytest.approx(0.2)


def test_disabled_guard_passes_everything() -> None:
    off = GuardConfig(enabled=False)
    assert CollisionGuard(off).filter(0.4, 0.1, now=0.0).code == "clear"


class _Constant:
    def __init__(self, linear: float, angular: float) -> None:
        self.command = np.array([linear, angular], dtype=np.float32)
        self.resets = 0

    def reset(self) -> None:
        self.resets += 1

    def act(self, obs: dict, info: dict | None = None) -> np.ndarray:
        return self.command


def test_a_guarded_controller_filters_its_commands_through_the_scan_it_observes() -> None:
    from nav.runtime.guard import GuardedController
    from policy.processing import ScanGeometry

    geometry = ScanGeometry(ANGLE_MIN, INC, 0.05, 10.0)
    inner = _Constant(0.4, 1.2)
    guarded = GuardedController(inner, CONFIG, geometry, period_s=0.1)
    swept = guarded.act({"scan": scan({60: 0.35})})
    assert 0.0 <= swept[0] < 0.4 and swept[1] == pytest.approx(1.2)
    assert guarded.last is not None and guarded.last.code == "sweep"
    np.testing.assert_allclose(guarded.act({"scan": scan()}), [0.4, 1.2])  # clear again: passed through
    guarded.reset()
    assert inner.resets == 1 and guarded.last is None


def test_eval_names_a_guarded_controller_with_the_plus_guard_suffix() -> None:
    from pathlib import Path

    from nav.runtime.guard import GuardedController
    from policy.baselines import RandomController
    from policy.evaluation import build_controller
    from sim.config import load_sim_config

    class _Env:
        config = load_sim_config()

    controller = build_controller("random+guard", _Env(), Path("models"))
    assert isinstance(controller, GuardedController) and isinstance(controller.inner, RandomController)
    assert controller.period_s == pytest.approx(1.0 / _Env.config.task.control_hz)
