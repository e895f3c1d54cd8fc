"""The scripted robot of the fault suite: a robot's sensors and base, and a human's inputs, as one rclpy node.

It plays what the graph in robot mode (``nav bringup``) talks to: a camera (rgb8), a 360-beam lidar and
wheel odometry at 10 Hz, stamped on the system clock; the instruction (published, volatile, until the
agent drives; a ``ros2 topic pub --once`` of a user); the teleop Twist, the joystick, the e-stop and its
reset, and the heartbeat lock. It records every ``/cmd_vel`` (the mux's output, what the base would
obey) and every ``/diagnostics`` status with its receipt time on the monotonic clock.

Each fault of :mod:`nav.faults.catalogue` turns one knob (``camera``, ``scan``, ``stamping``,
``teleop``, ``joy``, ``heartbeat``, ``flood``) and turns it back.
"""

from __future__ import annotations

import math
import threading
import time
from dataclasses import dataclass
from typing import Any

import numpy as np
import rclpy
from diagnostic_msgs.msg import DiagnosticArray
from geometry_msgs.msg import Twist
from nav_msgs.msg import Odometry
from rclpy.executors import SingleThreadedExecutor
from rclpy.qos import QoSProfile, ReliabilityPolicy
from sensor_msgs.msg import Image, Joy, LaserScan
from std_msgs.msg import Bool, String

from configs.robot import robot_profile
from nav.nodes.msgs import command_class, command_twist
from nav.runtime.config import RosConfig

__all__ = ["Diagnostic", "Output", "ScriptedRobot"]

SENSOR_HZ = 10.0
FLOOD_FACTOR = 10
"""A flood publishes every sensor this many times faster."""
BEAMS = 360
CLEAR_RANGE_M = 3.0
"""Every beam of a healthy scan: open space all round, so the collision guard lets the policy drive."""
IMAGE_SIZE = 64
TINY = 1
"""The side (px) of the camera frames of the ``tiny`` fault."""
OLD_S = 5.0
"""How far in the past the ``old`` stamping stamps."""
BACK_STEP_S = 0.2
"""How much earlier than the one before it each message of the ``backwards`` stamping is stamped."""


@dataclass(frozen=True)
class Output:
    """One ``/cmd_vel`` as the base received it (``t``: monotonic receipt time)."""

    t: float
    linear: float
    angular: float

    @property
    def zero(self) -> bool:
        return self.linear == 0.0 and self.angular == 0.0


@dataclass(frozen=True)
class Diagnostic:
    t: float
    name: str
    level: int
    message: str
    values: dict[str, str]


def _image(size: int) -> Image:
    rgb = np.random.default_rng(0).integers(0, 256, size=(size, size, 3), dtype=np.uint8)
    msg = Image(height=size, width=size, encoding="rgb8", is_bigendian=0, step=size * 3)
    msg.data = rgb.tobytes()
    return msg


def _scan(ranges: list[float], increment: float, declared: float | None = None) -> LaserScan:
    """A scan from -pi; ``declared``: its ``angle_max - angle_min`` (default what its rays span)."""
    msg = LaserScan()
    msg.angle_min, msg.angle_increment = -math.pi, increment
    msg.angle_max = msg.angle_min + ((len(ranges) - 1) * increment if declared is None else declared)
    msg.range_min, msg.range_max = 0.05, 8.0
    msg.scan_time = 1.0 / SENSOR_HZ
    msg.ranges = ranges
    return msg


class ScriptedRobot:
    """The robot, the base and the human, on ROS domain ``domain``, spinning in a thread of its own."""

    CAMERA_MODES = ("ok", "silent", "tiny")
    SCAN_MODES = ("ok", "silent", "nan", "covered", "half_turn")
    STAMPINGS = ("now", "old", "backwards")

    def __init__(self, ros: RosConfig, domain: int, instruction: str) -> None:
        self.topics, self.instruction = ros.topics, instruction
        self.context = rclpy.Context()
        rclpy.init(context=self.context, domain_id=domain)
        self.node = rclpy.create_node("fault_suite_robot", context=self.context)
        reliable, sensor = QoSProfile(depth=10), QoSProfile(depth=1, reliability=ReliabilityPolicy.BEST_EFFORT)
        t, pub = self.topics, self.node.create_publisher
        self.camera_pub = pub(Image, t.camera, sensor)
        self.scan_pub = pub(LaserScan, t.scan, sensor)
        self.odom_pub = pub(Odometry, t.odom, sensor)
        self.instruction_pub = pub(String, t.instruction, reliable)
        self.teleop_pub = pub(Twist, t.cmd_teleop, reliable)
        self.joy_pub = pub(Joy, t.joy, sensor)
        self.estop_pub = pub(Bool, t.estop, reliable)
        self.reset_pub = pub(Bool, t.estop_reset, reliable)
        self.heartbeat_pubs = {lock.name: pub(Bool, t.resolve(lock.topic), reliable) for lock in ros.mux.locks}
        self.deadman_button = ros.teleop.joy_deadman_button
        self.linear_axis = ros.teleop.joy_linear_axis

        self.lock = threading.Lock()
        self.outputs: list[Output] = []
        self.diagnostics: list[Diagnostic] = []
        self.node.create_subscription(command_class(robot_profile().base_command), t.cmd_out, self._on_output, reliable)
        self.node.create_subscription(DiagnosticArray, t.diagnostics, self._on_diagnostics, reliable)

        # The knobs (set from the suite's thread; read by the timer).
        self.camera = "ok"
        self.scan = "ok"
        self.stamping = "now"
        self.teleop: tuple[float, float] | None = None
        """The human's Twist, published at 10 Hz (None: the human's teleop is silent)."""
        self.joy: float | None = None
        """Stick forward (-1..1) with the deadman held; None: no joystick message."""
        self.heartbeat = False
        """Publish ``false`` (not locked) on every lock's topic at 10 Hz."""
        self.flood = False
        self.say_instruction = True
        """Publish the instruction with every sensor tick (until the agent drives)."""

        self._images = {"ok": _image(IMAGE_SIZE), "tiny": _image(TINY)}
        full = 2.0 * math.pi / BEAMS
        self._scans = {
            "ok": _scan([CLEAR_RANGE_M] * BEAMS, full),
            "nan": _scan([math.nan] * BEAMS, full),
            "covered": _scan([-math.inf] * BEAMS, full),
            # 360 ranges declared over a full turn, at an angle_increment that spans half of it
            "half_turn": _scan([CLEAR_RANGE_M] * BEAMS, math.pi / (BEAMS - 1), declared=(BEAMS - 1) * full),
        }
        self._odom = Odometry()
        self._back_base, self._back_count = 0.0, 0
        self.node.create_timer(1.0 / SENSOR_HZ, self._tick)
        self.node.create_timer(1.0 / (SENSOR_HZ * FLOOD_FACTOR), self._flood_tick)
        self.executor = SingleThreadedExecutor(context=self.context)
        self.executor.add_node(self.node)
        self.thread = threading.Thread(target=self.executor.spin, daemon=True, name="fault-suite-robot")
        self.thread.start()

    # ------------------------------------------------------------------ publishing
    def _stamp(self) -> float:
        now = time.time()
        if self.stamping == "old":
            return now - OLD_S
        if self.stamping == "backwards":
            if self._back_count == 0:
                self._back_base = now
            self._back_count += 1
            return self._back_base - BACK_STEP_S * self._back_count
        self._back_count = 0
        return now

    def _sensors(self) -> None:
        stamp = self._stamp()
        sec, nanosec = int(stamp), int((stamp % 1.0) * 1e9)
        if self.camera != "silent":
            image = self._images[self.camera]
            image.header.stamp.sec, image.header.stamp.nanosec = sec, nanosec
            image.header.frame_id = "camera"
            self.camera_pub.publish(image)
        if self.scan != "silent":
            scan = self._scans[self.scan]
            scan.header.stamp.sec, scan.header.stamp.nanosec = sec, nanosec
            scan.header.frame_id = "laser"
            self.scan_pub.publish(scan)
        self._odom.header.stamp.sec, self._odom.header.stamp.nanosec = sec, nanosec
        self.odom_pub.publish(self._odom)

    def _tick(self) -> None:
        self._sensors()
        if self.say_instruction:
            self.instruction_pub.publish(String(data=self.instruction))
        if self.teleop is not None:
            msg = Twist()
            msg.linear.x, msg.angular.z = self.teleop
            self.teleop_pub.publish(msg)
        if self.joy is not None:
            buttons = [0] * max(self.deadman_button + 1, 1)
            axes = [0.0] * (self.linear_axis + 1)
            if self.joy != 0.0:  # stick pushed: the deadman held
                buttons[self.deadman_button] = 1
                axes[self.linear_axis] = self.joy
            self.joy_pub.publish(Joy(axes=axes, buttons=buttons))
        if self.heartbeat:
            for p in self.heartbeat_pubs.values():
                p.publish(Bool(data=False))

    def _flood_tick(self) -> None:
        if self.flood:
            self._sensors()

    def estop(self, engaged: bool) -> None:
        self.estop_pub.publish(Bool(data=engaged))

    def reset_estop(self) -> None:
        self.reset_pub.publish(Bool(data=True))

    def publish_instruction(self, text: str) -> None:
        self.instruction_pub.publish(String(data=text))

    # ------------------------------------------------------------------ recording
    def _on_output(self, msg: Any) -> None:
        command = command_twist(msg)
        out = Output(time.monotonic(), float(command.linear.x), float(command.angular.z))
        with self.lock:
            self.outputs.append(out)

    def _on_diagnostics(self, msg: DiagnosticArray) -> None:
        now = time.monotonic()
        with self.lock:
            for s in msg.status:
                level = int.from_bytes(s.level, "little") if isinstance(s.level, bytes) else int(s.level)
                values = {kv.key: kv.value for kv in s.values}
                self.diagnostics.append(Diagnostic(now, s.name, level, s.message, values))

    def outputs_since(self, t0: float, t1: float = math.inf) -> list[Output]:
        with self.lock:
            return [o for o in self.outputs if t0 <= o.t < t1]

    def diagnostics_since(self, t0: float) -> list[Diagnostic]:
        with self.lock:
            return [d for d in self.diagnostics if d.t >= t0]

    def connected(self) -> bool:
        """Whether the graph's nodes have matched the sensors and the human's inputs."""
        pubs = (self.camera_pub, self.scan_pub, self.instruction_pub, self.teleop_pub, self.estop_pub)
        return all(p.get_subscription_count() > 0 for p in pubs)

    def close(self) -> None:
        self.executor.shutdown()
        self.node.destroy_node()
        rclpy.try_shutdown(context=self.context)
        self.thread.join(timeout=2.0)
