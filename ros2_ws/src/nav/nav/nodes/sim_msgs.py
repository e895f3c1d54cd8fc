"""numpy -> ROS 2 message builders for what the simulator publishes (the edge of the sim node).

Each builder takes plain numbers and arrays (what ``sim`` produces) plus a header stamp and a frame
id, and returns a message; no node, no publisher, so the tests need no running graph. The reverse
direction (message -> numpy, for the agent and the mux) lives in ``nav.nodes.msgs``.

TF: ``tf2_msgs`` is not installable from PyPI, so the transforms (odom -> base_link, and the static
base_link -> laser / camera / lidar3d mounts) are built only where ``tf2_msgs`` imports, i.e. on a
robot with ROS 2 installed (:func:`tf_available`). Elsewhere the sim node skips TF and says so once
in its log; ``nav_msgs/Odometry`` carries the same odom -> base_link pose.
"""

from __future__ import annotations

import array
import json
import math
from collections.abc import Sequence
from typing import Any

import numpy as np
from builtin_interfaces.msg import Time
from geometry_msgs.msg import Quaternion, TransformStamped
from nav_msgs.msg import Odometry
from rosgraph_msgs.msg import Clock
from sensor_msgs.msg import CompressedImage, Image, LaserScan, PointCloud2, PointField
from std_msgs.msg import Header, String

try:  # only with a full ROS 2 install (see the module docstring)
    from tf2_msgs.msg import TFMessage

    TF_UNAVAILABLE_REASON = ""
except ImportError as exc:  # pragma: no cover - depends on the machine
    TFMessage = None
    TF_UNAVAILABLE_REASON = f"tf2_msgs is not importable ({exc}); /tf is not published, /odom carries the pose"


def tf_available() -> bool:
    return TFMessage is not None


# ---------------------------------------------------------------------------------------------- basics
def stamp(seconds: float) -> Time:
    """A ``builtin_interfaces/Time`` for ``seconds`` (>= 0) since the epoch."""
    sec = math.floor(seconds)
    nanosec = min(round((seconds - sec) * 1e9), 999_999_999)
    return Time(sec=int(sec), nanosec=int(nanosec))


def to_seconds(t: Time) -> float:
    return t.sec + t.nanosec * 1e-9


def header(seconds: float, frame_id: str) -> Header:
    return Header(stamp=stamp(seconds), frame_id=frame_id)


def yaw_quaternion(yaw: float, pitch: float = 0.0) -> Quaternion:
    """The rotation by ``yaw`` about z, then ``pitch`` about the new y (no roll)."""
    cy, sy = math.cos(yaw / 2.0), math.sin(yaw / 2.0)
    cp, sp = math.cos(pitch / 2.0), math.sin(pitch / 2.0)
    return Quaternion(x=-sy * sp, y=cy * sp, z=sy * cp, w=cy * cp)


def _bytes_array(buf: bytes) -> array.array:
    out = array.array("B")
    out.frombytes(buf)
    return out


def _float32_array(values: np.ndarray) -> array.array:
    out = array.array("f")
    out.frombytes(np.ascontiguousarray(values, dtype=np.float32).tobytes())
    return out


# ---------------------------------------------------------------------------------------------- sensors
def image_msg(rgb: np.ndarray, seconds: float, frame_id: str) -> Image:
    """An (H, W, 3) uint8 RGB array as ``sensor_msgs/Image`` (encoding ``rgb8``)."""
    rgb = np.ascontiguousarray(rgb)
    if rgb.dtype != np.uint8 or rgb.ndim != 3 or rgb.shape[2] != 3:
        raise ValueError(f"image must be (H, W, 3) uint8, got {rgb.shape} {rgb.dtype}")
    h, w, _ = rgb.shape
    return Image(
        header=header(seconds, frame_id),
        height=h,
        width=w,
        encoding="rgb8",
        is_bigendian=0,
        step=w * 3,
        data=_bytes_array(rgb.tobytes()),
    )


def compressed_image_msg(rgb: np.ndarray, seconds: float, frame_id: str, quality: int = 90) -> CompressedImage:
    """An (H, W, 3) uint8 RGB array as JPEG ``sensor_msgs/CompressedImage`` (image_transport's format string)."""
    import cv2

    ok, buf = cv2.imencode(
        ".jpg", cv2.cvtColor(np.ascontiguousarray(rgb), cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, quality]
    )
    if not ok:
        raise RuntimeError("JPEG encoding failed")
    return CompressedImage(
        header=header(seconds, frame_id), format="rgb8; jpeg compressed bgr8", data=_bytes_array(buf.tobytes())
    )


def laser_scan_msg(
    ranges: np.ndarray,
    seconds: float,
    frame_id: str,
    angle_min: float,
    angle_increment: float,
    range_min: float,
    range_max: float,
    scan_time: float = 0.0,
) -> LaserScan:
    """REP 117 ranges (float32 m; +inf no return, -inf too close) as ``sensor_msgs/LaserScan``.

    Beam ``i`` points at ``angle_min + i * angle_increment`` (counter-clockwise), so
    ``angle_max = angle_min + (n - 1) * angle_increment`` (the last beam, not the end of the sweep).
    """
    ranges = np.asarray(ranges, dtype=np.float32).reshape(-1)
    if ranges.size == 0:
        raise ValueError("a scan needs at least one beam")
    return LaserScan(
        header=header(seconds, frame_id),
        angle_min=float(angle_min),
        angle_max=float(angle_min + (ranges.size - 1) * angle_increment),
        angle_increment=float(angle_increment),
        time_increment=0.0,
        scan_time=float(scan_time),
        range_min=float(range_min),
        range_max=float(range_max),
        ranges=_float32_array(ranges),
    )


XYZ_FIELDS = (
    PointField(name="x", offset=0, datatype=PointField.FLOAT32, count=1),
    PointField(name="y", offset=4, datatype=PointField.FLOAT32, count=1),
    PointField(name="z", offset=8, datatype=PointField.FLOAT32, count=1),
)


def point_cloud_msg(points: np.ndarray, seconds: float, frame_id: str) -> PointCloud2:
    """(N, 3) float points (m, sensor frame) as an unorganised ``sensor_msgs/PointCloud2`` of x, y, z FLOAT32."""
    pts = np.ascontiguousarray(points, dtype=np.float32)
    if pts.ndim != 2 or pts.shape[1] != 3:
        raise ValueError(f"points must be (N, 3), got {pts.shape}")
    n = pts.shape[0]
    return PointCloud2(
        header=header(seconds, frame_id),
        height=1,
        width=n,
        fields=list(XYZ_FIELDS),
        is_bigendian=False,
        point_step=12,
        row_step=12 * n,
        data=_bytes_array(pts.astype("<f4", copy=False).tobytes()),
        is_dense=bool(np.isfinite(pts).all()),
    )


def odometry_msg(
    x: float,
    y: float,
    yaw: float,
    linear: float,
    angular: float,
    seconds: float,
    frame_id: str,
    child_frame_id: str,
) -> Odometry:
    """A planar pose in ``frame_id`` (odom) and the twist in ``child_frame_id`` (base_link) as ``nav_msgs/Odometry``."""
    msg = Odometry(header=header(seconds, frame_id), child_frame_id=child_frame_id)
    msg.pose.pose.position.x = float(x)
    msg.pose.pose.position.y = float(y)
    msg.pose.pose.orientation = yaw_quaternion(float(yaw))
    msg.twist.twist.linear.x = float(linear)
    msg.twist.twist.angular.z = float(angular)
    return msg


def clock_msg(seconds: float) -> Clock:
    return Clock(clock=stamp(seconds))


def string_msg(text: str) -> String:
    return String(data=text)


def json_msg(data: dict[str, Any]) -> String:
    return String(data=json.dumps(data, sort_keys=True))


# ---------------------------------------------------------------------------------------------- TF
def transform_stamped(
    parent: str, child: str, x: float, y: float, z: float, yaw: float, seconds: float, pitch: float = 0.0
) -> TransformStamped:
    """``geometry_msgs/TransformStamped`` of a sensor mount or a planar pose (parent -> child)."""
    msg = TransformStamped(header=header(seconds, parent), child_frame_id=child)
    msg.transform.translation.x = float(x)
    msg.transform.translation.y = float(y)
    msg.transform.translation.z = float(z)
    msg.transform.rotation = yaw_quaternion(float(yaw), float(pitch))
    return msg


def tf_msg(transforms: Sequence[TransformStamped]) -> Any:
    """A ``tf2_msgs/TFMessage``; only call when :func:`tf_available`."""
    if TFMessage is None:
        raise RuntimeError(TF_UNAVAILABLE_REASON)
    return TFMessage(transforms=list(transforms))
