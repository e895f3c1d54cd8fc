"""The rclpy side of ``nav bench loop`` (:mod:`nav.bench.loop`): the floor's echo node and the robot stand-in.

- :class:`EchoNode` (``python -m nav.nodes.bench_nodes``, its own process): every Image on
  :data:`ECHO_IMAGE_TOPIC` comes back at once as a Twist holding its stamp: a bare rclpy round trip.
- :class:`BenchRobot`: in the bench's process, publishes the camera, the scan and the instruction to
  the agent and records its Twists, diagnostics and per-tick timing messages.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus
from geometry_msgs.msg import Twist
from rclpy.node import Node
from sensor_msgs.msg import Image
from std_msgs.msg import String

from configs.robot import robot_profile
from nav.nodes.common import COMMAND_QOS, EVENT_QOS, LATCHED_QOS, SENSOR_QOS, STATUS_QOS, run_node
from nav.nodes.msgs import seconds_to_stamp
from nav.nodes.sim_msgs import image_msg, laser_scan_msg
from nav.runtime.config import Topics

if TYPE_CHECKING:
    from nav.bench.loop import LoopBenchConfig

__all__ = ["ECHO_IMAGE_TOPIC", "ECHO_TWIST_TOPIC", "BenchRobot", "EchoNode", "LoopRecord", "main"]

ECHO_IMAGE_TOPIC = "/bench_loop/image"
"""Images for the floor's echo node (bench-private: nothing else in the graph uses it)."""
ECHO_TWIST_TOPIC = "/bench_loop/twist"
"""The echo node's Twists."""
FRAMES = 8
"""Distinct camera frames the robot stand-in sends in turn."""


class EchoNode(Node):
    """The floor: every Image on :data:`ECHO_IMAGE_TOPIC` comes back at once as a Twist holding its stamp."""

    def __init__(self) -> None:
        super().__init__("bench_echo")
        self._pub = self.create_publisher(Twist, ECHO_TWIST_TOPIC, COMMAND_QOS)
        self.create_subscription(Image, ECHO_IMAGE_TOPIC, self._on_image, SENSOR_QOS)

    def _on_image(self, msg: Image) -> None:
        out = Twist()
        out.linear.x = float(msg.header.stamp.sec)
        out.linear.y = float(msg.header.stamp.nanosec)
        self._pub.publish(out)


def main(args: Sequence[str] | None = None) -> int:
    """``python -m nav.nodes.bench_nodes --ros-args ...`` runs the echo node."""
    return run_node(EchoNode, args)


@dataclass
class LoopRecord:
    twists: list[float] = field(default_factory=list)
    """Receipt times of the agent's Twists."""
    floor: list[tuple[float, float]] = field(default_factory=list)
    """(published, round trip s) of the echoed images."""
    diagnostics: list[tuple[float, dict[str, str]]] = field(default_factory=list)
    """(received, values) of the agent's diagnostics."""
    timing: list[tuple[float, dict[str, str]]] = field(default_factory=list)
    """(received, values) of the agent's per-tick timing messages (``topics.agent_timing``), in order."""


class BenchRobot:
    """Sensors out, Twists and diagnostics in: one rclpy node in its own context, spun on a thread."""

    def __init__(self, topics: Topics, domain_id: int, config: LoopBenchConfig) -> None:
        import rclpy
        from rclpy.executors import SingleThreadedExecutor
        from sensor_msgs.msg import LaserScan

        from policy.processing import ScanGeometry  # here, not at the top: the echo node needs no torch

        self.topics = topics
        self.record = LoopRecord()
        self.target: str | None = None
        """Where camera images go: "agent", "echo" or nowhere (None)."""
        self.context = rclpy.Context()
        rclpy.init(context=self.context, domain_id=domain_id)
        self.node = rclpy.create_node("bench_loop", context=self.context)
        self.camera_pub = self.node.create_publisher(Image, topics.camera, SENSOR_QOS)
        self.echo_pub = self.node.create_publisher(Image, ECHO_IMAGE_TOPIC, SENSOR_QOS)
        self.scan_pub = self.node.create_publisher(LaserScan, topics.scan, SENSOR_QOS)
        # latched, as the sim node's: it matches both of the agent's instruction subscriptions (a volatile publisher
        # would leave the agent's latched one unmatched, with an incompatible-QoS warning at start-up)
        self.instruction_pub = self.node.create_publisher(String, topics.instruction, LATCHED_QOS)
        self.variant_pub = self.node.create_publisher(String, topics.variant, EVENT_QOS)
        self.node.create_subscription(Twist, topics.cmd_nav, self._on_twist, EVENT_QOS)
        self.node.create_subscription(Twist, ECHO_TWIST_TOPIC, self._on_echo, EVENT_QOS)
        self.node.create_subscription(DiagnosticArray, topics.diagnostics, self._on_diagnostics, STATUS_QOS)
        self.node.create_subscription(DiagnosticStatus, topics.agent_timing, self._on_timing, STATUS_QOS)
        rng = np.random.default_rng(0)
        # distinct frames in turn, as a real camera's: the agent reuses a repeated frame's vision features
        # (PolicyController), so one frame sent again and again would time a tick without its vision encoder
        self._images = [
            image_msg(rng.integers(0, 256, (64, 64, 3), dtype=np.uint8), 0.0, "camera") for _ in range(FRAMES)
        ]
        lidar = ScanGeometry.from_profile()  # the robot's own lidar layout, as the agent would get it
        ranges = np.full(robot_profile().lidar.beams, 5.0, np.float32)
        self._scan = laser_scan_msg(
            ranges, 0.0, "laser", lidar.angle_min, lidar.angle_increment, lidar.range_min, lidar.range_max
        )
        self._sensor_period = 1.0 / config.sensor_hz
        self._scan_every = max(1, round(config.sensor_hz / config.scan_hz))
        self._stop = threading.Event()
        self.executor = SingleThreadedExecutor(context=self.context)
        self.executor.add_node(self.node)
        self._threads = [threading.Thread(target=f, daemon=True) for f in (self._spin, self._sensors)]
        for thread in self._threads:
            thread.start()

    def _spin(self) -> None:
        while not self._stop.is_set():
            self.executor.spin_once(timeout_sec=0.05)

    def _sensors(self) -> None:
        """Camera at ``sensor_hz`` (jittered intervals) to the current target, scan every ``scan_every``-th image."""
        rng = np.random.default_rng(0)
        due = time.time()
        n = 0
        while not self._stop.is_set():
            target = self.target
            now = time.time()
            if target is not None:
                image = self._images[n % FRAMES]
                image.header.stamp = seconds_to_stamp(now)
                (self.camera_pub if target == "agent" else self.echo_pub).publish(image)
            if n % self._scan_every == 0:
                self._scan.header.stamp = seconds_to_stamp(now)
                self.scan_pub.publish(self._scan)
            n += 1
            due += self._sensor_period * rng.uniform(0.5, 1.5)
            wait = due - time.time()
            if wait > 0:
                self._stop.wait(wait)
            else:
                due = time.time()  # fell behind: carry on from now, no burst

    def _on_twist(self, msg: Twist) -> None:
        self.record.twists.append(time.time())

    def _on_echo(self, msg: Twist) -> None:
        now = time.time()
        sent = msg.linear.x + msg.linear.y * 1e-9
        self.record.floor.append((sent, now - sent))

    def _on_diagnostics(self, msg: DiagnosticArray) -> None:
        now = time.time()
        for status in msg.status:
            if status.name == "nav: agent":
                self.record.diagnostics.append((now, {kv.key: kv.value for kv in status.values}))

    def _on_timing(self, msg: DiagnosticStatus) -> None:
        self.record.timing.append((time.time(), {kv.key: kv.value for kv in msg.values}))

    def connected(self) -> bool:
        """Every publisher has its subscriber and both Twist streams are flowing."""
        pubs = (self.camera_pub, self.echo_pub, self.scan_pub, self.instruction_pub, self.variant_pub)
        return (
            all(p.get_subscription_count() > 0 for p in pubs)
            and bool(self.record.twists)
            and bool(self.record.diagnostics)
            and self.node.count_publishers(ECHO_TWIST_TOPIC) > 0
        )

    def say(self, publisher: Any, text: str) -> None:
        publisher.publish(String(data=text))

    def close(self) -> None:
        import rclpy

        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=2.0)
        self.executor.shutdown()
        self.node.destroy_node()
        rclpy.try_shutdown(context=self.context)


if __name__ == "__main__":
    raise SystemExit(main())
