"""The command mux, as a specification: which command reaches the base, and why.

Times are plain floats (seconds); the mux reads no clock.
"""

from __future__ import annotations

import math

import pytest

from nav.runtime.config import MuxConfig, MuxInput, MuxLock, load_ros_config
from nav.runtime.mux import ALL_TIMED_OUT, CommandMux, Decision, ramp

pytestmark = pytest.mark.unit

TELEOP = MuxInput("teleop", "cmd_teleop", priority=100, timeout=0.5)
NAV = MuxInput("navigation", "cmd_nav", priority=10, timeout=0.5)
FAST = {"max_linear_accel": 1e6, "max_angular_accel": 1e6}  # no ramp unless a test wants one


def make_mux(*locks: MuxLock, **overrides: float) -> CommandMux:
    params = {"rate_hz": 20.0, "max_linear": 0.5, "max_angular": 1.5, **FAST, **overrides}
    return CommandMux(MuxConfig(inputs=(NAV, TELEOP), locks=locks, **params))


def cmd(decision: Decision) -> tuple[float, float]:
    return (decision.linear, decision.angular)


# -- priority and timeouts ---------------------------------------------------------------------------


def test_single_input_passes_through() -> None:
    mux = make_mux()
    mux.on_command("navigation", 0.2, 0.1, now=0.0)
    decision = mux.decide(0.05)
    assert cmd(decision) == (0.2, 0.1)
    assert decision.source == "navigation" and decision.reason == "ok" and not decision.stopped


def test_higher_priority_wins_regardless_of_order() -> None:
    mux = make_mux()
    mux.on_command("teleop", -0.1, 0.5, now=0.0)
    mux.on_command("navigation", 0.3, 0.0, now=0.01)  # newer, but lower priority
    decision = mux.decide(0.02)
    assert decision.source == "teleop" and cmd(decision) == (-0.1, 0.5)


def test_timeout_falls_back_to_lower_priority_then_resumes() -> None:
    mux = make_mux()
    for t in (0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0):
        mux.on_command("navigation", 0.3, 0.0, now=t)
    mux.on_command("teleop", 0.1, 0.2, now=0.0)
    assert mux.decide(0.5).source == "teleop"  # exactly at the timeout: still fresh
    decision = mux.decide(0.51)  # teleop is 0.51 s old: timed out
    assert decision.source == "navigation" and cmd(decision) == (0.3, 0.0)
    assert mux.describe_input("teleop", 0.51).startswith("timed out")
    mux.on_command("teleop", 0.0, 0.7, now=0.8)  # the human speaks again: override at once
    assert mux.decide(0.8).source == "teleop"
    assert cmd(mux.decide(0.85)) == (0.0, 0.7)


def test_all_inputs_silent_gives_zero_not_silence() -> None:
    mux = make_mux()
    assert (mux.decide(0.0).reason, cmd(mux.decide(0.0))) == (ALL_TIMED_OUT, (0.0, 0.0))  # never heard
    mux.on_command("navigation", 0.3, 0.2, now=1.0)
    assert cmd(mux.decide(1.2)) == (0.3, 0.2)
    decision = mux.decide(1.6)
    assert cmd(decision) == (0.0, 0.0)
    assert decision.reason == "all inputs timed out" and decision.source == "none" and decision.stopped


def test_unknown_input_is_an_error() -> None:
    with pytest.raises(KeyError, match="unknown mux input 'joystick'"):
        make_mux().on_command("joystick", 0.1, 0.0, now=0.0)


# -- e-stop --------------------------------------------------------------------------------------------


def test_estop_latches_over_everything_until_reset() -> None:
    mux = make_mux()
    mux.on_command("teleop", 0.2, 0.0, now=0.0)
    mux.on_estop(True, now=0.0)
    decision = mux.decide(0.0)
    assert cmd(decision) == (0.0, 0.0) and decision.source == "estop" and decision.code == "estop"
    mux.on_estop(False, now=0.1)  # the button released: still latched
    mux.on_command("teleop", 0.2, 0.0, now=0.1)
    assert mux.decide(0.1).source == "estop"
    assert mux.on_estop_reset(now=0.2) is True
    mux.on_command("teleop", 0.2, 0.0, now=0.2)
    assert cmd(mux.decide(0.25)) == (0.2, 0.0)


def test_estop_reset_while_estop_still_true_is_refused() -> None:
    mux = make_mux()
    mux.on_estop(True, now=0.0)
    assert mux.on_estop_reset(now=0.1) is False
    mux.on_command("navigation", 0.2, 0.0, now=0.2)
    assert "still true" in mux.decide(0.2).reason
    mux.on_estop(False, now=0.3)
    assert mux.on_estop_reset(now=0.4) is True
    mux.on_command("navigation", 0.2, 0.0, now=0.4)
    assert mux.decide(0.4).source == "navigation"


def test_estop_false_alone_does_not_latch() -> None:
    mux = make_mux()
    mux.on_estop(False, now=0.0)
    mux.on_command("navigation", 0.2, 0.0, now=0.0)
    assert mux.decide(0.0).source == "navigation"


# -- locks ---------------------------------------------------------------------------------------------

HEARTBEAT = MuxLock("heartbeat", "/nav/heartbeat", priority=50, timeout=1.0)


def test_true_lock_blocks_inputs_below_its_priority_only() -> None:
    mux = make_mux(HEARTBEAT)
    mux.on_lock("heartbeat", True, now=0.0)
    mux.on_command("navigation", 0.3, 0.0, now=0.0)
    decision = mux.decide(0.0)
    assert cmd(decision) == (0.0, 0.0) and decision.code == "lock" and "heartbeat engaged" in decision.reason
    mux.on_command("teleop", 0.1, 0.0, now=0.1)  # priority 100 > 50: passes the lock
    assert mux.decide(0.1).source == "teleop"
    mux.on_lock("heartbeat", False, now=0.2)
    mux.on_command("navigation", 0.3, 0.0, now=0.7)
    assert mux.decide(0.7).source == "navigation"  # teleop timed out, the lock released


def test_lock_blocks_an_input_of_equal_priority() -> None:  # twist_mux's rule
    lock = MuxLock("pause", "/pause", priority=10, timeout=1.0)
    mux = make_mux(lock)
    mux.on_lock("pause", True, now=0.0)
    mux.on_command("navigation", 0.3, 0.0, now=0.0)
    assert mux.decide(0.0).code == "lock"


def test_silent_lock_engages_a_stop() -> None:
    mux = make_mux(HEARTBEAT)
    for t in (0.0, 0.5, 1.0):
        mux.on_lock("heartbeat", False, now=t)
    for t in (0.0, 0.5, 1.0, 1.5, 2.0, 2.5):
        mux.on_command("navigation", 0.3, 0.0, now=t)
    assert mux.decide(1.9).source == "navigation"  # heartbeat 0.9 s old: fine
    decision = mux.decide(2.1)  # 1.1 s old: past its 1.0 s timeout
    assert cmd(decision) == (0.0, 0.0) and "heartbeat silent" in decision.reason
    mux.on_lock("heartbeat", False, now=2.5)  # it comes back: released
    assert mux.decide(2.5).source == "navigation"


def test_lock_never_heard() -> None:
    strict = MuxLock("heartbeat", "/nav/heartbeat", priority=50, timeout=1.0, engage_if_never_heard=True)
    mux = make_mux(strict)
    mux.on_command("navigation", 0.3, 0.0, now=0.0)
    assert "never heard" in mux.decide(0.0).reason
    lenient = make_mux(HEARTBEAT)
    lenient.on_command("navigation", 0.3, 0.0, now=0.0)
    assert lenient.decide(0.0).source == "navigation"


# -- non-finite commands -------------------------------------------------------------------------------


@pytest.mark.parametrize("bad", [(math.nan, 0.0), (0.1, math.inf), (-math.inf, math.nan)])
def test_non_finite_command_is_rejected_and_named(bad: tuple[float, float]) -> None:
    mux = make_mux()
    mux.on_command("navigation", 0.3, 0.0, now=0.0)
    assert mux.on_command("navigation", *bad, now=0.1) is False
    decision = mux.decide(0.1)  # the bad command is not used, and the old one is not either
    assert cmd(decision) == (0.0, 0.0)
    assert decision.code == "rejected" and "navigation" in decision.reason
    assert mux.on_command("navigation", 0.2, 0.0, now=0.2) is True
    assert cmd(mux.decide(0.2)) == (0.2, 0.0)


def test_a_broken_teleop_holds_zero_instead_of_handing_the_robot_to_navigation() -> None:
    mux = make_mux()  # teleop timeout 0.5 s
    mux.on_command("teleop", 0.1, 0.0, now=0.0)
    mux.on_command("navigation", 0.3, 0.0, now=0.0)
    for k in range(1, 5):  # the human's input goes bad while navigation keeps talking
        mux.on_command("teleop", math.nan, 0.0, now=0.1 * k)
        mux.on_command("navigation", 0.3, 0.0, now=0.1 * k)
        decision = mux.decide(0.1 * k)
        assert cmd(decision) == (0.0, 0.0) and decision.code == "rejected", decision
        assert decision.source == "teleop" and "holding zero until teleop" in decision.reason
    mux.on_command("teleop", 0.05, 0.0, now=0.5)  # healthy again: teleop drives
    assert mux.decide(0.5).source == "teleop"
    mux.on_command("teleop", math.inf, 0.0, now=0.6)
    assert cmd(mux.decide(0.6)) == (0.0, 0.0)
    mux.on_command("navigation", 0.3, 0.0, now=1.0)
    assert cmd(mux.decide(1.05)) == (0.0, 0.0)  # 0.45 s after the bad command: still held
    assert mux.decide(1.15).source == "navigation"  # teleop silent for its timeout: navigation takes over


# -- limits --------------------------------------------------------------------------------------------


def test_velocity_limits_clip_each_axis() -> None:
    mux = make_mux()
    mux.on_command("navigation", 2.0, -9.0, now=0.0)
    assert cmd(mux.decide(0.0)) == (0.5, -1.5)
    mux.on_command("navigation", -2.0, 9.0, now=0.1)
    assert cmd(mux.decide(0.1)) == (-0.5, 1.5)


def test_acceleration_ramps_speed_up() -> None:
    mux = make_mux(max_linear_accel=1.0, max_angular_accel=4.0)  # 20 Hz: 0.05 m/s, 0.2 rad/s per tick
    outputs = []
    for i in range(12):
        mux.on_command("navigation", 0.5, 1.0, now=i * 0.05)
        outputs.append(cmd(mux.decide(i * 0.05)))
    assert outputs[0] == pytest.approx((0.05, 0.2))
    assert outputs[1] == pytest.approx((0.10, 0.4))
    assert outputs[4][1] == pytest.approx(1.0)  # angular reached its target in 5 ticks
    assert outputs[9][0] == pytest.approx(0.5)  # linear in 10
    assert outputs[11] == pytest.approx((0.5, 1.0))


def test_stop_is_never_delayed_by_the_ramp() -> None:
    mux = make_mux(max_linear_accel=1.0, max_angular_accel=4.0)
    for i in range(20):
        mux.on_command("navigation", 0.5, 1.0, now=i * 0.05)
        mux.decide(i * 0.05)
    mux.on_command("navigation", 0.0, 0.0, now=1.0)
    assert cmd(mux.decide(1.0)) == (0.0, 0.0)  # one tick: full stop


def test_slowing_down_is_immediate_and_estop_stops_at_once() -> None:
    mux = make_mux(max_linear_accel=1.0)
    for i in range(20):
        mux.on_command("navigation", 0.5, 0.0, now=i * 0.05)
        mux.decide(i * 0.05)
    mux.on_command("navigation", 0.1, 0.0, now=1.0)
    assert mux.decide(1.0).linear == pytest.approx(0.1)
    mux.on_command("navigation", 0.5, 0.0, now=1.05)
    assert mux.decide(1.05).linear == pytest.approx(0.15)  # back up: ramped again
    mux.on_estop(True, now=1.1)
    assert cmd(mux.decide(1.1)) == (0.0, 0.0)


def test_reversal_drops_to_zero_then_ramps() -> None:
    assert ramp(0.4, -0.4, 0.05) == pytest.approx(-0.05)
    assert ramp(-0.4, 0.4, 0.05) == pytest.approx(0.05)
    assert ramp(0.4, 0.45, 0.05) == pytest.approx(0.45)
    assert ramp(0.1, 0.45, 0.05) == pytest.approx(0.15)
    assert ramp(0.4, 0.0, 0.05) == 0.0


def test_a_stalled_caller_does_not_earn_a_big_step() -> None:
    mux = make_mux(max_linear_accel=1.0)
    mux.on_command("navigation", 0.5, 0.0, now=0.0)
    mux.decide(0.0)
    mux.on_command("navigation", 0.5, 0.0, now=5.0)
    assert mux.decide(5.0).linear == pytest.approx(0.05 + 0.1)  # at most two periods' worth


# -- guard hook, config, introspection -----------------------------------------------------------------


class _StopGuard:
    def filter(self, linear: float, angular: float, now: float):  # noqa: ANN201 - a test double
        from nav.runtime.guard import GuardResult

        return GuardResult(0.0, angular, "stop: obstacle 0.05 m ahead", "stop", 0.05)


def test_guard_filters_the_selected_command() -> None:
    mux = CommandMux(MuxConfig(inputs=(NAV,), **FAST), guard=_StopGuard())
    mux.on_command("navigation", 0.3, 0.4, now=0.0)
    decision = mux.decide(0.0)
    assert cmd(decision) == (0.0, 0.4) and decision.source == "navigation" and decision.code == "stop"
    assert decision.stopped


def test_runs_with_the_shipped_config() -> None:
    mux = CommandMux(load_ros_config().mux)
    assert mux.input_names == ("teleop", "navigation")  # highest priority first
    mux.on_command("navigation", 0.3, 0.0, now=0.0)
    assert mux.decide(0.0).source == "navigation"  # heartbeat lock not required before it is heard
    snapshot = mux.snapshot(0.0)
    assert snapshot["estop"] == "clear" and snapshot["input.teleop"] == "never heard"
    assert snapshot["lock.heartbeat"] == "clear"
