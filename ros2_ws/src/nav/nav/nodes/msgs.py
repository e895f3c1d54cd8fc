"""ROS messages to numpy and plain numbers, at the edge of the nodes (parsing, plus Twist building).

The nodes call these on every message and hand the results to the pure cores (:mod:`nav.runtime.mux`,
:mod:`nav.runtime.guard`, :mod:`perception`). Builders of sensor messages for the simulator live in
:mod:`nav.nodes.sim_msgs`.
"""

from __future__ import annotations

import math
from typing import Any, NamedTuple

import numpy as np
import numpy.typing as npt
from builtin_interfaces.msg import Time
from geometry_msgs.msg import Twist, TwistStamped
from sensor_msgs.msg import CompressedImage, Image, LaserScan

from perception.camera import decode_compressed, decode_image

__all__ = [
    "NonFiniteCommand",
    "ScanArrays",
    "compressed_to_rgb",
    "image_to_rgb",
    "scan_to_arrays",
    "seconds_to_stamp",
    "stamp_to_seconds",
    "twist",
    "twist_is_finite",
    "twist_to_cmd",
]


class NonFiniteCommand(ValueError):
    """A velocity command with a NaN or infinite component."""


def twist_to_cmd(msg: Twist, *, check_finite: bool = False) -> tuple[float, float]:
    """``(linear.x, angular.z)`` of a Twist (a differential-drive base uses nothing else).

    With ``check_finite`` a NaN or infinite value in any of the six components raises
    :class:`NonFiniteCommand`; without it the values come back as they are (the mux rejects them
    itself, so that its decision can say which input sent them).
    """
    if check_finite and not twist_is_finite(msg):
        raise NonFiniteCommand(f"non-finite Twist: linear {_vec(msg.linear)}, angular {_vec(msg.angular)}")
    return float(msg.linear.x), float(msg.angular.z)


def twist_is_finite(msg: Twist) -> bool:
    """True when all six components are finite."""
    values = (msg.linear.x, msg.linear.y, msg.linear.z, msg.angular.x, msg.angular.y, msg.angular.z)
    return all(math.isfinite(v) for v in values)


def twist(linear: float = 0.0, angular: float = 0.0) -> Twist:
    """A Twist with ``linear.x`` and ``angular.z`` set; a non-finite value raises NonFiniteCommand."""
    if not (math.isfinite(linear) and math.isfinite(angular)):
        raise NonFiniteCommand(f"refusing to build a Twist from non-finite ({linear}, {angular})")
    msg = Twist()
    msg.linear.x = float(linear)
    msg.angular.z = float(angular)
    return msg


def command_class(kind: str) -> type:
    """The base's command message class for the robot profile's ``base_command``: Twist or TwistStamped."""
    return TwistStamped if kind == "twist_stamped" else Twist


def command_msg(linear: float, angular: float, kind: str, stamp: Any = None, frame_id: str = "") -> Any:
    """A command for the base (:func:`command_class`); a TwistStamped carries ``stamp`` (builtin_interfaces Time)
    and ``frame_id`` (the base's frame)."""
    msg = twist(linear, angular)
    if kind != "twist_stamped":
        return msg
    stamped = TwistStamped(twist=msg)
    if stamp is not None:
        stamped.header.stamp = stamp
    stamped.header.frame_id = frame_id
    return stamped


def command_twist(msg: Any) -> Twist:
    """The Twist of a base command, stamped or not."""
    return msg.twist if isinstance(msg, TwistStamped) else msg


def _vec(v: object) -> tuple[float, float, float]:
    return (v.x, v.y, v.z)  # type: ignore[attr-defined]


class ScanArrays(NamedTuple):
    """A LaserScan's fields as :func:`perception.lidar.resample_scan` and the guard take them."""

    ranges: npt.NDArray[np.float32]
    angle_min: float
    angle_increment: float
    range_min: float
    range_max: float


def scan_to_arrays(msg: LaserScan) -> ScanArrays:
    """The ranges as a float32 array (REP 117 values kept as they are) and the scan geometry."""
    return ScanArrays(
        ranges=np.array(msg.ranges, dtype=np.float32),
        angle_min=float(msg.angle_min),
        angle_increment=float(msg.angle_increment),
        range_min=float(msg.range_min),
        range_max=float(msg.range_max),
    )


def _bytes_of(data: object) -> npt.NDArray[np.uint8]:
    """A message's ``uint8[]`` field (``array.array``, ``bytes`` or list) as a flat uint8 array."""
    if isinstance(data, list):
        return np.asarray(data, dtype=np.uint8)
    return np.frombuffer(data, dtype=np.uint8)  # type: ignore[call-overload]


def image_to_rgb(msg: Image) -> npt.NDArray[np.uint8]:
    """``H x W x 3`` uint8 RGB from a raw Image in any encoding of
    :data:`perception.camera.SUPPORTED_ENCODINGS` (8/16-bit RGB, BGR, mono, YUV 4:2:2, Bayer; padded
    rows ok; 16-bit samples in the message's byte order).

    Raises:
        perception.errors.ImageError: a depth or unsupported encoding, or a buffer of the wrong size.
    """
    return decode_image(
        _bytes_of(msg.data), msg.encoding, msg.width, msg.height, msg.step, is_bigendian=bool(msg.is_bigendian)
    )


def compressed_to_rgb(msg: CompressedImage) -> npt.NDArray[np.uint8]:
    """``H x W x 3`` uint8 RGB from a JPEG or PNG CompressedImage.

    Raises:
        perception.errors.ImageError: unknown format or undecodable bytes.
    """
    return decode_compressed(_bytes_of(msg.data), msg.format)


def stamp_to_seconds(stamp: Time) -> float:
    """A ``builtin_interfaces/Time`` (a header stamp) in seconds."""
    return stamp.sec + stamp.nanosec * 1e-9


def seconds_to_stamp(seconds: float) -> Time:
    """Seconds as a ``builtin_interfaces/Time``; nanoseconds are rounded and carried correctly."""
    total = round(seconds * 1e9)
    sec, nanosec = divmod(total, 1_000_000_000)
    return Time(sec=int(sec), nanosec=int(nanosec))
