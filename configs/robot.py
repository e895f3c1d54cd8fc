"""The robot profile (``configs/robot.yaml``): the robot's physical facts, stated once.

Footprint radius, speed and acceleration limits, and the sensors' layout and mounts. Every reader
takes them from here instead of keeping its own copy: the simulator's robot, lidars and camera
(:mod:`sim.config`), the mux limits, the collision guard and teleop (``nav.runtime.config``), the
agent's scan geometry (:meth:`policy.processing.ScanGeometry.from_profile`) and, through the
simulator's robot, the limits a model is trained with. ``tests/test_robot_profile.py`` checks that
they agree.

Frames follow REP 103 / REP 105: a mount is the sensor's pose in ``base_link`` (x forward, y left,
z up; yaw counter-clockwise, pitch positive nose down, as a rotation about +y).

One process reads one profile: ``configs/robot.yaml``, or ``robot.yaml`` in ``$NAV_CONFIG_DIR``, or the
file named by ``$NAV_ROBOT_PROFILE`` (a test rig's robot, another robot's deployment).
:func:`robot_profile` reads it once per path.
"""

from __future__ import annotations

import functools
import math
import operator
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from configs.loader import CONFIG_DIR_ENV, derived_field, load
from perception.lidar import ScanConventions

__all__ = [
    "DEFAULT_ROBOT_PROFILE",
    "ROBOT_PROFILE_ENV",
    "CameraProfile",
    "Lidar3DProfile",
    "LidarLayout",
    "Mount",
    "RobotProfile",
    "from_profile",
    "load_robot_profile",
    "named_profile",
    "profile_default",
    "robot_profile",
    "robot_profile_path",
]

DEFAULT_ROBOT_PROFILE = "robot.yaml"
"""The profile, relative to ``configs/``."""
ROBOT_PROFILE_ENV = "NAV_ROBOT_PROFILE"
"""Environment variable naming another profile file for the whole process (every reader follows it)."""


def _positive(obj: object, *names: str) -> None:
    for name in names:
        value = getattr(obj, name)
        if not math.isfinite(value) or value <= 0:
            raise ValueError(f"{name} must be finite and > 0, got {value}")


@dataclass(frozen=True)
class Mount:
    """A sensor's pose relative to ``base_link`` (REP 103)."""

    x: float = 0.0
    """Forward offset (m)."""
    y: float = 0.0
    """Leftward offset (m)."""
    z: float = 0.0
    """Height above the floor (``base_link`` is on the floor, at the footprint's centre) (m)."""
    yaw_deg: float = 0.0
    """Rotation about z, counter-clockwise positive (the sensor's 0 angle is the robot's forward at 0)."""
    pitch_deg: float = 0.0
    """Rotation about y, positive tilts the sensor's forward axis down (REP 103)."""

    def __post_init__(self) -> None:
        for name in ("x", "y", "z", "yaw_deg", "pitch_deg"):
            if not math.isfinite(getattr(self, name)):
                raise ValueError(f"mount {name} must be finite, got {getattr(self, name)}")

    @property
    def centred(self) -> bool:
        """Over the footprint's centre, facing forward, level: only ``z`` is non-zero."""
        return self.on_axis and self.yaw_deg == 0.0

    @property
    def on_axis(self) -> bool:
        """Over the footprint's centre and level (turned by any ``yaw_deg``): a scan's rays are the
        robot's, their angles shifted by the yaw."""
        return self.x == 0.0 and self.y == 0.0 and self.pitch_deg == 0.0


@dataclass(frozen=True, kw_only=True)
class LidarLayout:
    """The 2D lidar: what its ``sensor_msgs/LaserScan`` says (REP 103 angles, REP 117 ranges) and where it sits."""

    beams: int
    """Rays per scan."""
    angle_min_deg: float
    """Angle of ray 0 in the lidar frame (deg, counter-clockwise from forward)."""
    angle_increment_deg: float | None = None
    """Angle between consecutive rays (deg); ``null`` (or left out): a full circle, ``360 / beams``."""
    range_min: float
    """The driver's ``range_min`` (m): REP 117 says a too-close object reads ``-inf``."""
    range_max: float
    """The driver's ``range_max`` (m): REP 117 says no return reads ``+inf``."""
    readings: ScanConventions
    """What this driver's finite readings outside ``[range_min, range_max]`` mean (``zero``,
    ``below_range_min``, ``above_range_max``): ``invalid`` (discarded, as the LaserScan definition
    says), or the driver's habit (``no_return``, ``too_close``). See :mod:`perception.lidar`."""
    mount: Mount
    """Pose of the lidar frame in ``base_link``."""
    max_age_s: float
    """An older scan is stale: the agent stops (s; judged on header stamps when they are sane)."""

    def __post_init__(self) -> None:
        _positive(self, "max_age_s")
        if self.beams <= 0:
            raise ValueError(f"lidar beams must be > 0, got {self.beams}")
        _positive(self, "range_min", "range_max")
        if self.range_min >= self.range_max:
            raise ValueError(f"lidar range_min ({self.range_min}) must be < range_max ({self.range_max})")
        if not math.isfinite(self.angle_min_deg):
            raise ValueError(f"lidar angle_min_deg must be finite, got {self.angle_min_deg}")
        if self.angle_increment_deg is not None:
            _positive(self, "angle_increment_deg")
            if self.beams * self.angle_increment_deg > 360.0 + 1e-9:
                raise ValueError(
                    f"lidar beams x angle_increment_deg ({self.beams} x {self.angle_increment_deg}) exceeds 360 deg"
                )

    @property
    def span_deg(self) -> float:
        """Angle covered by the rays, ``beams * angle_increment_deg`` (360 for a full circle)."""
        return 360.0 if self.angle_increment_deg is None else self.beams * self.angle_increment_deg

    @property
    def angle_max_deg(self) -> float:
        """Exclusive end of the rays' span, ``angle_min_deg + span_deg`` (the last ray is one increment short)."""
        return self.angle_min_deg + self.span_deg

    @property
    def full_circle(self) -> bool:
        return self.span_deg == 360.0


@dataclass(frozen=True, kw_only=True)
class Lidar3DProfile:
    """The multi-ring lidar that gives the point cloud (its ring layout is the simulator's, ``sim.yaml``)."""

    mount: Mount
    """Pose of the cloud's frame in ``base_link``."""
    max_age_s: float
    """An older cloud, where it stands in for the 2D scan, is stale (s)."""

    def __post_init__(self) -> None:
        _positive(self, "max_age_s")


@dataclass(frozen=True, kw_only=True)
class CameraProfile:
    """The forward RGB camera (its image size and field of view are the simulator's, ``sim.yaml``)."""

    mount: Mount
    """Pose of the camera in ``base_link``; positive pitch looks down."""
    max_age_s: float
    """An older image is stale: the agent stops (s)."""

    def __post_init__(self) -> None:
        _positive(self, "max_age_s")


@dataclass(frozen=True, kw_only=True)
class RobotProfile:
    """A differential-drive base with a round footprint, and its sensors. Every key is required: a fact left
    out of ``robot.yaml`` has no second value to fall back on."""

    radius: float
    """Footprint radius around ``base_link`` (m)."""
    max_linear: float
    """Largest forward/backward speed (m/s)."""
    max_angular: float
    """Largest turn rate (rad/s)."""
    max_linear_accel: float
    """Largest speed-up (m/s^2); slowing down is not limited."""
    max_angular_accel: float
    """Largest turn-rate speed-up (rad/s^2)."""
    lidar: LidarLayout
    """The 2D lidar (``/scan``)."""
    lidar3d: Lidar3DProfile
    """The 3D lidar (``/points``)."""
    camera: CameraProfile
    """The camera (``/camera/image_raw``)."""
    base_command: Literal["twist", "twist_stamped"] = "twist"
    """The message the base takes on ``/cmd_vel``: ``geometry_msgs/Twist``, or ``TwistStamped`` (ros2_control's
    diff_drive_controller on Jazzy)."""

    def __post_init__(self) -> None:
        _positive(self, "radius", "max_linear", "max_angular", "max_linear_accel", "max_angular_accel")


ROBOTS_DIR = "robots"
"""The named profiles (``configs/robots/<name>.yaml``, or ``robots/`` in ``$NAV_CONFIG_DIR``): ``--robot NAME``."""


def named_profile(robot: str) -> Path:
    """The profile file for ``--robot ROBOT``: an existing file, else ``robots/<robot>.yaml`` in
    ``$NAV_CONFIG_DIR`` or the shipped configs; a name with neither is a ValueError listing the names."""
    if Path(robot).is_file():
        return Path(robot).resolve()
    from configs.loader import config_dir

    folders = [Path(f) / ROBOTS_DIR for f in (os.environ.get(CONFIG_DIR_ENV), config_dir()) if f]
    for folder in folders:
        if (folder / f"{robot}.yaml").is_file():
            return (folder / f"{robot}.yaml").resolve()
    known = sorted({p.stem for folder in folders if folder.is_dir() for p in folder.glob("*.yaml")})
    raise ValueError(f"no robot profile {robot!r}: not a file, and not one of {', '.join(known)} ({ROBOTS_DIR}/)")


def robot_profile_path() -> Path | str:
    """The profile file this process reads: ``$NAV_ROBOT_PROFILE`` (a file or a name) if set, else ``robot.yaml`` of
    ``$NAV_CONFIG_DIR`` if that folder holds one (a robot's own configs), else ``configs/robot.yaml``."""
    explicit = os.environ.get(ROBOT_PROFILE_ENV)
    if explicit:  # a file, or the name of one in robots/ (``NAV_ROBOT_PROFILE=turtlebot3``, as the launch file sets it)
        is_name = not Path(explicit).exists() and Path(explicit).name == explicit and not explicit.endswith(".yaml")
        return named_profile(explicit) if is_name else explicit
    folder = os.environ.get(CONFIG_DIR_ENV)
    if folder and (Path(folder) / DEFAULT_ROBOT_PROFILE).is_file():
        return Path(folder) / DEFAULT_ROBOT_PROFILE
    return DEFAULT_ROBOT_PROFILE


def load_robot_profile(path: str | Path | None = None) -> RobotProfile:
    """Read a :class:`RobotProfile` (default :func:`robot_profile_path`); an unknown key or a wrong type
    raises :class:`configs.ConfigError` naming the dotted key and the file."""
    return load(RobotProfile, robot_profile_path() if path is None else path)


@functools.lru_cache(maxsize=8)
def _cached(path: str) -> RobotProfile:
    return load_robot_profile(path)


def robot_profile() -> RobotProfile:
    """The process's robot profile (:func:`robot_profile_path`), read once per path."""
    return _cached(str(robot_profile_path()))


def profile_default(key: str, convert: Callable[[Any], Any] | None = None) -> Any:
    """A dataclass field defaulting to the profile's ``key`` (dotted: ``lidar.range_max``) that a YAML file may
    still set (teleop's speeds: slower than the robot's, checked by the reader)."""
    getter = operator.attrgetter(key)
    return field(default_factory=lambda: (convert or _same)(getter(robot_profile())))


def from_profile(key: str, convert: Callable[[Any], Any] | None = None) -> Any:
    """A dataclass field whose value is the profile's ``key`` (dotted), never a key of the reader's own YAML file.

    ``convert`` maps the profile's value to the reader's convention (the simulator's camera pitch is
    negative looking down). Code can still pass the field (a test of another robot).
    """
    getter = operator.attrgetter(key)
    return derived_field(DEFAULT_ROBOT_PROFILE, key, lambda: (convert or _same)(getter(robot_profile())))


def _same(value: Any) -> Any:
    return value
