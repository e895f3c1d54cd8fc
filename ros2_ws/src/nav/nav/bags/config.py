"""Typed configuration of recording and replay evaluation (``configs/bags.yaml``). Pure Python.

``record`` says what the recorder writes (topics, their types and QoS, the storage and how often a
chunk is closed); ``topic_map`` says which recorded topic is which input of the model, so a bag from
another robot is evaluated by naming its topics in a copy of the file.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from configs import load

DEFAULT_BAG_CONFIG = "bags.yaml"

__all__ = ["DEFAULT_BAG_CONFIG", "BagConfig", "RecordConfig", "MaxAge", "RecordTopic", "TopicMap", "load_bag_config"]


BASE_COMMAND = "base_command"
BASE_COMMAND_TYPES = {"twist": "geometry_msgs/msg/Twist", "twist_stamped": "geometry_msgs/msg/TwistStamped"}
"""The message type of each robot profile ``base_command``."""


@dataclass(frozen=True)
class RecordTopic:
    topic: str
    """A key of ``topics`` in ros.yaml (``cmd_nav``) or an absolute topic name (``/tf``)."""
    type: str
    """ROS 2 message type, ``package/msg/Name``, or ``base_command``: what the robot profile's base takes
    (``geometry_msgs/msg/Twist`` or ``TwistStamped``)."""
    qos: Literal["sensor", "reliable", "latched"] = "reliable"

    @property
    def message_type(self) -> str:
        """``type``, with ``base_command`` read from the robot profile."""
        if self.type != BASE_COMMAND:
            return self.type
        from configs.robot import robot_profile

        return BASE_COMMAND_TYPES[robot_profile().base_command]

    def __post_init__(self) -> None:
        if self.type == BASE_COMMAND:
            return
        parts = self.type.split("/")
        if len(parts) != 3 or parts[1] != "msg" or not all(parts):
            raise ValueError(f"record topic {self.topic}: type must look like package/msg/Name, got {self.type!r}")


@dataclass(frozen=True)
class RecordConfig:
    storage: Literal["mcap", "sqlite3"] = "mcap"
    flush_s: float = 1.0
    """Seconds between forced chunk closes (MCAP) or commits (sqlite3): the most a kill can lose."""
    topics: tuple[RecordTopic, ...] = ()

    def __post_init__(self) -> None:
        if not self.flush_s > 0:
            raise ValueError(f"record.flush_s must be > 0, got {self.flush_s}")


@dataclass(frozen=True)
class TopicMap:
    """Candidate topics (keys of ros.yaml ``topics`` or absolute names) for each model input."""

    camera: tuple[str, ...] = ("camera", "camera_compressed")
    scan: tuple[str, ...] = ("scan",)
    points: tuple[str, ...] = ("points",)
    instruction: tuple[str, ...] = ("instruction",)
    odom: tuple[str, ...] = ("odom",)
    reference: tuple[str, ...] = ("teacher_cmd", "cmd_teleop", "cmd_nav", "cmd_out", "odom")
    clock: tuple[str, ...] = ("/clock",)
    """rosgraph_msgs/Clock: the stamps' clock in a simulator's bag (sim time)."""


@dataclass(frozen=True)
class MaxAge:
    """Staleness limits (s) of the recorded robot's sensors; ``None``: the robot profile's ``max_age_s``."""

    camera: float | None = None
    scan: float | None = None
    """The 2D scan's, or the point cloud's where it stands in for the scan."""

    def __post_init__(self) -> None:
        for name in ("camera", "scan"):
            value = getattr(self, name)
            if value is not None and not value > 0:
                raise ValueError(f"max_age_s.{name} must be > 0 (or null: the robot profile's), got {value}")


@dataclass(frozen=True)
class BagConfig:
    record: RecordConfig = field(default_factory=RecordConfig)
    topic_map: TopicMap = field(default_factory=TopicMap)
    max_age_s: MaxAge = field(default_factory=MaxAge)


def load_bag_config(path: str | Path = DEFAULT_BAG_CONFIG) -> BagConfig:
    """Read :class:`BagConfig` (default ``configs/bags.yaml``)."""
    return load(BagConfig, path)
