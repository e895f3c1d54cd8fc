"""Where a bag's lidar sits on its robot, from the bag's own ``/tf_static``. Pure Python (no ROS, no tf2).

``tf2_msgs/TFMessage`` is decoded like any other message (from the definitions the bag carries, or
the type store's); the static transforms form a tree (each child frame has one parent). The lidar's
pose in the robot's frame is the chain from ``base_link`` (or ``base_footprint`` when the tree has
no ``base_link``; REP 105) to the scan's ``header.frame_id``. Replay evaluation and training from
bags read the bag's scans through it (:meth:`policy.processing.ScanGeometry.of_message`), in place
of the robot profile's mount, which describes this project's robot, not the one that recorded.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from configs.robot import robot_profile
from nav.bags.reader import BagReader

__all__ = ["BASE_FRAMES", "LidarMount", "bag_mounts", "lidar_mount", "static_transforms"]

BASE_FRAMES = ("base_link", "base_footprint")
"""The robot's frame, in order of preference (REP 105)."""
TILT_NOTE_DEG = 2.0
"""A lidar tilted more than this from level is named in the notes (its scan is read as level)."""


@dataclass(frozen=True)
class LidarMount:
    """A lidar frame's pose in the robot's frame (the fields of :class:`configs.robot.Mount` that a 2D scan uses)."""

    x: float
    y: float
    z: float
    yaw_deg: float
    upside_down: bool
    """Rolled over (its z axis points down): its counter-clockwise rays turn clockwise on the robot."""
    tilt_deg: float
    """Angle between its z axis and the vertical (0 level, 180 upside down and level)."""
    chain: str
    """The frames from the robot's to the lidar's, ``base_link -> base_scan``."""

    def describe(self) -> str:
        flipped = ", upside down" if self.upside_down else ""
        return (
            f"lidar mount from /tf_static ({self.chain}): x {self.x:+.3f} m, y {self.y:+.3f} m, "
            f"yaw {self.yaw_deg:+.1f} deg{flipped}"
        )


def _matrix(transform: Any) -> np.ndarray:
    """4 x 4 homogeneous matrix of a ``geometry_msgs/Transform``."""
    t, q = transform.translation, transform.rotation
    x, y, z, w = float(q.x), float(q.y), float(q.z), float(q.w)
    norm = math.sqrt(x * x + y * y + z * z + w * w) or 1.0
    x, y, z, w = x / norm, y / norm, z / norm, w / norm
    m = np.eye(4)
    m[:3, :3] = [
        [1 - 2 * (y * y + z * z), 2 * (x * y - z * w), 2 * (x * z + y * w)],
        [2 * (x * y + z * w), 1 - 2 * (x * x + z * z), 2 * (y * z - x * w)],
        [2 * (x * z - y * w), 2 * (y * z + x * w), 1 - 2 * (x * x + y * y)],
    ]
    m[:3, 3] = [float(t.x), float(t.y), float(t.z)]
    return m


def static_transforms(bag: BagReader, topic: str = "/tf_static") -> dict[str, tuple[str, np.ndarray]]:
    """child frame -> (parent frame, the child's pose in the parent) from every message on ``topic`` (the newest
    wins); empty when the bag has no such topic."""
    if topic not in (bag.info.topics if bag.info else {}):
        return {}
    tree: dict[str, tuple[str, np.ndarray]] = {}
    for _, _, _, msg in bag.messages({topic}):
        for stamped in msg.transforms:
            tree[stamped.child_frame_id.lstrip("/")] = (stamped.header.frame_id.lstrip("/"), _matrix(stamped.transform))
    return tree


def _to_root(frame: str, tree: dict[str, tuple[str, np.ndarray]]) -> tuple[list[str], np.ndarray]:
    """The frames from ``frame`` up to its tree's root, and ``frame``'s pose in the root."""
    path, pose = [frame], np.eye(4)
    while path[-1] in tree and len(path) <= len(tree) + 1:  # a cycle cannot loop for ever
        parent, local = tree[path[-1]]
        pose = local @ pose
        path.append(parent)
    return path, pose


def lidar_mount(frame: str, tree: dict[str, tuple[str, np.ndarray]]) -> LidarMount | None:
    """The pose of ``frame`` (a scan's ``header.frame_id``) in the robot's frame, or None when the static tree
    does not connect the two."""
    frame = frame.lstrip("/")
    frames = set(tree) | {parent for parent, _ in tree.values()}
    lidar_path, lidar_pose = _to_root(frame, tree)
    for base in BASE_FRAMES:
        base_path, base_pose = _to_root(base, tree)
        if base not in frames or frame not in frames or base_path[-1] != lidar_path[-1]:
            continue  # not in the same tree
        relative = np.linalg.inv(base_pose) @ lidar_pose
        r = relative[:3, :3]
        up = float(np.clip(r[2, 2], -1.0, 1.0))
        return LidarMount(
            x=float(relative[0, 3]),
            y=float(relative[1, 3]),
            z=float(relative[2, 3]),
            yaw_deg=math.degrees(math.atan2(r[1, 0], r[0, 0])),
            upside_down=up < 0.0,
            tilt_deg=math.degrees(math.acos(up)),
            chain=f"{base} -> {frame}",
        )
    return None


def _first_frame(bag: BagReader, topic: str) -> str | None:
    return next((msg.header.frame_id for _, _, _, msg in bag.messages({topic})), None)


def bag_mounts(
    bag: BagReader, scan_topic: str | None, camera_topics: Sequence[str] = ()
) -> tuple[LidarMount | None, list[str]]:
    """The mount of the lidar behind ``scan_topic`` from the bag's ``/tf_static``, and notes for the report:
    which pose was used, or why the robot profile's was (no static tree, or the scan's frame not in it); and
    where the bag's camera sat, beside the mount the models were trained with (an image cannot be moved)."""
    tree = static_transforms(bag)
    if not tree:
        return None, []
    notes: list[str] = []
    mount = None
    frame = _first_frame(bag, scan_topic) if scan_topic else None
    if frame is not None:
        mount = lidar_mount(frame, tree)
        if mount is None:
            notes.append(
                f"the scan's frame {frame!r} is not connected to {' or '.join(BASE_FRAMES)} in /tf_static: "
                "the lidar is taken to sit where the robot profile's lidar.mount says"
            )
        else:
            notes.append(mount.describe())
            level = 180.0 - mount.tilt_deg if mount.upside_down else mount.tilt_deg
            if level > TILT_NOTE_DEG:
                notes.append(f"the lidar is tilted {level:.1f} deg from level: its scan is read as a level slice")
    for topic in camera_topics:
        camera_frame = _first_frame(bag, topic)
        pose = lidar_mount(camera_frame, tree) if camera_frame else None
        if pose is not None:
            trained = robot_profile().camera.mount
            notes.append(
                f"camera {topic} sits at x {pose.x:+.3f} m, y {pose.y:+.3f} m, z {pose.z:+.3f} m, yaw "
                f"{pose.yaw_deg:+.1f} deg ({pose.chain}, /tf_static); the models were trained with the camera at "
                f"x {trained.x:+.3f} m, y {trained.y:+.3f} m, z {trained.z:+.3f} m, yaw {trained.yaw_deg:+.1f} deg"
            )
    return mount, notes
