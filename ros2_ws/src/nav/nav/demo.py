"""``nav demo``: the robot follows one instruction in simulation, headless, with its artifacts.

Two drivers, one episode and one set of artifacts (``camera.mp4``: the robot's camera with the
command overlaid, ``trajectory.png``: top-down, ``metrics.json``):

- **the node graph** (default): the graph of ``configs/graph.yaml`` is brought up with ``--sim``
  (simulator, agent with the shipped model, command mux), exactly as ``nav bringup --sim`` runs it.
  This process listens on DDS like any other tool (:class:`nav.nodes.demo_listener.DemoListener`):
  it prints progress (pose, the agent's state), waits for the simulator's outcome, then shuts the
  graph down. The simulator node writes the artifacts.
- **the privileged teacher, in-process** (``--teacher``, or when no model is shipped): the sim
  node's episode (:class:`nav.runtime.sim_session.SimSession`) driven by the teacher's own commands,
  without ROS.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = ["DemoConfig", "ground_goal", "run_demo", "run_graph_demo", "run_teacher_demo"]


@dataclass(frozen=True)
class DemoConfig:
    instruction: str | None = None
    """What to ask the robot (it must name a colour and a shape the agent's grounding knows);
    None: ``task.default_instruction`` of sim.yaml."""
    seed: int = 0
    """The world is the first from this seed on that holds the named object."""
    out_dir: Path = field(default_factory=lambda: Path("artifacts/demo"))
    teacher: bool = False
    """Let the privileged teacher drive, in-process, without ROS (no model needed)."""
    variant: str | None = None
    """Model variant for the agent (None: ``agent.variant`` of ros.yaml)."""
    models_dir: Path | None = None
    """Where the agent finds ``<variant>/`` model folders (None: ``agent.models_dir`` of ros.yaml)."""
    timeout_s: float = 180.0
    """Wall-clock limit for the whole run, start-up included (the graph)."""
    domain_id: int | None = None
    """ROS_DOMAIN_ID for the graph and this listener (None: ``sim_network.domain_id`` of ros.yaml); discovery stays
    on this machine when ``sim_network.localhost_only``."""
    real_time: bool = True
    """Pace the simulator with the wall clock (as on a robot); False runs as fast as the stack keeps up."""
    record: Path | None = None
    """Also record a rosbag2 bag of the run into this new folder (``nav demo --record DIR``; the graph only)."""
    robot: str | None = None
    """The simulated robot's profile (``nav demo --robot turtlebot3``; :func:`configs.robot.named_profile`)."""

    def __post_init__(self) -> None:
        if self.teacher and self.record is not None:
            raise ValueError(
                "--record records the ROS graph, which needs a model for the agent "
                "(models/<variant>/manifest.json); the in-process teacher run publishes nothing to record"
            )
        if not self.timeout_s > 0:
            raise ValueError(f"timeout_s must be > 0, got {self.timeout_s}")
        if self.robot is not None:
            from configs.robot import named_profile

            named_profile(self.robot)

    def resolved_instruction(self) -> str:
        """The instruction, or the task's default."""
        if self.instruction is not None:
            return self.instruction
        from sim.config import load_sim_config

        return load_sim_config().task.default_instruction


def run_demo(config: DemoConfig, log: Callable[[str], None] = print) -> dict[str, Any]:
    """Run the demo with the configured driver; return the metrics (``success``, ``time_s``, ...)."""
    if config.robot is not None:  # this process (the teacher's simulator) and every node read that profile
        from configs.robot import ROBOT_PROFILE_ENV, named_profile

        os.environ[ROBOT_PROFILE_ENV] = str(named_profile(config.robot))
    metrics = run_teacher_demo(config, log) if config.teacher else run_graph_demo(config, log)
    if config.robot is not None:
        metrics["robot"] = config.robot
    return metrics


def run_teacher_demo(config: DemoConfig, log: Callable[[str], None] = print) -> dict[str, Any]:
    """The sim node's episode driven in-process by the privileged teacher; artifacts as the sim node writes them."""
    from nav.runtime.sim_session import SimNodeParams, SimSession

    instruction = config.resolved_instruction()
    session = SimSession(SimNodeParams(instruction=instruction, seed=config.seed, publish_points=False))
    try:
        log(f"demo: world {session.world_seed}, instruction {instruction!r} (teacher driving)")
        while not session.ended:
            session.step(*session.teacher_command)
            if session.ticks % 20 == 0:
                log(f"  t={session.sim_time:5.1f}s  distance to goal {session.info['distance_to_goal']:.2f} m")
        metrics = {**session.metrics(), "driver": "teacher"}
        metrics["artifacts"] = session.write_artifacts(config.out_dir, metrics)
        return metrics
    finally:
        session.close()


def ground_goal(instruction: str) -> str:
    """The object the agent takes ``instruction`` to mean, as ``"<colour> <shape>"``: the agent's own
    grounding (:mod:`perception.grounding`), so the simulated world holds the object the robot will
    look for ("go to the crimson box" is the red cube). InstructionError names what is unknown."""
    from perception.language import default_encoder
    from policy.processing import default_grounder

    grounding = default_grounder(default_encoder()).ground(instruction)
    return f"{grounding.colour} {grounding.shape}"


def run_graph_demo(config: DemoConfig, log: Callable[[str], None] = print) -> dict[str, Any]:
    """Run the graph until the episode's outcome; return the metrics (``success``, ``time_s``, ...)."""
    from nav.graph.supervisor import BringupConfig, GraphProcesses
    from nav.nodes.demo_listener import DemoListener

    instruction = config.resolved_instruction()
    goal = ground_goal(instruction)  # a clear error before anything starts
    out = Path(config.out_dir).resolve()
    out.mkdir(parents=True, exist_ok=True)
    (out / "metrics.json").unlink(missing_ok=True)
    from nav.runtime.config import load_ros_config

    env = load_ros_config().sim_network.env(config.domain_id)  # fenced off from robots on the network
    os.environ.update(env)  # this process's listener joins the graph there
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
    from nav.runtime.config import load_ros_config

    monitor: dict[str, Any] = {"pin": config.variant or load_ros_config().agent.variant}
    if config.models_dir is not None:
        monitor["models_dir"] = agent["models_dir"]
    params["resource_monitor"] = monitor
    bringup = BringupConfig(
        sim=True,
        instruction=instruction,
        log_dir=out / "logs",
        node_params=params,
        env=env,
        record=config.record,
        robot=config.robot,
    )
    log(f"demo: bringing up the graph in simulation for {instruction!r}, the {goal} (logs in {out / 'logs'})")
    listener = DemoListener()
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
