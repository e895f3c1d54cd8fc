"""The recorder node: the topics of ``record`` in ``configs/bags.yaml`` into one rosbag2 bag.

A thin rclpy wrapper over :class:`nav.bags.writer.RecordingWriter`::

    python -m nav.nodes.recorder_node --ros-args -p out:=bags/run1 [-p storage:=sqlite3] [-p config:=ros.yaml]

Messages arrive serialized (``raw=True`` subscriptions) and are written as they are, stamped with
their receipt time, so the node never converts a message. Sensor topics are subscribed best effort,
latched ones (instruction, outcome, ``/tf_static``) transient local. A topic whose message package is
not installed (``tf2_msgs`` is not on PyPI) is skipped with a log line. The bag is flushed every
``record.flush_s`` seconds, so a killed recorder leaves a bag that opens; SIGINT/SIGTERM close it.
``nav bringup --record DIR`` and ``nav demo --record DIR`` start this node beside the graph.

Parameters: ``out`` (the bag folder to create; it must not exist), ``storage`` (``mcap`` or
``sqlite3``; empty: ``record.storage``), ``config`` (ros.yaml), ``bag_config`` (bags.yaml).
"""

from __future__ import annotations

import importlib
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from rclpy.node import Node
from rclpy.qos import QoSProfile, ReliabilityPolicy

from nav.bags.config import DEFAULT_BAG_CONFIG, load_bag_config
from nav.bags.writer import RecordingWriter
from nav.nodes.common import LATCHED_QOS, declare_config, run_node
from nav.runtime.config import Topics

__all__ = ["RecorderNode", "main", "message_class", "record_topics"]

_QOS = {
    "sensor": QoSProfile(depth=100, reliability=ReliabilityPolicy.BEST_EFFORT),  # hears reliable publishers too
    "reliable": QoSProfile(depth=100),
    "latched": LATCHED_QOS,
}


def message_class(msgtype: str) -> Any:
    """The rclpy message class of ``package/msg/Name``; ImportError when the package is not installed."""
    package, _, name = msgtype.split("/")
    return getattr(importlib.import_module(f"{package}.msg"), name)


def record_topics(topics: Topics, bag_config_path: str | Path = DEFAULT_BAG_CONFIG) -> list[tuple[str, str, str]]:
    """``(topic name, message type, qos kind)`` to record, topic keys resolved through ros.yaml."""
    return [(topics.resolve(t.topic), t.message_type, t.qos) for t in load_bag_config(bag_config_path).record.topics]


class RecorderNode(Node):
    def __init__(self) -> None:
        super().__init__("recorder")
        config = declare_config(self)
        bag_config_path = str(self.declare_parameter("bag_config", DEFAULT_BAG_CONFIG).value) or DEFAULT_BAG_CONFIG
        record = load_bag_config(bag_config_path).record
        out = str(self.declare_parameter("out", "").value)
        storage = str(self.declare_parameter("storage", "").value) or record.storage
        if not out:
            raise ValueError("recorder: parameter 'out' (the bag folder to write) is required")
        if Path(out).exists():
            raise ValueError(f"recorder: {out} exists already; a recording never overwrites a bag")
        self.writer = RecordingWriter(out, storage, record.flush_s)
        recorded, skipped = [], []
        for topic, msgtype, qos in record_topics(config.topics, bag_config_path):
            try:
                cls = message_class(msgtype)
            except (ImportError, AttributeError) as exc:
                skipped.append(f"{topic} ({msgtype}: {exc})")
                continue
            self.writer.add_topic(topic, msgtype)
            self.create_subscription(cls, topic, self._callback(topic), _QOS[qos], raw=True)
            recorded.append(topic)
        self.writer.flush()
        self.create_timer(min(0.25, record.flush_s / 2.0), self.writer.maybe_flush)
        self.count = 0
        self.get_logger().info(f"recording {len(recorded)} topics to {out} ({storage}): {', '.join(recorded)}")
        if skipped:
            self.get_logger().warning(f"not recorded, message package missing: {'; '.join(skipped)}")

    def _callback(self, topic: str) -> Any:
        def write(data: bytes) -> None:
            self.writer.write(topic, self.get_clock().now().nanoseconds, data)
            self.count += 1

        return write

    def on_shutdown(self) -> None:
        self.writer.close()
        self.get_logger().info(f"bag closed: {self.count} messages in {self.writer.path}")


def main(args: Sequence[str] | None = None) -> int:
    return run_node(_make, args)


def _make() -> RecorderNode:
    try:
        return RecorderNode()
    except ValueError as exc:  # a bad parameter or an existing bag: one line, exit 2 (run_node's ConfigError path)
        from configs import ConfigError

        raise ConfigError(str(exc)) from exc


if __name__ == "__main__":
    raise SystemExit(main())
