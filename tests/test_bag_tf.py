"""A bag's lidar mount from its own /tf_static: the chain from the robot's frame to the scan's frame."""

from __future__ import annotations

import math
from types import SimpleNamespace

import numpy as np
import pytest

from nav.bags.tf import _matrix, lidar_mount
from policy.processing import ScanGeometry

pytestmark = pytest.mark.unit


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
