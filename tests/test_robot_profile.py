"""One robot profile, as a specification: every reader takes the robot's physical facts from ``configs/robot.yaml``.

The simulator's robot, lidar and camera, the mux, the guard, teleop, the agent's scan geometry and the
limits a model is trained with are loaded here the way production loads them, and compared with the
profile. Each comparison runs twice: with the shipped profile, and with another robot's
(``$NAV_ROBOT_PROFILE``, every value changed), so a reader that kept its own copy of a value, in code
or in its own YAML file, disagrees with the second one and fails.
"""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path

import numpy as np
import pytest
import yaml

from configs import ConfigError, load_yaml
from configs.robot import (
    DEFAULT_ROBOT_PROFILE,
    ROBOT_PROFILE_ENV,
    LidarLayout,
    Mount,
    RobotProfile,
    load_robot_profile,
    robot_profile,
)
from nav.runtime.agent import Timeouts
from nav.runtime.config import TeleopConfig, load_ros_config
from nav.runtime.guard import load_guard_config
from perception.lidar import ScanConventions
from policy.configuration import get_variant
from policy.processing import PolicyProcessor, ScanGeometry
from sim.config import load_sim_config

pytestmark = pytest.mark.unit

OTHER_ROBOT = {
    "radius": 0.25,
    "max_linear": 0.4,
    "max_angular": 1.2,
    "max_linear_accel": 0.8,
    "max_angular_accel": 3.0,
    "lidar": {
        "beams": 720,
        "angle_min_deg": -135.0,
        "angle_increment_deg": 0.375,
        "range_min": 0.1,
        "range_max": 12.0,
        "readings": {"zero": "no_return", "below_range_min": "too_close", "above_range_max": "no_return"},
        "mount": {"z": 0.2},
        "max_age_s": 1.0,
    },
    "lidar3d": {"mount": {"z": 0.4}, "max_age_s": 0.6},
    "camera": {"mount": {"x": 0.1, "z": 0.25, "pitch_deg": 5.0}, "max_age_s": 0.4},
}
"""A robot that differs from the shipped one in every fact (a 270-degree lidar, too)."""


def write(path: Path, data: dict) -> Path:
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    return path


@pytest.fixture(params=["shipped", "other"])
def profile(request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> RobotProfile:
    """The process's robot profile: the shipped ``robot.yaml``, or another robot's named by ``$NAV_ROBOT_PROFILE``."""
    if request.param == "shipped":
        monkeypatch.delenv(ROBOT_PROFILE_ENV, raising=False)
        return load_robot_profile(DEFAULT_ROBOT_PROFILE)
    monkeypatch.setenv(ROBOT_PROFILE_ENV, str(write(tmp_path / "robot.yaml", OTHER_ROBOT)))
    other = robot_profile()
    assert other != load_robot_profile(DEFAULT_ROBOT_PROFILE)
    return other


@pytest.fixture
def shipped(monkeypatch: pytest.MonkeyPatch) -> RobotProfile:
    monkeypatch.delenv(ROBOT_PROFILE_ENV, raising=False)
    return robot_profile()


# -- every reader agrees with the profile ---------------------------------------------------------------


def test_the_simulated_robot_has_the_profiles_radius_and_speed_limits(profile: RobotProfile) -> None:
    robot = load_sim_config().robot

    assert (robot.radius, robot.max_linear, robot.max_angular) == (
        profile.radius,
        profile.max_linear,
        profile.max_angular,
    )


def test_the_simulated_sensors_have_the_profiles_layout_and_mounts(profile: RobotProfile) -> None:
    sim = load_sim_config()

    assert ScanGeometry.from_lidar_config(sim.lidar) == ScanGeometry.from_profile(profile)
    assert sim.lidar.beams == profile.lidar.beams
    assert sim.lidar.mount_z == profile.lidar.mount.z
    assert sim.lidar3d.mount_z == profile.lidar3d.mount.z
    assert (sim.camera.mount_x, sim.camera.mount_z) == (profile.camera.mount.x, profile.camera.mount.z)
    assert sim.camera.pitch_deg == -profile.camera.mount.pitch_deg  # the simulator's pitch is negative looking down


def test_the_simulator_drives_and_scans_as_the_profile_says(profile: RobotProfile) -> None:
    from sim.env import LangNavEnv

    env = LangNavEnv()
    try:
        np.testing.assert_array_equal(env.action_space.high, np.float32([profile.max_linear, profile.max_angular]))
        assert env.observation_space["scan"].shape == (profile.lidar.beams,)
    finally:
        env.close()


def test_the_mux_limits_are_the_profiles(profile: RobotProfile) -> None:
    mux = load_ros_config().mux

    assert (mux.max_linear, mux.max_angular, mux.max_linear_accel, mux.max_angular_accel) == (
        profile.max_linear,
        profile.max_angular,
        profile.max_linear_accel,
        profile.max_angular_accel,
    )


def test_the_agents_staleness_limits_are_the_profiles_per_sensor(profile: RobotProfile) -> None:
    agent = load_ros_config().agent

    assert Timeouts.of_agent(agent) == Timeouts(profile.camera.max_age_s, profile.lidar.max_age_s)
    cloud = Timeouts.of_agent(dataclasses.replace(agent, use_point_cloud=True))
    assert cloud == Timeouts(profile.camera.max_age_s, profile.lidar3d.max_age_s)


def test_the_guard_has_the_profiles_radius_and_sweeps_at_its_top_speed(profile: RobotProfile) -> None:
    for guard in (load_ros_config().guard, load_guard_config()):  # the mux node's, and nav eval's +guard
        assert guard.robot_radius == profile.radius
        assert guard.max_linear == profile.max_linear
        assert guard.readings == profile.lidar.readings


def test_teleop_drives_at_most_at_the_profiles_limits(profile: RobotProfile) -> None:
    teleop = load_ros_config().teleop

    assert (teleop.max_linear, teleop.max_angular) == (profile.max_linear, profile.max_angular)  # ros.yaml sets none


def test_the_agent_reads_scans_in_the_profiles_layout(profile: RobotProfile) -> None:
    from nav.runtime.config import resolve_models_dir
    from nav.runtime.models import load_controllers

    controllers = load_controllers(resolve_models_dir(load_ros_config().agent.models_dir)).controllers

    assert controllers, "no shipped model to load"
    expected = ScanGeometry.from_profile(profile)
    assert {name: c.geometry for name, c in controllers.items()} == dict.fromkeys(controllers, expected)
    assert expected == ScanGeometry.from_lidar_config(load_sim_config().lidar)  # what the agent was trained on


def test_replay_eval_uses_the_profiles_scan_layout_and_limits(profile: RobotProfile) -> None:
    from nav.bags.replay_eval import RANDOM, _controllers
    from nav.runtime.config import resolve_models_dir

    models = resolve_models_dir(load_ros_config().agent.models_dir)
    random = _controllers(RANDOM, models, None, seed=0)[RANDOM]
    model = _controllers("small", models, None, seed=0)["small"]

    np.testing.assert_array_equal(random.high, np.float32([profile.max_linear, profile.max_angular]))
    assert model.geometry == ScanGeometry.from_profile(profile)


def test_nav_eval_random_and_guarded_controllers_use_the_profile(profile: RobotProfile) -> None:
    from policy.evaluation import build_controller

    class _Env:
        config = load_sim_config()

    guarded = build_controller("random+guard", _Env(), Path("models"))

    np.testing.assert_array_equal(guarded.inner.high, np.float32([profile.max_linear, profile.max_angular]))
    assert (guarded.config.robot_radius, guarded.config.max_linear) == (profile.radius, profile.max_linear)
    assert guarded.geometry == ScanGeometry.from_profile(profile)


def test_training_gives_a_model_the_profiles_limits(profile: RobotProfile) -> None:
    from policy.configuration import load_variants
    from policy.training import load_train_config

    sim = load_sim_config(load_train_config().sim_config)  # as policy.training.train reads them
    for variant in load_variants().values():
        trained = variant.with_limits(sim.robot.max_linear, sim.robot.max_angular, sim.task.stop_speed)
        assert (trained.max_linear, trained.max_angular) == (profile.max_linear, profile.max_angular)


def test_the_shipped_models_were_trained_with_the_shipped_profiles_limits(shipped: RobotProfile) -> None:
    from policy.model_io import read_manifest

    manifests = sorted(Path("models").glob("*/manifest.json"))
    assert manifests
    for path in manifests:
        config = read_manifest(path.parent)["config"]
        assert (config["max_linear"], config["max_angular"]) == (shipped.max_linear, shipped.max_angular), path


def test_the_shipped_profile_is_the_stacks_robot(shipped: RobotProfile) -> None:
    """The values every reader had before the profile: moving them into one file changed none."""
    assert (shipped.radius, shipped.max_linear, shipped.max_angular) == (0.18, 0.5, 1.5)
    assert (shipped.max_linear_accel, shipped.max_angular_accel) == (1.0, 4.0)
    assert ScanGeometry.from_profile(shipped) == ScanGeometry.full_circle(360, 0.12, 8.0)
    assert shipped.lidar.full_circle and shipped.lidar.mount == Mount(z=0.15)


# -- a reader's own file cannot repeat a fact ------------------------------------------------------------


@pytest.mark.parametrize(
    ("loader", "name", "text", "key"),
    [
        (load_ros_config, "ros.yaml", "mux:\n  inputs: [{name: n, topic: cmd_nav, priority: 1, timeout: 0.5}]\n"
         "  max_linear: 0.5\n", "mux.max_linear"),
        (load_ros_config, "ros.yaml", "guard:\n  robot_radius: 0.18\n", "guard.robot_radius"),
        (load_ros_config, "ros.yaml", "agent:\n  scan_timeout: 0.5\n", "agent.scan_timeout"),
        (load_sim_config, "sim.yaml", "robot:\n  radius: 0.18\n", "robot.radius"),
        (load_sim_config, "sim.yaml", "lidar:\n  range_max: 8.0\n", "lidar.range_max"),
        (load_sim_config, "sim.yaml", "camera:\n  mount_z: 0.3\n", "camera.mount_z"),
    ],
)  # fmt: skip
def test_a_fact_repeated_in_a_readers_file_is_refused_naming_the_profile(
    tmp_path: Path, loader, name: str, text: str, key: str
) -> None:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")

    with pytest.raises(ConfigError) as excinfo:
        loader(path)

    message = str(excinfo.value)
    assert key in message and str(path) in message and DEFAULT_ROBOT_PROFILE in message


# -- teleop: slower than the robot, never faster ---------------------------------------------------------


def test_a_teleop_limit_above_the_profiles_is_refused(tmp_path: Path, shipped: RobotProfile) -> None:
    path = write(tmp_path / "ros.yaml", {"teleop": {"max_linear": shipped.max_linear + 0.1}})

    with pytest.raises(ConfigError) as excinfo:
        load_ros_config(path)

    message = str(excinfo.value)
    assert "teleop" in message and "max_linear" in message and str(path) in message
    with pytest.raises(ValueError, match="max_angular"):
        TeleopConfig(max_angular=shipped.max_angular * 2)


def test_a_slower_teleop_is_allowed(tmp_path: Path, shipped: RobotProfile) -> None:
    path = write(tmp_path / "ros.yaml", {"teleop": {"max_linear": 0.2, "max_angular": 0.6}})

    teleop = load_ros_config(path).teleop

    assert (teleop.max_linear, teleop.max_angular) == (0.2, 0.6)


# -- the profile file itself: every key checked ----------------------------------------------------------


def profile_with(**changes: object) -> dict:
    data = load_yaml(DEFAULT_ROBOT_PROFILE)
    for dotted, value in changes.items():
        *parents, last = dotted.split("__")
        node = data
        for parent in parents:
            node = node[parent]
        node[last] = value
    return data


def test_a_profile_with_an_unknown_key_fails_naming_the_key_and_the_file(tmp_path: Path) -> None:
    path = write(tmp_path / "robot.yaml", profile_with(lidar__beam_count=360))

    with pytest.raises(ConfigError) as excinfo:
        load_robot_profile(path)

    message = str(excinfo.value)
    assert "lidar.beam_count" in message and str(path) in message


@pytest.mark.parametrize(
    ("change", "key"),
    [
        ({"radius": "wide"}, "radius"),
        ({"lidar__beams": 360.5}, "lidar.beams"),
        ({"max_linear": True}, "max_linear"),
        ({"camera__mount__z": [0.3]}, "camera.mount.z"),
    ],
)
def test_a_profile_with_a_wrong_type_fails_naming_the_key_and_the_file(tmp_path: Path, change: dict, key: str) -> None:
    path = write(tmp_path / "robot.yaml", profile_with(**change))

    with pytest.raises(ConfigError) as excinfo:
        load_robot_profile(path)

    message = str(excinfo.value)
    assert f"'{key}'" in message and str(path) in message


def test_a_profile_missing_a_fact_fails_naming_it(tmp_path: Path) -> None:
    data = load_yaml(DEFAULT_ROBOT_PROFILE)
    del data["max_angular"]
    path = write(tmp_path / "robot.yaml", data)

    with pytest.raises(ConfigError, match="max_angular"):
        load_robot_profile(path)


def test_a_bad_profile_stops_every_reader_naming_the_profile(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = write(tmp_path / "robot.yaml", profile_with(radius=-0.1))
    monkeypatch.setenv(ROBOT_PROFILE_ENV, str(path))

    for loader in (load_ros_config, load_sim_config, load_guard_config):
        with pytest.raises(ConfigError, match=str(path)):
            loader()


def test_invalid_lidar_layouts_are_refused() -> None:
    readings = ScanConventions()
    with pytest.raises(ValueError, match="360"):
        LidarLayout(
            beams=360,
            angle_min_deg=-180,
            angle_increment_deg=1.5,
            range_min=0.1,
            range_max=8,
            readings=readings,
            mount=Mount(),
            max_age_s=0.5,
        )
    with pytest.raises(ValueError, match="range_min"):
        LidarLayout(
            beams=360,
            angle_min_deg=-180.0,
            range_min=8.0,
            range_max=0.1,
            readings=readings,
            mount=Mount(),
            max_age_s=0.5,
        )


def test_a_lidar_mount_the_simulator_and_guard_cannot_model_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    moved = profile_with(lidar__mount__x=0.1, lidar__mount__y=-0.02, lidar__mount__yaw_deg=90.0)
    monkeypatch.setenv(ROBOT_PROFILE_ENV, str(write(tmp_path / "robot.yaml", moved)))
    lidar = load_sim_config().lidar  # the simulator casts its rays from where the lidar sits, turned as it is
    assert (lidar.mount_x, lidar.mount_y, lidar.mount_yaw_deg) == (0.1, -0.02, 90.0)
    assert load_ros_config().guard.lidar_xy == (0.1, -0.02)  # the guard re-measures from the centre

    monkeypatch.setenv(
        ROBOT_PROFILE_ENV, str(write(tmp_path / "pitched.yaml", profile_with(lidar__mount__pitch_deg=5)))
    )
    with pytest.raises(ConfigError, match=r"lidar\.mount\.pitch_deg"):
        load_sim_config()  # a pitched lidar's rays are not cast level
    with pytest.raises(ConfigError, match="guard"):
        load_ros_config()  # a pitched lidar's scan is no level slice
    guard_off = write(tmp_path / "ros.yaml", {"guard": {"enabled": False}})
    assert load_ros_config(guard_off).guard.enabled is False  # no guard, no claim about the lidar's place


def test_a_lidar_off_the_robots_centre_is_re_measured_from_the_centre(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A lidar 0.3 m behind the centre: a return 0.4 m ahead of it is 0.1 m ahead of the centre, inside the robot."""
    from nav.runtime.guard import CollisionGuard

    ranges = np.full(360, np.inf)
    ranges[180] = 0.4  # ray 180 at 0 degrees: straight ahead
    for x, code in ((0.0, "slow"), (-0.3, "stop")):
        monkeypatch.setenv(ROBOT_PROFILE_ENV, str(write(tmp_path / f"{x}.yaml", profile_with(lidar__mount__x=x))))
        guard = CollisionGuard(load_ros_config().guard)
        guard.on_scan(ranges, -math.pi, math.radians(1.0), 0.12, 8.0, now=0.0)
        assert guard.filter(0.3, 0.0, now=0.0).code == code, x

        geometry = ScanGeometry.of_message(-math.pi, math.radians(1.0), 0.12, 8.0)
        assert geometry.origin == (x, 0.0)
        small = get_variant("small")
        model_beams = PolicyProcessor(small).scan(ranges, geometry) * small.lidar_range_max
        assert model_beams[small.lidar_beams // 2] == pytest.approx(0.4 + x, abs=1e-5)


def test_a_lidar_turned_on_its_mount_shifts_the_sectors_by_the_mounts_yaw(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A lidar turned 90 degrees left on the robot: its ray at -90 degrees (its own right) looks straight ahead."""
    from nav.runtime.guard import CollisionGuard

    monkeypatch.setenv(ROBOT_PROFILE_ENV, str(write(tmp_path / "robot.yaml", profile_with(lidar__mount__yaw_deg=90.0))))
    ranges = np.full(360, np.inf)
    ranges[90] = 0.3  # laser frame: ray i at -180 + i degrees, so ray 90 at -90 degrees

    guard = CollisionGuard(load_ros_config().guard)
    guard.on_scan(ranges, -math.pi, math.radians(1.0), 0.12, 8.0, now=0.0)
    assert guard.filter(0.3, 0.0, now=0.0).code == "stop"  # it is ahead of the robot

    geometry = ScanGeometry.of_message(-math.pi, math.radians(1.0), 0.12, 8.0)
    small = get_variant("small")
    model_beams = PolicyProcessor(small).scan(ranges, geometry)
    assert int(np.argmin(model_beams)) == small.lidar_beams // 2  # the model's beam straight ahead (beam 0: behind)
    assert geometry == ScanGeometry.from_profile()


def test_a_point_clouds_scan_is_turned_and_re_measured_by_the_3d_lidars_mount(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from perception.pointcloud import CloudScanConfig

    profile = profile_with(lidar3d__mount={"x": 0.1, "y": -0.05, "z": 0.4, "yaw_deg": 90.0})
    monkeypatch.setenv(ROBOT_PROFILE_ENV, str(write(tmp_path / "cloud.yaml", profile)))
    config = CloudScanConfig.from_profile()
    geometry = ScanGeometry.of_cloud(config)
    assert config.sensor_height == 0.4
    assert geometry.angle_min == pytest.approx(-math.pi / 2) and geometry.origin == (0.1, -0.05)


def test_a_named_profile_is_found_by_name_and_an_unknown_one_lists_the_names(tmp_path, monkeypatch) -> None:
    from configs.robot import load_robot_profile, named_profile

    burger = load_robot_profile(named_profile("turtlebot3"))
    assert (burger.max_linear, burger.max_angular, burger.lidar.range_max) == (0.22, 2.84, 3.5)
    assert (burger.lidar.mount.x, burger.lidar.readings.zero) == (-0.032, "no_return")
    tb4 = load_robot_profile(named_profile("turtlebot4"))
    assert (tb4.max_linear, tb4.lidar.range_max, tb4.lidar.mount.yaw_deg) == (0.31, 12.0, 90.0)
    with pytest.raises(ValueError, match=r"no robot profile 'roomba': not a file, and not one of .*turtlebot3"):
        named_profile("roomba")
    own = tmp_path / "robots" / "turtlebot3.yaml"  # a robot's own copy in $NAV_CONFIG_DIR comes first
    own.parent.mkdir()
    own.write_text(named_profile("turtlebot3").read_text())
    monkeypatch.setenv("NAV_CONFIG_DIR", str(tmp_path))
    assert named_profile("turtlebot3") == own.resolve()
