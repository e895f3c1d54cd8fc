"""The faults the suite injects, each a function of a :class:`nav.faults.session.Session` that returns its row.

Every fault starts from a driving robot and, where resuming is safe, ends with it driving again.
Issue 18's eight are marked (item N); the rest are the faults that held before it.
Timing limits come from the configuration (:class:`nav.faults.session.Limits`): a stage's timeout,
plus the cycle of the stages after it, plus the delay until the fault reaches the graph (a sensor's
next message), plus :data:`nav.faults.session.SLACK_S`.
"""

from __future__ import annotations

import math
import re
import signal
import time
from collections.abc import Callable
from dataclasses import dataclass

import psutil

from nav.faults.judge import Row, held
from nav.faults.robot import FLOOD_FACTOR, OLD_S
from nav.faults.session import HOLD_S, RESUME_S, Limits, Session, driving, zero

__all__ = ["FAULTS", "Fault"]

Fault = Callable[[Session], Row]

RESTART_S = 60.0
"""s: a restarted agent loads its models and the sentence encoder (seconds on a busy 2-core machine)."""
TELEOP = (0.05, 0.0)
"""The human's command: a linear speed the mux reaches in one step, and no turn (a policy never gives exactly 0)."""


def _knob(s: Session, name: str, value: object) -> Callable[[], None]:
    return lambda: setattr(s.robot, name, value)


@dataclass(frozen=True)
class SensorFault:
    """A sensor stream that goes bad (one knob of the robot) and comes back: the stop fault's common shape."""

    fault: str
    knob: str
    """``camera``, ``scan`` or ``stamping`` of :class:`nav.faults.robot.ScriptedRobot`."""
    value: str
    expected: str
    log: str
    """What a log line must say (a regular expression)."""
    diagnostic: str
    """What a ``name: message`` of ``/diagnostics`` must say."""
    limit: Callable[[Limits], float]
    """s from the injection to zero (:data:`nav.faults.session.SLACK_S` is added)."""

    def __call__(self, s: Session) -> Row:
        row = Row(self.fault, self.expected, s.limits.ms(self.limit(s.limits)))
        healthy = "now" if self.knob == "stamping" else "ok"
        inject, clear = _knob(s, self.knob, self.value), _knob(s, self.knob, healthy)
        return s.stop_fault(row, inject, clear, self.log, self.diagnostic)


def _next_message(L: Limits) -> float:
    """A fault carried by the sensor's next message, then a cycle of the command path."""
    return L.sensor_period + L.cycle


camera_silent = SensorFault(
    "camera silent", "camera", "silent", "zero within the camera's max_age + a cycle; 'camera stale'",
    r"\[agent\].*zero velocity: camera stale", r"agent: camera stale", lambda L: L.camera + L.cycle,
)  # fmt: skip
lidar_silent = SensorFault(
    "lidar silent", "scan", "silent", "zero within the guard's scan timeout + a mux cycle (or the agent's + a cycle)",
    r"scan stale", r"(agent|mux): .*scan stale", lambda L: min(L.scan + L.cycle, L.guard_scan + L.mux_period),
)  # fmt: skip
scan_nan = SensorFault(
    "lidar reads NaN on every beam", "scan", "nan",
    "zero, turning too, with the next scan + a cycle; the lidar named failed",
    r"scan rejected: the lidar reads NaN", r"(agent|mux): .*reads NaN", _next_message,
)  # fmt: skip
scan_covered = SensorFault(
    "lidar reads too close on every beam (item 8)", "scan", "covered",
    "zero, turning too, with the next scan + a cycle; the lidar named covered or failed",
    r"covered", r"(agent|mux): .*covered", _next_message,
)  # fmt: skip
camera_tiny = SensorFault(
    "camera frames of 1x1 px (item 5)", "camera", "tiny", "zero with the next frame + a cycle; the frame refused",
    r"camera message rejected", r"agent: camera rejected", _next_message,
)  # fmt: skip
stamps_old = SensorFault(
    f"sensors stamped {OLD_S:g} s in the past (item 4)", "stamping", "old",
    "zero with the next message + a cycle; stale by header stamp",
    r"\[agent\].*stale \(\d+\.\d+ s old by header stamp", r"agent: .*by header stamp", _next_message,
)  # fmt: skip
stamps_backwards = SensorFault(
    "sensor stamps going backwards (item 4)", "stamping", "backwards",
    "zero with the next message + a cycle; the message refused",
    r"header stamp went back", r"agent: .*header stamp went back", _next_message,
)  # fmt: skip


def scan_metadata(s: Session) -> Row:
    """Item 5 (scan): 360 ranges whose angle_increment spans half a turn. Real drivers publish inconsistent
    metadata on every scan (the ROS 1 TurtleBot bag of ../shared/bags), so it is named, not refused."""
    row = Row(
        "scan metadata does not fit its ranges (item 5)",
        "named on the log and in the agent's diagnostics (scan_metadata); the scan read by angle_increment",
    )
    s.ensure_driving()
    t0 = time.monotonic()
    s.robot.scan = "half_turn"
    row.said("log line", s.log_line(t0, r"\[agent\].*scan metadata: "))
    found = s.wait(lambda: any(d.values.get("scan_metadata", "consistent") != "consistent"
                               for d in s.robot.diagnostics_since(t0)), 2.5)  # fmt: skip
    if not found:
        row.problems.append("the agent's diagnostics still say scan_metadata: consistent")
    s.robot.scan = "ok"
    t1 = time.monotonic()
    cleared = s.wait(
        lambda: any(d.values.get("scan_metadata") == "consistent" for d in s.robot.diagnostics_since(t1)), 2.5
    )
    row.observed = "named" + ("; consistent again once it was" if cleared else "; still named after it was fixed")
    if not cleared:
        row.problems.append("scan_metadata still names the mismatch after the scans were fixed")
    return row


def flood(s: Session) -> Row:
    """Every sensor 10x its rate for 3 s: the control loop keeps its rates, the agent's memory does not grow."""
    L = s.limits
    row = Row(
        f"sensor flood ({FLOOD_FACTOR}x)",
        f"the mux keeps {1 / L.mux_period:g} Hz and the agent {1 / L.agent_period:g} Hz; "
        "driving on; the agent's memory does not grow",
    )
    s.ensure_driving()
    agent = psutil.Process(s.graph.pids()["agent"])
    rss0 = agent.memory_info().rss
    t0 = time.monotonic()
    s.robot.flood = True
    before = _agent_ticks(s)
    s.sleep(3.0)
    after = _agent_ticks(s)
    s.robot.flood = False
    t1 = time.monotonic()
    rss1 = agent.memory_info().rss
    outputs = s.robot.outputs_since(t0 + 0.5, t1)
    mux_hz = len(outputs) / (t1 - t0 - 0.5)
    row.check("driving", held(outputs, t0 + 0.5, t1, driving))
    agent_hz = math.nan
    if before is not None and after is not None and after[0] > before[0]:
        agent_hz = (after[1] - before[1]) / (after[0] - before[0])
    growth_mb = (rss1 - rss0) / 2**20
    row.observed = f"mux {mux_hz:.1f} Hz, agent {agent_hz:.1f} Hz, agent RSS {growth_mb:+.1f} MB"
    if mux_hz < 0.9 / L.mux_period:
        row.problems.append(f"the mux fell to {mux_hz:.1f} Hz")
    if not agent_hz >= 0.8 / L.agent_period:  # its tick count comes with 1 Hz diagnostics: +-1 tick
        row.problems.append(f"the agent fell to {agent_hz:.1f} Hz")
    if growth_mb > 10.0:
        row.problems.append(f"the agent grew by {growth_mb:.1f} MB")
    return row


def _agent_ticks(s: Session) -> tuple[float, int] | None:
    """When the agent's next diagnostics came, and its tick count in them."""
    t = time.monotonic()
    s.wait(lambda: any(d.name == "nav: agent" for d in s.robot.diagnostics_since(t)), 2.5)
    found = [d for d in s.robot.diagnostics_since(t) if d.name == "nav: agent" and "ticks" in d.values]
    return (found[0].t, int(found[0].values["ticks"])) if found else None


def bad_instruction(s: Session) -> Row:
    L = s.limits
    row = Row(
        "an instruction naming nothing the robot knows",
        "zero after the instruction is read + a cycle; refused with the reason; a valid one drives again",
        s.limits.ms(L.cycle + 0.5),  # 0.5 s: the grounder's first look-up of unknown words (docs/results.md)
    )
    return s.stop_fault(
        row,
        lambda: s.robot.publish_instruction("recite a poem about the sea"),
        lambda: s.robot.publish_instruction(s.robot.instruction),
        r"instruction rejected, stopping",
        r"agent: instruction rejected",
    )


def teleop_override(s: Session) -> Row:
    L = s.limits
    row = Row(
        "teleop takes over while navigation drives",
        "the human's command out with its next message + a mux cycle; navigation back after teleop's timeout",
        L.ms(L.sensor_period + L.mux_period),
    )
    s.ensure_driving()
    t0 = time.monotonic()
    s.robot.teleop = TELEOP
    took = s.wait_output(t0, lambda o: (o.linear, o.angular) == TELEOP, 2.0)
    row.timed(t0, took, "teleop command")
    if took is not None:
        s.sleep(HOLD_S)
        row.check("teleop held", held(s.robot.outputs_since(took.t), took.t, took.t + HOLD_S,
                                      lambda o: (o.linear, o.angular) == TELEOP))  # fmt: skip
    row.said("log line", s.log_line(t0, r"\[mux\].*drive \[teleop\]"))
    s.robot.teleop = None
    t1 = time.monotonic()
    back = s.wait_output(t1, lambda o: driving(o) and (o.linear, o.angular) != TELEOP, L.teleop_input + 2.0)
    row.observed = "teleop's command" + (
        f"; navigation back {back.t - t1:.2f} s after teleop fell silent" if back else ""
    )
    if back is None:
        row.problems.append("navigation did not drive again after teleop fell silent")
    return row


def teleop_nan(s: Session) -> Row:
    """Item 1: the human drives, then their input goes NaN: zero, held; navigation does not take over."""
    L = s.limits
    row = Row(
        "teleop input goes NaN while a human drives (item 1)",
        "zero with its next message + a mux cycle, held while it is broken (navigation never takes over); "
        "navigation back only after teleop's timeout",
        L.ms(L.sensor_period + L.mux_period),
    )
    s.ensure_driving()
    s.robot.teleop = TELEOP
    if s.wait_output(time.monotonic(), lambda o: (o.linear, o.angular) == TELEOP, 3.0) is None:
        row.problems.append("teleop never drove")
    t0, stop = s.expect_zero(row, _knob(s, "teleop", (math.nan, math.nan)))
    if stop is not None:
        s.sleep(HOLD_S)
        row.check("held while teleop is broken", held(s.robot.outputs_since(stop.t), stop.t, stop.t + HOLD_S, zero))
    row.said("log line", s.log_line(t0, r"\[mux\].*non-finite command"))
    row.said("diagnostic", s.diagnostic(t0, r"mux: .*non-finite command rejected from teleop"))
    s.robot.teleop = None  # the broken input falls silent: navigation may drive once teleop has timed out
    t1 = time.monotonic()
    back = s.expect_driving(row, t1, L.teleop_input + 2.0, "navigation did not drive again after teleop fell silent")
    if back is not None and back.t - t1 < L.teleop_input - L.sensor_period - L.mux_period:
        row.problems.append(f"navigation took over {back.t - t1:.2f} s after the NaN stopped, before teleop's timeout")
    row.observed = "exactly zero, held" + (
        f"; navigation back {back.t - t1:.2f} s after teleop fell silent" if back else ""
    )
    return row


def deadman_release(s: Session) -> Row:
    L = s.limits
    row = Row(
        "joystick deadman released",
        "zero with the next joystick message + a mux cycle; navigation back after teleop's timeout",
        L.ms(L.sensor_period + 2 * L.mux_period),
    )
    s.ensure_driving()
    s.robot.joy = 0.5
    t_push = time.monotonic()
    if s.wait_output(t_push, lambda o: o.linear > 0 and o.angular == 0.0, 3.0) is None:
        row.problems.append("the joystick never drove")
    row.said("log line", s.log_line(t_push, r"\[mux\].*drive \[teleop\]"))  # the stop is the human's own zero
    s.expect_zero(row, _knob(s, "joy", 0.0))  # released: the joy teleop node sends one zero
    s.robot.joy = None
    t1 = time.monotonic()
    back = s.expect_driving(
        row, t1, L.teleop_input + 2.0, "navigation did not drive again after the joystick fell silent"
    )
    row.observed = "exactly zero" + (f"; navigation back {back.t - t1:.2f} s later" if back else "")
    return row


def estop(s: Session) -> Row:
    L = s.limits
    row = Row(
        "e-stop pressed",
        "zero within a mux cycle; latched through teleop and a bare release; cleared by the reset topic",
        L.ms(L.mux_period),
    )
    s.ensure_driving()
    t0, stop = s.expect_zero(row, lambda: s.robot.estop(True))
    row.said("log line", s.log_line(t0, r"\[mux\].*STOP \[estop\]"))
    row.said("diagnostic", s.diagnostic(t0, r"mux: estop: e-stop latched"))
    s.robot.teleop = TELEOP
    s.sleep(0.5)
    s.robot.estop(False)  # a bare release: latched still
    s.sleep(0.5)
    if stop is not None:
        row.check("latched through teleop and a bare release",
                  held(s.robot.outputs_since(stop.t), stop.t, time.monotonic(), zero))  # fmt: skip
    s.robot.teleop = None
    t1 = time.monotonic()
    s.robot.reset_estop()
    back = s.expect_driving(row, t1, L.teleop_input + RESUME_S, "the robot did not drive again after the reset")
    row.observed = "exactly zero, latched" + (f"; driving {back.t - t1:.2f} s after the reset" if back else "")
    return row


def heartbeat_lost(s: Session) -> Row:
    L = s.limits
    row = Row(
        "heartbeat lock falls silent",
        f"zero within the lock's timeout ({L.lock:g} s) + its next beat + a mux cycle; back when it beats again",
        L.ms(L.lock + L.sensor_period + L.mux_period),
    )
    s.robot.heartbeat = True
    s.sleep(0.5)
    return s.stop_fault(
        row, _knob(s, "heartbeat", False), _knob(s, "heartbeat", True), r"\[mux\].*STOP \[lock:", r"mux: lock:"
    )


def agent_killed(s: Session) -> Row:
    """SIGKILL: the mux stops on the silence; the supervisor restarts the agent, which takes back its
    instruction (item 3: the robot has not published it again since the agent first drove)."""
    L = s.limits
    row = Row(
        "agent killed (SIGKILL); the instruction was sent once (item 3)",
        "zero within navigation's timeout + a cycle; restarted; drives again on the instruction it had",
        L.ms(L.nav_input + L.cycle),
    )
    return _process_fault(s, row, signal.SIGKILL, r"\[bringup\] agent was killed by SIGKILL; restarting")


def agent_hung(s: Session) -> Row:
    """SIGSTOP: alive but stuck. The mux stops on the silence; the supervisor sees no heartbeat (item 7)."""
    L = s.limits
    row = Row(
        "agent hung (SIGSTOP) (item 7)",
        f"zero within navigation's timeout + a cycle; killed and restarted after liveness_timeout ({L.liveness:g} s)",
        L.ms(L.nav_input + L.cycle),
    )
    return _process_fault(s, row, signal.SIGSTOP, r"\[bringup\] agent is stuck: no heartbeat")


def _process_fault(s: Session, row: Row, sig: signal.Signals, log: str) -> Row:
    s.ensure_driving()
    agent = psutil.Process(s.graph.pids()["agent"])
    t0, stop = s.expect_zero(row, lambda: agent.send_signal(sig), timeout=3.0)
    row.said("diagnostic", s.diagnostic(t0, r"mux: none: all inputs timed out"))
    decided = s.log_line(t0, r"\[mux\].*STOP \[none\]", timeout=0.5)  # its "last heard ... ago": when it decided
    if decided is not None:
        row.said("mux", decided)
    back = None if stop is None else s.wait_output(stop.t, driving, RESTART_S + s.limits.liveness)
    row.said("log line", s.log_line(t0, log, timeout=1.0))
    resumed = s.log_line(t0, r"\[agent\].*resuming the instruction taken before this restart", timeout=1.0)
    if stop is not None and back is not None:
        row.check("held until the restarted agent drove", held(s.robot.outputs_since(stop.t), stop.t, back.t, zero))
    if back is None:
        row.problems.append("the restarted agent did not drive")
    if resumed is None:
        row.problems.append("the restarted agent did not take back its instruction")
    loaded = s.log_line(t0, r"\[agent\].*loaded variants .* in \d+\.\d+ s", timeout=0.0)
    load_s = re.search(r" in (\d+\.\d+) s", loaded).group(1) if loaded else "?"  # type: ignore[union-attr]
    row.observed = "exactly zero"
    if back is not None:
        row.observed += f"; driving again {back.t - t0:.1f} s after the signal (models loaded in {load_s} s)"
    return row


FAULTS: dict[str, Fault] = {
    "camera-silent": camera_silent,
    "lidar-silent": lidar_silent,
    "scan-nan": scan_nan,
    "scan-covered": scan_covered,
    "scan-metadata": scan_metadata,
    "camera-tiny": camera_tiny,
    "stamps-old": stamps_old,
    "stamps-backwards": stamps_backwards,
    "bad-instruction": bad_instruction,
    "teleop-override": teleop_override,
    "teleop-nan": teleop_nan,
    "deadman-release": deadman_release,
    "estop": estop,
    "heartbeat-lost": heartbeat_lost,
    "flood": flood,
    "agent-killed": agent_killed,
    "agent-hung": agent_hung,
}
"""Name -> fault, in the order the suite runs them (the restarts last). ``nav faults --only NAME``."""
