"""Typed configuration of the ROS 2 runtime (``configs/ros.yaml``): topics, frames and node parameters.

Pure Python (no ROS): nodes, the launch file, ``nav bringup`` and the tests all read the same file.
The robot's physical facts are not keys of ``ros.yaml``: the mux's speed and acceleration limits and
the guard's radius and top speed come from the robot profile (``configs/robot.yaml``,
:mod:`configs.robot`), and teleop's top speeds default to the profile's (slower is allowed, faster is not).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from configs import ConfigError, load
from configs import models_dir as shipped_models_dir
from configs.robot import from_profile, profile_default, robot_profile, robot_profile_path
from nav.runtime.guard import GuardConfig

DEFAULT_ROS_CONFIG = "ros.yaml"


@dataclass(frozen=True)
class Topics:
    camera: str = "/camera/image_raw"
    camera_compressed: str = "/camera/image_raw/compressed"
    scan: str = "/scan"
    points: str = "/points"
    instruction: str = "/instruction"
    odom: str = "/odom"
    cmd_nav: str = "/cmd_vel/nav"
    cmd_teleop: str = "/cmd_vel/teleop"
    cmd_out: str = "/cmd_vel"
    estop: str = "/estop"
    estop_reset: str = "/estop/reset"
    joy: str = "/joy"
    diagnostics: str = "/diagnostics"
    agent_timing: str = "/nav/agent/timing"
    variant_reason: str = "/nav/variant/reason"
    variant: str = "/nav/variant"
    outcome: str = "/nav/outcome"
    teacher_cmd: str = "/nav/teacher_cmd"

    def __post_init__(self) -> None:
        for name, value in self.__dict__.items():
            if not value.startswith("/"):
                raise ValueError(f"topic {name} must be absolute (start with '/'), got {value!r}")

    def resolve(self, name_or_topic: str) -> str:
        """A topic key of this table (``cmd_nav``) or an absolute topic name, as a topic name."""
        if name_or_topic.startswith("/"):
            return name_or_topic
        if name_or_topic not in self.__dict__:
            raise ValueError(f"unknown topic key {name_or_topic!r}; known: {sorted(self.__dict__)}")
        return str(getattr(self, name_or_topic))


@dataclass(frozen=True)
class Frames:
    odom: str = "odom"
    base: str = "base_link"
    laser: str = "laser"
    camera: str = "camera"
    lidar3d: str = "lidar3d"


MAX_IMAGE_WAIT_S = 1.0
"""The longest ``agent.image_wait`` accepted (s); the wait itself is at most half a control period."""


@dataclass(frozen=True)
class AgentConfig:
    control_hz: float = 10.0
    variant: str = "medium"
    models_dir: str = "models"
    camera_timeout: float = from_profile("camera.max_age_s")
    """s: an older image is stale (robot.yaml ``camera.max_age_s``)."""
    scan_timeout: float = from_profile("lidar.max_age_s")
    """s: an older scan is stale (robot.yaml ``lidar.max_age_s``)."""
    cloud_timeout: float = from_profile("lidar3d.max_age_s")
    """s: an older cloud, where it stands in for the scan, is stale (robot.yaml ``lidar3d.max_age_s``)."""
    use_point_cloud: bool = False
    use_header_stamps: bool = True
    """Judge an input's age on its header stamp (against the ROS clock: ``/clock`` under ``use_sim_time``) as
    well as on its arrival. False: on arrival only, for sensors whose clock is not synchronised with this one."""
    torch_threads: int = 1
    """Intra-op threads for the policy and the sentence encoder. The models are small and the CPU is
    shared with the other nodes: with torch's default (one per core) a small-variant tick on a busy
    2-core machine took ~290 ms, with one thread ~2 ms."""
    image_wait: float = 0.05
    """s: a tick that would drive waits up to this long for the next camera frame and runs as it arrives, so the
    command is computed from a frame one DDS hop old instead of one that waited for the timer (up to a camera
    interval); no frame in time: it runs on the newest it has. 0: ticks on the timer alone. At most half a control
    period is waited, whatever this says (a faster ``control_hz`` shortens it)."""

    def __post_init__(self) -> None:
        if self.torch_threads < 1:
            raise ValueError("torch_threads must be >= 1")
        if self.control_hz <= 0:
            raise ValueError("control_hz must be > 0")
        if not 0.0 <= self.image_wait <= MAX_IMAGE_WAIT_S:
            raise ValueError(f"image_wait must be within [0, {MAX_IMAGE_WAIT_S:g}] s, got {self.image_wait}")

    @property
    def frame_wait(self) -> float:
        """s a driving tick waits for the next frame: ``image_wait``, at most half a control period."""
        return min(self.image_wait, 0.5 / self.control_hz)


@dataclass(frozen=True)
class MuxInput:
    name: str
    topic: str
    """A key of ``topics`` (``cmd_teleop``) or an absolute topic name."""
    priority: int
    timeout: float

    def __post_init__(self) -> None:
        if self.timeout <= 0:
            raise ValueError(f"mux input {self.name}: timeout must be > 0")


@dataclass(frozen=True)
class MuxLock:
    name: str
    topic: str
    priority: int
    timeout: float
    engage_if_never_heard: bool = False
    """Engage (stop) before the first message: for a robot that must not move without its heartbeat."""

    def __post_init__(self) -> None:
        if self.timeout <= 0:
            raise ValueError(f"mux lock {self.name}: timeout must be > 0")


@dataclass(frozen=True)
class MuxConfig:
    rate_hz: float = 20.0
    inputs: tuple[MuxInput, ...] = ()
    locks: tuple[MuxLock, ...] = ()
    max_linear: float = from_profile("max_linear")
    """m/s: each output is clipped to this (the robot profile's ``max_linear``)."""
    max_angular: float = from_profile("max_angular")
    """rad/s (the robot profile's ``max_angular``)."""
    max_linear_accel: float = from_profile("max_linear_accel")
    """m/s^2: the output speeds up at most this fast (the robot profile's ``max_linear_accel``)."""
    max_angular_accel: float = from_profile("max_angular_accel")
    """rad/s^2 (the robot profile's ``max_angular_accel``)."""

    def __post_init__(self) -> None:
        if not self.inputs:
            raise ValueError("the mux needs at least one input")
        names = [i.name for i in self.inputs] + [lk.name for lk in self.locks]
        if len(set(names)) != len(names):
            raise ValueError(f"mux input and lock names must be unique, got {names}")
        priorities = [i.priority for i in self.inputs]
        if len(set(priorities)) != len(priorities):
            raise ValueError(f"mux input priorities must be distinct, got {priorities}")
        for name in ("rate_hz", "max_linear", "max_angular", "max_linear_accel", "max_angular_accel"):
            if getattr(self, name) <= 0:
                raise ValueError(f"mux {name} must be > 0")


@dataclass(frozen=True)
class TeleopConfig:
    linear_step: float = 0.1
    angular_step: float = 0.3
    max_linear: float = profile_default("max_linear")
    """m/s: the fastest a human drives; left out, the robot profile's ``max_linear``. Never above it."""
    max_angular: float = profile_default("max_angular")
    """rad/s; left out, the robot profile's ``max_angular``. Never above it."""
    rate_hz: float = 10.0
    joy_deadman_button: int = 4
    joy_linear_axis: int = 1
    joy_angular_axis: int = 3

    def __post_init__(self) -> None:
        profile = robot_profile()
        for name in ("max_linear", "max_angular"):
            value, limit = getattr(self, name), getattr(profile, name)
            if not 0 < value <= limit:
                raise ValueError(
                    f"teleop {name} must be > 0 and at most the robot's {name} ({limit:g} in "
                    f"{robot_profile_path()}), got {value:g}: a teleop may be slower than the robot, never faster"
                )


@dataclass(frozen=True)
class SimNetworkConfig:
    """Where a simulated graph talks (``nav demo``, ``nav bringup --sim``): fenced off from robots on the network."""

    domain_id: int = 73
    """Its ``ROS_DOMAIN_ID`` (a robot's is usually 0)."""
    localhost_only: bool = True
    """``ROS_AUTOMATIC_DISCOVERY_RANGE=LOCALHOST``: no participant off this machine discovers it."""

    def __post_init__(self) -> None:
        if not 0 <= self.domain_id <= 101:
            raise ValueError(f"domain_id must be 0..101 (the domains every platform can use), got {self.domain_id}")

    def env(self, domain_id: int | None = None) -> dict[str, str]:
        """The environment variables that fence a graph in (``domain_id``: in place of the configured one)."""
        out = {"ROS_DOMAIN_ID": str(self.domain_id if domain_id is None else domain_id)}
        if self.localhost_only:
            out["ROS_AUTOMATIC_DISCOVERY_RANGE"] = "LOCALHOST"
        return out


@dataclass(frozen=True)
class SimNodeConfig:
    rate_hz: float = 10.0
    real_time: bool = True
    publish_points: bool = True
    world_seed: int = -1
    cmd_timeout: float = 0.5
    start_on_motion: bool = True
    """Hold the world frozen (sensors still published) until the first non-zero command, so the
    episode clock does not count the stack's start-up."""


@dataclass(frozen=True)
class RosConfig:
    topics: Topics = field(default_factory=Topics)
    frames: Frames = field(default_factory=Frames)
    agent: AgentConfig = field(default_factory=AgentConfig)
    mux: MuxConfig = field(default_factory=lambda: MuxConfig(inputs=(MuxInput("navigation", "cmd_nav", 10, 0.5),)))
    guard: GuardConfig = field(default_factory=GuardConfig)
    teleop: TeleopConfig = field(default_factory=TeleopConfig)
    sim_node: SimNodeConfig = field(default_factory=SimNodeConfig)
    sim_network: SimNetworkConfig = field(default_factory=SimNetworkConfig)


def load_ros_config(path: str | Path = DEFAULT_ROS_CONFIG) -> RosConfig:
    """Read :class:`RosConfig` (default ``configs/ros.yaml``), with the robot profile's facts.

    Raises:
        ConfigError: a bad file, or (with the guard enabled) a profile whose lidar is pitched: the guard
            takes its scan to be a horizontal slice.
    """
    config = load(RosConfig, path)
    mount = robot_profile().lidar.mount
    if config.guard.enabled and mount.pitch_deg != 0.0:
        raise ConfigError(
            f"{robot_profile_path()}: 'lidar.mount' is {mount}, but the collision guard ({path}: guard) takes the "
            "lidar's scan to be level: pitch_deg must be 0"
        )
    return config


def resolve_models_dir(models_dir: str | Path) -> Path:
    """``agent.models_dir`` (or a node's ``models_dir`` parameter) as given when absolute, else found as
    :func:`configs.models_dir` says (``$NAV_MODELS_DIR``, beside the configs, or the installed models)."""
    path = Path(models_dir)
    return path if path.is_absolute() else shipped_models_dir(path)
