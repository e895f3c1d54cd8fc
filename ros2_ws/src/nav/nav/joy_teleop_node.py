"""Joystick teleop: sensor_msgs/Joy on ``topics.joy`` -> geometry_msgs/Twist on ``topics.cmd_teleop``.

* **Deadman.** A command is published for each Joy message only while ``teleop.joy_deadman_button``
  is held; releasing it publishes a single zero (the mux holds that zero until its teleop input
  times out, then navigation drives again).
* **Silence releases.** Nothing is published without Joy messages: when the joystick driver stops
  (unplugged, crashed) the mux times the teleop input out. The joystick driver must therefore repeat
  its last message while a button is held (ROS 2 ``joy``'s ``autorepeat_rate``, 20 Hz by default).
* Axis ``teleop.joy_linear_axis`` scaled by ``teleop.max_linear`` drives forward (stick up = +1),
  axis ``teleop.joy_angular_axis`` scaled by ``teleop.max_angular`` turns (stick left = +1, REP 103).

    python -m nav.joy_teleop_node --ros-args -r __node:=joy_teleop -p config:=/path/ros.yaml
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from geometry_msgs.msg import Twist
from rclpy.node import Node
from sensor_msgs.msg import Joy

from nav.msgs import twist
from nav.node_utils import COMMAND_QOS, SENSOR_QOS, declare_config, flush, run_node
from nav.ros_config import TeleopConfig

__all__ = ["JoyTeleopNode", "joy_to_cmd", "main"]


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


class JoyTeleopNode(Node):
    def __init__(self) -> None:
        super().__init__("joy_teleop")
        config = declare_config(self)
        self.teleop = config.teleop
        self._held = False
        self._pub = self.create_publisher(Twist, config.topics.cmd_teleop, COMMAND_QOS)
        self.create_subscription(Joy, config.topics.joy, self._on_joy, SENSOR_QOS)
        if self.teleop.joy_deadman_button < 0:
            self.get_logger().error("teleop.joy_deadman_button is negative: the joystick can never drive")
        self.get_logger().info(
            f"joy teleop: {config.topics.joy} -> {config.topics.cmd_teleop}, hold button "
            f"{self.teleop.joy_deadman_button} to drive"
        )

    def _on_joy(self, msg: Joy) -> None:
        command = joy_to_cmd(msg.axes, msg.buttons, self.teleop)
        if command is not None:
            self._pub.publish(twist(*command))
        elif self._held:
            self._pub.publish(twist(0.0, 0.0))  # released: one zero, then silence
        self._held = command is not None

    def on_shutdown(self) -> None:
        if self._held:
            self._pub.publish(twist(0.0, 0.0))
            flush(self._pub)


def main(args: Sequence[str] | None = None) -> int:
    return run_node(JoyTeleopNode, args)


if __name__ == "__main__":
    raise SystemExit(main())
