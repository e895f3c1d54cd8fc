"""A bag's lidar mount from its own /tf_static: the chain from the robot's frame to the scan's frame."""

from __future__ import annotations

import math
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from nav.bags.config import TopicMap
from nav.bags.inputs import load_events, resolve_inputs
from nav.bags.reader import BagReader
from nav.bags.tf import _matrix, bag_mounts, lidar_mount
from nav.bags.writer import RecordingWriter
from nav.runtime.config import load_ros_config
from policy.processing import ScanGeometry

pytestmark = pytest.mark.unit

TF = "tf2_msgs/msg/TFMessage"


def transform(x: float = 0.0, y: float = 0.0, z: float = 0.0, roll: float = 0.0, yaw: float = 0.0) -> np.ndarray:
    """A geometry_msgs/Transform (as decoded from a bag) of this pose, as tf.py reads it."""
    cr, sr, cy, sy = math.cos(roll / 2), math.sin(roll / 2), math.cos(yaw / 2), math.sin(yaw / 2)
    rotation = SimpleNamespace(x=sr * cy, y=sr * sy, z=cr * sy, w=cr * cy)  # yaw(z) after roll(x)
    return _matrix(SimpleNamespace(translation=SimpleNamespace(x=x, y=y, z=z), rotation=rotation))


def test_the_mount_is_the_chain_from_base_link_to_the_scans_frame() -> None:
    tree = {
        "base_link": ("base_footprint", transform(z=0.01)),
        "laser_mount": ("base_link", transform(x=0.1, y=0.05, z=0.2, yaw=math.pi / 2)),
        "laser": ("laser_mount", transform(x=0.02)),  # 2 cm along the mount's x: the robot's +y
        "camera_link": ("base_link", transform(x=0.07)),
    }
    mount = lidar_mount("/laser", tree)
    assert mount is not None and mount.chain == "base_link -> laser"
    assert (mount.x, mount.y, mount.z) == pytest.approx((0.1, 0.07, 0.2))
    assert mount.yaw_deg == pytest.approx(90.0) and not mount.upside_down


def test_without_base_link_the_footprint_is_the_robots_frame_and_an_unconnected_frame_has_no_mount() -> None:
    tree = {"base_scan": ("base_footprint", transform(x=-0.064, z=0.17))}
    mount = lidar_mount("base_scan", tree)
    assert mount is not None and mount.chain == "base_footprint -> base_scan" and mount.x == pytest.approx(-0.064)
    assert lidar_mount("velodyne", tree) is None


def test_an_upside_down_lidar_turns_its_rays_clockwise_on_the_robot() -> None:
    mount = lidar_mount("laser", {"laser": ("base_link", transform(z=0.3, roll=math.pi))})
    assert mount is not None and mount.upside_down and mount.tilt_deg == pytest.approx(180.0)
    # Its ray at +30 degrees (its own left) points 30 degrees to the robot's right.
    geometry = ScanGeometry.of_message(math.radians(30.0), math.radians(1.0), 0.1, 8.0, mount)
    assert math.degrees(geometry.angle_min) == pytest.approx(-30.0)
    assert geometry.angle_increment == pytest.approx(-math.radians(1.0))


@pytest.mark.parametrize("storage", ["mcap", "sqlite3"])
def test_a_recording_with_tf_static_reads_its_scans_from_the_lidars_place_and_names_the_cameras(
    tmp_path: Path, storage: str
) -> None:
    from test_bags import PERIOD_NS, T0, TS, image_msg, scan_msg

    def stamped(parent: str, child: str, x: float = 0.0, z: float = 0.0, yaw: float = 0.0):
        t = TS.types
        return t["geometry_msgs/msg/TransformStamped"](
            header=t["std_msgs/msg/Header"](stamp=t["builtin_interfaces/msg/Time"](sec=1, nanosec=0), frame_id=parent),
            child_frame_id=child,
            transform=t["geometry_msgs/msg/Transform"](
                translation=t["geometry_msgs/msg/Vector3"](x=x, y=0.0, z=z),
                rotation=t["geometry_msgs/msg/Quaternion"](x=0.0, y=0.0, z=math.sin(yaw / 2), w=math.cos(yaw / 2)),
            ),
        )

    rng = np.random.default_rng(0)
    writer = RecordingWriter(tmp_path / "bag", storage, flush_s=3600.0)
    kinds = {"/tf_static": TF, "/scan": "sensor_msgs/msg/LaserScan", "/camera/image_raw": "sensor_msgs/msg/Image"}
    for topic, kind in kinds.items():
        writer.add_topic(topic, kind)
    transforms = [
        stamped("base_footprint", "base_link", z=0.01),
        stamped("base_link", "laser", x=0.2, z=0.3, yaw=math.pi / 2),
        stamped("base_link", "camera", x=0.05, z=0.2),
    ]
    writer.write("/tf_static", T0, TS.serialize_cdr(TS.types[TF](transforms=transforms), TF))
    for k in range(5):
        t = T0 + k * PERIOD_NS
        writer.write("/scan", t, TS.serialize_cdr(scan_msg(t, 360, rng), "sensor_msgs/msg/LaserScan"))
        writer.write("/camera/image_raw", t, TS.serialize_cdr(image_msg(t, rng), "sensor_msgs/msg/Image"))
    writer.close()

    with BagReader(tmp_path / "bag") as bag:
        mount, notes = bag_mounts(bag, "/scan", ["/camera/image_raw"])
        inputs = resolve_inputs(bag.info, TopicMap(), load_ros_config().topics, need_reference=False)
        events, _ = load_events(bag, inputs, mount)
    assert mount is not None and (mount.x, mount.yaw_deg) == pytest.approx((0.2, 90.0))
    assert notes[0] == "lidar mount from /tf_static (base_link -> laser): x +0.200 m, y +0.000 m, yaw +90.0 deg"
    assert notes[1].startswith("camera /camera/image_raw sits at x +0.050 m, y +0.000 m, z +0.200 m")
    geometry = next(e.value[1] for e in events if e.kind == "scan")
    assert geometry.origin == pytest.approx((0.2, 0.0))
    assert geometry.angle_min == pytest.approx(-math.pi + math.pi / 2)  # the scan's -pi, turned 90 degrees left
