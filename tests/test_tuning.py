"""What a robot engineer may tune through ROS parameters, within what limits (nav.runtime.tuning)."""

from __future__ import annotations

import dataclasses

import pytest

from nav.runtime.config import load_ros_config
from nav.runtime.mux import CommandMux
from nav.runtime.tuning import agent_tunables, apply_agent, apply_mux, mux_tunables

pytestmark = pytest.mark.unit

ROS = load_ros_config()


def test_the_mux_lists_its_limits_timeouts_and_guard_with_the_profile_as_ceiling():
    tunables = {t.name: t for t in mux_tunables(ROS.mux, ROS.guard, ROS.mux)}
    assert tunables["max_linear"].maximum == ROS.mux.max_linear and tunables["max_linear"].value == ROS.mux.max_linear
    assert tunables["rate_hz"].read_only and tunables["guard.enabled"].read_only
    for spec in ROS.mux.inputs:
        assert tunables[f"inputs.{spec.name}.timeout"].value == spec.timeout
    assert all(t.description for t in tunables.values())


def test_a_lower_top_speed_and_a_longer_timeout_apply_and_the_mux_keeps_what_it_heard():
    mux, guard = apply_mux(ROS.mux, ROS.guard, {"max_linear": 0.2, "inputs.navigation.timeout": 0.8}, ROS.mux)
    assert mux.max_linear == 0.2 and {i.name: i.timeout for i in mux.inputs}["navigation"] == 0.8
    assert guard == ROS.guard
    core = CommandMux(ROS.mux)
    core.on_command("navigation", 0.5, 0.0, now=0.0)
    core.reconfigure(mux)
    decision = core.select(now=0.6)  # heard 0.6 s ago: stale under 0.5 s, fresh under 0.8 s
    assert (decision.source, decision.linear) == ("navigation", 0.2)


@pytest.mark.parametrize(
    ("changes", "why"),
    [
        ({"max_linear": ROS.mux.max_linear * 2}, "above its maximum"),
        ({"inputs.navigation.timeout": -1.0}, "below its minimum"),
        ({"guard.stop_distance": ROS.guard.slow_distance + 0.1}, "stop_distance < slow_distance"),
        ({"rate_hz": 50.0}, "read-only while the node runs"),
        ({"max_speed": 1.0}, "not a parameter of the mux"),
    ],
)
def test_a_bad_value_is_refused_naming_the_parameter_and_why(changes, why):
    with pytest.raises(ValueError, match=why) as refused:
        apply_mux(ROS.mux, ROS.guard, changes, ROS.mux)
    assert next(iter(changes)).split(".")[0] in str(refused.value) or "guard" in str(refused.value)


def test_a_running_mux_keeps_its_inputs():
    fewer = dataclasses.replace(ROS.mux, inputs=ROS.mux.inputs[:1])
    with pytest.raises(ValueError, match="keeps its inputs"):
        CommandMux(ROS.mux).reconfigure(fewer)


def test_the_agent_switches_only_to_a_loaded_variant_and_takes_timeouts_at_once():
    agent, variant = apply_agent(ROS.agent, {"variant": "small", "scan_timeout": 0.8}, ("small", "medium"))
    assert variant == "small" and agent.scan_timeout == 0.8
    with pytest.raises(ValueError, match="variant: 'large' is not loaded; loaded: small, medium"):
        apply_agent(ROS.agent, {"variant": "large"}, ("small", "medium"))
    with pytest.raises(ValueError, match="control_hz: read-only"):
        apply_agent(ROS.agent, {"control_hz": 20.0}, ("small",))
    agent, _ = apply_agent(ROS.agent, {"control_hz": 20.0}, (), startup=True)  # a params file's value at start-up
    assert agent.control_hz == 20.0
    assert {t.name for t in agent_tunables(ROS.agent, "small", "models")} >= {"variant", "camera_timeout"}


def test_the_joystick_may_be_tuned_slower_than_the_robot_never_faster():
    from configs.robot import robot_profile
    from nav.runtime.tuning import apply_teleop, teleop_tunables

    teleop = apply_teleop(ROS.teleop, {"max_linear": 0.1, "joy_deadman_button": 5})
    assert (teleop.max_linear, teleop.joy_deadman_button) == (0.1, 5)
    with pytest.raises(ValueError, match="max_linear: .* above its maximum"):
        apply_teleop(ROS.teleop, {"max_linear": robot_profile().max_linear + 0.1})
    assert {t.name for t in teleop_tunables(ROS.teleop)} >= {"max_linear", "joy_linear_axis"}
