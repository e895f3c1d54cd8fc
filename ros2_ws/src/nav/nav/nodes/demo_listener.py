"""What ``nav demo`` hears of the graph: odometry, the agent's diagnostics and the simulator's outcome."""

from __future__ import annotations

import json
import threading
from typing import Any

import rclpy
from diagnostic_msgs.msg import DiagnosticArray
from nav_msgs.msg import Odometry
from rclpy.executors import SingleThreadedExecutor
from std_msgs.msg import String

from nav.nodes.common import LATCHED_QOS, SENSOR_QOS, STATUS_QOS
from nav.runtime.config import load_ros_config

__all__ = ["DemoListener"]


class DemoListener:
    """A small rclpy node in its own context: odometry, the agent's diagnostics and the outcome."""

    def __init__(self) -> None:
        topics = load_ros_config().topics
        self.context = rclpy.Context()
        rclpy.init(context=self.context)
        self.node = rclpy.create_node("nav_demo", context=self.context)
        self.pose: tuple[float, float] | None = None
        self.agent_state = "starting"
        self.outcome: dict[str, Any] | None = None
        self.node.create_subscription(Odometry, topics.odom, self._on_odom, SENSOR_QOS)
        self.node.create_subscription(DiagnosticArray, topics.diagnostics, self._on_diag, STATUS_QOS)
        self.node.create_subscription(String, topics.outcome, self._on_outcome, LATCHED_QOS)
        self.executor = SingleThreadedExecutor(context=self.context)
        self.executor.add_node(self.node)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._spin, daemon=True)
        self._thread.start()

    def _spin(self) -> None:
        while not self._stop.is_set():
            self.executor.spin_once(timeout_sec=0.1)

    def _on_odom(self, msg: Any) -> None:
        self.pose = (msg.pose.pose.position.x, msg.pose.pose.position.y)

    def _on_diag(self, msg: Any) -> None:
        for status in msg.status:
            if status.name == "nav: agent":
                values = {kv.key: kv.value for kv in status.values}
                variant, tick = values.get("variant", "?"), values.get("tick_p50_ms", "?")
                self.agent_state = f"{status.message} (variant {variant}, tick p50 {tick} ms)"

    def _on_outcome(self, msg: Any) -> None:
        self.outcome = json.loads(msg.data)

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=2.0)
        self.executor.shutdown()
        self.node.destroy_node()
        rclpy.try_shutdown(context=self.context)
