"""``nav demo``: the whole node graph in simulation, headless, following one instruction.

The graph of ``configs/graph.yaml`` is brought up with ``--sim`` (simulator, agent with the shipped
model, command mux), exactly as ``nav bringup --sim`` runs it. This process listens on DDS like any
other tool: it prints progress (pose, the agent's state) and waits for the simulator's outcome,
then shuts the graph down. The simulator writes the artifacts: ``camera.mp4`` (the robot's camera
with the command overlaid), ``trajectory.png`` (top-down) and ``metrics.json``.
"""

from __future__ import annotations

import json
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

DEFAULT_INSTRUCTION = "go to the red cube"


@dataclass(frozen=True)
class GraphDemoConfig:
    instruction: str = DEFAULT_INSTRUCTION
    """What to ask the robot (it must name a colour and a shape the agent's grounding knows)."""
    seed: int = 0
    """The world is the first from this seed on that holds the named object."""
    out_dir: Path = field(default_factory=lambda: Path("artifacts/demo"))
    variant: str | None = None
    """Model variant for the agent (None: ``agent.variant`` of ros.yaml)."""
    models_dir: Path | None = None
    """Where the agent finds ``<variant>/`` model folders (None: ``agent.models_dir`` of ros.yaml)."""
    timeout_s: float = 180.0
    """Wall-clock limit for the whole run, start-up included."""
    domain_id: int | None = None
    """ROS_DOMAIN_ID for the graph and this listener (None: the environment's)."""
    real_time: bool = True
    """Pace the simulator with the wall clock (as on a robot); False runs as fast as the stack keeps up."""
    record: Path | None = None
    """Also record a rosbag2 bag of the run into this new folder (``nav demo --record DIR``)."""


class _Listener:
    """A small rclpy node in its own context: odometry, the agent's diagnostics and the outcome."""

    def __init__(self) -> None:
        import rclpy
        from diagnostic_msgs.msg import DiagnosticArray
        from nav_msgs.msg import Odometry
        from rclpy.executors import SingleThreadedExecutor
        from std_msgs.msg import String

        from nav.node_utils import LATCHED_QOS, SENSOR_QOS, STATUS_QOS
        from nav.ros_config import load_ros_config

        topics = load_ros_config().topics
        self.context = rclpy.Context()
        rclpy.init(context=self.context)
        self.node = rclpy.create_node("nav_demo", context=self.context)
        self.pose: tuple[float, float] | None = None
        self.agent_state = "starting"
        self.outcome: dict[str, Any] | None = None
        self.node.create_subscription(Odometry, topics.odom, self._on_odom, SENSOR_QOS)
        self.node.create_subscription(DiagnosticArray, topics.diagnostics, self._on_diag, STATUS_QOS)
        self.node.create_subscription(String, topics.outcome, self._on_outcome, LATCHED_QOS)
        self.executor = SingleThreadedExecutor(context=self.context)
        self.executor.add_node(self.node)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._spin, daemon=True)
        self._thread.start()

    def _spin(self) -> None:
        while not self._stop.is_set():
            self.executor.spin_once(timeout_sec=0.1)

    def _on_odom(self, msg: Any) -> None:
        self.pose = (msg.pose.pose.position.x, msg.pose.pose.position.y)

    def _on_diag(self, msg: Any) -> None:
        for status in msg.status:
            if status.name == "nav: agent":
                values = {kv.key: kv.value for kv in status.values}
                variant, tick = values.get("variant", "?"), values.get("tick_p50_ms", "?")
                self.agent_state = f"{status.message} (variant {variant}, tick p50 {tick} ms)"

    def _on_outcome(self, msg: Any) -> None:
        self.outcome = json.loads(msg.data)

    def close(self) -> None:
        import rclpy

        self._stop.set()
        self._thread.join(timeout=2.0)
        self.executor.shutdown()
        self.node.destroy_node()
        rclpy.try_shutdown(context=self.context)


def ground_goal(instruction: str) -> str:
    """The object the agent takes ``instruction`` to mean, as ``"<colour> <shape>"``: the agent's own
    grounding (:mod:`perception.grounding`), so the simulated world holds the object the robot will
    look for ("go to the crimson box" is the red cube). InstructionError names what is unknown."""
    from perception.language import default_encoder
    from policy.processing import default_grounder

    grounding = default_grounder(default_encoder()).ground(instruction)
    return f"{grounding.colour} {grounding.shape}"


def run_graph_demo(config: GraphDemoConfig, log: Callable[[str], None] = print) -> dict[str, Any]:
    """Run the graph until the episode's outcome; return the metrics (``success``, ``time_s``, ...)."""
    from nav.bringup import BringupConfig, GraphProcesses

    goal = ground_goal(config.instruction)  # a clear error before anything starts
    out = Path(config.out_dir).resolve()
    out.mkdir(parents=True, exist_ok=True)
    (out / "metrics.json").unlink(missing_ok=True)
    env = {} if config.domain_id is None else {"ROS_DOMAIN_ID": str(config.domain_id)}
    if config.domain_id is not None:
        os.environ["ROS_DOMAIN_ID"] = str(config.domain_id)
    params: dict[str, dict[str, Any]] = {
        "sim": {"artifacts_dir": str(out), "seed": config.seed, "real_time": config.real_time, "goal": goal}
    }
    agent: dict[str, Any] = {}
    if config.variant is not None:
        agent["variant"] = config.variant
    if config.models_dir is not None:
        agent["models_dir"] = str(Path(config.models_dir).resolve())
    if agent:
        params["agent"] = agent
    # The demo shows one variant: the resource monitor is pinned to it (`nav bringup` adapts freely).
    from nav.ros_config import load_ros_config

    monitor: dict[str, Any] = {"pin": config.variant or load_ros_config().agent.variant}
    if config.models_dir is not None:
        monitor["models_dir"] = agent["models_dir"]
    params["resource_monitor"] = monitor
    bringup = BringupConfig(
        sim=True,
        instruction=config.instruction,
        log_dir=out / "logs",
        node_params=params,
        env=env,
        record=config.record,
    )
    log(f"demo: bringing up the graph in simulation for {config.instruction!r}, the {goal} (logs in {out / 'logs'})")
    listener = _Listener()
    started = time.monotonic()
    try:
        with GraphProcesses(bringup, out=lambda line: None) as graph:
            next_report = started
            while listener.outcome is None:
                graph.poll()
                now = time.monotonic()
                if now - started > config.timeout_s:
                    raise TimeoutError(
                        f"no outcome from the simulator within {config.timeout_s:.0f} s; "
                        f"see the node logs in {out / 'logs'}"
                    )
                if now >= next_report:
                    pose = "unknown" if listener.pose is None else f"({listener.pose[0]:+.2f}, {listener.pose[1]:+.2f})"
                    log(f"  {now - started:5.1f} s  odom {pose} m  agent: {listener.agent_state}")
                    next_report = now + 2.0
                time.sleep(0.05)
            outcome = dict(listener.outcome)
    finally:
        listener.close()
    metrics_file = out / "metrics.json"
    if metrics_file.exists():
        outcome = json.loads(metrics_file.read_text())
    outcome["driver"] = "learned policy via the ROS graph"
    outcome["wall_time_s"] = round(time.monotonic() - started, 1)
    metrics_file.write_text(json.dumps(outcome, sort_keys=True) + "\n")  # the artifact says what stdout says
    return outcome
