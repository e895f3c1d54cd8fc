"""3D point cloud pre-processing: from a PointCloud2-style buffer to the model's 2D scan.

:func:`cloud_to_scan` turns an ``(N, 3)`` cloud into the same representation as
:func:`perception.lidar.resample_scan` (same beam layout, min range per beam) in four steps:

1. Voxel down-sampling (open3d ``voxel_down_sample``) of the points the ground is fitted to, so
   dense sensors cost the same as sparse. Steps 3 and 4 use every point: a voxel is wider than a
   beam within ``voxel_size * beams / (2 pi)`` of the sensor (2.9 m for 5 cm and 360 beams), so
   projecting voxel centres would leave beams in front of a near obstacle empty ("free").
2. Ground estimation: open3d ``segment_plane`` (RANSAC) fits the dominant plane; it is accepted
   as the ground only if its normal is within ``plane_max_tilt_deg`` of vertical and it passes
   within ``plane_max_offset`` of the expected floor height. Otherwise (a wall or a table top won
   the vote, or too few points) the ground is the horizontal plane ``z = -sensor_height``.
3. Height band: keep points whose height above that ground is within
   ``[band_min_z, band_max_z]``; ``band_min_z`` is the clearance below which points are ground.
4. Projection: each kept point goes to the beam nearest its azimuth ``atan2(y, x)`` with its
   horizontal range ``hypot(x, y)``; each beam keeps its minimum. Beams with no point are "no
   return" and read ``range_max`` (still valid, as ``+inf`` in a laser scan).

open3d is imported when first needed, so importing :mod:`perception` stays light.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal, NamedTuple

import numpy as np
import numpy.typing as npt

from perception.errors import PointCloudError
from perception.lidar import Scan, beam_index, min_per_beam

if TYPE_CHECKING:
    from configs.robot import RobotProfile

__all__ = [
    "CloudField",
    "CloudScanConfig",
    "GroundEstimate",
    "cloud_to_scan",
    "cloud_to_scan_with_mask",
    "estimate_ground",
    "points_from_cloud_buffer",
    "points_from_cloud_message",
]

Points = npt.NDArray[np.float64]

FLOAT32 = 7
FLOAT64 = 8
_FLOAT_TYPES = {FLOAT32: np.float32, FLOAT64: np.float64}


@dataclass(frozen=True)
class CloudScanConfig:
    """How a point cloud becomes a 2D scan. Heights are metres above the ground."""

    beams: int = 360
    """Model beams evenly over ``[-pi, pi)`` (same layout as :mod:`perception.lidar`)."""
    range_max: float = 8.0
    """Largest range the model sees (m); empty beams and farther points read this."""
    range_min: float = 0.0
    """Points nearer than this horizontally are dropped (the robot's own body), m."""
    sensor_height: float = 0.0
    """Height of the cloud's frame origin above the floor (m); 0 if points are in base_footprint."""
    voxel_size: float = 0.05
    """Voxel edge for down-sampling the points the ground plane is fitted to (m); 0 disables down-sampling."""
    band_min_z: float = 0.05
    """Lowest height above ground that counts as an obstacle (ground clearance), m."""
    band_max_z: float = 1.0
    """Highest height above ground that counts as an obstacle (the robot's height plus margin), m."""
    ground_plane: bool = True
    """Fit the ground with RANSAC; if False, always use the plane ``z = -sensor_height``."""
    plane_distance: float = 0.03
    """RANSAC inlier distance (m)."""
    plane_iterations: int = 200
    """RANSAC iterations."""
    plane_max_tilt_deg: float = 10.0
    """Largest angle between the fitted plane's normal and vertical for it to count as ground."""
    plane_max_offset: float = 0.15
    """Largest distance between the fitted plane (below the origin) and the expected floor, m."""
    min_ground_points: int = 30
    """Fewest RANSAC inliers (after down-sampling) for a fitted plane to count as ground."""
    seed: int = 0
    """Seed of open3d's RANSAC, for repeatable results."""

    @classmethod
    def from_profile(cls, profile: RobotProfile | None = None) -> CloudScanConfig:
        """The scan layout of the robot's 2D lidar and the height of its 3D lidar, from the robot profile.

        ``beams``, ``range_min`` and ``range_max`` are the profile's ``lidar`` (the scan the model was
        trained on, so a cloud gives the same scan a 2D lidar would); ``sensor_height`` is
        ``lidar3d.mount.z`` (the cloud's frame above the floor, which the ground fallback and the
        plane check need). ``profile`` defaults to the process's, :func:`configs.robot.robot_profile`.
        Other fields keep their defaults (``dataclasses.replace`` changes them).
        """
        if profile is None:
            from configs.robot import robot_profile  # read on first use, not at import

            profile = robot_profile()
        lidar = profile.lidar
        return cls(
            beams=int(lidar.beams),
            range_min=float(lidar.range_min),
            range_max=float(lidar.range_max),
            sensor_height=float(profile.lidar3d.mount.z),
        )

    def __post_init__(self) -> None:
        if isinstance(self.beams, bool) or not isinstance(self.beams, int) or self.beams <= 0:
            raise PointCloudError(f"beams must be a positive integer, got {self.beams!r}")
        for name in ("range_max", "plane_distance", "plane_max_offset"):
            value = getattr(self, name)
            if not math.isfinite(value) or value <= 0:
                raise PointCloudError(f"{name} must be finite and > 0, got {value}")
        for name in ("range_min", "voxel_size", "plane_max_tilt_deg"):
            value = getattr(self, name)
            if not math.isfinite(value) or value < 0:
                raise PointCloudError(f"{name} must be finite and >= 0, got {value}")
        if self.range_min >= self.range_max:
            raise PointCloudError(f"range_min ({self.range_min}) must be < range_max ({self.range_max})")
        if not self.band_min_z < self.band_max_z:
            raise PointCloudError(f"band_min_z ({self.band_min_z}) must be < band_max_z ({self.band_max_z})")
        if self.plane_iterations <= 0 or self.min_ground_points < 3:
            raise PointCloudError("plane_iterations must be > 0 and min_ground_points >= 3")


@dataclass(frozen=True)
class GroundEstimate:
    """Where the ground is, as the plane ``normal . p + offset = 0`` with ``normal`` pointing up."""

    normal: npt.NDArray[np.float64]
    """Unit normal, ``normal[2] > 0``."""
    offset: float
    """Plane offset; the height of a point ``p`` above ground is ``normal . p + offset``."""
    fitted: bool
    """True if RANSAC found an acceptable ground plane; False for the ``z = -sensor_height`` fallback."""

    def heights(self, points: Points) -> npt.NDArray[np.float64]:
        """Signed height of each point above the ground (m)."""
        return points @ self.normal + self.offset


class CloudField(NamedTuple):
    """One ``sensor_msgs/PointField``: name, byte offset in a point, datatype code (7 = FLOAT32)."""

    name: str
    offset: int
    datatype: int


def _check_points(points: npt.ArrayLike) -> Points:
    p = np.asarray(points, dtype=np.float64)
    if p.ndim != 2 or p.shape[1] != 3:
        raise PointCloudError(f"points must be an (N, 3) array, got shape {p.shape}")
    if p.shape[0] == 0:
        raise PointCloudError("point cloud is empty (0 points)")
    finite = np.isfinite(p).all(axis=1)
    if not finite.any():
        raise PointCloudError(f"point cloud has {p.shape[0]} points and none is finite")
    return p[finite]


def _open3d() -> Any:  # open3d ships no type stubs
    import open3d as o3d  # heavy, imported on first use

    return o3d


def _downsample(points: Points, voxel_size: float) -> Points:
    if voxel_size <= 0:
        return points
    o3d = _open3d()
    cloud = o3d.geometry.PointCloud(o3d.utility.Vector3dVector(points))
    return np.asarray(cloud.voxel_down_sample(voxel_size).points, dtype=np.float64)


def estimate_ground(points: npt.ArrayLike, config: CloudScanConfig | None = None) -> GroundEstimate:
    """Estimate the ground plane of a cloud (points in the sensor/base frame, z up).

    RANSAC's best plane is accepted only if it is near-horizontal, near the expected floor height
    (``z = -sensor_height``) and has at least ``min_ground_points`` inliers; otherwise the
    horizontal plane ``z = -sensor_height`` is returned with ``fitted=False``.
    """
    config = config or CloudScanConfig()
    p = _check_points(points)
    fallback = GroundEstimate(np.array([0.0, 0.0, 1.0]), config.sensor_height, fitted=False)
    if not config.ground_plane or p.shape[0] < config.min_ground_points:
        return fallback
    o3d = _open3d()
    o3d.utility.random.seed(config.seed)
    cloud = o3d.geometry.PointCloud(o3d.utility.Vector3dVector(p))
    try:
        model, inliers = cloud.segment_plane(config.plane_distance, 3, config.plane_iterations)
    except RuntimeError:  # open3d raises when it cannot fit (e.g. degenerate points)
        return fallback
    a, b, c, d = (float(v) for v in np.asarray(model).reshape(4))
    norm = math.sqrt(a * a + b * b + c * c)
    if norm == 0 or len(inliers) < config.min_ground_points:
        return fallback
    if c < 0:
        a, b, c, d = -a, -b, -c, -d
    normal = np.array([a, b, c]) / norm
    offset = d / norm
    tilt = math.degrees(math.acos(min(1.0, normal[2])))
    if tilt > config.plane_max_tilt_deg:  # a wall, a ramp or a slanted surface
        return fallback
    depth_below_origin = offset / normal[2]  # along the vertical through the frame origin
    if abs(depth_below_origin - config.sensor_height) > config.plane_max_offset:  # a table top
        return fallback
    return GroundEstimate(normal, offset, fitted=True)


def cloud_to_scan_with_mask(points: npt.ArrayLike, config: CloudScanConfig | None = None) -> Scan:
    """Project a cloud to the model's 2D scan; see the module docstring for the steps.

    Args:
        points: ``(N, 3)`` x, y, z in the sensor or base frame (REP 103: x forward, z up).
            Non-finite points are dropped.
        config: Parameters; defaults to :class:`CloudScanConfig`.

    Returns:
        A :class:`~perception.lidar.Scan` with ``(beams,)`` float32 ranges in ``[0, range_max]``.
        Every beam is valid: a 3D lidar that sees nothing in a direction means "free".

    Raises:
        PointCloudError: not ``(N, 3)``, empty, or no finite point.
    """
    config = config or CloudScanConfig()
    p = _check_points(points)
    ground = estimate_ground(_downsample(p, config.voxel_size), config)
    heights = ground.heights(p)  # every point, not the voxel centres: see step 1 of the module docstring
    in_band = (heights >= config.band_min_z) & (heights <= config.band_max_z)
    p = p[in_band]
    horizontal = np.hypot(p[:, 0], p[:, 1])
    near_enough = (horizontal >= config.range_min) & (horizontal <= config.range_max)
    p, horizontal = p[near_enough], horizontal[near_enough]
    index = beam_index(np.arctan2(p[:, 1], p[:, 0]), config.beams)
    ranges, _ = min_per_beam(index, horizontal, config.beams)
    ranges = np.minimum(ranges, config.range_max)
    return Scan(ranges=ranges.astype(np.float32), valid=np.ones(config.beams, dtype=bool))


def cloud_to_scan(points: npt.ArrayLike, config: CloudScanConfig | None = None) -> npt.NDArray[np.float32]:
    """:func:`cloud_to_scan_with_mask` without the mask: ``(beams,)`` float32 ranges."""
    return cloud_to_scan_with_mask(points, config).ranges


def _field_tuple(field: CloudField | Sequence[Any] | Any) -> CloudField:
    """Accept a ``CloudField``, a ``(name, offset, datatype)`` tuple or a PointField-like object."""
    if hasattr(field, "name") and hasattr(field, "offset") and hasattr(field, "datatype"):
        return CloudField(str(field.name), int(field.offset), int(field.datatype))
    name, offset, datatype = field
    return CloudField(str(name), int(offset), int(datatype))


def points_from_cloud_buffer(
    data: bytes | bytearray | memoryview | npt.NDArray[np.uint8],
    fields: Sequence[CloudField | tuple[str, int, int] | Any],
    point_step: int,
    width: int,
    height: int,
    is_bigendian: bool,
    row_step: int | None = None,
) -> npt.NDArray[np.float32]:
    """Read x, y, z from a ``sensor_msgs/PointCloud2``-style buffer as ``(N, 3)`` float32.

    Args:
        data: ``msg.data``.
        fields: ``msg.fields`` as ``(name, offset, datatype)`` tuples, :class:`CloudField` or
            PointField-like objects; ``x``, ``y``, ``z`` must be FLOAT32 (7) or FLOAT64 (8).
        point_step: Bytes per point.
        width, height: Points per row and rows (``height == 1`` for an unorganised cloud).
        is_bigendian: Byte order of the values.
        row_step: Bytes per row; default ``width * point_step``. Bytes past a row's points are skipped.

    Returns:
        The points that are returns, in buffer order (row by row, as the sensor scanned them). An
        organised cloud (``height > 1``, ``is_dense`` false) marks "no return" with NaN points
        (Velodyne, most drivers) or with points at exactly ``(0, 0, 0)`` (Ouster): both are dropped,
        as is any point with an infinite coordinate. Other fields (intensity, ring, time) are skipped.

    Raises:
        PointCloudError: a missing or non-float x/y/z field, a field past ``point_step``, a buffer
            whose size is not ``row_step * height``, an empty cloud, or no point that is a return.
    """
    by_name = {f.name: f for f in map(_field_tuple, fields)}
    missing = [axis for axis in ("x", "y", "z") if axis not in by_name]
    if missing:
        raise PointCloudError(f"point cloud has no field {', '.join(missing)}; fields are {sorted(by_name)}")
    if width < 0 or height < 0 or width * height == 0:
        raise PointCloudError(f"point cloud is empty (width={width}, height={height})")
    if point_step <= 0:
        raise PointCloudError(f"point_step must be > 0, got {point_step}")
    order: Literal[">", "<"] = ">" if is_bigendian else "<"
    formats = []
    for axis in ("x", "y", "z"):
        field = by_name[axis]
        if field.datatype not in _FLOAT_TYPES:
            raise PointCloudError(f"field {axis!r} has datatype {field.datatype}; supported: 7 (FLOAT32), 8 (FLOAT64)")
        dtype = np.dtype(_FLOAT_TYPES[field.datatype]).newbyteorder(order)
        if field.offset < 0 or field.offset + dtype.itemsize > point_step:
            raise PointCloudError(
                f"field {axis!r} at offset {field.offset} ({dtype.itemsize} bytes) does not fit "
                f"in point_step {point_step}"
            )
        formats.append(dtype)
    row_step = width * point_step if row_step is None else row_step
    if row_step < width * point_step:
        raise PointCloudError(f"row_step {row_step} is shorter than width x point_step ({width * point_step})")
    raw = np.frombuffer(data, dtype=np.uint8) if not isinstance(data, np.ndarray) else data.reshape(-1)
    expected = row_step * height
    if raw.size != expected:
        raise PointCloudError(
            f"point cloud buffer must be {expected} bytes (row_step {row_step} x height {height}), got {raw.size}"
        )
    rows = np.ascontiguousarray(raw.reshape(height, row_step)[:, : width * point_step])
    record = np.dtype(
        {
            "names": ["x", "y", "z"],
            "formats": formats,
            "offsets": [by_name[a].offset for a in ("x", "y", "z")],
            "itemsize": point_step,
        }
    )
    structured = rows.reshape(-1).view(record)
    xyz = np.stack([structured[a].astype(np.float32) for a in ("x", "y", "z")], axis=1)
    finite = np.isfinite(xyz).all(axis=1)
    if not finite.any():
        raise PointCloudError(f"point cloud has {xyz.shape[0]} points and none is finite")
    returns = finite & xyz.any(axis=1)  # (0, 0, 0): "no return" in Ouster-style organised clouds
    if not returns.any():
        raise PointCloudError(f"point cloud has {xyz.shape[0]} points and all are NaN or (0, 0, 0): no return")
    return xyz[returns]


def points_from_cloud_message(msg: Any) -> npt.NDArray[np.float32]:
    """:func:`points_from_cloud_buffer` of a ``sensor_msgs/PointCloud2``-like object (a ROS message
    or one deserialised from a bag: only its attributes are read)."""
    return points_from_cloud_buffer(
        bytes(np.asarray(msg.data, dtype=np.uint8)),
        list(msg.fields),
        msg.point_step,
        msg.width,
        msg.height,
        msg.is_bigendian,
        msg.row_step,
    )
