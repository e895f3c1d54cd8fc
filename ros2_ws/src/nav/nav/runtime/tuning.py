"""The nodes' ROS parameters: what a robot engineer may tune, its limits, and how a change is applied. Pure Python.

Each node declares its :class:`Tunable` list as ROS parameters (``nav.nodes.params``: a descriptor with
the type, the range and the description; a standard params file, ``<node>: ros__parameters:``, sets
them at start-up) and hands every ``ros2 param set`` to the ``apply_*`` function here, which returns
the new configs or raises ValueError naming the parameter and why. The configs' own checks
(``__post_init__``) judge every value, and the robot profile caps the speed limits: a robot may be
tuned slower than ``robot.yaml`` says, never faster.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from configs.robot import robot_profile
from nav.runtime.config import MAX_IMAGE_WAIT_S, AgentConfig, MuxConfig, TeleopConfig
from nav.runtime.guard import GuardConfig

__all__ = ["Tunable", "agent_tunables", "apply_agent", "apply_mux", "apply_teleop", "mux_tunables", "teleop_tunables"]

Value = bool | int | float | str
LONGEST_TIMEOUT_S = 60.0
"""The largest timeout a parameter accepts: beyond it a stale input would pass as fresh for a minute."""


@dataclass(frozen=True)
class Tunable:
    """One ROS parameter."""

    name: str
    value: Value
    description: str
    minimum: float | None = None
    maximum: float | None = None
    read_only: bool = False
    """Fixed once the node runs (a timer's rate, the models folder): set it at start-up."""


_LIMITS = {  # mux field -> the profile's key and what it is
    "max_linear": "top forward and backward speed (m/s)",
    "max_angular": "top turn rate (rad/s)",
    "max_linear_accel": "largest speed-up (m/s^2); slowing down is never limited",
    "max_angular_accel": "largest turn-rate speed-up (rad/s^2)",
}
_GUARD = {
    "stop_distance": ("m from the robot's surface: no motion toward an obstacle closer than this", 0.0, 5.0),
    "slow_distance": ("m: forward speed scaled down linearly inside this", 0.0, 10.0),
    "half_angle_deg": ("the sector ahead (or behind when reversing) that counts (deg)", 1.0, 180.0),
    "scan_timeout": ("s: an older scan means stop", 0.01, LONGEST_TIMEOUT_S),
    "sweep_horizon": ("s: the commanded arc is checked this far ahead (0: off)", 0.0, 5.0),
    "sweep_margin": ("m: least clearance of the swept footprint from any scan point", 0.0, 1.0),
}


def mux_tunables(mux: MuxConfig, guard: GuardConfig, ceiling: MuxConfig) -> list[Tunable]:
    """The mux node's parameters; ``ceiling`` holds the robot profile's limits (a config as the profile makes it)."""
    out = [Tunable("rate_hz", mux.rate_hz, "output rate (Hz)", 1.0, 1000.0, read_only=True)]
    out += [
        Tunable(name, getattr(mux, name), f"{what}; at most robot.yaml's", 1e-6, getattr(ceiling, name))
        for name, what in _LIMITS.items()
    ]
    out += [
        Tunable(f"inputs.{i.name}.timeout", i.timeout, f"s: {i.name} is stale after this", 0.01, LONGEST_TIMEOUT_S)
        for i in mux.inputs
    ]
    out += [
        Tunable(
            f"locks.{lk.name}.timeout",
            lk.timeout,
            f"s: lock {lk.name} engages after this silence",
            0.01,
            LONGEST_TIMEOUT_S,
        )
        for lk in mux.locks
    ]
    out.append(Tunable("guard.enabled", guard.enabled, "the lidar collision guard", read_only=True))
    out += [Tunable(f"guard.{n}", getattr(guard, n), d, lo, hi) for n, (d, lo, hi) in _GUARD.items()]
    return out


def apply_mux(
    mux: MuxConfig, guard: GuardConfig, changes: Mapping[str, Any], ceiling: MuxConfig, startup: bool = False
) -> tuple[MuxConfig, GuardConfig]:
    """The configs with ``changes`` (parameter name -> value) applied; ValueError names a bad one. ``startup``: the
    values the node starts with, read-only ones among them."""
    known = {t.name: t for t in mux_tunables(mux, guard, ceiling)}
    mux_fields: dict[str, Any] = {}
    guard_fields: dict[str, Any] = {}
    inputs = {i.name: i for i in mux.inputs}
    locks = {lk.name: lk for lk in mux.locks}
    for name, value in changes.items():
        tunable = known.get(name)
        if tunable is None:
            raise ValueError(f"{name}: not a parameter of the mux (they are: {', '.join(known)})")
        _check(tunable, value, startup)
        if name in _LIMITS:
            mux_fields[name] = float(value)
        elif name.startswith("inputs."):
            key = name.split(".")[1]
            inputs[key] = _replace(inputs[key], name, timeout=float(value))
        elif name.startswith("locks."):
            key = name.split(".")[1]
            locks[key] = _replace(locks[key], name, timeout=float(value))
        elif name.startswith("guard."):
            guard_fields[name.removeprefix("guard.")] = value
        else:
            mux_fields[name] = value
    new_mux = _replace(mux, "mux", inputs=tuple(inputs.values()), locks=tuple(locks.values()), **mux_fields)
    return new_mux, _replace(guard, "guard", **guard_fields)


def agent_tunables(agent: AgentConfig, variant: str, models_dir: str) -> list[Tunable]:
    """The agent node's parameters (``variant``: the one it runs now)."""
    return [
        Tunable("variant", variant, "the model variant to run (one the agent loaded); switched at the next tick"),
        Tunable("models_dir", models_dir, "where the variants' folders are (read at start-up)", read_only=True),
        Tunable("control_hz", agent.control_hz, "ticks a second", 0.1, 100.0, read_only=True),
        Tunable("camera_timeout", agent.camera_timeout, "s: an older image means stop", 0.01, LONGEST_TIMEOUT_S),
        Tunable("scan_timeout", agent.scan_timeout, "s: an older scan means stop", 0.01, LONGEST_TIMEOUT_S),
        Tunable("cloud_timeout", agent.cloud_timeout, "s: an older point cloud means stop", 0.01, LONGEST_TIMEOUT_S),
        Tunable("use_header_stamps", agent.use_header_stamps, "judge inputs on their header stamps as well"),
        Tunable(
            "image_wait",
            agent.image_wait,
            "s: a driving tick waits this long (at most half a period) for the next frame",
            0.0,
            MAX_IMAGE_WAIT_S,
            read_only=True,
        ),
    ]


def apply_agent(
    agent: AgentConfig, changes: Mapping[str, Any], loaded: tuple[str, ...], startup: bool = False
) -> tuple[AgentConfig, str | None]:
    """The agent config with ``changes`` applied, and the variant asked for (None: unchanged); ValueError names a bad
    value (a variant the agent did not load among them). ``startup``: the values the node starts with (the variant
    left out: it is chosen from what loads)."""
    known = {t.name: t for t in agent_tunables(agent, "", "")}
    fields: dict[str, Any] = {}
    variant = None
    for name, value in changes.items():
        tunable = known.get(name)
        if tunable is None:
            raise ValueError(f"{name}: not a parameter of the agent (they are: {', '.join(known)})")
        _check(tunable, value, startup)
        if name == "variant":
            if value not in loaded:
                raise ValueError(f"variant: {value!r} is not loaded; loaded: {', '.join(loaded) or 'none'}")
            variant = str(value)
        else:
            fields[name] = value
    return _replace(agent, "agent", **fields), variant


def teleop_tunables(teleop: TeleopConfig) -> list[Tunable]:
    """The joystick teleop node's parameters: its speeds (at most the robot profile's) and its stick layout."""
    profile = robot_profile()
    return [
        Tunable("max_linear", teleop.max_linear, "m/s at full stick; at most robot.yaml's", 1e-6, profile.max_linear),
        Tunable(
            "max_angular", teleop.max_angular, "rad/s at full stick; at most robot.yaml's", 1e-6, profile.max_angular
        ),
        Tunable("joy_deadman_button", teleop.joy_deadman_button, "the button held to drive", 0, 63),
        Tunable("joy_linear_axis", teleop.joy_linear_axis, "the axis that drives forward (stick up = +1)", 0, 63),
        Tunable("joy_angular_axis", teleop.joy_angular_axis, "the axis that turns (stick left = +1)", 0, 63),
    ]


def apply_teleop(teleop: TeleopConfig, changes: Mapping[str, Any], startup: bool = False) -> TeleopConfig:
    """The teleop config with ``changes`` applied; ValueError names a bad value."""
    known = {t.name: t for t in teleop_tunables(teleop)}
    for name, value in changes.items():
        if name not in known:
            raise ValueError(f"{name}: not a parameter of the joystick teleop (they are: {', '.join(known)})")
        _check(known[name], value, startup)
    return _replace(teleop, "teleop", **changes)


def _check(tunable: Tunable, value: Any, startup: bool) -> None:
    if tunable.read_only and not startup:
        raise ValueError(f"{tunable.name}: read-only while the node runs (set it at start-up)")
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return
    if tunable.minimum is not None and value < tunable.minimum:
        raise ValueError(f"{tunable.name}: {value} is below its minimum {tunable.minimum:g}")
    if tunable.maximum is not None and value > tunable.maximum:
        raise ValueError(f"{tunable.name}: {value} is above its maximum {tunable.maximum:g}")


def _replace(obj: Any, label: str, **fields: Any) -> Any:
    try:
        return dataclasses.replace(obj, **fields)
    except ValueError as exc:  # the config's own check of the combination (stop_distance < slow_distance)
        raise ValueError(f"{label}: {exc}") from exc
