"""The agent node end to end, over real DDS: ``python -m nav.nodes.agent_node`` in a subprocess, fed by topics.

The test process plays the robot and the human: a camera (rgb8, 64 x 64) and a lidar (360 beams)
at 10 Hz, the instruction (reliable, 10 Hz, as a sim node or a UI would repeat it) and the variant
topic. It records every navigation Twist and every agent diagnostic with its receipt time.

The model folders hold UNTRAINED weights (no trained model is shipped): the commands they give are
arbitrary but finite. The assertions are therefore about *when* the output is exactly zero, how
often it comes, and what the diagnostics say, never about the values of a driving command.
"""

from __future__ import annotations

import math
import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus
from geometry_msgs.msg import Twist
from rclpy.qos import QoSProfile, ReliabilityPolicy
from sensor_msgs.msg import Image, LaserScan
from std_msgs.msg import String

from nav.runtime.config import load_ros_config
from ros_harness import SpinningNode
from untrained_models import save_untrained

pytestmark = pytest.mark.dds

# This module's own DDS domains (test_mux_node: 100..149, test_sim_node/test_bringup/test_teleop:
# 150..199, test_graph: 232).
DOMAIN = 230
NO_MODEL_DOMAIN = 231
ROS = load_ros_config()
TOPICS = ROS.topics
CONTROL_HZ = ROS.agent.control_hz
PERIOD = 1.0 / CONTROL_HZ
INPUT_HZ = 10.0
INSTRUCTION = "go to the red cube"
STARTUP_TIMEOUT = 90.0  # s: the sentence encoder and the models load first (seconds on a busy 2-core box)
DIAG_WAIT = 3.0  # s: diagnostics come at 1 Hz


def ros_env(domain: int) -> dict[str, str]:
    env = dict(os.environ, ROS_DOMAIN_ID=str(domain), ROS_AUTOMATIC_DISCOVERY_RANGE="LOCALHOST")
    env.update(PYTHONUNBUFFERED="1", RCUTILS_LOGGING_BUFFERED_STREAM="0", RCUTILS_COLORIZED_OUTPUT="0")
    return env


def start_agent(
    models_dir: Path, log: Path, domain: int, variant: str = "small", run_id: str = "", instruction: str = ""
) -> subprocess.Popen[bytes]:
    cmd = [sys.executable, "-m", "nav.nodes.agent_node", "--ros-args", "-r", "__node:=agent"]
    cmd += ["-p", f"models_dir:={models_dir}", "-p", f"variant:={variant}"]
    if run_id:
        cmd += ["-p", f"run_id:={run_id}"]
    if instruction:
        cmd += ["-p", f"instruction:='{instruction}'"]
    with log.open("ab") as sink:
        return subprocess.Popen(cmd, env=ros_env(domain), stdout=sink, stderr=subprocess.STDOUT)


def stop(proc: subprocess.Popen[bytes], sig: int = signal.SIGINT) -> int:
    if proc.poll() is None:
        proc.send_signal(sig)
        try:
            return proc.wait(timeout=10.0)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
            return -9
    return proc.returncode


def log_text(path: Path) -> str:
    return path.read_text(encoding="utf-8", errors="replace") if path.exists() else ""


@dataclass(frozen=True)
class Diag:
    t: float
    level: int
    message: str
    values: dict[str, str]


def camera_image() -> Image:
    rgb = np.random.default_rng(0).integers(0, 256, size=(64, 64, 3), dtype=np.uint8)
    msg = Image(height=64, width=64, encoding="rgb8", is_bigendian=0, step=64 * 3)
    msg.header.frame_id = ROS.frames.camera
    msg.data = rgb.tobytes()
    return msg


def laser_scan() -> LaserScan:
    msg = LaserScan()
    msg.header.frame_id = ROS.frames.laser
    msg.angle_min, msg.angle_increment = -math.pi, 2 * math.pi / 360
    msg.angle_max = msg.angle_min + 359 * msg.angle_increment
    msg.range_min, msg.range_max = 0.05, 8.0
    msg.ranges = [2.0 + math.sin(i / 20.0) for i in range(360)]
    return msg


class Robot(SpinningNode):
    """Camera, lidar and instruction publishers at 10 Hz, recorders of the agent's outputs, one spin thread."""

    def __init__(self, domain: int) -> None:
        super().__init__(domain, "agent_test", start=False)
        reliable = QoSProfile(depth=10)
        sensor = QoSProfile(depth=1, reliability=ReliabilityPolicy.BEST_EFFORT)
        self.camera_pub = self.node.create_publisher(Image, TOPICS.camera, sensor)
        self.scan_pub = self.node.create_publisher(LaserScan, TOPICS.scan, sensor)
        self.instruction_pub = self.node.create_publisher(String, TOPICS.instruction, reliable)
        self.variant_pub = self.node.create_publisher(String, TOPICS.variant, reliable)
        self.lock = threading.Lock()
        self.outputs: list[tuple[float, float, float]] = []
        self.diagnostics: list[Diag] = []
        self.timing: list[tuple[float, dict[str, str]]] = []
        """(received on the system clock, values) of the agent's per-tick timing messages."""
        self.node.create_subscription(Twist, TOPICS.cmd_nav, self._on_output, reliable)
        self.node.create_subscription(DiagnosticArray, TOPICS.diagnostics, self._on_diagnostics, reliable)
        self.node.create_subscription(DiagnosticStatus, TOPICS.agent_timing, self._on_timing, reliable)
        self.camera = True
        self.scan = True
        self.instruction: str | None = INSTRUCTION
        self.stamping: Callable[[], float] | None = None
        """The header stamp (s, system clock) of the next camera and scan messages; None: unstamped (zero)."""
        self._image, self._scan = camera_image(), laser_scan()
        self.node.create_timer(1.0 / INPUT_HZ, self._publish_inputs)
        self.start()

    def fresh(self) -> None:
        self.camera, self.scan, self.instruction, self.stamping = True, True, INSTRUCTION, None

    def connected(self) -> bool:
        publishers = (self.camera_pub, self.scan_pub, self.instruction_pub, self.variant_pub)
        return all(p.get_subscription_count() > 0 for p in publishers)

    def _publish_inputs(self) -> None:
        stamp = 0.0 if self.stamping is None else self.stamping()
        for msg in (self._image, self._scan):
            msg.header.stamp.sec, msg.header.stamp.nanosec = int(stamp), int(round((stamp % 1.0) * 1e9)) % 10**9
        if self.camera:
            self.camera_pub.publish(self._image)
        if self.scan:
            self.scan_pub.publish(self._scan)
        if self.instruction is not None:
            self.instruction_pub.publish(String(data=self.instruction))

    def _on_output(self, msg: Twist) -> None:
        with self.lock:
            self.outputs.append((time.monotonic(), msg.linear.x, msg.angular.z))

    def _on_diagnostics(self, msg: DiagnosticArray) -> None:
        now = time.monotonic()
        with self.lock:
            for s in msg.status:
                if s.name == "nav: agent":
                    values = {kv.key: kv.value for kv in s.values}
                    self.diagnostics.append(Diag(now, int.from_bytes(s.level, "little"), s.message, values))

    def _on_timing(self, msg: DiagnosticStatus) -> None:
        now = time.time()
        with self.lock:
            self.timing.append((now, {kv.key: kv.value for kv in msg.values}))

    def since(self, t0: float, until: float = math.inf) -> list[tuple[float, float, float]]:
        with self.lock:
            return [o for o in self.outputs if t0 <= o[0] < until]

    def wait_output(self, match: Callable[[float, float], bool], since: float, timeout: float) -> float | None:
        """Receipt time of the first output after ``since`` that ``match``es, or None after ``timeout``."""
        deadline = time.monotonic() + timeout
        while True:
            for t, linear, angular in self.since(since):
                if match(linear, angular):
                    return t
            if time.monotonic() > deadline:
                return None
            time.sleep(0.005)

    def wait_diag(self, match: Callable[[Diag], bool], since: float, timeout: float = DIAG_WAIT) -> Diag | None:
        deadline = time.monotonic() + timeout
        while True:
            with self.lock:
                found = next((d for d in self.diagnostics if d.t >= since and match(d)), None)
            if found is not None or time.monotonic() > deadline:
                return found
            time.sleep(0.02)

    def last_diag(self) -> Diag | None:
        with self.lock:
            return self.diagnostics[-1] if self.diagnostics else None


def is_zero(linear: float, angular: float) -> bool:
    return linear == 0.0 and angular == 0.0


def is_driving(d: Diag) -> bool:
    return d.message == "driving"


def wait_ready(robot: Robot, proc: subprocess.Popen[bytes], log: Path) -> None:
    """Until the agent's first diagnostics arrive and every test publisher has matched it."""
    deadline = time.monotonic() + STARTUP_TIMEOUT
    while robot.last_diag() is None or not robot.connected():
        assert proc.poll() is None, f"the agent exited with {proc.returncode}:\n{log_text(log)}"
        assert time.monotonic() < deadline, f"the agent did not come up in {STARTUP_TIMEOUT} s:\n{log_text(log)}"
        time.sleep(0.05)


# ============================================================================================ no model
def test_without_a_model_the_agent_publishes_zero_and_says_why(tmp_path: Path) -> None:
    """(f) Runs first, in its own domain: an agent with an empty models_dir stays up and holds zero."""
    models_dir = tmp_path / "models"
    models_dir.mkdir()
    log = tmp_path / "agent.log"
    robot = Robot(NO_MODEL_DOMAIN)
    proc = start_agent(models_dir, log, NO_MODEL_DOMAIN)
    try:
        wait_ready(robot, proc, log)  # inputs are all fresh from here on
        diag = robot.wait_diag(lambda d: True, since=time.monotonic())  # one with ticks behind it
        assert diag is not None
        assert diag.message.startswith("no model files under") and str(models_dir) in diag.message
        assert diag.level == int.from_bytes(DiagnosticStatus.WARN, "little")
        assert diag.values["reason"] == diag.message
        t0 = time.monotonic()
        time.sleep(1.5)
        window = robot.since(t0)
        assert len(window) >= 0.8 * CONTROL_HZ * 1.5, f"{len(window)} commands in 1.5 s"
        assert all(is_zero(lin, ang) for _, lin, ang in window)
        assert proc.poll() is None, "the agent exited instead of holding zero"
        text = log_text(log)
        assert "publishing zero velocity" in text
        assert text.count("no model files under") <= 2, "the reason is logged at start-up, not every tick"
    finally:
        rc = stop(proc)
        robot.close()
    assert rc == 0, log_text(log)


def test_a_tampered_variant_is_refused_and_the_agent_runs_an_intact_one(tmp_path: Path) -> None:
    """Issue 18 item 2: one bad weights file no longer takes the agent down; the diagnostics name it."""
    models_dir = tmp_path / "models"
    for variant in ("small", "medium"):
        save_untrained(models_dir, variant)
    weights = models_dir / "medium" / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:-1] + b"\x00")
    log = tmp_path / "agent.log"
    robot = Robot(NO_MODEL_DOMAIN)
    proc = start_agent(models_dir, log, NO_MODEL_DOMAIN, variant="medium")
    try:
        wait_ready(robot, proc, log)
        diag = robot.wait_diag(lambda d: True, since=time.monotonic())
        assert diag is not None and "refused variants: medium" in diag.message, diag
        assert diag.values["loaded_variants"] == "small" and "SHA-256 mismatch" in diag.values["refused_variants"]
        assert diag.level == int.from_bytes(DiagnosticStatus.WARN, "little")
        assert proc.poll() is None, "the agent exited"
        text = log_text(log)
        assert "variant 'medium' refused" in text and "running 'small' instead" in text
    finally:
        rc = stop(proc)
        robot.close()
    assert rc == 0, log_text(log)


def test_a_restarted_agent_takes_back_the_instruction_of_its_run(tmp_path: Path, monkeypatch) -> None:
    """Issue 18 item 3: an instruction published once survives a SIGKILL and restart in the same run."""
    monkeypatch.setenv("NAV_STATE_DIR", str(tmp_path / "state"))
    models_dir = tmp_path / "models"
    save_untrained(models_dir, "small")
    log = tmp_path / "agent.log"
    robot = Robot(NO_MODEL_DOMAIN)
    proc = start_agent(models_dir, log, NO_MODEL_DOMAIN, run_id="run-a")
    try:
        wait_ready(robot, proc, log)
        assert robot.wait_diag(is_driving, since=time.monotonic(), timeout=10.0) is not None
        robot.instruction = None  # published no more: only the agent's state holds it now
        proc.kill()
        proc.wait()
        killed = time.monotonic()
        proc = start_agent(models_dir, log, NO_MODEL_DOMAIN, run_id="run-a")
        driving = robot.wait_diag(is_driving, since=killed, timeout=STARTUP_TIMEOUT)
        assert driving is not None, log_text(log)
        moving = robot.wait_output(lambda lin, ang: not is_zero(lin, ang), since=killed, timeout=5.0)
        assert moving is not None
        print(f"restart to driving: {moving - killed:.1f} s")
        assert "resuming the instruction taken before this restart: 'go to the red cube'" in log_text(log)
        stop(proc)
        proc = start_agent(models_dir, log, NO_MODEL_DOMAIN, run_id="run-b")  # a new run resumes nothing
        diag = robot.wait_diag(lambda d: True, since=time.monotonic(), timeout=STARTUP_TIMEOUT)
        assert diag is not None and diag.message.startswith("no instruction"), diag
    finally:
        rc = stop(proc)
        robot.close()
    assert rc == 0, log_text(log)


def test_an_agent_started_with_an_instruction_drives_without_one_on_the_topic(tmp_path: Path) -> None:
    """A robot's bringup with ``--instruction``: the agent's first goal, no publisher of the instruction topic."""
    save_untrained(tmp_path / "models", "small")
    log = tmp_path / "agent.log"
    robot = Robot(NO_MODEL_DOMAIN)
    robot.instruction = None  # nothing on the instruction topic
    proc = start_agent(tmp_path / "models", log, NO_MODEL_DOMAIN, instruction=INSTRUCTION)
    try:
        wait_ready(robot, proc, log)
        assert robot.wait_diag(is_driving, since=0.0, timeout=10.0), log_text(log)
        assert f"new instruction: {INSTRUCTION!r}" in log_text(log)
    finally:
        rc = stop(proc)
        robot.close()
    assert rc == 0, log_text(log)


# ============================================================================================ one agent
@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory) -> Path:
    models_dir = tmp_path_factory.mktemp("agent") / "models"
    for variant in ("small", "medium"):
        save_untrained(models_dir, variant)
    return models_dir


@pytest.fixture(scope="module")
def robot() -> Iterator[Robot]:
    robot = Robot(DOMAIN)
    yield robot
    robot.close()


@pytest.fixture(scope="module")
def agent(robot: Robot, models: Path) -> Iterator[tuple[subprocess.Popen[bytes], Path]]:
    log = models.parent / "agent.log"
    proc = start_agent(models, log, DOMAIN)
    try:
        wait_ready(robot, proc, log)
        yield proc, log
    finally:
        stop(proc)
        print(log_text(log)[-1500:])


@pytest.fixture
def driving(robot: Robot, agent: tuple[subprocess.Popen[bytes], Path]) -> Iterator[Robot]:
    """Every input fresh and the agent saying "driving"; afterwards every input fresh again."""
    robot.fresh()
    assert robot.wait_diag(is_driving, since=time.monotonic()), f"not driving:\n{log_text(agent[1])}"
    yield robot
    robot.fresh()


def test_fresh_inputs_give_commands_at_the_control_rate(driving: Robot) -> None:
    t0 = time.monotonic()
    time.sleep(2.0)
    window = driving.since(t0, t0 + 2.0)
    rate = len(window) / 2.0
    print(f"\nagent output rate {rate:.1f} Hz (control_hz {CONTROL_HZ:g})")
    assert 0.8 * CONTROL_HZ <= rate <= 1.2 * CONTROL_HZ
    assert all(math.isfinite(lin) and math.isfinite(ang) for _, lin, ang in window)
    assert any(not is_zero(lin, ang) for _, lin, ang in window), "driving, yet every command was zero"
    diag = driving.wait_diag(lambda d: True, since=time.monotonic())
    assert diag is not None and diag.message == "driving"
    assert diag.level == int.from_bytes(DiagnosticStatus.OK, "little")
    assert diag.values["variant"] == "small" and diag.values["reason"] == ""
    for key in ("tick_p50_ms", "tick_p99_ms", "deadline_ms", "deadline_misses", "ticks"):
        assert key in diag.values, key
    assert 0.0 < float(diag.values["tick_p50_ms"]) <= float(diag.values["tick_p99_ms"])
    assert float(diag.values["deadline_ms"]) == pytest.approx(1000.0 * PERIOD, abs=0.1)
    ticks, misses = int(diag.values["ticks"]), int(diag.values["deadline_misses"])
    assert ticks > 0
    assert 0 <= misses <= ticks, "a miss is a tick that overran: there cannot be more misses than ticks"
    print(f"tick p50 {diag.values['tick_p50_ms']} ms, p99 {diag.values['tick_p99_ms']} ms")


@pytest.mark.parametrize(
    ("sensor", "timeout"), [("camera", ROS.agent.camera_timeout), ("scan", ROS.agent.scan_timeout)]
)
def test_a_stale_sensor_gives_exactly_zero_then_driving_resumes(
    driving: Robot, agent: tuple[subprocess.Popen[bytes], Path], sensor: str, timeout: float
) -> None:
    setattr(driving, sensor, False)  # the sensor goes silent
    t0 = time.monotonic()
    stopped = driving.wait_output(is_zero, since=t0, timeout=timeout + 1.0)
    assert stopped is not None, f"no zero command after the {sensor} went silent"
    print(f"\n{sensor} silent -> zero command after {1000 * (stopped - t0):.0f} ms (timeout {timeout:g} s)")
    assert timeout - 2 / INPUT_HZ <= stopped - t0 <= timeout + 2 * PERIOD
    diag = driving.wait_diag(lambda d: d.message != "driving", since=stopped)
    assert diag is not None
    assert diag.message.startswith((f"{sensor} stale", f"no {sensor}")), diag.message
    assert diag.level == int.from_bytes(DiagnosticStatus.WARN, "little")
    held = driving.since(stopped)
    assert len(held) >= 5 and all(is_zero(lin, ang) for _, lin, ang in held), "not held at zero while stale"
    assert log_text(agent[1]).count(f"zero velocity: {sensor} stale") == 1, "logged once, not every tick"

    setattr(driving, sensor, True)
    t1 = time.monotonic()
    assert driving.wait_diag(is_driving, since=t1), f"not driving again after the {sensor} came back"
    assert driving.wait_output(lambda lin, ang: not is_zero(lin, ang), since=t1, timeout=1.0)


def test_sensors_stamped_seconds_ago_or_going_backwards_give_zero_then_driving_resumes(
    driving: Robot, agent: tuple[subprocess.Popen[bytes], Path]
) -> None:
    """Issue 18 item 4: a stamp is the time the data was taken; the agent's ROS clock is the system clock here."""
    driving.stamping = time.time
    t0 = time.monotonic()
    assert driving.wait_diag(is_driving, since=t0 + 0.5), "correctly stamped messages must drive"

    driving.stamping = lambda: time.time() - 5.0  # stamped 5 s in the past, though they arrive at once
    t1 = time.monotonic()
    stopped = driving.wait_output(is_zero, since=t1, timeout=1.0)
    assert stopped is not None and stopped - t1 <= 2 / INPUT_HZ + 2 * PERIOD, "no zero for messages stamped 5 s ago"
    diag = driving.wait_diag(lambda d: d.message != "driving", since=stopped)
    assert diag is not None and re.match(r"(camera|scan) stale \(5\.\d\d s old by header stamp", diag.message), diag
    assert "is the sensor's clock behind this computer's?" in diag.message

    driving.stamping = time.time
    assert driving.wait_diag(is_driving, since=time.monotonic()), "not driving again with fresh stamps"

    base, count = time.time(), iter(range(10**6))
    driving.stamping = lambda: base - 0.2 * next(count)  # each message stamped 0.2 s before the one before it
    t2 = time.monotonic()
    stopped = driving.wait_output(is_zero, since=t2, timeout=1.0)
    assert stopped is not None and stopped - t2 <= 2 / INPUT_HZ + 2 * PERIOD, "no zero for stamps going backwards"
    diag = driving.wait_diag(lambda d: d.message != "driving", since=stopped)
    assert diag is not None and "rejected: header stamp went back 0.200 s" in diag.message, diag
    held = driving.since(stopped)
    assert len(held) >= 5 and all(is_zero(lin, ang) for _, lin, ang in held)
    assert "message refused: header stamp went back" in log_text(agent[1])

    driving.stamping = time.time
    assert driving.wait_diag(is_driving, since=time.monotonic()), "not driving again once stamps go forward"


def test_a_driving_tick_runs_on_the_frame_that_arrives_while_it_waits(driving: Robot) -> None:
    """``agent.image_wait``: a due tick waits for the next frame, so its command is not computed from a frame that sat
    waiting for the timer. Frames come every 40 ms (inside the wait), stamped when sent; a tick's timing message
    names its frame. Had the tick taken the newest frame at its timer instead, the frame would have waited 20 ms on
    average before the tick began."""
    assert ROS.agent.frame_wait > 0.04, "the test needs frames to come within the wait"
    stop_frames = threading.Event()
    frame = camera_image()

    def frames() -> None:
        while not stop_frames.wait(0.04):
            t = time.time()
            frame.header.stamp.sec, frame.header.stamp.nanosec = int(t), int((t % 1.0) * 1e9)
            driving.camera_pub.publish(frame)

    driving.camera = False  # the 10 Hz camera steps aside
    thread = threading.Thread(target=frames, daemon=True)
    thread.start()
    try:
        time.sleep(0.5)
        t0 = time.time()
        time.sleep(2.5)
    finally:
        stop_frames.set()
        thread.join()
    with driving.lock:
        ticks = [(t, v) for t, v in driving.timing if t >= t0 and v.get("inferred") == "true"]
    assert len(ticks) >= 15, f"only {len(ticks)} driving ticks in 2.5 s"
    # the frame's age when the tick's timing message arrived, less the tick's own work: its wait and two hops
    waited = [1e3 * (t - float(v["image_stamp"])) - float(v["tick_ms"]) for t, v in ticks]
    print(f"\nframe age at the tick less its work: p50 {np.median(waited):.1f} ms over {len(ticks)} ticks")
    assert np.median(waited) < 10.0


def test_an_empty_instruction_is_rejected_with_zero_until_a_valid_one(
    driving: Robot, agent: tuple[subprocess.Popen[bytes], Path]
) -> None:
    t0 = time.monotonic()
    driving.instruction = "   "
    driving.instruction_pub.publish(String(data="   "))
    stopped = driving.wait_output(is_zero, since=t0, timeout=1.0)
    assert stopped is not None and stopped - t0 <= 2 * PERIOD + 0.1
    diag = driving.wait_diag(lambda d: d.message != "driving", since=stopped)
    assert diag is not None and diag.message.startswith("instruction rejected"), diag
    time.sleep(0.3)
    assert all(is_zero(lin, ang) for _, lin, ang in driving.since(stopped))
    assert "instruction rejected, stopping" in log_text(agent[1])

    t1 = time.monotonic()
    driving.instruction = INSTRUCTION
    assert driving.wait_diag(is_driving, since=t1), "a valid instruction did not restart the agent"
    assert driving.wait_output(lambda lin, ang: not is_zero(lin, ang), since=t1, timeout=1.0)


def test_a_variant_switch_keeps_the_control_rate(driving: Robot, agent: tuple[subprocess.Popen[bytes], Path]) -> None:
    t0 = time.monotonic()
    time.sleep(0.5)
    for variant in ("medium", "small"):  # there and back: the module's agent ends as it began
        t_switch = time.monotonic()
        driving.variant_pub.publish(String(data=variant))
        diag = driving.wait_diag(lambda d, v=variant: d.values.get("variant") == v, since=t_switch)
        assert diag is not None, f"the diagnostics never reported variant {variant}:\n{log_text(agent[1])}"
        assert diag.message == "driving"
        time.sleep(0.5)
    window = driving.since(t0)
    gaps = np.diff([t for t, _, _ in window])
    print(f"\n{len(window)} commands across two switches; largest gap {1000 * gaps.max():.0f} ms")
    assert gaps.max() <= 2 * PERIOD, f"a {gaps.max():.3f} s gap in the commands across a variant switch"
    assert "switching to variant 'medium'" in log_text(agent[1])


def _wait(future, what: str):  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + 5.0
    while not future.done():
        assert time.monotonic() < deadline, f"no answer to {what}"
        time.sleep(0.01)
    return future.result()


def test_the_variant_is_a_ros_parameter_switched_without_a_missed_tick_and_bad_values_are_refused(
    driving: Robot, agent: tuple[subprocess.Popen[bytes], Path]
) -> None:
    from rclpy.parameter import Parameter
    from rclpy.parameter_client import AsyncParameterClient

    client = AsyncParameterClient(driving.node, "agent")
    assert client.wait_for_services(timeout_sec=5.0), "the agent offers no parameter services"
    names = set(_wait(client.list_parameters(), "list_parameters").result.names)
    assert {"variant", "models_dir", "control_hz", "camera_timeout", "scan_timeout", "use_header_stamps"} <= names
    (now,) = _wait(client.get_parameters(["variant"]), "get_parameters").values
    assert now.string_value == "small"

    t0 = time.monotonic()
    time.sleep(0.5)
    for variant in ("medium", "small"):
        t_switch = time.monotonic()
        (result,) = _wait(client.set_parameters([Parameter("variant", value=variant)]), "set variant").results
        assert result.successful, result.reason
        diag = driving.wait_diag(lambda d, v=variant: d.values.get("variant") == v, since=t_switch)
        assert diag is not None and diag.message == "driving", f"not driving {variant}:\n{log_text(agent[1])}"
        time.sleep(0.5)
    gaps = np.diff([t for t, _, _ in driving.since(t0)])
    assert gaps.max() <= 2 * PERIOD, f"a {gaps.max():.3f} s gap in the commands across a variant switch"

    refusals = [Parameter("variant", value="large"), Parameter("scan_timeout", value=-1.0)]
    for parameter in refusals:
        (result,) = _wait(client.set_parameters([parameter]), f"set {parameter.name}").results
        assert not result.successful and result.reason, parameter.name
    (result,) = _wait(client.set_parameters([Parameter("control_hz", value=50.0)]), "set control_hz").results
    assert not result.successful, "the control rate is read-only while the agent runs"
    assert "variant: 'large' is not loaded" in log_text(agent[1])


def test_sigint_publishes_zero_and_exits_cleanly(driving: Robot, agent: tuple[subprocess.Popen[bytes], Path]) -> None:
    proc, log = agent  # last: it stops the module's agent
    t0 = time.monotonic()
    assert stop(proc) == 0, log_text(log)
    time.sleep(0.1)
    final = driving.since(t0)
    assert final and is_zero(*final[-1][1:]), "no zero command on the way out"
