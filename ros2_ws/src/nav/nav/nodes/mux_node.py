"""The mux node: velocity inputs, locks, e-stop and the lidar guard in; one Twist to the base out.

A thin rclpy wrapper over :class:`nav.runtime.mux.CommandMux` and :class:`nav.runtime.guard.CollisionGuard` (the
rules live there). Topics and parameters come from ``configs/ros.yaml`` (ROS parameter ``config``
names another file)::

    python -m nav.nodes.mux_node --ros-args -r __node:=mux -p config:=/path/ros.yaml

* Subscribes to every ``mux.inputs`` topic (geometry_msgs/Twist), every ``mux.locks`` topic and
  ``topics.estop`` / ``topics.estop_reset`` (std_msgs/Bool), and ``topics.scan``
  (sensor_msgs/LaserScan, best effort) when the guard is enabled.
* Publishes geometry_msgs/Twist (or TwistStamped: ``base_command`` of ``robot.yaml``) on ``topics.cmd_out`` at
  ``mux.rate_hz``, always: zero when no
  input may drive. It also publishes at once, between timer ticks, when the selected source or the
  stop state changes (a teleop override or an e-stop reaches the base within milliseconds).
* Logs why it stops, immediately on a change and every few seconds while it lasts.
* Publishes diagnostic_msgs/DiagnosticArray on ``topics.diagnostics`` at 1 Hz.
* Timeouts use ``time.monotonic()`` receipt times, never message stamps or ROS (sim) time.
* ROS parameters (:func:`nav.runtime.tuning.mux_tunables`): the speed and acceleration limits (at most
  ``robot.yaml``'s), each input's and lock's timeout, the guard's distances, sector and scan timeout;
  ``ros2 param set /mux max_linear 0.2`` applies at the next decision, a bad value is refused with the reason.
* On SIGINT/SIGTERM it publishes a zero Twist before exiting.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from functools import partial
from typing import Any

from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus, KeyValue
from geometry_msgs.msg import Twist
from rclpy.clock import Clock, ClockType
from rclpy.node import Node
from sensor_msgs.msg import LaserScan
from std_msgs.msg import Bool

from configs.robot import robot_profile
from nav.nodes.common import COMMAND_QOS, EVENT_QOS, SENSOR_QOS, STATUS_QOS, declare_config, flush, run_node
from nav.nodes.msgs import command_class, command_msg, scan_to_arrays, twist_to_cmd
from nav.nodes.params import declare_tunables, on_parameter_change
from nav.runtime.guard import CollisionGuard
from nav.runtime.mux import CommandMux, Decision
from nav.runtime.tuning import apply_mux, mux_tunables

__all__ = ["MuxNode", "main"]

LOG_REPEAT_S = 5.0
"""While stopped for the same reason, the reason is logged again this often."""
DIAGNOSTICS_PERIOD_S = 1.0

_ERROR_CODES = frozenset({"stale", "no_scan", "blind"})


class MuxNode(Node):
    def __init__(self) -> None:
        super().__init__("mux")
        config = declare_config(self)
        topics = config.topics
        self._ceiling = config.mux  # its limits are the robot profile's: tuned lower, never higher
        tunables = mux_tunables(config.mux, config.guard, self._ceiling)
        declared = declare_tunables(self, tunables)
        mux_config, guard_config = apply_mux(config.mux, config.guard, declared, self._ceiling, startup=True)
        self._guard_config = guard_config
        self.guard = CollisionGuard(guard_config) if guard_config.enabled else None
        self.mux = CommandMux(mux_config, guard=self.guard)
        on_parameter_change(self, tunables, self._apply_parameters)
        self._decision = Decision(0.0, 0.0, "none", "starting", "timeout")
        self._selected: tuple[str, str] | None = None
        self._logged: tuple[str, str] | None = None
        self._logged_at = 0.0

        self._base_command = robot_profile().base_command
        self._base_frame = config.frames.base
        self._out = self.create_publisher(command_class(self._base_command), topics.cmd_out, COMMAND_QOS)
        self._diagnostics = self.create_publisher(DiagnosticArray, topics.diagnostics, STATUS_QOS)
        for spec in config.mux.inputs:
            self.create_subscription(
                Twist, topics.resolve(spec.topic), partial(self._on_command, spec.name), COMMAND_QOS
            )
        for lock in config.mux.locks:
            self.create_subscription(Bool, topics.resolve(lock.topic), partial(self._on_lock, lock.name), EVENT_QOS)
        # The e-stop subscription is created before the reset's: when both are ready in one wait,
        # rclpy takes them in creation order, so "false, then reset" is applied in that order.
        self.create_subscription(Bool, topics.estop, self._on_estop, EVENT_QOS)
        self.create_subscription(Bool, topics.estop_reset, self._on_estop_reset, EVENT_QOS)
        if self.guard is not None:
            self.create_subscription(LaserScan, topics.scan, self._on_scan, SENSOR_QOS)

        steady = Clock(clock_type=ClockType.STEADY_TIME)
        self._timer = self.create_timer(1.0 / mux_config.rate_hz, self._tick, clock=steady)
        self._diag_timer = self.create_timer(DIAGNOSTICS_PERIOD_S, self._publish_diagnostics, clock=steady)
        inputs = ", ".join(
            f"{s.name}<-{topics.resolve(s.topic)} (p{s.priority}, {s.timeout:g} s)" for s in mux_config.inputs
        )
        guard = "on" if self.guard is not None else "OFF"
        self.get_logger().info(f"mux: {inputs} -> {topics.cmd_out} at {mux_config.rate_hz:g} Hz; guard {guard}")

    # -- callbacks ---------------------------------------------------------------------------------

    def _apply_parameters(self, changes: Mapping[str, Any]) -> None:
        """``ros2 param set`` (:mod:`nav.nodes.params`): limits and timeouts take effect at the next decision."""
        mux_config, guard_config = apply_mux(self.mux.config, self._guard_config, changes, self._ceiling)
        self.mux.reconfigure(mux_config)
        if self.guard is not None:
            self.guard.config = guard_config
        self._guard_config = guard_config

    def _on_command(self, name: str, msg: Twist) -> None:
        now = time.monotonic()
        linear, angular = twist_to_cmd(msg)
        if not self.mux.on_command(name, linear, angular, now):
            self.get_logger().warning(
                f"rejected non-finite command from {name}: ({linear}, {angular})", throttle_duration_sec=2.0
            )
        self._publish_if_changed(now)

    def _on_lock(self, name: str, msg: Bool) -> None:
        now = time.monotonic()
        self.mux.on_lock(name, msg.data, now)
        self._publish_if_changed(now)

    def _on_estop(self, msg: Bool) -> None:
        now = time.monotonic()
        self.mux.on_estop(msg.data, now)
        self._publish_if_changed(now)

    def _on_estop_reset(self, msg: Bool) -> None:
        if not msg.data:
            return
        now = time.monotonic()
        was_latched = self.mux.estop_latched
        if not self.mux.on_estop_reset(now):
            self.get_logger().warning("e-stop reset refused: the e-stop topic still says true")
        elif was_latched:
            self.get_logger().info("e-stop reset")
        self._publish_if_changed(now)

    def _on_scan(self, msg: LaserScan) -> None:
        assert self.guard is not None
        try:
            self.guard.on_scan(*scan_to_arrays(msg), now=time.monotonic())
        except ValueError as exc:
            self.get_logger().warning(f"ignoring malformed scan: {exc}", throttle_duration_sec=2.0)

    # -- output ------------------------------------------------------------------------------------

    def _publish_if_changed(self, now: float) -> None:
        selected = self.mux.select(now)
        if (selected.source, selected.code) != self._selected:
            self._tick()

    def _tick(self) -> None:
        now = time.monotonic()
        selected = self.mux.select(now)
        self._selected = (selected.source, selected.code)
        decision = self.mux.decide(now)
        self._publish(decision.linear, decision.angular)
        self._report(decision, now)
        self._decision = decision

    def _publish(self, linear: float, angular: float) -> None:
        """To the base, as the robot profile's ``base_command`` says (Twist, or TwistStamped in ``frames.base``)."""
        stamp = self.get_clock().now().to_msg() if self._base_command == "twist_stamped" else None
        self._out.publish(command_msg(linear, angular, self._base_command, stamp, self._base_frame))

    def _report(self, decision: Decision, now: float) -> None:
        key = (decision.source, decision.code)
        changed = key != self._logged
        if not changed and not (decision.stopped and now - self._logged_at >= LOG_REPEAT_S):
            return
        previous = self._logged[0] if self._logged else ""
        line = f"{'STOP' if decision.stopped else 'drive'} [{decision.source}]: {decision.reason}"
        if decision.code == "timeout":
            line += " (" + "; ".join(f"{n}: {self.mux.describe_input(n, now)}" for n in self.mux.input_names) + ")"
        elif changed and previous != decision.source and {previous, decision.source} <= set(self.mux.input_names):
            state = self.mux.describe_input(previous, now)
            line += f"; overrides {previous}" if state.startswith("fresh") else f"; {previous}: {state}"
        if decision.stopped:  # rclpy wants one severity per call site
            self.get_logger().warning(line)
        else:
            self.get_logger().info(line)
        self._logged, self._logged_at = key, now

    def _publish_diagnostics(self) -> None:
        now = time.monotonic()
        decision = self._decision
        status = DiagnosticStatus()
        status.name = f"{self.get_name()}: velocity mux"
        status.hardware_id = self.get_fully_qualified_name()
        if not decision.stopped:
            status.level = DiagnosticStatus.OK
        elif decision.code in _ERROR_CODES:
            status.level = DiagnosticStatus.ERROR
        else:
            status.level = DiagnosticStatus.WARN
        status.message = f"{decision.source}: {decision.reason}"
        values = {"source": decision.source, "code": decision.code, "reason": decision.reason}
        values |= self.mux.snapshot(now)
        if self.guard is not None:
            values |= self.guard.snapshot(now)
        status.values = [KeyValue(key=k, value=v) for k, v in values.items()]
        array = DiagnosticArray()
        array.header.stamp = self.get_clock().now().to_msg()
        array.status = [status]
        self._diagnostics.publish(array)

    def on_shutdown(self) -> None:
        """Called by :func:`nav.nodes.common.run_node` on SIGINT/SIGTERM: stop the base, then go."""
        self._timer.cancel()
        self._diag_timer.cancel()
        self._publish(0.0, 0.0)
        flush(self._out)
        self.get_logger().info("shutting down: published a zero command")


def main(args: Sequence[str] | None = None) -> int:
    return run_node(MuxNode, args)


if __name__ == "__main__":
    raise SystemExit(main())
