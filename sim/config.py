"""Typed configuration of the simulated world, robot, sensors and task (``configs/sim.yaml``).

The robot's physical facts (radius, speed limits, the lidar's layout, the sensors' mounts) are not
keys of ``sim.yaml``: the robot, lidar and camera sections take them from the robot profile
(``configs/robot.yaml``, :mod:`configs.robot`) and add what only the simulator has (mass, colour,
noise, the rendered image). ``sim.yaml`` giving one of them is refused, naming ``robot.yaml``.
"""

from __future__ import annotations

import dataclasses
import operator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from configs import ConfigError, load
from configs.robot import Mount, RobotProfile, from_profile, robot_profile, robot_profile_path
from perception.lidar import ScanConventions

COLOURS: dict[str, tuple[float, float, float]] = {
    "red": (0.85, 0.1, 0.1),
    "green": (0.1, 0.7, 0.15),
    "blue": (0.1, 0.2, 0.9),
    "yellow": (0.95, 0.85, 0.1),
    "purple": (0.55, 0.15, 0.7),
    "orange": (1.0, 0.5, 0.05),
}
"""Target colours (RGB in 0..1). The names are the words instructions use."""

NEUTRAL_COLOURS: dict[str, tuple[float, float, float]] = {
    "grey": (0.5, 0.5, 0.5),
    "white": (0.85, 0.85, 0.82),
    "beige": (0.76, 0.70, 0.58),
    "dark_grey": (0.3, 0.3, 0.32),
}
"""Colours of walls and obstacles: never a target colour."""

SHAPES = ("cube", "sphere", "cylinder")


def _positive(obj: object, *names: str) -> None:
    for name in names:
        if getattr(obj, name) <= 0:
            raise ValueError(f"{name} must be > 0, got {getattr(obj, name)}")


def _ordered(obj: object, low: str, high: str) -> None:
    if getattr(obj, low) > getattr(obj, high):
        raise ValueError(f"{low} ({getattr(obj, low)}) must be <= {high} ({getattr(obj, high)})")


@dataclass(frozen=True)
class RoomConfig:
    """A rectangular room with walls; width and depth are drawn per world."""

    size_min: float = 5.0
    """Smallest side length (m)."""
    size_max: float = 7.5
    """Largest side length (m)."""
    wall_height: float = 1.0
    wall_thickness: float = 0.1
    wall_colour: str = "white"
    floor_colour: str = "beige"

    def __post_init__(self) -> None:
        _positive(self, "size_min", "size_max", "wall_height", "wall_thickness")
        _ordered(self, "size_min", "size_max")
        for name in ("wall_colour", "floor_colour"):
            if getattr(self, name) not in NEUTRAL_COLOURS:
                raise ValueError(f"{name} must be one of {sorted(NEUTRAL_COLOURS)}")


@dataclass(frozen=True)
class ObstacleConfig:
    """Static obstacles (boxes and columns) of neutral colours."""

    count_min: int = 2
    count_max: int = 5
    size_min: float = 0.3
    """Smallest footprint side or diameter (m)."""
    size_max: float = 0.8
    height_min: float = 0.5
    height_max: float = 1.0
    colours: tuple[str, ...] = ("grey", "dark_grey", "white")

    def __post_init__(self) -> None:
        _ordered(self, "count_min", "count_max")
        _ordered(self, "size_min", "size_max")
        _ordered(self, "height_min", "height_max")
        if self.count_min < 0:
            raise ValueError("count_min must be >= 0")
        bad = [c for c in self.colours if c not in NEUTRAL_COLOURS]
        if bad or not self.colours:
            raise ValueError(f"obstacle colours must be neutral ({sorted(NEUTRAL_COLOURS)}), got {bad}")


@dataclass(frozen=True)
class TargetConfig:
    """Target objects: each world has 3..6 of them, each a distinct colour x shape."""

    count_min: int = 3
    count_max: int = 6
    colours: tuple[str, ...] = ("red", "green", "blue", "yellow")
    shapes: tuple[str, ...] = SHAPES
    size: float = 0.3
    """Cube side, sphere and cylinder diameter (m)."""
    min_separation: float = 0.8
    """Least distance between any two targets' centres (m)."""

    def __post_init__(self) -> None:
        _ordered(self, "count_min", "count_max")
        if self.count_min < 1:
            raise ValueError("count_min must be >= 1")
        bad = [c for c in self.colours if c not in COLOURS]
        if bad:
            raise ValueError(f"unknown target colours {bad}; known: {sorted(COLOURS)}")
        bad = [s for s in self.shapes if s not in SHAPES]
        if bad:
            raise ValueError(f"unknown target shapes {bad}; known: {list(SHAPES)}")
        if self.count_max > len(self.colours) * len(self.shapes):
            raise ValueError("count_max exceeds the number of distinct colour x shape pairs")
        _positive(self, "size", "min_separation")


@dataclass(frozen=True)
class RobotConfig:
    """A differential-drive base, driven by (linear, angular) velocity: a cylinder of the profile's radius."""

    radius: float = from_profile("radius")
    """Footprint radius (m): the robot profile's ``radius``."""
    height: float = 0.2
    """Height of the simulated body (m)."""
    mass: float = 10.0
    max_linear: float = from_profile("max_linear")
    """Largest forward/backward speed (m/s): the robot profile's ``max_linear``."""
    max_angular: float = from_profile("max_angular")
    """Largest turn rate (rad/s): the robot profile's ``max_angular``."""
    colour: str = "dark_grey"

    def __post_init__(self) -> None:
        _positive(self, "radius", "height", "mass", "max_linear", "max_angular")


@dataclass(frozen=True)
class CameraConfig:
    """Forward RGB camera (PyBullet TinyRenderer)."""

    width: int = 64
    height: int = 64
    fov_deg: float = 75.0
    """Vertical field of view."""
    mount_x: float = from_profile("camera.mount.x")
    """Forward offset from the base centre (m): the robot profile's ``camera.mount.x``."""
    mount_z: float = from_profile("camera.mount.z")
    """Height above the floor (m): the robot profile's ``camera.mount.z``."""
    pitch_deg: float = from_profile("camera.mount.pitch_deg", operator.neg)
    """Tilt, negative looks down: the robot profile's ``camera.mount.pitch_deg`` (REP 103: positive looks down)."""
    near: float = 0.05
    far: float = 12.0

    def __post_init__(self) -> None:
        _positive(self, "width", "height", "fov_deg", "near", "far")
        _ordered(self, "near", "far")


@dataclass(frozen=True)
class Lidar2DConfig:
    """Planar lidar (``rayTestBatch``); ranges follow REP 117."""

    beams: int = from_profile("lidar.beams")
    """The robot profile's ``lidar.beams``."""
    angle_min_deg: float = from_profile("lidar.angle_min_deg")
    """The robot profile's ``lidar.angle_min_deg``."""
    angle_max_deg: float = from_profile("lidar.angle_max_deg")
    """Exclusive upper end for a full circle: beams are spaced (max - min) / beams apart (the profile's
    ``angle_min_deg + beams * angle_increment_deg``)."""
    range_min: float = from_profile("lidar.range_min")
    range_max: float = from_profile("lidar.range_max")
    readings: ScanConventions = from_profile("lidar.readings")
    """How the robot's driver reads finite readings outside the range (the simulated lidar gives none: it
    publishes REP 117's ``+-inf``); kept so that a scan's geometry is the robot's wherever it is read."""
    noise_std: float = 0.005
    """Gaussian range noise (m)."""
    mount_x: float = from_profile("lidar.mount.x")
    """Ahead of the base centre (m): the robot profile's ``lidar.mount.x``."""
    mount_y: float = from_profile("lidar.mount.y")
    """Left of the base centre (m): the robot profile's ``lidar.mount.y``."""
    mount_z: float = from_profile("lidar.mount.z")
    """Height above the floor (m): the robot profile's ``lidar.mount.z``."""
    mount_yaw_deg: float = from_profile("lidar.mount.yaw_deg")
    """The sensor's turn on the robot (counter-clockwise, deg): the robot profile's ``lidar.mount.yaw_deg``."""

    @property
    def mount(self) -> Mount:
        """The lidar's pose in ``base_link`` (what :meth:`policy.processing.ScanGeometry.from_lidar_config` reads)."""
        return Mount(self.mount_x, self.mount_y, self.mount_z, self.mount_yaw_deg)

    def __post_init__(self) -> None:
        _positive(self, "beams", "range_min", "range_max", "mount_z")
        _ordered(self, "range_min", "range_max")
        _ordered(self, "angle_min_deg", "angle_max_deg")
        if self.noise_std < 0:
            raise ValueError("noise_std must be >= 0")


@dataclass(frozen=True)
class Lidar3DConfig:
    """Multi-ring lidar giving a point cloud in the sensor frame."""

    elevations_deg: tuple[float, ...] = (-15.0, -10.0, -5.0, 0.0, 5.0, 10.0, 15.0)
    beams_per_ring: int = 180
    range_min: float = 0.2
    range_max: float = 8.0
    noise_std: float = 0.005
    mount_z: float = from_profile("lidar3d.mount.z")
    """Height above the floor (m): the robot profile's ``lidar3d.mount.z``."""

    def __post_init__(self) -> None:
        if not self.elevations_deg:
            raise ValueError("elevations_deg must not be empty")
        _positive(self, "beams_per_ring", "range_min", "range_max", "mount_z")
        _ordered(self, "range_min", "range_max")


@dataclass(frozen=True)
class OdometryConfig:
    """Wheel odometry noise: relative error on measured linear and angular speed."""

    linear_noise: float = 0.02
    angular_noise: float = 0.02


@dataclass(frozen=True)
class RewardConfig:
    """Weights of the reward terms (each also reported separately in ``info``)."""

    progress: float = 1.0
    """Per metre of geodesic distance gained toward the target."""
    success: float = 10.0
    collision: float = -5.0
    time: float = -0.01
    """Per step."""


@dataclass(frozen=True)
class TaskConfig:
    """What an episode asks and when it ends."""

    control_hz: float = 10.0
    physics_hz: float = 120.0
    max_episode_steps: int = 400
    success_radius: float = 0.5
    """Success: the robot's centre within this distance of the target's surface ..."""
    stop_speed: float = 0.05
    """... and the commanded linear speed below this (m/s)."""
    collision_mode: Literal["end", "penalise"] = "end"
    start_min_distance: float = 1.5
    """Least straight-line distance from the start to the named target (m)."""
    start_in_view: bool = True
    """Start where nothing blocks the straight line from the robot to the named target, so turning on
    the spot brings it into view (the task is room-scale navigation to a visible object, not
    exploration for a hidden one). Falls back to any start when no cell qualifies."""
    instruction_split: Literal["train", "heldout", "canonical", "vocabulary"] = "train"
    world_split: Literal["train", "unseen"] = "train"
    train_worlds: int = 1000
    """Train worlds are world seeds 0..train_worlds-1; unseen worlds never come from that range."""
    grid_resolution: float = 0.05
    """Occupancy grid cell (m) for shortest paths."""
    default_instruction: str = "go to the red cube"
    """What the robot is asked when nobody says (the demo, the sim node, ``nav bench loop``)."""
    action_latency: bool = False
    """Apply each action after the real compute time of its tick (the wall time from the observation
    to ``step()``, or ``LangNavEnv.set_action_delay``): until then the previous command drives, so a
    slow controller acts on stale observations, as on a robot. Off: actions act at once."""
    reward: RewardConfig = field(default_factory=RewardConfig)

    def __post_init__(self) -> None:
        _positive(self, "control_hz", "physics_hz", "max_episode_steps", "success_radius", "grid_resolution")
        if self.physics_hz < self.control_hz:
            raise ValueError("physics_hz must be >= control_hz")
        if self.train_worlds < 1:
            raise ValueError("train_worlds must be >= 1")

    @property
    def substeps(self) -> int:
        return max(1, round(self.physics_hz / self.control_hz))


@dataclass(frozen=True)
class SimConfig:
    """Everything the simulator and the navigation task need."""

    room: RoomConfig = field(default_factory=RoomConfig)
    obstacles: ObstacleConfig = field(default_factory=ObstacleConfig)
    targets: TargetConfig = field(default_factory=TargetConfig)
    robot: RobotConfig = field(default_factory=RobotConfig)
    camera: CameraConfig = field(default_factory=CameraConfig)
    lidar: Lidar2DConfig = field(default_factory=Lidar2DConfig)
    lidar3d: Lidar3DConfig = field(default_factory=Lidar3DConfig)
    odometry: OdometryConfig = field(default_factory=OdometryConfig)
    task: TaskConfig = field(default_factory=TaskConfig)
    perturbations: tuple[str, ...] = ()
    """``name`` or ``name=strength`` items of :data:`sim.perturb.PERTURBATIONS` applied to every episode (none by
    default); ``nav eval --perturb`` sets them."""
    randomise: tuple[str, ...] = ()
    """Domain randomisation (training's ``perturbations``): each episode draws each of these on with
    ``randomise_probability``, at a strength between its neutral value and the one given."""
    randomise_probability: float = 0.5
    randomise_probabilities: dict[str, float] = field(default_factory=dict)
    """Per-name probabilities that replace ``randomise_probability`` for those names of ``randomise``."""
    randomise_clean_fraction: float = 0.0
    """The share of episodes that draw none of ``randomise`` (the others draw as they would without it)."""

    def __post_init__(self) -> None:
        from sim.perturbations import check_probabilities, parse_perturbations

        parse_perturbations(self.perturbations)  # an unknown name or a strength out of range fails here
        randomised = parse_perturbations(self.randomise)
        if not 0.0 <= self.randomise_probability <= 1.0:
            raise ValueError(f"randomise_probability must be in [0, 1], got {self.randomise_probability}")
        check_probabilities(self.randomise_probabilities, randomised, "randomise_probabilities")
        if not 0.0 <= self.randomise_clean_fraction <= 1.0:
            raise ValueError(f"randomise_clean_fraction must be in [0, 1], got {self.randomise_clean_fraction}")

    def replace(self, **sections: Any) -> SimConfig:
        """A copy with whole sections replaced (e.g. ``cfg.replace(task=...)``)."""
        return dataclasses.replace(self, **sections)


DEFAULT_SIM_CONFIG = "sim.yaml"


def load_sim_config(path: str | Path = DEFAULT_SIM_CONFIG) -> SimConfig:
    """Read a :class:`SimConfig` from YAML (default ``configs/sim.yaml``), with the robot profile's facts.

    Raises:
        ConfigError: a bad file, or a robot profile the simulator cannot model (a sensor mounted off
            the body's centre line or turned: it renders only the mounts' forward offset, height and pitch).
    """
    check_simulable(robot_profile())
    return load(SimConfig, path)


_SIMULATED_MOUNT_KEYS = {"lidar": ("x", "y", "z", "yaw_deg"), "lidar3d": ("z",), "camera": ("x", "z", "pitch_deg")}
"""The mount keys :mod:`sim.sensors` renders, per sensor; the profile's others must be 0."""


def check_simulable(profile: RobotProfile) -> None:
    """Refuse a robot profile whose sensor mounts the simulator would silently misplace."""
    for name, kept in _SIMULATED_MOUNT_KEYS.items():
        mount = getattr(profile, name).mount
        for key in ("x", "y", "yaw_deg", "pitch_deg"):
            if key not in kept and getattr(mount, key) != 0.0:
                raise ConfigError(
                    f"{robot_profile_path()}: '{name}.mount.{key}' is {getattr(mount, key)}, but the simulator "
                    f"mounts the {name} by {', '.join(kept)} alone (sim/sensors.py): 0 is the only value it can model"
                )


__all__ = [
    "COLOURS",
    "NEUTRAL_COLOURS",
    "SHAPES",
    "CameraConfig",
    "ConfigError",
    "Lidar2DConfig",
    "Lidar3DConfig",
    "ObstacleConfig",
    "OdometryConfig",
    "RewardConfig",
    "RobotConfig",
    "RoomConfig",
    "SimConfig",
    "TargetConfig",
    "TaskConfig",
    "check_simulable",
    "load_sim_config",
]
