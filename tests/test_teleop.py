"""Teleop, as a specification: keyboard keys and joystick axes -> the command teleop publishes.

The pure state machines are tested directly; ``run_teleop`` runs once in a subprocess on a real
pseudo-terminal, with its messages received over DDS.
"""

from __future__ import annotations

import io
import math
import os
import signal
import subprocess
import sys
import termios
import threading
import time
from collections.abc import Callable

import pytest
import rclpy
from geometry_msgs.msg import Twist
from rclpy.executors import SingleThreadedExecutor
from rclpy.qos import QoSProfile
from std_msgs.msg import Bool

from nav.nodes.keyboard_teleop import TeleopError, run_teleop
from nav.runtime.config import RosConfig, TeleopConfig, Topics
from nav.runtime.teleop import KeyTeleop, joy_to_cmd, parse_keys

CONFIG = TeleopConfig(linear_step=0.1, angular_step=0.3, max_linear=0.3, max_angular=0.6, rate_hz=10.0)
DOMAIN = 150 + os.getpid() % 50  # this module's own DDS domain


# -- keys ------------------------------------------------------------------------------------------------


@pytest.mark.unit
def test_parse_keys_decodes_arrows_and_letters() -> None:
    assert parse_keys("w\x1b[A\x1b[B\x1b[C\x1b[D \x1bOAq") == ["w", "up", "down", "right", "left", " ", "up", "q"]
    assert parse_keys("W") == ["w"]
    assert parse_keys("\x1b") == []  # a lone escape is ignored


@pytest.mark.unit
def test_keys_step_and_clip_the_command() -> None:
    teleop = KeyTeleop(CONFIG)
    assert teleop.command(0.0) is None  # silent until a key is pressed
    for key in ("w", "up", "w", "w"):
        teleop.on_key(key, 0.0)
    assert teleop.command(0.0) == (0.3, 0.0)  # clipped at max_linear
    for key in ("a", "left", "a"):
        teleop.on_key(key, 0.0)
    assert teleop.command(0.0) == (0.3, 0.6)  # a / left turn left: positive (REP 103)
    teleop.on_key("d", 0.0)
    teleop.on_key("right", 0.0)
    teleop.on_key("s", 0.0)
    assert teleop.command(0.0) == (0.2, 0.0)
    for _ in range(6):
        teleop.on_key("down", 0.0)
    assert teleop.command(0.0) == (-0.3, 0.0)


@pytest.mark.unit
def test_command_is_held_without_repeated_keys() -> None:
    teleop = KeyTeleop(CONFIG)
    teleop.on_key("w", 0.0)
    assert teleop.command(60.0) == (0.1, 0.0)


@pytest.mark.unit
@pytest.mark.parametrize("key", [" ", "k"])
def test_stop_publishes_zero_for_a_moment_then_goes_silent(key: str) -> None:
    teleop = KeyTeleop(CONFIG, stop_hold=0.5)
    teleop.on_key("w", 0.0)
    teleop.on_key("a", 0.0)
    assert teleop.on_key(key, 1.0) is None
    assert teleop.command(1.0) == (0.0, 0.0)
    assert teleop.command(1.49) == (0.0, 0.0)
    assert teleop.command(1.5) is None  # silent: the mux's teleop timeout hands control back


@pytest.mark.unit
def test_stepping_back_to_zero_also_stops_then_releases() -> None:
    teleop = KeyTeleop(CONFIG, stop_hold=0.5)
    teleop.on_key("w", 0.0)
    teleop.on_key("s", 2.0)
    assert teleop.command(2.1) == (0.0, 0.0)
    assert teleop.command(2.6) is None


@pytest.mark.unit
def test_estop_reset_and_quit_are_events() -> None:
    teleop = KeyTeleop(CONFIG)
    teleop.on_key("w", 0.0)
    assert teleop.on_key("x", 1.0) == "estop"
    assert teleop.command(1.0) == (0.0, 0.0) and not teleop.moving
    assert teleop.on_key("r", 2.0) == "reset"
    assert teleop.on_key("q", 3.0) == "quit"
    assert teleop.on_key("z", 3.0) is None  # unknown keys do nothing


@pytest.mark.unit
def test_not_a_tty_is_a_clear_error() -> None:
    with pytest.raises(TeleopError, match="not a TTY"):
        run_teleop(RosConfig(), stdin=io.StringIO("w"))
    read_end, write_end = os.pipe()
    try:
        with os.fdopen(read_end) as pipe, pytest.raises(TeleopError, match="ssh -t"):
            run_teleop(RosConfig(), stdin=pipe)
    finally:
        os.close(write_end)


# -- joystick --------------------------------------------------------------------------------------------

JOY = TeleopConfig(max_linear=0.5, max_angular=1.5, joy_deadman_button=4, joy_linear_axis=1, joy_angular_axis=3)


@pytest.mark.unit
def test_joy_drives_only_while_the_deadman_is_held() -> None:
    axes = [0.0, 0.5, 0.0, -1.0]
    assert joy_to_cmd(axes, [0, 0, 0, 0, 1], JOY) == (0.25, -1.5)
    assert joy_to_cmd(axes, [0, 0, 0, 0, 0], JOY) is None
    assert joy_to_cmd(axes, [1, 1, 1, 1], JOY) is None  # the pad has no button 4: never held


@pytest.mark.unit
def test_joy_axes_are_clipped_and_sanitised() -> None:
    held = [0, 0, 0, 0, 1]
    assert joy_to_cmd([0.0, 2.0, 0.0, math.nan], held, JOY) == (0.5, 0.0)
    assert joy_to_cmd([0.0], held, JOY) == (0.0, 0.0)  # missing axes read as centred
    assert joy_to_cmd([0.0, -0.0, 0.0, -0.0], held, JOY) == (0.0, 0.0)


# -- run_teleop on a real terminal, over DDS ------------------------------------------------------------

TELEOP_PROCESS = (
    "from nav.runtime.config import RosConfig; from nav.nodes.keyboard_teleop import run_teleop; "
    "run_teleop(RosConfig())"
)


class Listener:
    def __init__(self) -> None:
        self.context = rclpy.Context()
        rclpy.init(context=self.context, domain_id=DOMAIN)
        self.node = rclpy.create_node("teleop_test", context=self.context)
        topics = Topics()
        self.lock = threading.Lock()
        self.messages: list[tuple[float, str, object]] = []
        qos = QoSProfile(depth=50)
        self.node.create_subscription(Twist, topics.cmd_teleop, lambda m: self._add("cmd", m), qos)
        self.node.create_subscription(Bool, topics.estop, lambda m: self._add("estop", m.data), qos)
        self.node.create_subscription(Bool, topics.estop_reset, lambda m: self._add("reset", m.data), qos)
        self.executor = SingleThreadedExecutor(context=self.context)
        self.executor.add_node(self.node)
        self.thread = threading.Thread(target=self.executor.spin, daemon=True)
        self.thread.start()

    def _add(self, kind: str, msg: object) -> None:
        if isinstance(msg, Twist):
            msg = (msg.linear.x, msg.angular.z)
        with self.lock:
            self.messages.append((time.monotonic(), kind, msg))

    def since(self, t0: float, kind: str) -> list[object]:
        with self.lock:
            return [m for t, k, m in self.messages if t >= t0 and k == kind]

    def wait(self, kind: str, match: Callable[[object], bool], since: float, timeout: float = 2.0) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if any(match(m) for m in self.since(since, kind)):
                return True
            time.sleep(0.01)
        return False

    def close(self) -> None:
        self.executor.shutdown()
        self.node.destroy_node()
        rclpy.try_shutdown(context=self.context)
        self.thread.join(timeout=2.0)


@pytest.mark.dds
def test_run_teleop_on_a_terminal_publishes_and_restores_it() -> None:
    master, slave = os.openpty()
    before = termios.tcgetattr(slave)
    listener = Listener()
    env = dict(os.environ, ROS_DOMAIN_ID=str(DOMAIN), ROS_AUTOMATIC_DISCOVERY_RANGE="LOCALHOST")
    proc = subprocess.Popen([sys.executable, "-c", TELEOP_PROCESS], stdin=slave, stdout=slave, stderr=slave, env=env)
    output = bytearray()
    drain = threading.Thread(target=_drain, args=(master, output), daemon=True)
    drain.start()
    try:
        deadline = time.monotonic() + 15.0
        while not (listener.node.count_publishers(Topics().cmd_teleop) and b"nav teleop" in output):
            assert proc.poll() is None, bytes(output).decode(errors="replace")
            assert time.monotonic() < deadline, "teleop did not start"
            time.sleep(0.02)
        time.sleep(0.3)  # let the publishers match the listener
        assert termios.tcgetattr(slave)[3] & termios.ICANON == 0  # cbreak while running

        t0 = time.monotonic()
        os.write(master, b"w")
        assert listener.wait("cmd", lambda m: m == (0.1, 0.0), since=t0)
        time.sleep(0.5)
        assert len(listener.since(t0, "cmd")) >= 4  # repeated at rate_hz (10 Hz) while driving

        t1 = time.monotonic()
        os.write(master, b" ")
        assert listener.wait("cmd", lambda m: m == (0.0, 0.0), since=t1)
        time.sleep(0.8)  # 0.5 s of zeros, then silence
        assert listener.since(t1 + 0.65, "cmd") == []

        t2 = time.monotonic()
        os.write(master, b"x")
        assert listener.wait("estop", lambda m: m is True, since=t2)
        os.write(master, b"r")
        assert listener.wait("reset", lambda m: m is True, since=t2)
        assert False in listener.since(t2, "estop")  # the e-stop released before the reset

        t3 = time.monotonic()
        os.write(master, b"\x1b[A")  # arrow up
        assert listener.wait("cmd", lambda m: m == (0.1, 0.0), since=t3)
        os.write(master, b"q")
        assert proc.wait(timeout=5.0) == 0
        assert listener.wait("cmd", lambda m: m == (0.0, 0.0), since=t3)  # quitting stops the robot
        after = termios.tcgetattr(slave)
        assert after[3] == before[3], "terminal mode not restored"
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            proc.wait(timeout=5.0)
        listener.close()
        os.close(slave)
        os.close(master)


def _drain(fd: int, sink: bytearray) -> None:
    while True:
        try:
            data = os.read(fd, 1024)
        except OSError:
            return
        if not data:
            return
        sink.extend(data)
