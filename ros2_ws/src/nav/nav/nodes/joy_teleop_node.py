"""Joystick teleop: sensor_msgs/Joy on ``topics.joy`` -> geometry_msgs/Twist on ``topics.cmd_teleop``.

* **Deadman.** A command is published for each Joy message only while ``teleop.joy_deadman_button``
  is held; releasing it publishes a single zero (the mux holds that zero until its teleop input
  times out, then navigation drives again).
* **Silence releases.** Nothing is published without Joy messages: when the joystick driver stops
  (unplugged, crashed) the mux times the teleop input out. The joystick driver must therefore repeat
  its last message while a button is held (ROS 2 ``joy``'s ``autorepeat_rate``, 20 Hz by default).
* Axis ``teleop.joy_linear_axis`` scaled by ``teleop.max_linear`` drives forward (stick up = +1),
  axis ``teleop.joy_angular_axis`` scaled by ``teleop.max_angular`` turns (stick left = +1, REP 103).

    python -m nav.nodes.joy_teleop_node --ros-args -r __node:=joy_teleop -p config:=/path/ros.yaml
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from geometry_msgs.msg import Twist
from rclpy.node import Node
from sensor_msgs.msg import Joy

from nav.nodes.common import COMMAND_QOS, SENSOR_QOS, declare_config, flush, run_node
from nav.nodes.msgs import twist
from nav.nodes.params import declare_tunables, on_parameter_change
from nav.runtime.teleop import joy_to_cmd
from nav.runtime.tuning import apply_teleop, teleop_tunables

__all__ = ["JoyTeleopNode", "main"]


class JoyTeleopNode(Node):
    def __init__(self) -> None:
        super().__init__("joy_teleop")
        config = declare_config(self)
        tunables = teleop_tunables(config.teleop)
        self.teleop = apply_teleop(config.teleop, declare_tunables(self, tunables), startup=True)
        self._held = False
        self._pub = self.create_publisher(Twist, config.topics.cmd_teleop, COMMAND_QOS)
        self.create_subscription(Joy, config.topics.joy, self._on_joy, SENSOR_QOS)
        if self.teleop.joy_deadman_button < 0:
            self.get_logger().error("teleop.joy_deadman_button is negative: the joystick can never drive")
        self.get_logger().info(
            f"joy teleop: {config.topics.joy} -> {config.topics.cmd_teleop}, hold button "
            f"{self.teleop.joy_deadman_button} to drive"
        )
        on_parameter_change(self, tunables, self._apply_parameters)

    def _apply_parameters(self, changes: Mapping[str, Any]) -> None:
        """``ros2 param set /joy_teleop max_linear 0.2``: from the next joystick message."""
        self.teleop = apply_teleop(self.teleop, changes)

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
