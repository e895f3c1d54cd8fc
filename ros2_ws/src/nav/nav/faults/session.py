"""One run of the fault suite: the graph in robot mode, the scripted robot, their logs, and the limits.

:class:`Session` holds what every fault of :mod:`nav.faults.catalogue` needs: ``wait`` (which keeps
the supervisor polling, so that restarts happen), the log lines of every node with their receipt
times, and the configured timeouts the timings are judged against (:class:`Limits`).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from nav.faults.judge import Row, first, held, matching
from nav.faults.robot import SENSOR_HZ, Output, ScriptedRobot
from nav.graph.supervisor import BringupConfig, GraphProcesses
from nav.runtime.config import RosConfig

__all__ = ["Limits", "LogLines", "Session"]

SLACK_S = 0.05
"""Allowed on top of every limit: DDS transport and the scheduling of four processes on a busy CPU."""
HOLD_S = 1.0
"""How long a stop must hold while the fault lasts."""
RESUME_S = 5.0
"""How long the robot may take to drive again once a fault that it can resume from clears."""


@dataclass(frozen=True)
class Limits:
    """What the configuration allows each stage (s): the fault rows are judged against these."""

    agent_period: float
    mux_period: float
    camera: float
    scan: float
    guard_scan: float
    nav_input: float
    teleop_input: float
    lock: float
    liveness: float
    respawn_delay: float
    sensor_period: float = 1.0 / SENSOR_HZ

    @classmethod
    def of(cls, ros: RosConfig, bringup: BringupConfig) -> Limits:
        inputs = {i.name: i.timeout for i in ros.mux.inputs}
        return cls(
            agent_period=1.0 / ros.agent.control_hz,
            mux_period=1.0 / ros.mux.rate_hz,
            camera=ros.agent.camera_timeout,
            scan=ros.agent.scan_timeout,
            guard_scan=ros.guard.scan_timeout if ros.guard.enabled else ros.agent.scan_timeout,
            nav_input=inputs["navigation"],
            teleop_input=inputs["teleop"],
            lock=min((lock.timeout for lock in ros.mux.locks), default=0.0),
            liveness=bringup.liveness_timeout,
            respawn_delay=bringup.respawn_delay,
        )

    @property
    def cycle(self) -> float:
        """A decision's way through the command path: one agent tick and one mux tick."""
        return self.agent_period + self.mux_period

    def ms(self, seconds: float) -> float:
        return 1000.0 * (seconds + SLACK_S)


def driving(o: Output) -> bool:
    return not o.zero


def zero(o: Output) -> bool:
    return o.zero


class LogLines:
    """Every node's log line with its receipt time: the supervisor's output callback (:meth:`add`)."""

    def __init__(self) -> None:
        self._lines: list[tuple[float, str]] = []
        self._lock = threading.Lock()

    def add(self, text: str) -> None:
        with self._lock:
            self._lines.append((time.monotonic(), text))

    def all(self) -> list[tuple[float, str]]:
        with self._lock:
            return list(self._lines)


class Session:
    """The graph, the robot and the graph's log, started by :func:`nav.faults.suite.run_suite`."""

    def __init__(self, graph: GraphProcesses, robot: ScriptedRobot, log: LogLines, limits: Limits) -> None:
        self.graph, self.robot, self._log, self.limits = graph, robot, log, limits

    # ------------------------------------------------------------------ logs
    def lines(self) -> list[tuple[float, str]]:
        return self._log.all()

    def log_line(self, since: float, pattern: str, timeout: float = 2.0) -> str | None:
        """The first log line after ``since`` matching ``pattern``, waiting up to ``timeout`` for it."""
        found: list[str | None] = [None]

        def seen() -> bool:
            found[0] = matching(self.lines(), since, pattern)
            return found[0] is not None

        self.wait(seen, timeout)
        return found[0]

    def diagnostic(self, since: float, pattern: str, timeout: float = 2.5) -> str | None:
        """The first ``/diagnostics`` status after ``since`` whose ``name: message`` matches ``pattern``."""
        found: list[str | None] = [None]

        def seen() -> bool:
            texts = [(d.t, f"diagnostic {d.name}: {d.message}") for d in self.robot.diagnostics_since(since)]
            found[0] = matching(texts, since, pattern)
            return found[0] is not None

        self.wait(seen, timeout)
        return found[0]

    # ------------------------------------------------------------------ time
    def wait(self, done: Callable[[], bool], timeout: float) -> bool:
        """Poll the graph (restarts happen here) until ``done()`` or ``timeout`` s; whether it was done."""
        deadline = time.monotonic() + timeout
        while True:
            self.graph.poll()
            if done():
                return True
            if time.monotonic() >= deadline:
                return False
            time.sleep(0.01)

    def sleep(self, seconds: float) -> None:
        self.wait(lambda: False, seconds)

    def wait_output(self, since: float, match: Callable[[Output], bool], timeout: float) -> Output | None:
        box: list[Output | None] = [None]

        def seen() -> bool:
            box[0] = first(self.robot.outputs_since(since), since, match)
            return box[0] is not None

        self.wait(seen, timeout)
        return box[0]

    def expect_zero(self, row: Row, inject: Callable[[], None], timeout: float = 2.0) -> tuple[float, Output | None]:
        """Inject a fault; time the first exactly-zero output after it into ``row``. (Injection time, that output.)"""
        t0 = time.monotonic()
        inject()
        stop = self.wait_output(t0, zero, timeout)
        row.timed(t0, stop, "zero command", self.robot.outputs_since(t0))
        return t0, stop

    def expect_driving(self, row: Row, since: float, timeout: float, problem: str) -> Output | None:
        """The first driving output after ``since``, or None with ``problem`` added to ``row``."""
        back = self.wait_output(since, driving, timeout)
        if back is None:
            row.problems.append(problem)
        return back

    def ensure_driving(self, timeout: float = 60.0) -> None:
        """Until the base has received non-zero commands for half a second (the start of every fault)."""

        def steady() -> bool:
            now = time.monotonic()
            recent = self.robot.outputs_since(now - 0.5)
            return len(recent) >= 5 and all(driving(o) for o in recent)

        if not self.wait(steady, timeout):
            tail = "\n".join(text for _, text in self.lines()[-25:])
            raise RuntimeError(f"the robot did not drive within {timeout:g} s; the graph said:\n{tail}")

    # ------------------------------------------------------------------ the common shape of a fault
    def stop_fault(
        self,
        row: Row,
        inject: Callable[[], None],
        clear: Callable[[], None],
        log: str,
        diagnostic: str | None = None,
        resume_timeout: float = RESUME_S,
    ) -> Row:
        """Drive, inject, expect exactly zero within ``row.limit_ms`` held while the fault lasts, the reason on the
        log (and ``/diagnostics``), then clear it and expect driving again within ``resume_timeout``."""
        self.ensure_driving()
        t0, stop = self.expect_zero(row, inject, (row.limit_ms or 0.0) / 1000.0 + 2.0)
        if stop is not None:
            self.sleep(HOLD_S)
            row.check(
                "held while the fault lasted", held(self.robot.outputs_since(stop.t), stop.t, stop.t + HOLD_S, zero)
            )
        row.said("log line", self.log_line(t0, log))
        if diagnostic is not None:
            row.said("diagnostic", self.diagnostic(t0, diagnostic))
        t1 = time.monotonic()
        clear()
        resumed = self.expect_driving(
            row, t1, resume_timeout, f"did not drive again within {resume_timeout:g} s of the fault clearing"
        )
        row.observed = ("exactly zero" if stop is not None else "no stop") + (
            f"; driving again {resumed.t - t1:.2f} s after it cleared" if resumed is not None else ""
        )
        return row
