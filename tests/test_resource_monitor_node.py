"""The resource monitor node with the real agent node, over real DDS (``python -m`` subprocesses).

The test process plays the robot (camera, lidar, instruction at 10 Hz, as in ``test_agent_node``)
and records the agent's commands, the per-tick timing, the variant decisions and their reasons.
The models are UNTRAINED (small and medium only, so large is not a choice): the assertions are about
which variant runs, when, and that the agent's command stream keeps its rate across the switches.
"""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pytest
from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus
from rcl_interfaces.msg import Parameter, ParameterType, ParameterValue
from rcl_interfaces.srv import SetParameters
from rclpy.qos import QoSProfile
from std_msgs.msg import String
from test_agent_node import (
    PERIOD,
    TOPICS,
    Robot,
    log_text,
    ros_env,
    save_untrained,
    start_agent,
    stop,
    wait_ready,
)

from nav.nodes.common import LATCHED_QOS
from nav.runtime.monitor import load_monitor_config

pytestmark = pytest.mark.dds

DOMAIN = 30  # this module's own DDS domain (the resource monitor's tests use 30..49)
MONITOR = load_monitor_config()


class Watcher(Robot):
    """The robot of test_agent_node, also recording the agent's variant per tick and the monitor's output."""

    def __init__(self, domain: int) -> None:
        super().__init__(domain)
        self.ticks: list[tuple[float, str]] = []
        self.decisions: list[tuple[float, str]] = []
        self.reasons: list[str] = []
        self.monitor_diag: list[dict[str, str]] = []
        self._lk = threading.Lock()
        self.node.create_subscription(DiagnosticStatus, TOPICS.agent_timing, self._on_tick, QoSProfile(depth=50))
        self.node.create_subscription(String, TOPICS.variant, self._on_variant, QoSProfile(depth=10))
        self.node.create_subscription(String, TOPICS.variant_reason, self._on_reason, LATCHED_QOS)
        self.node.create_subscription(DiagnosticArray, TOPICS.diagnostics, self._on_monitor_diag, QoSProfile(depth=10))
        self.set_params = self.node.create_client(SetParameters, "/resource_monitor/set_parameters")

    def _on_tick(self, msg: DiagnosticStatus) -> None:
        values = {kv.key: kv.value for kv in msg.values}
        with self._lk:
            self.ticks.append((time.monotonic(), values["variant"]))

    def _on_variant(self, msg: String) -> None:
        with self._lk:
            self.decisions.append((time.monotonic(), msg.data))

    def _on_reason(self, msg: String) -> None:
        with self._lk:
            self.reasons.append(msg.data)

    def _on_monitor_diag(self, msg: DiagnosticArray) -> None:
        with self._lk:
            self.monitor_diag += [{kv.key: kv.value for kv in s.values} for s in msg.status if "monitor" in s.name]

    def running(self) -> str | None:
        with self._lk:
            return self.ticks[-1][1] if self.ticks else None

    def wait_running(self, variant: str, timeout: float) -> float | None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.running() == variant:
                return time.monotonic()
            time.sleep(0.05)
        return None

    def wait_diagnostics(self, ready: Callable[[dict[str, str]], bool], timeout: float) -> dict[str, str]:
        """The monitor's latest diagnostics once ``ready`` holds for them (the latest at the timeout)."""
        deadline = time.monotonic() + timeout
        while True:
            with self._lk:
                latest = self.monitor_diag[-1] if self.monitor_diag else {}
            if ready(latest) or time.monotonic() >= deadline:
                return latest
            time.sleep(0.05)

    def pin(self, variant: str) -> bool:
        assert self.set_params.wait_for_service(timeout_sec=10.0), "no parameter service on the monitor"
        value = ParameterValue(type=ParameterType.PARAMETER_STRING, string_value=variant)
        future = self.set_params.call_async(SetParameters.Request(parameters=[Parameter(name="pin", value=value)]))
        deadline = time.monotonic() + 10.0
        while not future.done() and time.monotonic() < deadline:
            time.sleep(0.02)
        return future.done() and future.result().results[0].successful


def start_monitor(models_dir: Path, log: Path) -> subprocess.Popen[bytes]:
    cmd = [sys.executable, "-m", "nav.nodes.resource_monitor_node", "--ros-args", "-r", "__node:=resource_monitor"]
    cmd += ["-p", f"models_dir:={models_dir}"]
    with log.open("wb") as sink:
        return subprocess.Popen(cmd, env=ros_env(DOMAIN), stdout=sink, stderr=subprocess.STDOUT)


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Watcher, Path, Path]]:
    base = tmp_path_factory.mktemp("monitor")
    models = base / "models"
    for variant in ("small", "medium"):
        save_untrained(models, variant)
    watcher = Watcher(DOMAIN)
    agent_log, monitor_log = base / "agent.log", base / "monitor.log"
    agent = start_agent(models, agent_log, DOMAIN, variant="small")
    monitor = start_monitor(models, monitor_log)
    try:
        wait_ready(watcher, agent, agent_log)
        yield watcher, agent_log, monitor_log
    finally:
        stop(monitor)
        stop(agent)
        watcher.close()
        print(log_text(agent_log)[-1500:], log_text(monitor_log)[-1500:])


def test_the_monitor_steps_up_when_there_is_headroom_and_the_agent_keeps_its_rate(
    stack: tuple[Watcher, Path, Path],
) -> None:
    watcher, agent_log, monitor_log = stack
    t0 = time.monotonic()
    # small's ticks take a few ms: medium (x2.7 predicted) fits the step-up limit; the monitor waits
    # for min_samples ticks and then headroom_s before it steps up.
    t_medium = watcher.wait_running("medium", timeout=MONITOR.headroom_s + 20.0)
    assert t_medium is not None, f"never switched to medium:\n{log_text(monitor_log)[-2000:]}"
    assert t_medium - t0 >= MONITOR.headroom_s, "stepped up before the headroom had lasted"
    assert any(r.startswith("medium: ") and "predicted" in r for r in watcher.reasons), watcher.reasons
    time.sleep(1.0)
    window = watcher.since(t0)
    gaps = np.diff([t for t, _, _ in window])
    print(f"\n{len(window)} commands; largest gap {1000 * gaps.max():.0f} ms across the monitor's switch")
    assert gaps.max() <= 2 * PERIOD, f"a {gaps.max():.3f} s gap in the agent's commands across the switch"
    assert watcher.running() == "medium"


def test_a_pin_set_at_run_time_holds_its_variant_and_unpinning_resumes(stack: tuple[Watcher, Path, Path]) -> None:
    watcher, _, monitor_log = stack
    t0 = time.monotonic()
    assert watcher.pin("small")
    assert watcher.wait_running("small", timeout=5.0), log_text(monitor_log)[-2000:]
    assert any(r == "small: pinned by hand" for r in watcher.reasons)
    time.sleep(MONITOR.headroom_s + 2.0)  # headroom for medium, but the pin holds
    assert watcher.running() == "small"
    gaps = np.diff([t for t, _, _ in watcher.since(t0)])
    assert gaps.max() <= 2 * PERIOD
    assert not watcher.pin("huge"), "an unknown variant must be refused"
    assert watcher.pin("")
    assert watcher.wait_running("medium", timeout=MONITOR.headroom_s + 10.0), log_text(monitor_log)[-2000:]
    # A switch clears the new variant's timing window: its predictions reappear after min_samples ticks.
    diag = watcher.wait_diagnostics(
        lambda d: d.get("running") == "medium" and bool(d.get("predicted_tail_ms_medium")), timeout=10.0
    )
    assert diag.get("pin") == "" and "cpu_percent" in diag and diag.get("predicted_tail_ms_medium")
