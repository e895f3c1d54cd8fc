"""The whole simulation graph over real DDS: sim, agent and mux as ``nav bringup --sim`` runs them.

:class:`nav.graph.supervisor.GraphProcesses` starts the nodes of ``configs/graph.yaml`` as supervised
processes (on this module's own ROS domain); this test process is the operator: it records the mux
output (``topics.cmd_out``), odometry and diagnostics, and publishes teleop, e-stop and reset.

The agent runs an UNTRAINED model (no trained model is shipped): its commands are arbitrary but
finite, and the collision guard may zero them near obstacles. The assertions hold the mux to what
it guarantees (its rate, its limits, exactly zero, the teleop value), never to navigation values.
Start and poll the graph from one thread (the test's): :meth:`GraphProcesses.poll` does the restarts.
"""

from __future__ import annotations

import math
import os
import signal
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pytest
from diagnostic_msgs.msg import DiagnosticArray
from geometry_msgs.msg import Twist
from nav_msgs.msg import Odometry
from rclpy.qos import QoSProfile
from std_msgs.msg import Bool

from nav.graph.supervisor import BringupConfig, GraphProcesses
from nav.nodes.msgs import twist
from nav.runtime.config import load_ros_config
from ros_harness import SpinningNode
from untrained_models import save_untrained

pytestmark = pytest.mark.e2e

DOMAIN = 232  # test_mux_node: 100..149, test_sim_node/test_bringup/test_teleop: 150..199, test_agent_node: 230, 231
ROS = load_ros_config()
TOPICS = ROS.topics
MUX_HZ = ROS.mux.rate_hz
MUX_PERIOD = 1.0 / MUX_HZ
NAV_TIMEOUT = next(i.timeout for i in ROS.mux.inputs if i.name == "navigation")
TELEOP_HZ = 10.0
STARTUP_TIMEOUT = 120.0  # s: world building, the sentence encoder and torch imports, on a busy 2-core box

Output = tuple[float, float, float]


class Operator(SpinningNode):
    """Records the mux output, odometry and diagnostics; publishes teleop (at 10 Hz while set), e-stop, reset."""

    def __init__(self) -> None:
        super().__init__(DOMAIN, "graph_test", start=False)
        reliable = QoSProfile(depth=50)
        self.teleop_pub = self.node.create_publisher(Twist, TOPICS.cmd_teleop, reliable)
        self.estop_pub = self.node.create_publisher(Bool, TOPICS.estop, reliable)
        self.reset_pub = self.node.create_publisher(Bool, TOPICS.estop_reset, reliable)
        self.lock = threading.Lock()
        self.outputs: list[Output] = []
        self.nav: list[Output] = []
        self.odom: list[Output] = []
        self.mux_diag: list[tuple[float, dict[str, str]]] = []
        self.agent_diag: list[tuple[float, str]] = []
        self.node.create_subscription(Twist, TOPICS.cmd_out, self._recorder(self.outputs), reliable)
        self.node.create_subscription(Twist, TOPICS.cmd_nav, self._recorder(self.nav), reliable)
        self.node.create_subscription(Odometry, TOPICS.odom, self._on_odom, reliable)
        self.node.create_subscription(DiagnosticArray, TOPICS.diagnostics, self._on_diagnostics, reliable)
        self.teleop: tuple[float, float] | None = None
        self.node.create_timer(1.0 / TELEOP_HZ, self._publish_teleop)
        self.start()

    def _publish_teleop(self) -> None:
        if self.teleop is not None:
            self.teleop_pub.publish(twist(*self.teleop))

    def _recorder(self, into: list[Output]) -> Callable[[Twist], None]:
        def record(msg: Twist) -> None:
            with self.lock:
                into.append((time.monotonic(), msg.linear.x, msg.angular.z))

        return record

    def _on_odom(self, msg: Odometry) -> None:
        with self.lock:
            self.odom.append((time.monotonic(), msg.twist.twist.linear.x, msg.twist.twist.angular.z))

    def _on_diagnostics(self, msg: DiagnosticArray) -> None:
        now = time.monotonic()
        with self.lock:
            for s in msg.status:
                if s.name.endswith("velocity mux"):
                    self.mux_diag.append((now, {kv.key: kv.value for kv in s.values}))
                elif s.name == "nav: agent":
                    self.agent_diag.append((now, s.message))

    def since(self, t0: float, until: float = math.inf, stream: str = "outputs") -> list[Output]:
        with self.lock:
            return [o for o in getattr(self, stream) if t0 <= o[0] < until]

    def mux_source(self, since: float) -> str | None:
        with self.lock:
            recent = [values for t, values in self.mux_diag if t >= since]
        return recent[-1]["source"] if recent else None


def wait_for(graph: GraphProcesses, condition: Callable[[], object], timeout: float, what: str) -> object:
    """Poll the graph (restarts happen in poll) until ``condition()`` is truthy; its value."""
    deadline = time.monotonic() + timeout
    while True:
        graph.poll()
        value = condition()
        if value:
            return value
        assert time.monotonic() < deadline, f"{what} within {timeout:g} s"
        time.sleep(0.005)


def pause(graph: GraphProcesses, seconds: float) -> None:
    """Sleep, polling the graph."""
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        graph.poll()
        time.sleep(0.01)


def near(linear: float, angular: float, tol: float = 1e-6) -> Callable[[float, float], bool]:
    return lambda lin, ang: abs(lin - linear) <= tol and abs(ang - angular) <= tol


def first_output(operator: Operator, match: Callable[[float, float], bool], since: float) -> float | None:
    return next((t for t, lin, ang in operator.since(since) if match(lin, ang)), None)


def is_zero(linear: float, angular: float) -> bool:
    return linear == 0.0 and angular == 0.0


# ============================================================================================ the graph
class Graph:
    def __init__(self, processes: GraphProcesses, operator: Operator, lines: list[str], log_dir: Path) -> None:
        self.processes, self.operator, self.lines, self.log_dir = processes, operator, lines, log_dir
        self.pids_seen: set[int] = set(processes.pids().values())

    def tail(self, n: int = 40) -> str:
        return "\n".join(self.lines[-n:])


@pytest.fixture(scope="module")
def graph(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Graph]:
    folder = tmp_path_factory.mktemp("graph")
    save_untrained(folder / "models", "small")
    config = BringupConfig(
        sim=True,
        node_params={
            "agent": {"models_dir": str(folder / "models"), "variant": "small"},
            "sim": {"real_time": True, "publish_points": False},
        },
        env={"ROS_DOMAIN_ID": str(DOMAIN), "ROS_AUTOMATIC_DISCOVERY_RANGE": "LOCALHOST"},
        log_dir=folder / "logs",
    )
    operator = Operator()
    lines: list[str] = []
    processes = GraphProcesses(config, out=lines.append)
    try:
        processes.start()
        g = Graph(processes, operator, lines, folder / "logs")
        t0 = time.monotonic()
        started = time.monotonic()

        def ready() -> bool:
            return bool(
                operator.since(t0, stream="odom")
                and operator.since(t0, stream="nav")
                and operator.mux_source(t0) == "navigation"
                and any(msg == "driving" for _, msg in operator.agent_diag)
                and all(p.get_subscription_count() for p in (operator.teleop_pub, operator.estop_pub))
            )

        try:
            wait_for(processes, ready, STARTUP_TIMEOUT, "the graph up (odometry, agent driving, mux on navigation)")
        except AssertionError as exc:
            raise AssertionError(f"{exc}\n{g.tail()}") from None
        print(f"\ngraph up in {time.monotonic() - started:.1f} s")
        yield g
    finally:
        processes.stop()
        operator.close()


def test_mux_output_comes_at_its_rate_within_limits_and_odometry_arrives(graph: Graph) -> None:
    op = graph.operator
    t0 = time.monotonic()
    pause(graph.processes, 2.0)
    window = op.since(t0, t0 + 2.0)
    rate = len(window) / 2.0
    odom_rate = len(op.since(t0, t0 + 2.0, stream="odom")) / 2.0
    print(f"\n{TOPICS.cmd_out} at {rate:.1f} Hz (mux.rate_hz {MUX_HZ:g}); odometry at {odom_rate:.1f} Hz")
    assert 0.8 * MUX_HZ <= rate <= 1.5 * MUX_HZ  # timer ticks, plus an immediate publish on each change
    assert all(math.isfinite(lin) and math.isfinite(ang) for _, lin, ang in window)
    assert all(abs(lin) <= ROS.mux.max_linear and abs(ang) <= ROS.mux.max_angular for _, lin, ang in window)
    assert odom_rate >= 0.5 * ROS.sim_node.rate_hz
    assert op.mux_source(t0) == "navigation"


def test_every_node_uses_only_the_topics_the_graph_declares_for_it(graph: Graph) -> None:
    """graph.yaml's publishes / subscribes are what SROS2 permissions are made from (nav.graph.security): a node
    that used a topic it does not declare would be denied it on a secured robot."""
    from nav.graph.declaration import load_graph
    from nav.graph.security import EVERY_NODE_PUBLISHES

    node = graph.operator.node
    undeclared = {}
    for spec in load_graph().selected(sim=True):
        published = {t for t, _ in node.get_publisher_names_and_types_by_node(spec.name, "/")}
        subscribed = {t for t, _ in node.get_subscriber_names_and_types_by_node(spec.name, "/")}
        assert published, f"{spec.name} not seen on the graph"
        allowed_pub = {TOPICS.resolve(t) for t in (*spec.publishes, *EVERY_NODE_PUBLISHES)}
        allowed_sub = {TOPICS.resolve(t) for t in spec.subscribes}
        extra = sorted((published - allowed_pub) | (subscribed - allowed_sub))
        if extra:
            undeclared[spec.name] = extra
    assert not undeclared, f"topics in use that configs/graph.yaml does not declare: {undeclared}"


def test_teleop_reaches_the_output_within_100ms_and_overrides_navigation(graph: Graph) -> None:
    op, latencies = graph.operator, []
    for i in range(3):
        # Rotation in place: the guard never stops it and the ramp reaches it in one mux period.
        command = (0.0, (-1) ** i * (0.1 + 0.05 * i))
        t0 = time.monotonic()
        op.teleop_pub.publish(twist(*command))  # the first message of an override
        op.teleop = command
        reached = wait_for(graph.processes, lambda c=command, t=t0: first_output(op, near(*c), t), 1.0, "teleop output")
        latencies.append(reached - t0)
        t1 = time.monotonic()
        pause(graph.processes, 0.3)
        held = op.since(t1)
        assert len(held) >= 4 and all(near(*command)(lin, ang) for _, lin, ang in held), "navigation got through"
        op.teleop = None  # let go: navigation takes over after the teleop timeout
        pause(graph.processes, NAV_TIMEOUT + 0.2)
    t3 = time.monotonic()
    wait_for(graph.processes, lambda: op.mux_source(t3) == "navigation", 3.0, "navigation back after teleop")
    print(f"\nteleop -> {TOPICS.cmd_out} latency: " + ", ".join(f"{1000 * x:.0f} ms" for x in latencies))
    assert max(latencies) < 0.1


def test_estop_gives_zero_within_one_cycle_and_holds_until_released_and_reset(graph: Graph) -> None:
    op, procs = graph.operator, graph.processes
    command = (0.0, 0.3)
    op.teleop = command
    t0 = time.monotonic()
    wait_for(procs, lambda: first_output(op, near(*command), t0), 2.0, "teleop driving")
    try:
        t_stop = time.monotonic()
        op.estop_pub.publish(Bool(data=True))
        stopped = wait_for(procs, lambda: first_output(op, is_zero, t_stop), 1.0, "zero after the e-stop")
        print(f"\ne-stop -> zero in {1000 * (stopped - t_stop):.0f} ms")
        assert stopped - t_stop <= MUX_PERIOD + 0.03
        op.reset_pub.publish(Bool(data=True))  # refused: the e-stop topic still says true
        pause(procs, 0.3)
        op.estop_pub.publish(Bool(data=False))  # released, but still latched
        pause(procs, 0.4)
        held = op.since(stopped)
        assert len(held) >= 0.7 * 0.7 * MUX_HZ and all(is_zero(lin, ang) for _, lin, ang in held)
        t2 = time.monotonic()
        op.reset_pub.publish(Bool(data=True))
        wait_for(procs, lambda: first_output(op, near(*command), t2), 1.0, "teleop again after the reset")
    finally:
        op.estop_pub.publish(Bool(data=False))
        op.reset_pub.publish(Bool(data=True))
        op.teleop = None


def test_killed_agent_gives_zero_within_the_input_timeout_and_is_respawned(graph: Graph) -> None:
    op, procs = graph.operator, graph.processes
    t0 = time.monotonic()
    wait_for(procs, lambda: op.mux_source(t0) == "navigation", 3.0, "the mux on navigation")
    old = procs.pids()["agent"]
    graph.pids_seen.add(old)
    before = op.since(time.monotonic() - 0.3)
    moving = bool(before) and not is_zero(*before[-1][1:])
    os.kill(old, signal.SIGKILL)
    t_kill = time.monotonic()
    horizon = t_kill + NAV_TIMEOUT + MUX_PERIOD + 0.5
    pause(procs, horizon - time.monotonic())
    after = op.since(t_kill, horizon)
    nonzero = [t for t, lin, ang in after if not is_zero(lin, ang)]
    settled = next((t for t, lin, ang in after if is_zero(lin, ang) and t > max(nonzero, default=0.0)), None)
    assert settled is not None, "the output never settled at zero after the agent was killed"
    latency = settled - t_kill
    print(
        f"\nagent SIGKILL -> {TOPICS.cmd_out} exactly zero for good after {1000 * latency:.0f} ms "
        f"(navigation timeout {NAV_TIMEOUT:g} s + mux period {1000 * MUX_PERIOD:.0f} ms; "
        f"{'moving' if moving else 'already zero'} at the kill)"
    )
    times = [t for t, _, _ in op.since(t_kill - MUX_PERIOD, horizon)]
    gap = max(np.diff(times), default=math.inf)
    assert latency <= NAV_TIMEOUT + MUX_PERIOD + 0.05, f"largest gap in the mux output {1000 * gap:.0f} ms"
    assert len(op.since(settled, horizon)) >= 0.5 * MUX_HZ * (horizon - settled), "zero must keep coming"
    t_out = t_kill + NAV_TIMEOUT + MUX_PERIOD
    wait_for(procs, lambda: op.mux_source(t_out) == "none", 2.0, "mux diagnostics: no source after the timeout")

    wait_for(procs, lambda: procs.pids().get("agent") not in (None, old), 10.0, "the agent respawned")
    new_pid = procs.pids()["agent"]
    graph.pids_seen.add(new_pid)
    status = next(s for s in procs.status() if s.name == "agent")
    assert status.starts == 2 and status.running
    assert any("agent was killed by SIGKILL; restarting" in line for line in graph.lines)
    t_new = time.monotonic()
    wait_for(procs, lambda: op.since(t_new, stream="nav"), 60.0, "commands from the respawned agent")


def test_stop_leaves_no_processes_and_a_zero_command(graph: Graph) -> None:  # last: it stops the graph
    procs, op = graph.processes, graph.operator
    graph.pids_seen |= set(procs.pids().values())
    t0 = time.monotonic()
    clean = procs.stop()
    elapsed = time.monotonic() - t0
    print(f"\ngraph stopped in {elapsed:.1f} s (pids {sorted(graph.pids_seen)})")
    assert clean, graph.tail()
    assert not procs.active and procs.pids() == {}
    for pid in graph.pids_seen:  # each node ran in its own session: its group must be empty
        with pytest.raises(ProcessLookupError):
            os.killpg(pid, 0)
    final = op.since(t0)
    assert final and is_zero(*final[-1][1:]), "the mux did not leave a zero command"
    rc = {s.name: s.returncode for s in procs.status()}
    assert {"sim", "agent", "mux"} <= rc.keys() and all(code == 0 for code in rc.values()), rc
