"""Recorded messages -> the inputs of the agent core, for replay evaluation and training from bags.

Pure Python (no ROS): ``rosbags`` decodes a bag's messages into plain objects with the fields of
the ROS messages; these functions convert them with the same :mod:`perception` calls the agent node
makes at its edge (:mod:`nav.nodes.msgs`, ``AgentNode._on_scan`` / ``_on_points``), and
:func:`resolve_inputs` picks, through the topic map of ``configs/bags.yaml``, which recorded topic
feeds which input. :func:`load_events` reads a bag into one time-ordered list of converted inputs.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from nav.bags.clock import StampClock, rebuild_clock
from nav.bags.config import MaxAge, TopicMap
from nav.bags.reader import BagError, BagInfo, BagReader
from nav.bags.tf import LidarMount, bag_mounts
from nav.runtime.agent import Timeouts
from nav.runtime.config import Topics
from nav.runtime.stamps import input_age as judged_age
from perception.lidar import unusable_scan
from policy.processing import ScanGeometry

__all__ = [
    "BLANK_IMAGE",
    "BagInputs",
    "Event",
    "InputTopics",
    "input_age",
    "load_events",
    "read_inputs",
    "resolve_inputs",
    "sensor_timeouts",
    "stamp_clock",
]

IMAGE = "sensor_msgs/msg/Image"
COMPRESSED = "sensor_msgs/msg/CompressedImage"
SCAN = "sensor_msgs/msg/LaserScan"
CLOUD = "sensor_msgs/msg/PointCloud2"
STRING = "std_msgs/msg/String"
ODOM = "nav_msgs/msg/Odometry"
TWIST = "geometry_msgs/msg/Twist"
TWIST_STAMPED = "geometry_msgs/msg/TwistStamped"
CLOCK = "rosgraph_msgs/msg/Clock"
BLANK_IMAGE = np.full((64, 64, 3), 128, dtype=np.uint8)
"""What a lidar-only bag shows the model in place of a camera image (replay evaluation and training)."""
REFERENCE_TYPES = {TWIST, TWIST_STAMPED, ODOM}
"""A reference is a command (Twist, TwistStamped) or, in a bag without one, the measured motion (Odometry's twist)."""


@dataclass(frozen=True)
class InputTopics:
    """Which recorded topics feed the agent core, and what that means for the run."""

    camera: tuple[str, ...]
    scan: str | None
    points: str | None
    instruction: str | None
    odom: str | None
    reference: str | None
    notes: tuple[str, ...] = ()
    clock: str | None = None
    """``rosgraph_msgs/Clock`` (sim time), read only to rebuild the stamps' clock (:mod:`nav.bags.clock`)."""

    @property
    def lidar_only(self) -> bool:
        return not self.camera

    @property
    def topics(self) -> list[str]:
        names = [*self.camera, self.scan, self.points, self.instruction, self.odom, self.reference, self.clock]
        return [n for n in names if n]


def _candidates(keys: tuple[str, ...], topics: Topics) -> list[str]:
    return [topics.resolve(k) for k in keys]


def resolve_inputs(
    info: BagInfo, topic_map: TopicMap, topics: Topics, reference: str | None = None, need_reference: bool = True
) -> InputTopics:
    """The mapped topics present in the bag (with messages and the right type), or a BagError saying what is missing.

    A bag with none of the mapped topics, without a 2D scan or point cloud, or (with
    ``need_reference``) without a reference command is an error naming what was looked for and
    what the bag holds. A bag without a camera runs lidar only (marked in ``notes``).
    """
    present = {name: kind for name, (kind, n) in info.topics.items() if n > 0}

    def pick(keys: tuple[str, ...], kinds: set[str]) -> list[str]:
        return [t for t in _candidates(keys, topics) if present.get(t) in kinds]

    camera = tuple(pick(topic_map.camera, {IMAGE, COMPRESSED}))
    scans = pick(topic_map.scan, {SCAN})
    clouds = pick(topic_map.points, {CLOUD})
    instructions = pick(topic_map.instruction, {STRING})
    odoms = pick(topic_map.odom, {ODOM})
    clocks = pick(topic_map.clock, {CLOCK})
    ref_keys = (reference,) if reference else topic_map.reference
    refs = pick(ref_keys, REFERENCE_TYPES)
    mapped = set(camera) | set(scans) | set(clouds) | set(instructions) | set(odoms) | set(refs)
    found = info.describe_topics()
    want_camera, want_scan, want_points = (
        _candidates(k, topics) for k in (topic_map.camera, topic_map.scan, topic_map.points)
    )
    if not mapped:
        raise BagError(
            f"{info.path}: none of the mapped topics has messages (looked for camera {want_camera}, "
            f"scan {want_scan}, points {want_points}); found: {found}"
        )
    if not scans and not clouds:
        raise BagError(
            f"{info.path}: no 2D scan or point cloud, which every model variant needs (looked for LaserScan on "
            f"{want_scan}, PointCloud2 on {want_points}); found: {found}"
        )
    if need_reference and not refs:
        wrong = [f"{t} is {present[t]}" for t in _candidates(ref_keys, topics) if t in present]
        raise BagError(
            f"{info.path}: no reference command to compare with (looked for Twist, TwistStamped or Odometry on "
            f"{_candidates(ref_keys, topics)}{'; ' + ', '.join(wrong) if wrong else ''}); found: {found}"
        )
    notes = []
    if refs and present[refs[0]] == ODOM:
        notes.append(f"reference: the measured motion on {refs[0]} (Odometry twist): the bag holds no command topic")
    if not camera:
        notes.append(
            f"lidar only: no camera in the bag (looked for {want_camera}); the model ran with a blank grey image"
        )
    if not scans:
        notes.append(f"the 2D scan comes from the point cloud {clouds[0]} (no LaserScan in the bag)")
    return InputTopics(
        camera=camera,
        scan=scans[0] if scans else None,
        points=None if scans else clouds[0],
        instruction=instructions[0] if instructions else None,
        odom=odoms[0] if odoms else None,
        reference=refs[0] if refs else None,
        notes=tuple(notes),
        clock=clocks[0] if clocks else None,
    )


@dataclass
class Event:
    """One recorded input at its log time (seconds), converted for :class:`nav.runtime.agent.AgentCore`."""

    t: float
    kind: str
    """``image``, ``scan``, ``instruction``, ``odom``, ``reference`` or ``clock``."""
    value: Any
    topic: str = ""
    stamp: float | None = None
    """The header stamp (s; 0.0 when the driver left it unset), for messages that have a header."""


def _image(msg: Any, msgtype: str) -> np.ndarray:
    from perception.camera import decode_compressed, decode_image

    data = np.asarray(msg.data, dtype=np.uint8)
    if msgtype == COMPRESSED:
        return decode_compressed(data, msg.format)
    return decode_image(data, msg.encoding, msg.width, msg.height, msg.step, is_bigendian=bool(msg.is_bigendian))


def _scan(msg: Any, mount: LidarMount | None) -> tuple[np.ndarray, ScanGeometry]:
    ranges = np.asarray(msg.ranges, dtype=np.float32)
    inc = float(msg.angle_increment)
    problem = unusable_scan(ranges, inc)
    if problem is not None:
        raise ValueError(problem)  # the agent node drops such a scan too
    geometry = ScanGeometry.of_message(float(msg.angle_min), inc, float(msg.range_min), float(msg.range_max), mount)
    return ranges, geometry


def _cloud(msg: Any, config: Any) -> tuple[np.ndarray, ScanGeometry]:
    from perception.pointcloud import cloud_to_scan, points_from_cloud_message

    return cloud_to_scan(points_from_cloud_message(msg), config), ScanGeometry.of_cloud(config)


def _stamp(msg: Any) -> float | None:
    header = getattr(msg, "header", None)
    if header is None:
        return None
    return float(header.stamp.sec) + float(header.stamp.nanosec) * 1e-9


def _twist(msg: Any, msgtype: str) -> tuple[float, float]:
    t = {TWIST_STAMPED: lambda m: m.twist, ODOM: lambda m: m.twist.twist}.get(msgtype, lambda m: m)(msg)
    return float(t.linear.x), float(t.angular.z)


IMPLAUSIBLE_FACTOR = 10.0
"""A reference faster than this many times the robot profile's limits is a broken reading, not a command."""


def _plausible(command: tuple[float, float], limits: tuple[float, float]) -> tuple[float, float]:
    """``command`` if it is a usable reference for a robot with these (m/s, rad/s) ``limits``; ValueError naming
    it otherwise (non-finite, or far beyond anything the robot can do: some drivers fill a twist they do not
    measure with garbage)."""
    linear, angular = command
    if not (math.isfinite(linear) and math.isfinite(angular)):
        raise ValueError(f"non-finite reference ({linear}, {angular})")
    if abs(linear) > IMPLAUSIBLE_FACTOR * limits[0] or abs(angular) > IMPLAUSIBLE_FACTOR * limits[1]:
        raise ValueError(
            f"implausible reference ({linear:.3g} m/s, {angular:.3g} rad/s): over {IMPLAUSIBLE_FACTOR:g}x the robot's "
            f"limits ({limits[0]} m/s, {limits[1]} rad/s)"
        )
    return command


def load_events(
    bag: BagReader, inputs: InputTopics, lidar: LidarMount | None = None
) -> tuple[list[Event], dict[str, int]]:
    """Every mapped message of ``bag``, converted, in log-time order; and how many were rejected, per topic
    (keyed ``"topic (first error)"``). Scans are turned into the robot's frame by ``lidar`` (the bag's
    ``/tf_static``: :func:`nav.bags.tf.bag_mounts`), else by the robot profile's mount.

    A message the agent node would reject (an undecodable image, an empty scan), or one the bag reader
    could not decode at all, is counted and left out, as the node logs and drops it.
    """
    from configs.robot import robot_profile
    from perception.errors import PerceptionError

    profile = robot_profile()
    limits = (profile.max_linear, profile.max_angular)
    cloud_config = None
    if inputs.points:
        from perception.pointcloud import CloudScanConfig

        cloud_config = CloudScanConfig.from_profile()
    events: list[Event] = []
    rejected: dict[str, int] = {}
    first_error: dict[str, str] = {}
    for topic, msgtype, t_ns, msg in bag.messages(set(inputs.topics)):
        t = t_ns * 1e-9
        stamp = _stamp(msg)
        try:
            if topic in inputs.camera:
                events.append(Event(t, "image", _image(msg, msgtype), topic, stamp))
            elif topic == inputs.scan:
                events.append(Event(t, "scan", _scan(msg, lidar), topic, stamp))
            elif topic == inputs.points:
                events.append(Event(t, "scan", _cloud(msg, cloud_config), topic, stamp))
            elif topic == inputs.instruction:
                events.append(Event(t, "instruction", str(msg.data), topic))
            elif topic == inputs.clock:
                events.append(Event(t, "clock", None, topic, msg.clock.sec + msg.clock.nanosec * 1e-9))
            else:  # odometry and the reference may be the same topic (measured motion as the reference)
                if topic == inputs.odom:
                    events.append(Event(t, "odom", _twist(msg, msgtype), topic, stamp))
                if topic == inputs.reference:
                    events.append(Event(t, "reference", _plausible(_twist(msg, msgtype), limits), topic))
        except (PerceptionError, ValueError) as exc:
            rejected[topic] = rejected.get(topic, 0) + 1
            first_error.setdefault(topic, str(exc))
    for topic, n in bag.undecodable.items():  # skipped by the reader: the others were read
        rejected[topic] = rejected.get(topic, 0) + n
        first_error.setdefault(topic, bag.undecodable_errors[topic])
    return events, {f"{topic} ({first_error[topic]})": n for topic, n in rejected.items()}


def stamp_clock(events: Sequence[Event], inputs: InputTopics) -> StampClock:
    """The stamps' clock of these events (:func:`nav.bags.clock.rebuild_clock`): ``/clock`` first, then the scan."""
    readings: dict[str, tuple[list[float], list[float]]] = {}
    for e in events:
        if e.stamp is not None:
            logs, stamps = readings.setdefault(e.topic, ([], []))
            logs.append(e.t)
            stamps.append(e.stamp)
    order = [t for t in (inputs.clock, inputs.scan or inputs.points, *inputs.camera, inputs.odom) if t]
    return rebuild_clock({t: (np.asarray(lg), np.asarray(st)) for t, (lg, st) in readings.items()}, order)


def input_age(event: Event, t: float, clock: StampClock) -> float:
    """How old ``event`` is at log time ``t``: by its header stamp when ``clock`` uses its topic's stamps and the
    stamp is sane (:func:`nav.runtime.stamps.stamp_age`), else by arrival, as the agent's core judges it."""
    stamp = event.stamp if clock.uses_stamps(event.topic) else None
    return judged_age(event.t, stamp, t, clock.at(t))[0]


def sensor_timeouts(agent: Any, max_age: MaxAge, inputs: InputTopics) -> Timeouts:
    """Staleness limits for a bag: the recorded robot's (bag config ``max_age_s``) where given, else this robot's
    (the robot profile's, through ``agent``, a :class:`nav.runtime.config.AgentConfig`); the cloud's limit where a
    point cloud stands in for the scan."""
    scan = agent.cloud_timeout if inputs.points else agent.scan_timeout
    return Timeouts(max_age.camera or agent.camera_timeout, max_age.scan or scan)


@dataclass(frozen=True)
class BagInputs:
    """An open bag's mapped inputs, read as replay evaluation and training both read them."""

    events: list[Event]
    rejected: dict[str, int]
    """Messages left out, per topic (see :func:`load_events`)."""
    clock: StampClock
    mount_notes: tuple[str, ...]
    """Where the bag's ``/tf_static`` put the lidar (and the camera), for the report."""


def read_inputs(bag: BagReader, inputs: InputTopics) -> BagInputs:
    """The mapped messages of ``bag`` converted (scans from the lidar's place in its ``/tf_static``, else the
    robot profile's: :func:`nav.bags.tf.bag_mounts`) and the stamps' clock; BagError when none is usable."""
    lidar, notes = bag_mounts(bag, inputs.scan, inputs.camera)
    events, rejected = load_events(bag, inputs, lidar)
    if not events:
        raise BagError(f"{bag.info.path if bag.info else bag}: the mapped topics hold no usable message")
    return BagInputs(events, rejected, stamp_clock(events, inputs), tuple(notes))
