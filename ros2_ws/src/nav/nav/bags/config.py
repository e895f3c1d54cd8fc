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

__all__ = ["DEFAULT_BAG_CONFIG", "BagConfig", "RecordConfig", "RecordTopic", "TopicMap", "load_bag_config"]


@dataclass(frozen=True)
class RecordTopic:
    topic: str
    """A key of ``topics`` in ros.yaml (``cmd_nav``) or an absolute topic name (``/tf``)."""
    type: str
    """ROS 2 message type, ``package/msg/Name``."""
    qos: Literal["sensor", "reliable", "latched"] = "reliable"

    def __post_init__(self) -> None:
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


@dataclass(frozen=True)
class BagConfig:
    record: RecordConfig = field(default_factory=RecordConfig)
    topic_map: TopicMap = field(default_factory=TopicMap)


def load_bag_config(path: str | Path = DEFAULT_BAG_CONFIG) -> BagConfig:
    """Read :class:`BagConfig` (default ``configs/bags.yaml``)."""
    return load(BagConfig, path)
