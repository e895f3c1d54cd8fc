"""Keyboard teleop in a terminal (works over ``ssh -t``): ``nav teleop``.

Two layers, as the style guide asks: :class:`~nav.runtime.teleop.KeyTeleop`, a pure key -> command
state machine (unit-tested), and :func:`run_teleop` here, which reads single key presses (cbreak mode),
publishes, and always restores the terminal.

Keys::

    w / up      linear  + linear_step        a / left    angular + angular_step (turn left)
    s / down    linear  - linear_step        d / right   angular - angular_step (turn right)
    space / k   stop, then hand control back  x           e-stop (latched by the mux)
    r           reset the e-stop              q           quit (stops the robot first)

**Publishing semantics** (how the mux's teleop timeout hands control back to navigation):

* While the command is non-zero, it is published on ``topics.cmd_teleop`` at ``teleop.rate_hz``
  (and at once on every key press), so teleop overrides navigation for as long as the human drives.
  The command is held without repeating keys, as in teleop_twist_keyboard.
* Stopping (space/k, stepping both axes back to zero, x, or q) publishes **zero for**
  ``stop_hold`` **seconds** (0.5 s: several messages, so one lost message cannot leave the robot
  moving) and then goes silent. The mux holds the robot still on that zero until its teleop input
  times out (``mux.inputs`` timeout, 0.5 s), then navigation, if it is publishing, drives again.
  So "stop" means "stop now and give control back"; to keep the robot stopped use x (e-stop).
* x publishes ``true`` on ``topics.estop``; r publishes ``false`` there, then ``true`` on
  ``topics.estop_reset`` (the mux refuses a reset while the e-stop topic's last value is true).
* Quitting, Ctrl-C, SIGTERM or SIGHUP (the SSH session dropped) publish a zero first if teleop was
  driving; if the process dies outright, the mux's teleop timeout stops it.
"""

from __future__ import annotations

import os
import select
import signal
import sys
import termios
import threading
import time
import tty
from collections.abc import Callable
from types import FrameType
from typing import IO, Any

from nav.runtime.config import RosConfig
from nav.runtime.teleop import KEY_HELP, KeyTeleop, parse_keys

__all__ = ["TeleopError", "run_teleop"]


class TeleopError(RuntimeError):
    """Teleop cannot run here (stdin is not a terminal)."""


def _check_tty(stream: IO[Any]) -> int:
    try:
        fd = stream.fileno()
    except (AttributeError, OSError, ValueError):
        fd = -1
    if fd < 0 or not os.isatty(fd):
        raise TeleopError(
            "nav teleop reads single key presses and needs an interactive terminal, but stdin is not a TTY. "
            "Run it in a terminal (over SSH: `ssh -t robot nav teleop`), not from a pipe, a service or a script."
        )
    return fd


def _status(teleop: KeyTeleop, command: tuple[float, float] | None, note: str) -> str:
    state = (
        "silent (navigation may drive)"
        if command is None
        else f"publishing {command[0]:+.2f} m/s {command[1]:+.2f} rad/s"
    )
    return f"linear {teleop.linear:+.2f}  angular {teleop.angular:+.2f}  {state}  {note}"


def run_teleop(ros_config: RosConfig, stdin: IO[str] | None = None, out: IO[str] | None = None) -> None:
    """Drive the robot from the keyboard until q, Ctrl-C, SIGTERM or SIGHUP.

    Raises:
        TeleopError: ``stdin`` is not a terminal (checked before anything is set up).
    """
    stdin = sys.stdin if stdin is None else stdin
    out = sys.stdout if out is None else out
    fd = _check_tty(stdin)

    import rclpy
    from geometry_msgs.msg import Twist
    from rclpy.signals import SignalHandlerOptions
    from std_msgs.msg import Bool

    from nav.nodes.common import COMMAND_QOS, EVENT_QOS, flush
    from nav.nodes.msgs import twist

    topics = ros_config.topics
    teleop = KeyTeleop(ros_config.teleop)
    period = 1.0 / ros_config.teleop.rate_hz
    saved = termios.tcgetattr(fd)
    context = rclpy.Context()
    rclpy.init(args=[], context=context, signal_handler_options=SignalHandlerOptions.NO)
    node = rclpy.create_node("teleop_keyboard", context=context)
    restore_signals = _install_exit_signals()
    last: tuple[float, float] | None = None
    try:
        cmd_pub = node.create_publisher(Twist, topics.cmd_teleop, COMMAND_QOS)
        estop_pub = node.create_publisher(Bool, topics.estop, EVENT_QOS)
        reset_pub = node.create_publisher(Bool, topics.estop_reset, EVENT_QOS)
        tty.setcbreak(fd)
        out.write(KEY_HELP + "\n")
        next_tick = time.monotonic()
        note, shown = "", ""
        try:
            while True:
                ready, _, _ = select.select([fd], [], [], max(0.0, next_tick - time.monotonic()))
                now = time.monotonic()
                publish_now = now >= next_tick
                if ready:
                    data = os.read(fd, 64)
                    if not data:
                        break  # end of input: the terminal went away
                    events = [teleop.on_key(key, now) for key in parse_keys(data.decode(errors="ignore"))]
                    publish_now = True
                    if "estop" in events:
                        estop_pub.publish(Bool(data=True))
                        note = "E-STOP sent (r to reset)"
                    if "reset" in events:
                        estop_pub.publish(Bool(data=False))
                        time.sleep(0.05)  # let the e-stop's 'false' arrive before the reset
                        reset_pub.publish(Bool(data=True))
                        note = "e-stop reset sent"
                    if "quit" in events:
                        break
                if publish_now:
                    last = teleop.command(now)
                    if last is not None:
                        cmd_pub.publish(twist(*last))
                    if now >= next_tick:
                        next_tick = max(next_tick + period, now)
                listening = cmd_pub.get_subscription_count() > 0
                line = _status(teleop, last, note or ("" if listening else f"[nobody listens on {topics.cmd_teleop}]"))
                if line != shown:
                    out.write("\r\x1b[K" + line)
                    out.flush()
                    shown = line
        except KeyboardInterrupt:
            pass
        if last is not None:
            cmd_pub.publish(twist(0.0, 0.0))
            flush(cmd_pub)
        out.write("\nteleop: stopped\n")
        out.flush()
    finally:
        termios.tcsetattr(fd, termios.TCSADRAIN, saved)
        restore_signals()
        node.destroy_node()
        rclpy.try_shutdown(context=context)


def _install_exit_signals() -> Callable[[], None]:
    """SIGTERM and SIGHUP raise KeyboardInterrupt (so cleanup runs); returns a function undoing it."""
    if threading.current_thread() is not threading.main_thread():
        return lambda: None

    def _interrupt(signum: int, frame: FrameType | None) -> None:
        raise KeyboardInterrupt

    previous = {sig: signal.signal(sig, _interrupt) for sig in (signal.SIGTERM, signal.SIGHUP)}

    def _restore() -> None:
        for sig, handler in previous.items():
            signal.signal(sig, handler)

    return _restore
