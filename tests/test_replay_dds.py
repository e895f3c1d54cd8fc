"""``nav replay`` of another robot's recording into the agent node, over real DDS (issue 16).

``nav replay --topics /scan`` plays the TurtleBot3 bag's LaserScans (``../shared/bags``: 102 of
them, 360 beams, about 3.7 Hz, gaps up to 0.74 s between log times) into a live agent node
(``python -m nav.nodes.agent_node`` with an UNTRAINED small model that drives, see
``untrained_models``). The test process plays the rest of the robot: a fresh synthetic camera (rgb8,
20 Hz) and the instruction. It records every command, every per-tick timing status, every scan and
the agent's diagnostics.

The bag is played slower than recorded (``RATE``) so that its gaps fall on both sides of the agent's
scan staleness limit. Each tick is then judged by the age of the newest scan at that tick, taken from
DDS source timestamps (when the replay sent the scan, when the agent sent the tick's command), so
delays inside the test process do not blur it. The agent got a scan after it was sent, so its own
age of that scan is at most this one: a tick younger than ``LIMIT - MARGIN`` is clear for it too.
A tick older than ``LIMIT + MARGIN`` is stale unless the agent took the scan more than ``MARGIN``
late. A tick within ``ARRIVAL`` of a scan's sending may have run before the agent had that scan, so
there the scan before it counts as well; a tick that came late (the agent held up) is not judged.

Clear ticks must mostly move (the model ran); stale ticks must all be exactly zero, the model not
run, and each stale gap must have the agent's "scan stale" stop in its log, timed inside the gap.

Whether the agent judges staleness on header stamps or on arrival does not matter here: the bag's
stamps are its simulator's clock (about 1400 s), years away from the node's, and the camera is
stamped with the test's clock as it is sent.
"""

from __future__ import annotations

import re
import subprocess
import sys
import threading
import time
from bisect import bisect_right
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus
from geometry_msgs.msg import Twist
from rclpy.qos import QoSProfile
from rclpy.subscription import MessageInfo
from sensor_msgs.msg import Image, LaserScan
from std_msgs.msg import String
from test_agent_node import STARTUP_TIMEOUT, camera_image, log_text, ros_env, start_agent, stop
from test_foreign_bags import TURTLEBOT3

from nav.bags.reader import BagReader
from nav.nodes.common import LATCHED_QOS, SENSOR_QOS
from nav.runtime.config import load_ros_config
from ros_harness import SpinningNode
from untrained_models import save_untrained

pytestmark = pytest.mark.dds

DOMAIN = 220  # this module's own DDS domain (200..229 are free: see test_agent_node and test_graph)
ROS = load_ros_config()
TOPICS = ROS.topics
LIMIT = ROS.agent.scan_timeout
CAMERA_LIMIT = ROS.agent.camera_timeout
PERIOD = 1.0 / ROS.agent.control_hz
INSTRUCTION = "go to the red cube"
CAMERA_HZ = 20.0
RATE = 0.75
"""Replay speed: at 0.75 the bag's usual 0.22 s scan gaps (0.29 s played) stay well under the 0.5 s
limit and its slowest ones (0.74 s, 0.65 s, 0.56 s) pass it by 0.25 to 0.49 s: about 360 ticks are
judged, a dozen of them stale, in 37 s."""
MARGIN = 0.1
"""s either side of the limit in which a tick is judged neither clear nor stale (delivery jitter)."""
ARRIVAL = 0.1
"""s after a scan was sent in which the agent may not have it yet."""
STALE_LOG = re.compile(r"\[(\d+\.\d+)\] \[agent\]: zero velocity: scan stale \(")
"""The agent's log line for a stop on a stale scan (rcutils' default format: severity, system time, name)."""


def to_s(stamp_ns: int) -> float:
    return stamp_ns * 1e-9


@dataclass(frozen=True)
class Tick:
    t: float
    """When the agent sent the tick's command (DDS source timestamp, s of the system clock)."""
    linear: float
    angular: float
    inferred: bool | None
    """The tick's ``agent_timing`` status said the model ran (None: no status matched the command)."""
    late: bool
    """More than 1.5 periods after the tick before: the agent was held up, and may have run this tick
    before taking the messages that arrived meanwhile (it judges them on its own arrival times)."""

    @property
    def zero(self) -> bool:
        return self.linear == 0.0 and self.angular == 0.0


class Robot(SpinningNode):
    """Camera and instruction publishers; recorders of scans, commands, timing statuses and diagnostics."""

    def __init__(self, domain: int) -> None:
        super().__init__(domain, "replay_test", start=False)
        reliable = QoSProfile(depth=100)
        self.camera_pub = self.node.create_publisher(Image, TOPICS.camera, SENSOR_QOS)
        self.instruction_pub = self.node.create_publisher(String, TOPICS.instruction, LATCHED_QOS)
        self.lock = threading.Lock()
        self.scans: list[float] = []  # source timestamps (s)
        self.camera_sent: list[float] = []
        self.commands: list[tuple[float, float, float]] = []
        self.timing: list[tuple[float, bool]] = []
        self.diagnostics: list[tuple[float, str]] = []
        self.node.create_subscription(LaserScan, TOPICS.scan, self._on_scan, SENSOR_QOS)
        self.node.create_subscription(Twist, TOPICS.cmd_nav, self._on_command, reliable)
        self.node.create_subscription(DiagnosticStatus, TOPICS.agent_timing, self._on_timing, reliable)
        self.node.create_subscription(DiagnosticArray, TOPICS.diagnostics, self._on_diagnostics, reliable)
        self._image = camera_image()
        self._instruction_due = 0.0
        self.node.create_timer(1.0 / CAMERA_HZ, self._publish_inputs)
        self.start()

    def _publish_inputs(self) -> None:
        self._image.header.stamp = self.node.get_clock().now().to_msg()
        with self.lock:
            self.camera_sent.append(time.time())
        self.camera_pub.publish(self._image)
        if time.monotonic() >= self._instruction_due:  # latched, and repeated once a second as a sim node does
            self.instruction_pub.publish(String(data=INSTRUCTION))
            self._instruction_due = time.monotonic() + 1.0

    def _on_scan(self, msg: LaserScan, info: MessageInfo) -> None:
        with self.lock:
            self.scans.append(to_s(info["source_timestamp"]))

    def _on_command(self, msg: Twist, info: MessageInfo) -> None:
        with self.lock:
            self.commands.append((to_s(info["source_timestamp"]), msg.linear.x, msg.angular.z))

    def _on_timing(self, msg: DiagnosticStatus, info: MessageInfo) -> None:
        inferred = {kv.key: kv.value for kv in msg.values}.get("inferred")
        with self.lock:
            self.timing.append((to_s(info["source_timestamp"]), inferred == "true"))

    def _on_diagnostics(self, msg: DiagnosticArray, info: MessageInfo) -> None:
        with self.lock:
            for status in msg.status:
                if status.name == "nav: agent":
                    self.diagnostics.append((to_s(info["source_timestamp"]), status.message))

    def connected(self) -> bool:
        return self.camera_pub.get_subscription_count() > 0 and self.instruction_pub.get_subscription_count() > 0

    def last_diagnostic(self) -> str | None:
        with self.lock:
            return self.diagnostics[-1][1] if self.diagnostics else None

    def ticks(self) -> list[Tick]:
        """Every command, with the timing status the agent sent just after it in the same tick."""
        with self.lock:
            commands, timing = list(self.commands), sorted(self.timing)
        stamps = [t for t, _ in timing]
        ticks, previous = [], -float("inf")
        for t, linear, angular in sorted(commands):
            i = bisect_right(stamps, t)  # the status is published right after the command
            inferred = timing[i][1] if i < len(timing) and timing[i][0] - t < PERIOD / 2 else None
            ticks.append(Tick(t, linear, angular, inferred, t - previous > 1.5 * PERIOD))
            previous = t
        return ticks


def scan_age(t: float, scans: list[float]) -> tuple[float, float] | None:
    """The ages at ``t`` of the newest scan sent before it and of the one before that (inf: none)."""
    i = bisect_right(scans, t)
    if i == 0:
        return None
    return t - scans[i - 1], (t - scans[i - 2]) if i >= 2 else float("inf")


def classify(tick: Tick, scans: list[float], camera: list[float]) -> str | None:
    """``clear``, ``stale`` or None (too near the limit, a late tick, or the camera was late, to say)."""
    ages = scan_age(tick.t, scans)
    i = bisect_right(camera, tick.t)
    if ages is None or tick.late or i == 0 or tick.t - camera[i - 1] > CAMERA_LIMIT - MARGIN:
        return None
    newest, previous = ages
    agent_age = previous if newest < ARRIVAL else newest  # the older one, if the agent may not have the newest
    if agent_age < LIMIT - MARGIN:
        return "clear"
    if newest > LIMIT + MARGIN:
        return "stale"
    return None


@pytest.fixture
def models(tmp_path: Path) -> Path:
    save_untrained(tmp_path / "models", "small")
    return tmp_path / "models"


def test_replayed_scans_drive_the_agent_when_clear_and_stop_it_with_a_reason_when_stale(
    tmp_path: Path, models: Path
) -> None:
    assert TURTLEBOT3.exists(), f"{TURTLEBOT3} is missing: the shared recordings sit in ../shared/bags"
    with BagReader(TURTLEBOT3) as bag:
        assert bag.info is not None
        n_scans = bag.info.topics["/scan"][1]
        play_s = (bag.info.end_ns - bag.info.start_ns) * 1e-9 / RATE
    agent_log, replay_log = tmp_path / "agent.log", tmp_path / "replay.log"
    robot = Robot(DOMAIN)
    agent = start_agent(models, agent_log, DOMAIN)
    started = time.monotonic()
    try:
        # Instruction taken and camera fresh: the agent waits for nothing but a scan.
        deadline = started + STARTUP_TIMEOUT
        while robot.last_diagnostic() != "no scan message yet" or not robot.connected():
            assert agent.poll() is None, f"the agent exited with {agent.returncode}:\n{log_text(agent_log)}"
            assert time.monotonic() < deadline, f"the agent was not waiting for a scan:\n{log_text(agent_log)}"
            time.sleep(0.05)
        ready = time.monotonic()
        cmd = [sys.executable, "-m", "nav.cli", "replay", str(TURTLEBOT3), "--rate", str(RATE), "--topics", "/scan"]
        cmd += ["--wait-for", "2", "--discovery-timeout", "20"]  # the agent's and our own subscription matched
        with replay_log.open("wb") as sink:
            replay = subprocess.run(
                cmd, env=ros_env(DOMAIN), stdout=sink, stderr=subprocess.STDOUT, timeout=play_s + 30.0
            )
        time.sleep(0.3)  # the last commands in flight
    finally:
        rc = stop(agent)
        robot.close()
    print(f"\nagent up in {ready - started:.1f} s; replay took {time.monotonic() - ready:.1f} s at {RATE:g}x")
    text = log_text(replay_log)
    assert replay.returncode == 0, text
    assert f"published {n_scans} messages" in text, text
    assert rc == 0, log_text(agent_log)

    scans, camera = sorted(robot.scans), sorted(robot.camera_sent)
    assert len(scans) >= n_scans - 2, f"{len(scans)} of the bag's {n_scans} scans arrived"
    gaps = np.diff(scans)
    # The replayed gaps are what the test needs: mostly well under the limit, a few well over it.
    assert np.mean(gaps < LIMIT - MARGIN) >= 0.6 and gaps.max() > LIMIT + 2 * MARGIN, np.round(gaps, 2)

    ticks = robot.ticks()
    window = [t for t in ticks if scans[2] <= t.t <= scans[-1]]  # scans flowing, both ends matched
    rate = len(window) / (scans[-1] - scans[2])
    assert rate >= 0.8 / PERIOD, f"{rate:.1f} commands a second: the agent publishes one every tick"
    kinds: dict[str, list[Tick]] = {"clear": [], "stale": []}
    for tick in window:
        kind = classify(tick, scans, camera)
        if kind is not None:
            kinds[kind].append(tick)
    clear, stale = kinds["clear"], kinds["stale"]
    stale_gaps: dict[int, Tick] = {}  # a stale run follows its own last scan: that scan's index -> its first tick
    for tick in stale:
        stale_gaps.setdefault(bisect_right(scans, tick.t) - 1, tick)
    driving = [t for t in clear if not t.zero]
    newest = [(t.t - scans[bisect_right(scans, t.t) - 1], t.inferred) for t in window]  # for the record only
    ran = [age for age, inferred in newest if inferred and age >= ARRIVAL]
    held = [age for age, inferred in newest if inferred is False and age >= ARRIVAL]
    agent_text = log_text(agent_log)
    stops = [line for line in agent_text.splitlines() if "zero velocity:" in line]
    print(
        f"{len(window)} ticks ({sum(t.late for t in window)} late): {len(clear)} clear ({len(driving)} non-zero), "
        f"{len(stale)} stale in {len(stale_gaps)} gaps (zero: {sum(t.zero for t in stale)}); largest gap "
        f"{gaps.max():.2f} s; the model ran at scan ages up to {max(ran, default=0):.3f} s, held from "
        f"{min(held, default=0):.3f} s"
    )
    assert len(clear) >= 100 and len(stale) >= 5 and len(stale_gaps) >= 3, "the replay gave too few ticks to judge"

    # Clear scan: the policy drives. Untrained, it turns slowly (about 1e-3 rad/s, linear 0.0), so only
    # that it moves is asserted, not how: exactly zero is the agent's stop, never a policy's output here.
    why = "\n".join(stops[-20:])
    assert len(driving) >= 0.9 * len(clear), f"only {len(driving)} of {len(clear)} clear ticks moved; stops:\n{why}"
    assert sum(t.inferred is True for t in clear) >= 0.9 * len(clear), "the timing status says the model did not run"
    # Stale scan: exactly zero, the model not run, and the reason named.
    moving = [(round(t.t - scans[0], 2), t.linear, t.angular) for t in stale if not t.zero]
    assert not moving, f"stale-scan ticks that moved (s since the first scan, linear, angular): {moving}"
    assert all(t.inferred is False for t in stale if t.inferred is not None), "a stale tick says the model ran"
    assert sum(t.inferred is not None for t in stale) >= 0.8 * len(stale), "stale ticks without a timing status"
    assert all(t.zero for t in window if t.inferred is False), "a tick without inference must command zero"
    # The agent logs each stop once, as it begins (its line's time is on the same system clock as DDS's
    # source timestamps): every stale gap has its "scan stale" line, after the limit and by its first stale tick.
    logged = [float(m.group(1)) for m in STALE_LOG.finditer(agent_text)]
    for i, first in sorted(stale_gaps.items()):
        since = scans[i] + LIMIT - MARGIN
        assert any(since < t <= first.t + 0.2 for t in logged), (
            f"no 'scan stale' stop logged {since - scans[0]:.2f}..{first.t + 0.2 - scans[0]:.2f} s after the first "
            f"scan; logged at {[round(t - scans[0], 2) for t in logged]}:\n{agent_text}"
        )
    # The 1 Hz diagnostics describe the tick before them: where that tick is judged, they agree with it.
    sampled = {"clear": 0, "stale": 0}
    for t, message in robot.diagnostics:
        j = bisect_right([tick.t for tick in ticks], t) - 1
        kind = classify(ticks[j], scans, camera) if j >= 0 and scans[2] <= ticks[j].t <= scans[-1] else None
        if kind == "stale":
            assert message.startswith("scan stale ("), message
        elif kind == "clear" and ticks[j].inferred:
            assert message == "driving", message
        if kind is not None:
            sampled[kind] += 1
    assert sampled["clear"] >= 10, f"only {sampled} diagnostics fell on judged ticks"
