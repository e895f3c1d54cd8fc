"""Bags recorded on other people's robots (``../shared/bags/``, read-only): read as the message definitions say.

A TurtleBot3 in Gazebo (rosbag2, sqlite3: commands on ``/cmd_vel``, no camera, no instruction) and a
real robot's ROS 1 bag (no command topic: its measured motion is the reference).

The real robot's lidar reports readings just below its ``range_min`` (0.092 m) where it has nothing
to measure: 940 of them in this bag, in the guard's forward sector in 99 scans. Read as obstacles at
0 m, the guard would stop that robot for ever and the model would see walls touching it.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml
from rosbags.highlevel import AnyReader
from rosbags.typesys import Stores, get_typestore

from configs import config_dir
from nav.bags.config import DEFAULT_BAG_CONFIG
from nav.bags.replay_eval import ReplayEvalConfig, replay_eval
from nav.runtime.guard import CollisionGuard, GuardConfig
from perception.lidar import MESSAGE_DEFINITION, ScanConventions, resample_scan_with_mask

pytestmark = pytest.mark.unit

BAGS = Path(__file__).resolve().parents[1].parent / "shared" / "bags"
REAL_ROBOT = BAGS / "real_robot_lds_ros1" / "real_data_lidarandodom1.bag"
TURTLEBOT3 = BAGS / "turtlebot3_gazebo_walker_sqlite3"
CONFIG_DIR = config_dir()
GUARD = GuardConfig(robot_radius=0.15, stop_distance=0.1, slow_distance=0.4, half_angle_deg=35.0, sweep_horizon=0.0)


def scans(bag: Path, store: Stores) -> list[Any]:
    assert bag.exists(), f"{bag} is missing: the shared recordings sit in ../shared/bags beside the repository"
    with AnyReader([bag], default_typestore=get_typestore(store)) as reader:
        connections = [c for c in reader.connections if c.topic == "/scan"]
        return [reader.deserialize(raw, c.msgtype) for c, _, raw in reader.messages(connections=connections)]


@pytest.fixture(scope="module")
def real_robot_scans() -> list[Any]:
    return scans(REAL_ROBOT, Stores.ROS1_NOETIC)


def guard_code(msg: Any, ranges: np.ndarray, conventions: ScanConventions = MESSAGE_DEFINITION) -> str:
    guard = CollisionGuard(GuardConfig(**{**GUARD.__dict__, "readings": conventions}))
    guard.on_scan(ranges, msg.angle_min, msg.angle_increment, msg.range_min, msg.range_max, now=0.0)
    return guard.filter(0.3, 0.0, now=0.0).code


def test_readings_below_range_min_are_no_phantom_obstacle_for_the_guard(real_robot_scans: list[Any]) -> None:
    below_ahead = 0
    for msg in real_robot_scans:
        raw = np.asarray(msg.ranges, dtype=np.float64)
        below = np.isfinite(raw) & (raw < msg.range_min)
        angles = msg.angle_min + np.arange(raw.size) * msg.angle_increment
        if (below & (np.abs(np.angle(np.exp(1j * angles))) <= math.radians(GUARD.half_angle_deg))).any():
            below_ahead += 1
            # Read as the driver's "too close" instead, the same scan would stop the robot.
            assert guard_code(msg, raw, ScanConventions(below_range_min="too_close")) == "stop"
        # The decision is the one taken on the scan without those readings.
        assert guard_code(msg, raw) == guard_code(msg, np.where(below, np.nan, raw))
    assert below_ahead == 99, "the bag's scans with a sub-range_min reading ahead of the robot"


def test_readings_below_range_min_never_reach_the_model_as_zero(real_robot_scans: list[Any]) -> None:
    for msg in real_robot_scans:
        scan = resample_scan_with_mask(
            msg.ranges, msg.angle_min, msg.angle_increment, msg.range_min, msg.range_max, beams=360, out_range_max=8.0
        )
        assert scan.ranges[scan.valid].min() >= msg.range_min - 1e-6


def test_a_turtlebot3_scan_over_a_full_turn_fills_every_model_beam() -> None:
    msgs = scans(TURTLEBOT3, Stores.ROS2_HUMBLE)
    assert len(msgs) == 102
    for msg in msgs:
        scan = resample_scan_with_mask(
            msg.ranges, msg.angle_min, msg.angle_increment, msg.range_min, msg.range_max, beams=360, out_range_max=8.0
        )
        assert scan.valid.all()  # 0..2 pi in 360 rays: every beam of the model's -pi..pi layout has its ray


def evaluate(bag: Path, bag_config: str | Path = DEFAULT_BAG_CONFIG) -> dict[str, Any]:
    """``nav replay-eval BAG --variant random --instruction ...`` (default: with the default bag config)."""
    assert bag.exists(), f"{bag} is missing: the shared recordings sit in ../shared/bags beside the repository"
    config = ReplayEvalConfig(bag=bag, variants=("random",), instruction="go to the red cube", bag_config=bag_config)
    return replay_eval(config, log=lambda _: None)[0]


def log_gaps(bag: Path, store: Stores, topic: str = "/scan") -> np.ndarray:
    with AnyReader([bag], default_typestore=get_typestore(store)) as reader:
        connections = [c for c in reader.connections if c.topic == topic]
        return np.diff([t * 1e-9 for _, t, _ in reader.messages(connections=connections)])


def test_the_turtlebot3_bag_is_evaluated_against_its_cmd_vel_with_the_default_bag_config() -> None:
    summary = evaluate(TURTLEBOT3)
    assert summary["valid"] is True and summary["storage"] == "sqlite3"
    assert summary["topics"]["reference"] == "/cmd_vel" and summary["topics"]["scan"] == "/scan"
    assert summary["lidar_only"] is True
    assert summary["ticks_evaluated"]["random"] > 0
    assert summary["rejected_messages"] == {}
    # Its lidar sits 6.4 cm behind the centre, which only its /tf_static says.
    assert (
        "lidar mount from /tf_static (base_link -> base_scan): x -0.064 m, y +0.000 m, yaw +0.0 deg" in summary["notes"]
    )


def test_a_simulator_slower_than_real_time_is_judged_on_its_header_stamps_not_on_arrival() -> None:
    # Gazebo ran slower than real time: scans reached the recorder up to 0.74 s apart (over the 0.5 s limit)...
    assert log_gaps(TURTLEBOT3, Stores.ROS2_HUMBLE).max() > 0.7
    summary = evaluate(TURTLEBOT3)
    # ... but they are 0.2 s apart in the time they describe, the bag's /clock: no tick stops for a stale scan.
    assert summary["timing"]["topics"]["/scan"]["basis"] == "header stamp"
    assert summary["timing"]["clock"].startswith("header stamps, rebuilt from /clock")
    random = summary["variants"]["random"]
    assert random["zero_reasons"] == {}
    assert random["judged_on"]["scan"] == {"header stamp": random["ticks"]}


def test_a_lidar_slower_than_the_staleness_limit_is_named_and_takes_the_recorded_robots_limit(tmp_path: Path) -> None:
    summary = evaluate(REAL_ROBOT)  # a 1.25 Hz scan against this robot's 0.5 s limit
    assert summary["timing"]["topics"]["/scan"]["median_period_s"] == pytest.approx(0.81, abs=0.02)
    assert any(note.startswith("/scan arrives every 0.81 s") and "max_age_s.scan" in note for note in summary["notes"])
    stale = summary["variants"]["random"]["zero_reasons"]["scan stale"]
    ticks = summary["variants"]["random"]["ticks"]
    assert 0.3 < stale / ticks < 0.45  # the 0.31 s of every 0.81 s period past the limit

    config = yaml.safe_load((CONFIG_DIR / DEFAULT_BAG_CONFIG).read_text())
    config["max_age_s"] = {"camera": None, "scan": 2.0}  # that robot's lidar: 2.5 periods
    (tmp_path / "bags.yaml").write_text(yaml.safe_dump(config))
    summary = evaluate(REAL_ROBOT, tmp_path / "bags.yaml")
    assert summary["max_age_s"]["scan"] == 2.0
    assert set(summary["variants"]["random"]["zero_reasons"]) == {"no scan message yet"}  # before its first scan
    assert not any("arrives every" in note for note in summary["notes"])


def test_the_real_robots_ros1_bag_is_evaluated_against_its_measured_motion() -> None:
    summary = evaluate(REAL_ROBOT)
    assert summary["valid"] is True and summary["storage"] == "ros1"
    assert summary["topics"]["reference"] == "/odom"
    assert any("measured motion on /odom" in note for note in summary["notes"])
    # Its odometry twist carries garbage now and then (1.7e38 rad/s): counted and left out, not averaged in.
    ((key, n),) = summary["rejected_messages"].items()
    assert key.startswith("/odom (implausible reference") and n == 27
    random = summary["variants"]["random"]
    assert math.isfinite(random["mae_linear"]) and math.isfinite(random["mae_angular"])
    assert random["mae_linear"] < 1.0
