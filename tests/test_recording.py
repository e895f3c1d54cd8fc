"""Recording and replay over real DDS: a killed recorder, the sim-graph round trip, ``nav replay``.

The round trip records a short simulated run in which the agent drives with an UNTRAINED small
model saved by the test, then replay-evaluates that same model against its own recorded commands
(``/cmd_vel/nav``): the model known to match. The ``random`` pseudo-variant is the one known not to.
The sim node's teacher label (``/nav/teacher_cmd``) is in the bag and is the default reference.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from geometry_msgs.msg import Twist
from rclpy.qos import QoSProfile, ReliabilityPolicy
from std_msgs.msg import String

from nav.bags.reader import BagReader
from nav.bags.replay_eval import ReplayEvalConfig, replay_eval
from nav.graph.supervisor import BringupConfig, GraphProcesses
from nav.nodes.msgs import twist
from nav.runtime.config import load_ros_config
from ros_harness import SpinningNode
from untrained_models import save_untrained

# This module's DDS domains (10..29 are this feature's).
KILL_DOMAIN = {"mcap": 10, "sqlite3": 14}
GRAPH_DOMAIN = 15
REPLAY_DOMAIN = 12
TOPICS = load_ros_config().topics


def ros_env(domain: int) -> dict[str, str]:
    return dict(os.environ, ROS_DOMAIN_ID=str(domain), ROS_AUTOMATIC_DISCOVERY_RANGE="LOCALHOST", PYTHONUNBUFFERED="1")


class Talker(SpinningNode):
    def __init__(self, domain: int) -> None:
        super().__init__(domain, "talker")
        self.cmd = self.node.create_publisher(Twist, TOPICS.cmd_teleop, 10)
        self.text = self.node.create_publisher(String, TOPICS.variant, 10)


@pytest.mark.dds
@pytest.mark.parametrize("storage", ["mcap", "sqlite3"])
def test_a_killed_recorder_leaves_a_bag_that_opens(tmp_path: Path, storage: str) -> None:
    bag = tmp_path / "bag"
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "nav.nodes.recorder_node",
            "--ros-args",
            "-p",
            f"out:={bag}",
            "-p",
            f"storage:={storage}",
        ],
        env=ros_env(KILL_DOMAIN[storage]),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    talker = Talker(KILL_DOMAIN[storage])
    try:
        deadline = time.monotonic() + 60
        while talker.cmd.get_subscription_count() == 0:
            assert time.monotonic() < deadline and proc.poll() is None, "the recorder did not subscribe"
            time.sleep(0.1)
        sent = 0
        for i in range(40):  # 4 s at 10 Hz; the recorder flushes every record.flush_s (1 s)
            talker.cmd.publish(twist(0.1, 0.01 * i))
            sent += 1
            time.sleep(0.1)
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)
    finally:
        talker.close()
        if proc.poll() is None:
            proc.kill()
    assert "in_progress" in (bag / "metadata.yaml").read_text()
    with BagReader(bag) as reader:
        assert reader.info.recovered and reader.info.storage == storage
        got = [m.angular.z for _, _, _, m in reader.messages({TOPICS.cmd_teleop})]
    print(f"\n{len(got)} of {sent} commands survived the kill")
    assert len(got) >= sent - 25, "at most the last chunk (record.flush_s of data) is lost"
    assert got == pytest.approx([0.01 * i for i in range(len(got))]), "the first messages, in order"


class Listener(SpinningNode):
    def __init__(self, domain: int, topic: str) -> None:
        super().__init__(domain, "listener")
        self.count = 0
        qos = QoSProfile(depth=100, reliability=ReliabilityPolicy.BEST_EFFORT)
        self.node.create_subscription(Twist, topic, self._on, qos)
        self.lock = threading.Lock()

    def _on(self, msg: Twist) -> None:
        with self.lock:
            self.count += int(msg.linear.x != 0.0 or msg.angular.z != 0.0)


@pytest.mark.e2e
def test_record_a_sim_run_and_replay_evaluate_the_model_that_drove(tmp_path: Path) -> None:
    models = tmp_path / "models"
    save_untrained(models, "small")
    bag = tmp_path / "run"
    config = BringupConfig(
        sim=True,
        record=bag,
        node_params={
            "agent": {"models_dir": str(models), "variant": "small"},
            "sim": {"real_time": True, "publish_points": False},
        },
        env={"ROS_DOMAIN_ID": str(GRAPH_DOMAIN), "ROS_AUTOMATIC_DISCOVERY_RANGE": "LOCALHOST"},
        log_dir=tmp_path / "logs",
    )
    lines: list[str] = []
    listener = Listener(GRAPH_DOMAIN, TOPICS.cmd_nav)
    try:
        with GraphProcesses(config, out=lines.append) as graph:
            deadline = time.monotonic() + 150
            while listener.count < 60:  # 6 s of the agent driving
                graph.poll()
                assert time.monotonic() < deadline, "the agent did not drive:\n" + "\n".join(lines[-30:])
                time.sleep(0.1)
    finally:
        listener.close()
    with BagReader(bag) as reader:
        assert not reader.info.recovered, "a recorder stopped with SIGINT closes its bag"
        counts = {t: n for t, (_, n) in reader.info.topics.items()}
    for topic in (
        TOPICS.camera,
        TOPICS.camera_compressed,
        TOPICS.scan,
        TOPICS.odom,
        TOPICS.cmd_nav,
        TOPICS.cmd_out,
        TOPICS.teacher_cmd,
    ):
        assert counts[topic] > 20, f"{topic} recorded ({counts})"
    assert counts[TOPICS.instruction] >= 1 and counts[TOPICS.diagnostics] >= 1

    summary, _ = replay_eval(
        ReplayEvalConfig(
            bag=bag, models_dir=models, variants=("small", "random"), reference=TOPICS.cmd_nav, align="reference"
        ),
        log=print,
    )
    same, rand = summary["variants"]["small"], summary["variants"]["random"]
    print(f"\nsmall vs its own recording: {same}\nrandom: {rand}")
    assert same["compared_ticks"] >= 60
    assert same["mae_angular"] < 0.1 * rand["mae_angular"]
    assert same["mae_linear"] < 0.1 * rand["mae_linear"]
    assert same["turn_sign_agreement"] >= 0.9 > rand["turn_sign_agreement"]
    assert summary["real_time_factor"] > 0

    # Without --reference the sim's teacher label is the reference (topic_map.reference prefers it).
    by_default, _ = replay_eval(ReplayEvalConfig(bag=bag, models_dir=models, variants=("random",)), log=print)
    assert by_default["topics"]["reference"] == TOPICS.teacher_cmd
    assert by_default["variants"]["random"]["compared_ticks"] >= 60


@pytest.mark.dds
def test_nav_replay_publishes_a_bag_remapped_with_its_timing(tmp_path: Path) -> None:
    from test_bags import write_bag

    bag = write_bag(tmp_path / "bag", seconds=2.0)
    listener = Listener(REPLAY_DOMAIN, "/replayed_cmd")
    try:
        start = time.monotonic()
        proc = subprocess.run(
            [sys.executable, "-m", "nav.cli", "replay", str(bag), "--rate", "2", "--topics", "/nav/teacher_cmd"]
            + ["--remap", "/nav/teacher_cmd:=/replayed_cmd"],
            env=ros_env(REPLAY_DOMAIN),
            capture_output=True,
            text=True,
            timeout=120,
        )
        elapsed = time.monotonic() - start
        time.sleep(0.5)
    finally:
        listener.close()
    assert proc.returncode == 0, proc.stderr
    # write_bag's 20 commands all have a non-zero linear or angular part
    assert listener.count >= 17, proc.stdout + proc.stderr
    assert elapsed >= 0.9, "1.9 s of recording at 2x takes about a second"
