"""Shared rclpy helpers for the nav nodes: QoS profiles, the config parameter, and ``run_node``.

:func:`run_node` is every node's ``main()``: it parses ROS arguments (``--ros-args -r __node:=mux
-p config:=/path/ros.yaml``), spins, and on SIGINT or SIGTERM leaves the loop *before* the ROS
context is shut down, so that the node's ``on_shutdown()`` can still publish (the mux publishes a
zero Twist there). rclpy's own signal handlers shut the context down first, which makes a last
publish impossible; they are not installed.
"""

from __future__ import annotations

import contextlib
import signal
import sys
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from types import FrameType

import rclpy
from rclpy.duration import Duration
from rclpy.exceptions import InvalidParameterValueException
from rclpy.executors import SingleThreadedExecutor
from rclpy.node import Node
from rclpy.publisher import Publisher
from rclpy.qos import (
    DurabilityPolicy,
    HistoryPolicy,
    QoSProfile,
    ReliabilityPolicy,
)
from rclpy.signals import SignalHandlerOptions

from configs import ConfigError
from nav.graph.liveness import Heartbeat
from nav.runtime.config import DEFAULT_ROS_CONFIG, RosConfig, load_ros_config

__all__ = [
    "COMMAND_QOS",
    "EVENT_QOS",
    "LATCHED_QOS",
    "SENSOR_QOS",
    "STATUS_QOS",
    "declare_config",
    "flush",
    "run_node",
]

COMMAND_QOS = QoSProfile(
    history=HistoryPolicy.KEEP_LAST,
    depth=1,
    reliability=ReliabilityPolicy.RELIABLE,
    durability=DurabilityPolicy.VOLATILE,
)
"""Velocity commands: only the latest matters. Reliable, the ROS default a Twist publisher offers
(a reliable subscription does not match a best-effort publisher; rclpy logs that mismatch)."""

EVENT_QOS = QoSProfile(
    history=HistoryPolicy.KEEP_LAST,
    depth=10,
    reliability=ReliabilityPolicy.RELIABLE,
    durability=DurabilityPolicy.VOLATILE,
)
"""E-stop, reset and lock flags: every message counts, none may be lost."""

SENSOR_QOS = QoSProfile(
    history=HistoryPolicy.KEEP_LAST,
    depth=1,
    reliability=ReliabilityPolicy.BEST_EFFORT,
    durability=DurabilityPolicy.VOLATILE,
)
"""Sensor streams (scan, joy): best effort, latest only; matches reliable and best-effort publishers."""

STATUS_QOS = EVENT_QOS
"""Diagnostics."""

LATCHED_QOS = QoSProfile(
    history=HistoryPolicy.KEEP_LAST,
    depth=1,
    reliability=ReliabilityPolicy.RELIABLE,
    durability=DurabilityPolicy.TRANSIENT_LOCAL,
)
"""The instruction and the episode outcome: a late subscriber still gets the last one."""


def declare_config(node: Node) -> RosConfig:
    """Declare the ``config`` parameter (a ros.yaml path; empty: ``configs/ros.yaml``) and load it."""
    path = node.declare_parameter("config", "").get_parameter_value().string_value
    config = load_ros_config(Path(path) if path else DEFAULT_ROS_CONFIG)
    node.get_logger().info(f"config: {path or DEFAULT_ROS_CONFIG}")
    return config


def flush(publisher: Publisher, timeout: float = 0.3) -> None:
    """Wait (bounded) until reliable subscribers have acknowledged what ``publisher`` sent."""
    with contextlib.suppress(Exception):  # best effort at shutdown: never let flushing stop the exit
        publisher.wait_for_all_acked(Duration(nanoseconds=int(timeout * 1e9)))


def run_node(node_factory: Callable[[], Node], args: Sequence[str] | None = None) -> int:
    """Create a node with ``node_factory`` and spin it until SIGINT or SIGTERM; returns an exit code.

    On the way out the node's ``on_shutdown()`` (if it has one) runs while the context is still
    valid, then the node is destroyed and rclpy shut down. A second signal during shutdown falls
    back to the default behaviour (exit). A config error or a bad parameter (a params file's value out of
    its range) while creating the node is printed as one line and returns 2.
    """
    rclpy.init(args=list(args) if args is not None else None, signal_handler_options=SignalHandlerOptions.NO)
    stop = threading.Event()

    def _request_stop(signum: int, frame: FrameType | None) -> None:
        stop.set()

    previous = {sig: signal.signal(sig, _request_stop) for sig in (signal.SIGINT, signal.SIGTERM)}
    node: Node | None = None
    try:
        try:
            node = node_factory()
        except (ConfigError, InvalidParameterValueException, ValueError) as exc:  # a bad ros.yaml or parameter:
            print(f"error: {exc}", file=sys.stderr, flush=True)  # one clear line, not a traceback
            return 2
        executor = SingleThreadedExecutor()
        executor.add_node(node)
        heartbeat = Heartbeat.from_env()  # between callbacks: a stuck one stops it (nav.graph.liveness)
        while not stop.is_set() and rclpy.ok():
            executor.spin_once(timeout_sec=0.05)
            if heartbeat is not None:
                heartbeat.beat()
        return 0
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        if node is not None:
            on_shutdown = getattr(node, "on_shutdown", None)
            if callable(on_shutdown) and rclpy.ok():
                on_shutdown()
            node.destroy_node()
        rclpy.try_shutdown()
