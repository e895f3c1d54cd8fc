"""The simulator node as the rest of the graph sees it: real processes, real DDS.

The node runs in a subprocess (``python -m nav.nodes.sim_node --ros-args ...``) and this test listens on
its own ROS domain. Message builders and the episode logic are also checked without a graph.
"""

from __future__ import annotations

import json
import math
import os
import signal
import subprocess
import sys
import threading
import time
from collections import defaultdict
from pathlib import Path

import numpy as np
import pytest
import yaml
from geometry_msgs.msg import Twist
from nav_msgs.msg import Odometry
from rclpy.qos import DurabilityPolicy, QoSProfile, ReliabilityPolicy, qos_profile_sensor_data
from rosgraph_msgs.msg import Clock
from sensor_msgs.msg import CompressedImage, Image, LaserScan, PointCloud2, PointField
from std_msgs.msg import String

from configs import config_dir
from nav.nodes import sim_msgs
from nav.nodes.msgs import twist, twist_is_finite
from nav.nodes.sim_node import SimNodeParams, SimSession
from nav.runtime.config import load_ros_config
from ros_harness import SpinningNode
from sim.config import load_sim_config
from sim.instructions import Goal

# Own DDS domains (from the pid, so parallel runs don't meet; 150..199, clear of test_mux_node's
# 100..149): this module uses BASE and BASE + 1, test_bringup BASE + 2.
BASE_DOMAIN = 150 + (os.getpid() % 16) * 3
DOMAIN = BASE_DOMAIN
OUTCOME_DOMAIN = BASE_DOMAIN + 1
TEACHER_DOMAIN = 13  # the teacher label's test (13..19: recording follow-ups, see test_recording)
INSTRUCTION = "go to the red cube"
ROS = load_ros_config()
RATE_HZ = ROS.sim_node.rate_hz

LATCHED = QoSProfile(depth=1, reliability=ReliabilityPolicy.RELIABLE, durability=DurabilityPolicy.TRANSIENT_LOCAL)


# ============================================================================================ helpers
def start_sim_node(log_path: Path, domain: int, *params: str) -> subprocess.Popen:
    cmd = [sys.executable, "-m", "nav.nodes.sim_node", "--ros-args", "-p", f"instruction:='{INSTRUCTION}'"]
    for param in params:
        cmd += ["-p", param]
    env = {**os.environ, "ROS_DOMAIN_ID": str(domain), "PYTHONUNBUFFERED": "1"}
    log = log_path.open("w")
    return subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=env)


def stop_sim_node(proc: subprocess.Popen, sig: int = signal.SIGINT) -> int:
    if proc.poll() is None:
        proc.send_signal(sig)
        try:
            return proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
            return -9
    return proc.returncode


class Listener(SpinningNode):
    """A node in its own context and domain, spinning in a thread, recording (receive time, message)."""

    def __init__(self, domain: int, name: str) -> None:
        super().__init__(domain, name)
        self.received: dict[str, list[tuple[float, object]]] = defaultdict(list)
        self.lock = threading.Lock()

    def listen(self, msg_type: type, topic: str, qos: QoSProfile = qos_profile_sensor_data) -> None:
        def record(msg: object) -> None:
            with self.lock:
                self.received[topic].append((time.monotonic(), msg))

        self.node.create_subscription(msg_type, topic, record, qos)

    def messages(self, topic: str, since: float = 0.0) -> list:
        with self.lock:
            return [m for t, m in self.received[topic] if t >= since]

    def wait_for(self, topic: str, count: int = 1, timeout: float = 30.0, since: float = 0.0) -> list:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            msgs = self.messages(topic, since)
            if len(msgs) >= count:
                return msgs
            time.sleep(0.02)
        raise AssertionError(f"{len(self.messages(topic, since))} of {count} messages on {topic} in {timeout} s")


def odom_xy(msg: Odometry) -> tuple[float, float]:
    return msg.pose.pose.position.x, msg.pose.pose.position.y


def log_text(path: Path) -> str:
    return path.read_text(errors="replace") if path.exists() else ""


# ============================================================================================ the node
@pytest.fixture(scope="module")
def sim(tmp_path_factory):
    log = tmp_path_factory.mktemp("sim_node") / "sim_node.log"
    listener = Listener(DOMAIN, "sim_test_listener")
    t = ROS.topics
    for msg_type, topic in (
        (Image, t.camera),
        (CompressedImage, t.camera_compressed),
        (LaserScan, t.scan),
        (PointCloud2, t.points),
        (Odometry, t.odom),
        (Clock, "/clock"),
    ):
        listener.listen(msg_type, topic)
    cmd_pub = listener.node.create_publisher(Twist, t.cmd_out, 10)
    proc = start_sim_node(log, DOMAIN, "start_on_motion:=false")
    try:
        try:
            listener.wait_for(t.odom, timeout=40)
        except AssertionError as exc:
            raise AssertionError(f"{exc}\n--- sim node output ---\n{log_text(log)}") from None
        yield proc, listener, cmd_pub, log
    finally:
        rc = stop_sim_node(proc)
        listener.close()
        print(log_text(log)[-600:])
    assert rc == 0, f"the sim node exited with {rc} on SIGINT:\n{log_text(log)}"


@pytest.mark.dds
def test_camera_is_rgb8_at_the_configured_size(sim):
    _, listener, _, _ = sim
    img = listener.wait_for(ROS.topics.camera)[-1]
    jpeg = listener.wait_for(ROS.topics.camera_compressed)[-1]

    assert (img.encoding, img.height, img.width, img.step) == ("rgb8", 64, 64, 64 * 3)
    assert len(img.data) == 64 * 64 * 3
    assert img.header.frame_id == ROS.frames.camera
    assert np.frombuffer(bytes(img.data), np.uint8).std() > 0, "a blank image"
    assert "jpeg" in jpeg.format and bytes(jpeg.data[:2]) == b"\xff\xd8"


@pytest.mark.dds
def test_scan_has_360_beams_with_rep117_ranges(sim):
    _, listener, _, _ = sim
    scan = listener.wait_for(ROS.topics.scan)[-1]
    ranges = np.asarray(scan.ranges, dtype=np.float32)

    assert ranges.shape == (360,)
    assert scan.header.frame_id == ROS.frames.laser
    assert scan.angle_min == pytest.approx(-math.pi, abs=1e-5)
    assert scan.angle_increment == pytest.approx(2 * math.pi / 360, abs=1e-6)
    assert scan.angle_max == pytest.approx(scan.angle_min + 359 * scan.angle_increment, abs=1e-5)
    finite = ranges[np.isfinite(ranges)]
    assert len(finite) > 100, "a room should return most beams"
    assert np.all((finite >= scan.range_min - 0.05) & (finite <= scan.range_max))
    assert np.all(np.isfinite(ranges) | np.isinf(ranges)), "no NaN: REP 117 uses +-inf"


@pytest.mark.dds
def test_point_cloud_is_xyz_float32_in_the_lidar3d_frame(sim):
    _, listener, _, _ = sim
    cloud = listener.wait_for(ROS.topics.points)[-1]

    assert [(f.name, f.offset, f.datatype, f.count) for f in cloud.fields] == [
        ("x", 0, PointField.FLOAT32, 1),
        ("y", 4, PointField.FLOAT32, 1),
        ("z", 8, PointField.FLOAT32, 1),
    ]
    assert cloud.header.frame_id == ROS.frames.lidar3d
    assert cloud.point_step == 12 and cloud.height == 1 and cloud.width > 100
    assert len(cloud.data) == cloud.width * cloud.point_step == cloud.row_step
    pts = np.frombuffer(bytes(cloud.data), dtype="<f4").reshape(-1, 3)
    assert cloud.is_dense and np.isfinite(pts).all()
    assert np.linalg.norm(pts, axis=1).max() <= 8.0 + 0.1


@pytest.mark.dds
def test_odometry_clock_and_sensors_arrive_at_the_configured_rate(sim):
    _, listener, _, _ = sim
    window = 3.0
    start = time.monotonic()
    time.sleep(window)
    rates = {
        topic: len(listener.messages(topic, since=start)) / window
        for topic in (ROS.topics.odom, "/clock", ROS.topics.camera, ROS.topics.scan, ROS.topics.points)
    }
    clocks = [sim_msgs.to_seconds(m.clock) for m in listener.messages("/clock", since=start)]
    odom = listener.messages(ROS.topics.odom, since=start)[-1]
    print(f"measured rates (Hz, configured {RATE_HZ:g}): {rates}")

    for topic, rate in rates.items():
        assert 0.7 * RATE_HZ <= rate <= 1.3 * RATE_HZ, f"{topic} at {rate:.1f} Hz, configured {RATE_HZ} Hz"
    assert np.allclose(np.diff(clocks), 1.0 / RATE_HZ, atol=1e-6), "simulated time advances one step per message"
    assert abs(clocks[-1] - time.time()) < 2.0, "in real time, simulated time tracks the wall clock"
    assert (odom.header.frame_id, odom.child_frame_id) == (ROS.frames.odom, ROS.frames.base)


@pytest.mark.dds
def test_the_robot_moves_only_while_commanded(sim):
    _, listener, cmd_pub, _ = sim
    odom = ROS.topics.odom
    start = time.monotonic()
    time.sleep(1.0)
    idle = [odom_xy(m) for m in listener.messages(odom, since=start)]
    assert len(idle) >= 5 and np.ptp(np.asarray(idle), axis=0).max() < 1e-6, "no command: the robot stays still"

    cmd = twist(0.3)
    before = odom_xy(listener.messages(odom)[-1])
    for _ in range(15):  # 1.5 s at 10 Hz
        cmd_pub.publish(cmd)
        time.sleep(0.1)
    moving = listener.messages(odom)[-1]
    moved = math.dist(before, odom_xy(moving))
    assert moved > 0.2, f"a forward command for 1.5 s moved the robot {moved:.3f} m"
    assert moving.twist.twist.linear.x > 0.15

    time.sleep(ROS.sim_node.cmd_timeout + 0.5)  # the last command goes stale -> the base stops
    start = time.monotonic()
    time.sleep(0.6)
    after = listener.messages(odom, since=start)
    assert all(abs(m.twist.twist.linear.x) < 1e-6 for m in after)
    assert np.ptp(np.asarray([odom_xy(m) for m in after]), axis=0).max() < 1e-6


@pytest.mark.dds
def test_a_late_subscriber_gets_the_instruction(sim):
    _, listener, _, _ = sim
    listener.listen(String, ROS.topics.instruction, LATCHED)

    msgs = listener.wait_for(ROS.topics.instruction, timeout=5.0)

    assert msgs[0].data == INSTRUCTION


@pytest.mark.dds
def test_the_teacher_command_arrives_at_the_control_rate_as_a_finite_twist(tmp_path):
    domain = TEACHER_DOMAIN
    listener = Listener(domain, "teacher_listener")
    listener.listen(Twist, ROS.topics.teacher_cmd, QoSProfile(depth=10))
    listener.listen(Clock, "/clock")
    log = tmp_path / "sim_node.log"
    proc = start_sim_node(log, domain, "publish_points:=false", "start_on_motion:=false")
    try:
        try:
            listener.wait_for(ROS.topics.teacher_cmd, timeout=40)
        except AssertionError as exc:
            raise AssertionError(f"{exc}\n--- sim node output ---\n{log_text(log)}") from None
        window = 2.0
        start = time.monotonic()
        time.sleep(window)
        labels = listener.messages(ROS.topics.teacher_cmd, since=start)
        clocks = listener.messages("/clock", since=start)
    finally:
        rc = stop_sim_node(proc)
        listener.close()
    rate = len(labels) / window
    print(f"teacher_cmd at {rate:.1f} Hz (configured {RATE_HZ:g}), /clock {len(clocks) / window:.1f} Hz")
    assert 0.7 * RATE_HZ <= rate <= 1.3 * RATE_HZ, f"teacher_cmd at {rate:.1f} Hz, configured {RATE_HZ} Hz"
    assert abs(len(labels) - len(clocks)) <= 2, "one label per control step"
    assert all(twist_is_finite(m) for m in labels)
    robot = load_sim_config("sim.yaml").robot
    assert all(abs(m.linear.x) <= robot.max_linear + 1e-6 for m in labels)
    assert all(abs(m.angular.z) <= robot.max_angular + 1e-6 for m in labels)
    assert any(m.linear.x != 0.0 or m.angular.z != 0.0 for m in labels), "the teacher searches or drives from the start"
    assert rc == 0, log_text(log)


# ============================================================================================ episode end
@pytest.mark.dds
def test_at_the_time_limit_it_publishes_the_outcome_writes_artifacts_and_stays_stopped(tmp_path):
    sim_yaml = yaml.safe_load((config_dir() / "sim.yaml").read_text())
    sim_yaml["task"]["max_episode_steps"] = 20  # 2 s at 10 Hz
    (tmp_path / "sim.yaml").write_text(yaml.safe_dump(sim_yaml))
    artifacts = tmp_path / "artifacts"
    log = tmp_path / "sim_node.log"
    listener = Listener(OUTCOME_DOMAIN, "outcome_listener")
    listener.listen(String, ROS.topics.outcome, LATCHED)
    listener.listen(Odometry, ROS.topics.odom)
    cmd_pub = listener.node.create_publisher(Twist, ROS.topics.cmd_out, 10)
    proc = start_sim_node(
        log,
        OUTCOME_DOMAIN,
        f"sim_config:={tmp_path / 'sim.yaml'}",
        f"artifacts_dir:={artifacts}",
        "real_time:=false",
        "publish_points:=false",
        "start_on_motion:=false",
    )
    try:
        try:
            outcome = json.loads(listener.wait_for(ROS.topics.outcome, timeout=40)[0].data)
        except AssertionError as exc:
            raise AssertionError(f"{exc}\n--- sim node output ---\n{log_text(log)}") from None
        cmd = twist(0.3)
        since = time.monotonic()
        for _ in range(5):
            cmd_pub.publish(cmd)
            time.sleep(0.05)
        after = listener.wait_for(ROS.topics.odom, count=3, since=since, timeout=10)
    finally:
        rc = stop_sim_node(proc, signal.SIGTERM)
        listener.close()

    assert outcome["end_reason"] == "time_limit" and outcome["success"] is False
    assert outcome["time_s"] == pytest.approx(2.0)
    assert outcome["instruction"] == INSTRUCTION
    for key in ("path_length_m", "shortest_path_length_m", "collisions", "world_seed"):
        assert key in outcome
    assert outcome["shortest_path_length_m"] > 0
    for name in ("camera.mp4", "trajectory.png", "metrics.json"):
        assert (artifacts / name).stat().st_size > 0, name
    assert json.loads((artifacts / "metrics.json").read_text())["end_reason"] == "time_limit"
    assert outcome["artifacts"]["video"] == str(artifacts / "camera.mp4")
    assert all(m.twist.twist.linear.x == 0.0 for m in after), "after the episode the robot ignores commands"
    assert rc == 0, f"exit code {rc} on SIGTERM:\n{log_text(log)}"


# ============================================================================================ no graph
@pytest.mark.unit
def test_message_builders_round_trip_numpy():
    rgb = np.random.default_rng(0).integers(0, 256, size=(4, 6, 3), dtype=np.uint8)
    img = sim_msgs.image_msg(rgb, 12.25, "camera")
    assert np.array_equal(np.frombuffer(bytes(img.data), np.uint8).reshape(4, 6, 3), rgb)
    assert (img.header.stamp.sec, img.header.stamp.nanosec) == (12, 250_000_000)

    ranges = np.array([1.0, np.inf, -np.inf, 2.5], dtype=np.float32)
    scan = sim_msgs.laser_scan_msg(ranges, 0.0, "laser", -math.pi, math.pi / 2, 0.1, 8.0)
    assert np.array_equal(np.asarray(scan.ranges, np.float32), ranges)
    assert scan.angle_max == pytest.approx(-math.pi + 3 * math.pi / 2)

    pts = np.array([[1.0, 2.0, 3.0], [-1.5, 0.0, 0.25]], dtype=np.float32)
    cloud = sim_msgs.point_cloud_msg(pts, 0.0, "lidar3d")
    assert np.array_equal(np.frombuffer(bytes(cloud.data), "<f4").reshape(-1, 3), pts)
    assert cloud.width == 2 and cloud.row_step == 24 and cloud.is_dense

    odom = sim_msgs.odometry_msg(1.0, 2.0, 0.5, 0.3, -0.2, 0.0, "odom", "base_link")
    q = odom.pose.pose.orientation
    assert math.atan2(2 * (q.w * q.z + q.x * q.y), 1 - 2 * (q.y**2 + q.z**2)) == pytest.approx(0.5)
    assert (odom.twist.twist.linear.x, odom.twist.twist.angular.z) == (0.3, -0.2)

    with pytest.raises(ValueError, match="image must be"):
        sim_msgs.image_msg(np.zeros((4, 4), np.uint8), 0.0, "camera")


@pytest.mark.unit
def test_an_ended_episode_ignores_commands(tmp_path):
    sim_yaml = yaml.safe_load((config_dir() / "sim.yaml").read_text())
    sim_yaml["task"]["max_episode_steps"] = 3
    (tmp_path / "sim.yaml").write_text(yaml.safe_dump(sim_yaml))
    session = SimSession(SimNodeParams(sim_config=str(tmp_path / "sim.yaml"), publish_points=False))
    try:
        for _ in range(3):
            assert not session.ended
            session.step(0.2, 0.0)
        assert session.outcome is not None and session.outcome["end_reason"] == "time_limit"
        pose = session.env.pose
        session.step(0.5, 1.0)
        assert session.command == (0.0, 0.0)
        assert (session.env.pose.x, session.env.pose.y) == pytest.approx((pose.x, pose.y), abs=1e-6)
        assert len(session.trace.frames) == 4 and len(session.trace.commands) == 3
    finally:
        session.close()


@pytest.mark.unit
def test_each_step_is_labelled_with_the_teacher_command_for_its_state():
    session = SimSession(SimNodeParams(publish_points=False))
    try:
        labels = [session.teacher_command]
        while not session.ended and session.ticks < 300:
            session.step(*session.teacher_command)  # the label, followed, is the teacher driving
            labels.append(session.teacher_command)
        outcome = session.metrics()
    finally:
        session.close()
    assert all(isinstance(v, float) and math.isfinite(v) for label in labels for v in label)
    assert len(set(labels)) > 10, "the label follows the state"
    assert outcome["end_reason"] == "success" and outcome["collisions"] == 0, outcome


@pytest.mark.unit
def test_params_are_validated():
    with pytest.raises(ValueError, match="rate_hz"):
        SimNodeParams(rate_hz=0.0)
    with pytest.raises(ValueError, match="world_seed"):
        SimNodeParams(world_seed=-3)
    with pytest.raises(ValueError, match="goal must be '<colour> <shape>'"):
        SimNodeParams(goal="red")


@pytest.mark.unit
def test_the_goal_parameter_names_the_target_and_the_instruction_is_kept_as_given():
    assert SimNodeParams(instruction="find the blue ball").target() == Goal("blue", "sphere")  # sim's table
    params = SimNodeParams(instruction="go to the crimson box", goal="red cube", publish_points=False)
    assert params.target() == Goal("red", "cube")
    session = SimSession(params)
    try:
        assert session.obs["instruction"] == "go to the crimson box"
        assert session.info["goal"] == "red cube"
    finally:
        session.close()


@pytest.mark.dds
def test_with_start_on_motion_the_world_waits_for_the_first_motion_command(tmp_path):
    domain = 200 + os.getpid() % 30  # apart from the 150..197 range the other sim/bringup tests use
    listener = Listener(domain, "start_listener")
    listener.listen(Clock, "/clock")
    cmd_pub = listener.node.create_publisher(Twist, ROS.topics.cmd_out, 10)
    proc = start_sim_node(tmp_path / "sim_node.log", domain, "publish_points:=false", "start_on_motion:=true")
    try:
        frozen = listener.wait_for("/clock", count=5, timeout=30)
        still = {sim_msgs.to_seconds(m.clock) for m in frozen}
        assert len(still) == 1, f"the clock moved before any command: {sorted(still)}"
        zero = twist()
        for _ in range(5):
            cmd_pub.publish(zero)
            time.sleep(0.05)
        since = time.monotonic()
        after_zero = {
            sim_msgs.to_seconds(m.clock) for m in listener.wait_for("/clock", count=3, since=since, timeout=10)
        }
        assert after_zero == still, "a zero command must not start the episode"
        move = twist(angular=0.5)
        since = time.monotonic()
        for _ in range(5):
            cmd_pub.publish(move)
            time.sleep(0.05)
        moving = [sim_msgs.to_seconds(m.clock) for m in listener.wait_for("/clock", count=5, since=since, timeout=10)]
        assert max(moving) > max(still), "the clock starts with the first motion command"
    finally:
        stop_sim_node(proc)
        listener.close()
