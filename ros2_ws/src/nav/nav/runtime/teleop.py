"""Teleop decisions, without a terminal or ROS: key presses or joystick axes -> the command to publish.

- :class:`KeyTeleop`: the key -> command state machine that ``nav teleop``
  (:mod:`nav.nodes.keyboard_teleop`) drives; its publishing semantics are described there.
- :func:`joy_to_cmd`: a Joy message's axes and buttons -> the command, with the deadman button
  (:mod:`nav.nodes.joy_teleop_node`).

Both drive at most ``teleop.max_linear`` / ``max_angular``: the robot profile's limits unless ros.yaml
sets lower ones (higher ones are refused, :class:`nav.runtime.config.TeleopConfig`).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from nav.runtime.config import TeleopConfig

__all__ = ["KEY_HELP", "STOP_HOLD_S", "KeyTeleop", "joy_to_cmd", "parse_keys"]

STOP_HOLD_S = 0.5
"""Seconds of zero commands after a stop, before teleop goes silent and releases the mux."""

KEY_HELP = """\
nav teleop: w/s or up/down: faster/slower   a/d or left/right: turn left/right
            space or k: stop (then navigation resumes)   x: E-STOP   r: reset e-stop   q: quit"""

_ESCAPES = {
    "[A": "up",
    "[B": "down",
    "[C": "right",
    "[D": "left",
    "OA": "up",
    "OB": "down",
    "OC": "right",
    "OD": "left",
}
_KEYS = {"w": "up", "s": "down", "a": "left", "d": "right", " ": "stop", "k": "stop", "x": "estop", "r": "reset"}
_KEYS |= {"q": "quit", "\x04": "quit", "up": "up", "down": "down", "left": "left", "right": "right"}


def parse_keys(text: str) -> list[str]:
    """Split terminal input into key names: ``'w'``, ``' '``, ``'up'``... (arrow escapes decoded)."""
    keys: list[str] = []
    i = 0
    while i < len(text):
        if text[i] == "\x1b":
            name = _ESCAPES.get(text[i + 1 : i + 3])
            if name is not None:
                keys.append(name)
                i += 3
                continue
            i += 1  # a lone escape, or a sequence we do not use
            continue
        keys.append(text[i].lower())
        i += 1
    return keys


def _step(value: float, delta: float, limit: float) -> float:
    return round(max(-limit, min(limit, value + delta)), 6)


class KeyTeleop:
    """Key presses -> the velocity command to publish (or silence). Times are seconds, monotonic."""

    def __init__(self, config: TeleopConfig, stop_hold: float = STOP_HOLD_S) -> None:
        self.config = config
        self.stop_hold = stop_hold
        self.linear = 0.0
        self.angular = 0.0
        self._zero_until = -math.inf

    def on_key(self, key: str, now: float) -> str | None:
        """Apply one key; returns an event for the caller (``'estop'``, ``'reset'``, ``'quit'``) or None."""
        action = _KEYS.get(key)
        cfg = self.config
        moving = self.moving
        if action == "up":
            self.linear = _step(self.linear, cfg.linear_step, cfg.max_linear)
        elif action == "down":
            self.linear = _step(self.linear, -cfg.linear_step, cfg.max_linear)
        elif action == "left":
            self.angular = _step(self.angular, cfg.angular_step, cfg.max_angular)
        elif action == "right":
            self.angular = _step(self.angular, -cfg.angular_step, cfg.max_angular)
        elif action in ("stop", "estop", "quit"):
            self.linear = self.angular = 0.0
        if moving and not self.moving or action in ("stop", "estop", "quit"):
            self._zero_until = now + self.stop_hold
        return action if action in ("estop", "reset", "quit") else None

    @property
    def moving(self) -> bool:
        return self.linear != 0.0 or self.angular != 0.0

    def command(self, now: float) -> tuple[float, float] | None:
        """What to publish at ``now``: the command, zero during a stop hold, or None (stay silent)."""
        if self.moving:
            return (self.linear, self.angular)
        if now < self._zero_until:
            return (0.0, 0.0)
        return None


def _axis(axes: Sequence[float], index: int) -> float:
    if not 0 <= index < len(axes) or not math.isfinite(axes[index]):
        return 0.0
    return max(-1.0, min(1.0, float(axes[index])))


def joy_to_cmd(axes: Sequence[float], buttons: Sequence[int], config: TeleopConfig) -> tuple[float, float] | None:
    """``(linear, angular)`` while the deadman button is held, else None.

    A missing button or axis (a pad with fewer of them than the config names) reads as released /
    centred; axis values are clipped to [-1, 1] and a non-finite one reads as 0.
    """
    button = config.joy_deadman_button
    if not (0 <= button < len(buttons) and buttons[button]):
        return None
    linear = _axis(axes, config.joy_linear_axis) * config.max_linear
    angular = _axis(axes, config.joy_angular_axis) * config.max_angular
    return (linear + 0.0, angular + 0.0)  # + 0.0 turns -0.0 into 0.0
