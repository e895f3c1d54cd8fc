"""``nav replay BAG``: publish a bag on live topics with its original timing (rate factor, remapping, filter).

Messages are published as the serialized bytes recorded (rclpy publishes raw CDR), so nothing is
converted. Message ``i`` goes out at ``start + (t_i - t_0) / rate`` on the wall clock. A topic whose
message package is not installed is skipped with a line saying so.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from nav.bags.reader import BagError, BagReader

__all__ = ["ReplayConfig", "parse_remap", "run_replay", "wait_for_subscribers"]


@dataclass(frozen=True)
class ReplayConfig:
    bag: Path
    rate: float = 1.0
    """Speed factor: 2.0 plays twice as fast."""
    remap: tuple[str, ...] = ()
    """``FROM:=TO`` topic renames."""
    topics: tuple[str, ...] = ()
    """Only these recorded topics (empty: all)."""
    wait_for: int = 1
    """Start once every published topic has this many subscribers (or after ``discovery_s``)."""
    discovery_s: float = 3.0
    """The longest wait for ``wait_for`` subscribers; playback then starts anyway, saying so."""

    def __post_init__(self) -> None:
        if not self.rate > 0:
            raise ValueError(f"--rate must be > 0, got {self.rate}")
        for item in self.remap:
            parse_remap(item)
        if self.wait_for < 0:
            raise ValueError(f"--wait-for must be >= 0 subscribers, got {self.wait_for}")
        if not self.discovery_s >= 0:
            raise ValueError(f"--discovery-timeout must be >= 0 s, got {self.discovery_s}")


def parse_remap(item: str) -> tuple[str, str]:
    source, sep, target = item.partition(":=")
    if not sep or not source.startswith("/") or not target.startswith("/"):
        raise ValueError(f"remap {item!r} must look like /from:=/to")
    return source, target


def wait_for_subscribers(publishers: dict[str, Any], config: ReplayConfig, log: Callable[[str], None]) -> None:
    """Discovery is asynchronous: messages published before a subscriber matched never reach it."""
    deadline = time.monotonic() + config.discovery_s
    while True:
        counts = {topic: p.get_subscription_count() for topic, p in publishers.items()}
        if all(n >= config.wait_for for n in counts.values()):
            if config.wait_for:
                time.sleep(0.2)  # matched on our side; the subscriber's side completes a moment later
            return
        if time.monotonic() >= deadline:
            short = ", ".join(f"{t} {n}" for t, n in counts.items() if n < config.wait_for)
            log(f"replay: starting without {config.wait_for} subscribers after {config.discovery_s:g} s ({short})")
            return
        time.sleep(0.05)


def run_replay(config: ReplayConfig, log: Callable[[str], None] = print, domain_id: int | None = None) -> int:
    """Publish the bag until its end (or Ctrl-C); returns the number of messages published."""
    import rclpy
    from rclpy.qos import QoSProfile

    from nav.nodes.recorder_node import message_class

    remap = dict(parse_remap(r) for r in config.remap)
    with BagReader(config.bag) as bag:
        info = bag.info
        assert info is not None
        if info.storage == "ros1":  # its records are ROS 1 serialised: published as they are, no ROS 2 node reads them
            raise BagError(
                f"{info.path}: a ROS 1 bag cannot be replayed onto ROS 2 topics as recorded; "
                "nav replay-eval reads it (or convert it: `rosbags-convert`)"
            )
        wanted = set(config.topics) if config.topics else set(info.topics)
        unknown = sorted(wanted - set(info.topics))
        if unknown:
            raise BagError(f"{info.path}: no topic {unknown} in the bag; found: {info.describe_topics()}")
        context = rclpy.Context()
        rclpy.init(args=[], context=context, domain_id=domain_id)
        node = rclpy.create_node("nav_replay", context=context)
        publishers = {}
        try:
            for topic in sorted(wanted):
                kind = info.topics[topic][0]
                try:
                    cls = message_class(kind)
                except (ImportError, AttributeError):
                    log(f"replay: skipping {topic}: message package of {kind} not installed")
                    continue
                publishers[topic] = node.create_publisher(cls, remap.get(topic, topic), QoSProfile(depth=100))
            log(
                f"replay: {info.path}, {info.duration_s:.1f} s at {config.rate:g}x, "
                f"{', '.join(f'{t} -> {remap[t]}' if t in remap else t for t in publishers)}"
            )
            wait_for_subscribers(publishers, config, log)
            count, start, t0 = 0, time.monotonic(), None
            for topic, _, t_ns, raw in bag.raw_messages(set(publishers)):
                t0 = t_ns if t0 is None else t0
                delay = start + (t_ns - t0) * 1e-9 / config.rate - time.monotonic()
                if delay > 0:
                    time.sleep(delay)
                publishers[topic].publish(bytes(raw))
                count += 1
            log(f"replay: published {count} messages in {time.monotonic() - start:.1f} s")
            return count
        except KeyboardInterrupt:
            log("replay: interrupted")
            return 0
        finally:
            node.destroy_node()
            rclpy.try_shutdown(context=context)
