"""The mux node end to end, over real DDS: ``python -m nav.nodes.mux_node`` in a subprocess, driven by topics.

The test process plays the rest of the robot: a lidar (a scan at 20 Hz), navigation (a Twist at
10 Hz), a human (teleop Twist, e-stop, reset) and the base (it records every ``/cmd_vel`` with its
receipt time). Latencies are measured from publish to the first matching output; the assertions
only hold the node to generous functional bounds.
"""

from __future__ import annotations

import math
import os
import signal
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import yaml
from diagnostic_msgs.msg import DiagnosticArray
from geometry_msgs.msg import Twist
from rclpy.qos import QoSProfile, ReliabilityPolicy
from sensor_msgs.msg import LaserScan
from std_msgs.msg import Bool

from configs import load_yaml
from configs.robot import DEFAULT_ROBOT_PROFILE, ROBOT_PROFILE_ENV
from nav.nodes.msgs import twist
from nav.runtime.config import Topics
from ros_harness import SpinningNode

pytestmark = pytest.mark.dds

DOMAIN = 100 + os.getpid() % 50  # this module's own DDS domain: parallel runs do not cross-talk
RATE_HZ = 20.0
CYCLE = 1.0 / RATE_HZ
INPUT_TIMEOUT = 0.3
SCAN_TIMEOUT = 0.3
TOPICS = Topics()
MUX_CONFIG = {
    "mux": {
        "rate_hz": RATE_HZ,
        "inputs": [
            {"name": "teleop", "topic": "cmd_teleop", "priority": 100, "timeout": INPUT_TIMEOUT},
            {"name": "navigation", "topic": "cmd_nav", "priority": 10, "timeout": INPUT_TIMEOUT},
        ],
        "locks": [],
    },
    "guard": {
        "stop_distance": 0.1,
        "slow_distance": 0.3,
        "half_angle_deg": 35.0,
        "scan_timeout": SCAN_TIMEOUT,
    },
}
ROBOT = {  # the test robot's profile (robot.yaml keys; the rest as shipped): its limits and radius reach the mux node
    "max_linear": 0.5,
    "max_angular": 1.5,
    "max_linear_accel": 1000.0,  # the ramp is specified in test_mux.py; here outputs follow at once
    "max_angular_accel": 1000.0,
    "radius": 0.2,
}
CLEAR = [5.0] * 360  # 360 beams over [-pi, pi): beam 180 is straight ahead
BLOCKED = CLEAR[:178] + [0.25] * 5 + CLEAR[183:]  # 0.05 m from the robot's surface, straight ahead


def raw_twist(linear: float, angular: float) -> Twist:
    """A navigation Twist built by hand.

    nav.nodes.msgs.twist refuses the NaN that test_non_finite_command_is_rejected sends.
    """
    msg = Twist()
    msg.linear.x, msg.angular.z = linear, angular
    return msg


def ros_env() -> dict[str, str]:
    env = dict(os.environ, ROS_DOMAIN_ID=str(DOMAIN), ROS_AUTOMATIC_DISCOVERY_RANGE="LOCALHOST")
    env.update(PYTHONUNBUFFERED="1", RCUTILS_LOGGING_BUFFERED_STREAM="0", RCUTILS_COLORIZED_OUTPUT="0")
    return env


class Robot(SpinningNode):
    """The rest of the robot, in this process: publishers, a recorder of /cmd_vel, a spinning thread."""

    def __init__(self) -> None:
        super().__init__(DOMAIN, "mux_test", start=False)
        reliable = QoSProfile(depth=10)
        best_effort = QoSProfile(depth=1, reliability=ReliabilityPolicy.BEST_EFFORT)
        self.nav_pub = self.node.create_publisher(Twist, TOPICS.cmd_nav, reliable)
        self.teleop_pub = self.node.create_publisher(Twist, TOPICS.cmd_teleop, reliable)
        self.estop_pub = self.node.create_publisher(Bool, TOPICS.estop, reliable)
        self.reset_pub = self.node.create_publisher(Bool, TOPICS.estop_reset, reliable)
        self.scan_pub = self.node.create_publisher(LaserScan, TOPICS.scan, best_effort)
        self.lock = threading.Lock()
        self.outputs: list[tuple[float, float, float]] = []
        self.diagnostics: list[DiagnosticArray] = []
        self.node.create_subscription(Twist, TOPICS.cmd_out, self._on_output, reliable)
        self.node.create_subscription(DiagnosticArray, TOPICS.diagnostics, self._on_diagnostics, reliable)
        self.nav: tuple[float, float] | None = None
        """Published at 10 Hz while set."""
        self.teleop: tuple[float, float] | None = None
        """Published at 10 Hz while set."""
        self.scan: list[float] | None = CLEAR
        """Published at 20 Hz while set."""
        self.node.create_timer(0.1, self._publish_commands)
        self.node.create_timer(0.05, self._publish_scan)
        self.start()

    # -- publishing --------------------------------------------------------------------------------

    def _publish_commands(self) -> None:
        if self.nav is not None:
            self.nav_pub.publish(raw_twist(*self.nav))
        if self.teleop is not None:
            self.teleop_pub.publish(twist(*self.teleop))

    def _publish_scan(self) -> None:
        if self.scan is None:
            return
        msg = LaserScan()
        msg.header.frame_id = "laser"
        msg.angle_min, msg.angle_increment = -math.pi, 2 * math.pi / len(self.scan)
        msg.angle_max = msg.angle_min + msg.angle_increment * (len(self.scan) - 1)
        msg.range_min, msg.range_max = 0.05, 10.0
        msg.ranges = self.scan
        self.scan_pub.publish(msg)

    def estop(self, active: bool) -> None:
        self.estop_pub.publish(Bool(data=active))

    def reset(self) -> None:
        self.reset_pub.publish(Bool(data=True))

    # -- recording ---------------------------------------------------------------------------------

    def _on_output(self, msg: Twist) -> None:
        with self.lock:
            self.outputs.append((time.monotonic(), msg.linear.x, msg.angular.z))

    def _on_diagnostics(self, msg: DiagnosticArray) -> None:
        with self.lock:
            self.diagnostics.append(msg)

    def since(self, t0: float) -> list[tuple[float, float, float]]:
        with self.lock:
            return [o for o in self.outputs if o[0] >= t0]

    def wait_output(self, match: Callable[[float, float], bool], since: float, timeout: float = 1.0) -> float | None:
        """Receipt time of the first output after ``since`` that ``match``es, or None after ``timeout``."""
        deadline = time.monotonic() + timeout
        while True:
            for t, linear, angular in self.since(since):
                if match(linear, angular):
                    return t
            if time.monotonic() > deadline:
                return None
            time.sleep(0.002)


def near(linear: float, angular: float, tol: float = 1e-6) -> Callable[[float, float], bool]:
    return lambda lin, ang: abs(lin - linear) <= tol and abs(ang - angular) <= tol


ZERO = near(0.0, 0.0)


@pytest.fixture(scope="module")
def robot() -> Iterator[Robot]:
    robot = Robot()
    yield robot
    robot.close()


@pytest.fixture(scope="module")
def mux(robot: Robot, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[subprocess.Popen[bytes], Path]]:
    folder = tmp_path_factory.mktemp("mux")
    config = folder / "ros.yaml"
    config.write_text(yaml.safe_dump(MUX_CONFIG), encoding="utf-8")
    profile = folder / "robot.yaml"
    profile.write_text(yaml.safe_dump({**load_yaml(DEFAULT_ROBOT_PROFILE), **ROBOT}), encoding="utf-8")
    log = folder / "mux.log"
    with log.open("wb") as sink:
        proc = subprocess.Popen(
            [sys.executable, "-m", "nav.nodes.mux_node", "--ros-args", "-r", "__node:=mux", "-p", f"config:={config}"],
            env={**ros_env(), ROBOT_PROFILE_ENV: str(profile)},
            stdout=sink,
            stderr=subprocess.STDOUT,
        )
    try:
        publishers = (robot.nav_pub, robot.teleop_pub, robot.estop_pub, robot.reset_pub, robot.scan_pub)
        deadline = time.monotonic() + 15.0
        while not (robot.since(0.0) and all(p.get_subscription_count() for p in publishers)):
            assert proc.poll() is None, f"mux node exited: {log.read_text()}"
            assert time.monotonic() < deadline, f"mux node not connected: {log.read_text()}"
            time.sleep(0.02)
        yield proc, log
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGINT)
            try:
                proc.wait(timeout=5.0)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


@pytest.fixture
def drive(robot: Robot, mux: tuple[subprocess.Popen[bytes], Path]) -> Iterator[Robot]:
    """A running mux with clear space and navigation driving (0.2, 0.1); afterwards everything is reset."""
    robot.scan, robot.teleop, robot.nav = CLEAR, None, (0.2, 0.1)
    assert robot.wait_output(near(0.2, 0.1), since=time.monotonic(), timeout=2.0), "navigation never reached /cmd_vel"
    yield robot
    robot.scan, robot.teleop, robot.nav = CLEAR, None, None
    robot.estop(False)
    time.sleep(0.05)
    robot.reset()


def log_text(mux: tuple[subprocess.Popen[bytes], Path]) -> str:
    return mux[1].read_text(encoding="utf-8", errors="replace")


def wait_log(mux: tuple[subprocess.Popen[bytes], Path], text: str, timeout: float = 1.0) -> bool:
    deadline = time.monotonic() + timeout
    while text not in log_text(mux):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.02)
    return True


def test_output_follows_navigation(drive: Robot) -> None:
    drive.nav = (-0.1, 0.3)
    assert drive.wait_output(near(-0.1, 0.3), since=time.monotonic())


def test_teleop_overrides_within_100ms_and_navigation_resumes_after_its_timeout(drive: Robot) -> None:
    latencies = []
    for i in range(5):
        command = (0.05 * (i + 1), -0.4)
        t0 = time.monotonic()
        drive.teleop_pub.publish(twist(*command))  # the first message of an override
        drive.teleop = command
        received = drive.wait_output(near(*command), since=t0, timeout=1.0)
        assert received is not None, "teleop never reached /cmd_vel"
        latencies.append(received - t0)
        time.sleep(0.2)
        drive.teleop = None  # the human lets go: silence
        t_last = time.monotonic()
        resumed = drive.wait_output(near(0.2, 0.1), since=t_last, timeout=2.0)
        assert resumed is not None, "navigation did not resume after the teleop timeout"
        # teleop holds the output until its timeout (less the up-to-0.1 s since its last message)
        assert INPUT_TIMEOUT - 0.1 - CYCLE <= resumed - t_last <= INPUT_TIMEOUT + 2 * CYCLE + 0.1
    print(
        f"\nteleop -> /cmd_vel latency over {len(latencies)} overrides: median "
        f"{1000 * statistics.median(latencies):.1f} ms, max {1000 * max(latencies):.1f} ms"
    )
    assert max(latencies) < 0.1


def test_estop_stops_within_one_cycle_and_latches_until_reset(drive: Robot, mux) -> None:
    t0 = time.monotonic()
    drive.estop(True)
    stopped = drive.wait_output(ZERO, since=t0, timeout=1.0)
    assert stopped is not None and stopped - t0 <= CYCLE + 0.03
    assert wait_log(mux, "e-stop latched")
    drive.reset()  # refused: the e-stop topic still says true
    time.sleep(0.3)
    drive.estop(False)  # released, but latched
    t1 = time.monotonic()
    time.sleep(0.4)
    held = drive.since(t1)
    assert len(held) >= 5 and all(ZERO(lin, ang) for _, lin, ang in held)
    assert "e-stop reset refused" in log_text(mux)
    t2 = time.monotonic()
    drive.reset()
    assert drive.wait_output(near(0.2, 0.1), since=t2, timeout=1.0), "reset did not release the e-stop"


NAV_PROCESS = """
import time, rclpy
from geometry_msgs.msg import Twist
rclpy.init()
node = rclpy.create_node("fake_navigation")
pub = node.create_publisher(Twist, "/cmd_vel/nav", 10)
msg = Twist()
msg.linear.x, msg.angular.z = 0.25, -0.2
while True:
    pub.publish(msg)
    time.sleep(0.1)
"""


def test_killed_navigation_process_gives_zero_within_its_timeout(robot: Robot, mux) -> None:
    robot.nav = robot.teleop = None
    robot.scan = CLEAR
    nav = subprocess.Popen([sys.executable, "-c", NAV_PROCESS], env=ros_env())
    try:
        assert robot.wait_output(near(0.25, -0.2), since=time.monotonic(), timeout=15.0), "navigation never drove"
    finally:
        nav.kill()
        t_kill = time.monotonic()
        nav.wait()
    stopped = robot.wait_output(ZERO, since=t_kill, timeout=2.0)
    assert stopped is not None
    assert stopped - t_kill <= INPUT_TIMEOUT + CYCLE + 0.1
    assert wait_log(mux, "all inputs timed out (teleop: timed out")
    assert "navigation: timed out (last heard" in log_text(mux)


def test_obstacle_in_the_stop_zone_stops_forward_motion_only(drive: Robot, mux) -> None:
    drive.nav = (0.3, 0.2)
    drive.scan = BLOCKED
    assert drive.wait_output(near(0.0, 0.2), since=time.monotonic()), "forward motion not stopped"
    assert wait_log(mux, "stop: obstacle 0.05 m ahead")
    drive.nav = (-0.2, 0.0)  # backing away is allowed
    assert drive.wait_output(near(-0.2, 0.0), since=time.monotonic())
    drive.nav = (0.3, 0.0)
    t0 = time.monotonic()
    time.sleep(0.3)
    assert all(lin <= 0.0 for _, lin, _ in drive.since(t0))
    drive.scan = CLEAR
    assert drive.wait_output(near(0.3, 0.0), since=time.monotonic())


def test_stale_scan_gives_zero(drive: Robot, mux) -> None:
    drive.scan = None
    t0 = time.monotonic()
    stopped = drive.wait_output(ZERO, since=t0, timeout=2.0)
    assert stopped is not None and stopped - t0 <= SCAN_TIMEOUT + CYCLE + 0.1
    assert wait_log(mux, "scan stale")
    drive.scan = CLEAR
    assert drive.wait_output(near(0.2, 0.1), since=time.monotonic())


def test_non_finite_command_is_rejected(drive: Robot, mux) -> None:
    drive.nav = (math.nan, 0.1)
    t0 = time.monotonic()
    assert drive.wait_output(ZERO, since=t0, timeout=1.0)
    time.sleep(0.2)
    assert all(ZERO(lin, ang) for _, lin, ang in drive.since(t0 + 0.15))
    assert wait_log(mux, "rejected non-finite command from navigation")
    drive.nav = (0.2, 0.1)
    assert drive.wait_output(near(0.2, 0.1), since=time.monotonic())


def test_silence_gives_zero_and_keeps_publishing(drive: Robot) -> None:
    drive.nav = None
    assert drive.wait_output(ZERO, since=time.monotonic(), timeout=1.0)
    t0 = time.monotonic()
    time.sleep(0.5)
    window = drive.since(t0)
    assert len(window) >= 0.5 * RATE_HZ * 0.6  # still published, at about rate_hz
    assert all(ZERO(lin, ang) for _, lin, ang in window)


def test_diagnostics_report_the_state(drive: Robot) -> None:
    deadline = time.monotonic() + 3.0
    while time.monotonic() < deadline:
        with drive.lock:
            latest = drive.diagnostics[-1] if drive.diagnostics else None
        values = {kv.key: kv.value for kv in latest.status[0].values} if latest else {}
        if values.get("source") == "navigation" and values.get("code") == "ok":  # not an earlier test's hold
            break
        time.sleep(0.05)
    assert values.get("source") == "navigation" and values.get("code") == "ok", values
    assert values["estop"] == "clear"
    assert values["input.teleop"] == "never heard" or values["input.teleop"].startswith("timed out")
    assert values["input.navigation"].startswith("fresh")
    assert "guard.nearest_ahead" in values


def set_params(robot: Robot, **values: float) -> list[tuple[bool, str]]:
    """``ros2 param set /mux`` through the node's parameter services: (successful, reason) per value."""
    from rclpy.parameter import Parameter
    from rclpy.parameter_client import AsyncParameterClient

    client = AsyncParameterClient(robot.node, "mux")
    assert client.wait_for_services(timeout_sec=5.0), "the mux offers no parameter services"
    future = client.set_parameters([Parameter(name, value=v) for name, v in values.items()])
    deadline = time.monotonic() + 5.0
    while not future.done():
        assert time.monotonic() < deadline, "no answer from /mux/set_parameters"
        time.sleep(0.01)
    return [(r.successful, r.reason) for r in future.result().results]


def test_ros_parameters_list_the_limits_tune_the_top_speed_at_once_and_refuse_bad_values(
    drive: Robot, mux: tuple[subprocess.Popen[bytes], Path]
) -> None:
    from rclpy.parameter_client import AsyncParameterClient

    client = AsyncParameterClient(drive.node, "mux")
    assert client.wait_for_services(timeout_sec=5.0)
    listed = client.list_parameters()
    while not listed.done():
        time.sleep(0.01)
    names = set(listed.result().result.names)
    expected = {"max_linear", "max_angular", "inputs.navigation.timeout", "inputs.teleop.timeout", "guard.scan_timeout"}
    assert expected <= names, sorted(names)
    described = client.describe_parameters(["max_linear"])
    while not described.done():
        time.sleep(0.01)
    (descriptor,) = described.result().descriptors
    assert descriptor.floating_point_range[0].to_value == ROBOT["max_linear"] and "robot.yaml" in descriptor.description

    drive.nav = (0.5, 0.0)  # navigation asks for the robot's top speed
    assert drive.wait_output(near(0.5, 0.0), since=time.monotonic(), timeout=2.0)
    assert set_params(drive, max_linear=0.2) == [(True, "")]
    t0 = time.monotonic()
    assert drive.wait_output(near(0.2, 0.0), since=t0, timeout=1.0), "the new top speed did not apply"
    time.sleep(1.0)
    fastest = max(abs(lin) for _, lin, _ in drive.since(t0 + 0.1))
    assert fastest <= 0.2 + 1e-9, f"an output of {fastest} m/s after the top speed was set to 0.2"

    (refused,) = set_params(drive, **{"inputs.navigation.timeout": -1.0})
    assert not refused[0] and refused[1], refused  # refused, with a reason
    (too_fast,) = set_params(drive, max_linear=0.8)  # above robot.yaml's 0.5: never faster than the robot
    assert not too_fast[0] and too_fast[1], too_fast
    (crossed,) = set_params(drive, **{"guard.stop_distance": 0.4})  # beyond slow_distance 0.3: the config's check
    assert not crossed[0] and "stop_distance" in crossed[1], crossed
    assert "parameter change refused" in log_text(mux)
    assert set_params(drive, max_linear=0.5) == [(True, "")]


def test_a_params_file_sets_the_limits_at_start_up_and_a_value_above_the_profile_stops_the_node(
    robot: Robot, tmp_path: Path
) -> None:
    from rclpy.parameter_client import AsyncParameterClient

    folder = tmp_path
    (folder / "ros.yaml").write_text(yaml.safe_dump(MUX_CONFIG), encoding="utf-8")
    profile = folder / "robot.yaml"
    profile.write_text(yaml.safe_dump({**load_yaml(DEFAULT_ROBOT_PROFILE), **ROBOT}), encoding="utf-8")
    outcomes = {}
    for name, top in (("slow", 0.3), ("too_fast", 0.9)):
        params = folder / f"{name}.yaml"
        params.write_text(yaml.safe_dump({"tuned_mux": {"ros__parameters": {"max_linear": top}}}), encoding="utf-8")
        cmd = [sys.executable, "-m", "nav.nodes.mux_node", "--ros-args", "-r", "__node:=tuned_mux"]
        cmd += ["-p", f"config:={folder / 'ros.yaml'}", "--params-file", str(params)]
        proc = subprocess.Popen(
            cmd, env={**ros_env(), ROBOT_PROFILE_ENV: str(profile)}, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
        )
        try:
            if name == "too_fast":
                out, _ = proc.communicate(timeout=30)
                outcomes[name] = (proc.returncode, out.decode(errors="replace"))
                continue
            client = AsyncParameterClient(robot.node, "tuned_mux")
            assert client.wait_for_services(timeout_sec=20.0), "the tuned mux did not come up"
            future = client.get_parameters(["max_linear"])
            while not future.done():
                time.sleep(0.01)
            outcomes[name] = future.result().values[0].double_value
        finally:
            if proc.poll() is None:
                proc.send_signal(signal.SIGINT)
                proc.wait(timeout=10)
    assert outcomes["slow"] == 0.3
    code, text = outcomes["too_fast"]
    assert code != 0 and "max_linear" in text, text[-2000:]


def test_sigterm_publishes_zero_before_exit(drive: Robot, mux) -> None:  # last: it stops the node
    proc = mux[0]
    assert drive.since(time.monotonic() - 0.2)[-1][1:] == pytest.approx((0.2, 0.1))
    t0 = time.monotonic()
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=5.0) == 0
    time.sleep(0.1)
    final = drive.since(t0)
    assert final and ZERO(*final[-1][1:]), "no zero command after SIGTERM"
    assert "published a zero command" in log_text(mux)


# -- message conversion at the edge (nav.nodes.msgs) -----------------------------------------------------------


def test_twist_round_trip_and_finiteness() -> None:
    from nav.nodes.msgs import NonFiniteCommand, twist, twist_is_finite, twist_to_cmd

    assert twist_to_cmd(twist(0.3, -0.2)) == (0.3, -0.2)
    bad = Twist()
    bad.linear.y = math.inf
    assert not twist_is_finite(bad) and twist_to_cmd(bad) == (0.0, 0.0)
    with pytest.raises(NonFiniteCommand):
        twist_to_cmd(bad, check_finite=True)
    with pytest.raises(NonFiniteCommand):
        twist(math.nan, 0.0)


def test_scan_image_and_stamp_parsing() -> None:
    import cv2
    import numpy as np
    from sensor_msgs.msg import CompressedImage, Image

    from nav.nodes.msgs import compressed_to_rgb, image_to_rgb, scan_to_arrays, seconds_to_stamp, stamp_to_seconds

    scan = LaserScan(angle_min=-1.0, angle_increment=0.5, range_min=0.1, range_max=8.0)
    scan.ranges = [1.0, math.nan, math.inf, -math.inf]
    arrays = scan_to_arrays(scan)
    assert arrays.ranges.dtype == np.float32 and arrays.ranges.shape == (4,)
    assert np.isnan(arrays.ranges[1]) and np.isposinf(arrays.ranges[2]) and np.isneginf(arrays.ranges[3])
    assert (arrays.angle_min, arrays.angle_increment, arrays.range_min, arrays.range_max) == (-1.0, 0.5, 0.1, 8.0)

    rgb = np.arange(2 * 3 * 3, dtype=np.uint8).reshape(2, 3, 3)
    padded = np.zeros((2, 12), dtype=np.uint8)  # step 12 > 9 bytes of pixels per row
    padded[:, :9] = rgb[:, :, ::-1].reshape(2, 9)  # bgr8
    image = Image(height=2, width=3, encoding="bgr8", step=12)
    image.data = padded.tobytes()
    assert np.array_equal(image_to_rgb(image), rgb)

    ok, png = cv2.imencode(".png", np.ascontiguousarray(rgb[:, :, ::-1]))
    assert ok
    compressed = CompressedImage(format="rgb8; png compressed bgr8")
    compressed.data = png.tobytes()
    assert np.array_equal(compressed_to_rgb(compressed), rgb)

    stamp = seconds_to_stamp(12.9999999999)
    assert (stamp.sec, stamp.nanosec) == (13, 0)
    assert stamp_to_seconds(seconds_to_stamp(3.25)) == 3.25


def test_a_base_that_takes_twist_stamped_gets_stamped_commands_in_its_frame(tmp_path: Path) -> None:
    """robot.yaml ``base_command: twist_stamped`` (ros2_control's diff_drive_controller on Jazzy)."""
    from geometry_msgs.msg import TwistStamped

    domain = 225
    (tmp_path / "ros.yaml").write_text(yaml.safe_dump(MUX_CONFIG), encoding="utf-8")
    profile = tmp_path / "robot.yaml"
    stamped = {**load_yaml(DEFAULT_ROBOT_PROFILE), **ROBOT, "base_command": "twist_stamped"}
    profile.write_text(yaml.safe_dump(stamped), encoding="utf-8")
    base = SpinningNode(domain, "stamped_base")
    got: list[TwistStamped] = []
    base.node.create_subscription(TwistStamped, TOPICS.cmd_out, got.append, QoSProfile(depth=10))
    nav = base.node.create_publisher(Twist, TOPICS.cmd_nav, QoSProfile(depth=10))
    scan = base.node.create_publisher(
        LaserScan, TOPICS.scan, QoSProfile(depth=1, reliability=ReliabilityPolicy.BEST_EFFORT)
    )
    env = {**ros_env(), "ROS_DOMAIN_ID": str(domain), ROBOT_PROFILE_ENV: str(profile)}
    cmd = [sys.executable, "-m", "nav.nodes.mux_node", "--ros-args", "-p", f"config:={tmp_path / 'ros.yaml'}"]
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
    try:
        msg = LaserScan(angle_min=-math.pi, angle_increment=2 * math.pi / 360, range_min=0.05, range_max=10.0)
        msg.angle_max, msg.ranges = msg.angle_min + 359 * msg.angle_increment, CLEAR
        deadline = time.monotonic() + 20.0
        while not any(m.twist.linear.x == 0.2 for m in list(got)):
            assert time.monotonic() < deadline and proc.poll() is None, f"{len(got)} stamped commands, none driving"
            nav.publish(raw_twist(0.2, 0.1))
            scan.publish(msg)
            time.sleep(0.05)
    finally:
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=10)
        time.sleep(0.3)  # the last command, delivered before the exit, taken by our executor
        base.close()
    last = got[-1]
    assert last.header.frame_id == "base_link"
    assert abs(last.header.stamp.sec + last.header.stamp.nanosec * 1e-9 - time.time()) < 5.0, "stamped now"
    assert (last.twist.linear.x, last.twist.angular.z) == (0.0, 0.0), "the zero on the way out, stamped too"
