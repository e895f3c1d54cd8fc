"""``nav bringup``: one supervised process per node of the graph, restarts, clean Ctrl-C; the launch file.

The supervisor is tested on a graph of its own (``tmp_path/graph.yaml``): the real sim node plus
``tests/nodes/crashy_node.py``, which crashes, runs until stopped or ignores signals on request.
"""

from __future__ import annotations

import ast
import contextlib
import os
import queue
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import psutil
import pytest
import rclpy
import yaml
from rcl_interfaces.msg import ParameterDescriptor
from rclpy.node import Node

from configs import config_dir
from nav.graph.declaration import NodeSpec, load_graph
from nav.graph.paths import resolve_config_path
from nav.graph.supervisor import (
    BringupConfig,
    GraphProcesses,
    config_from_args,
    format_param,
    node_command,
    parse_param,
)

REPO = Path(__file__).resolve().parents[1]
LAUNCH_FILE = REPO / "launch" / "bringup.launch.py"
TEST_NODES = Path(__file__).resolve().parent / "nodes"
DOMAIN = 150 + (os.getpid() % 16) * 3 + 2  # see test_sim_node: BASE + 2
NODE_ENV = {
    "ROS_DOMAIN_ID": str(DOMAIN),
    "PYTHONPATH": os.pathsep.join(filter(None, [str(TEST_NODES), os.environ.get("PYTHONPATH")])),
}


def write_graph(path: Path, nodes: list[dict]) -> Path:
    path.write_text(yaml.safe_dump({"nodes": nodes}))
    return path


def alive(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


# ============================================================================================ launch file
@pytest.mark.unit
def test_launch_file_builds_its_nodes_from_the_graph():
    tree = ast.parse(LAUNCH_FILE.read_text(), filename=str(LAUNCH_FILE))
    names = {n.id for n in ast.walk(tree) if isinstance(n, ast.Name)} | {
        a.name for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) for a in n.names
    }
    functions = {n.name for n in ast.walk(tree) if isinstance(n, ast.FunctionDef)}
    node_calls = [
        n for n in ast.walk(tree) if isinstance(n, ast.Call) and isinstance(n.func, ast.Name) and n.func.id == "Node"
    ]

    assert "generate_launch_description" in functions
    assert {"load_graph", "IfCondition", "UnlessCondition", "resolve_config_path"} <= names
    nav_modules = {n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and n.module.startswith("nav")}
    assert nav_modules == {"nav.graph.declaration", "nav.graph.paths"}, "the launch file needs no process supervisor"
    assert len(node_calls) == 1, "one Node action, built per spec of the graph"
    keywords = {k.arg for k in node_calls[0].keywords}
    assert {"package", "executable", "name", "parameters", "remappings", "respawn", "condition"} <= keywords


# ============================================================================================ commands
@pytest.mark.unit
def test_node_command_passes_name_config_params_and_remappings():
    spec = NodeSpec("sim", "sim_node", "nav.nodes.sim_node", "sim", False, (("/cmd_vel", "/cmd_vel/safe"),))

    cmd = node_command(spec, "/c/ros.yaml", {"instruction": "it's 3", "world_seed": 3, "real_time": False})

    assert cmd == [
        sys.executable,
        "-m",
        "nav.nodes.sim_node",
        "--ros-args",
        "-r",
        "__node:=sim",
        "-p",
        "config:='/c/ros.yaml'",
        "-p",
        "instruction:='it''s 3'",
        "-p",
        "world_seed:=3",
        "-p",
        "real_time:=false",
        "-r",
        "/cmd_vel:=/cmd_vel/safe",
    ]


@pytest.mark.unit
@pytest.mark.parametrize("sim", [True, False])
def test_with_the_simulator_the_agent_runs_on_its_clock_and_on_a_robot_on_the_system_clock(sim: bool):
    graph = GraphProcesses(BringupConfig(sim=sim, liveness_timeout=0.0))
    agent = graph.nodes["agent"].argv
    assert ("use_sim_time:=true" in agent) is sim
    others = [" ".join(n.argv) for name, n in graph.nodes.items() if name != "agent"]
    assert not any("use_sim_time" in argv for argv in others), "only the nodes whose spec says sim_time"


@pytest.mark.dds
@pytest.mark.parametrize("value", ["go to the red cube", "it's 3", "3", "true", "x: y", 3, -1, 2.5, True, False])
def test_rcl_reads_formatted_params_back_unchanged(value):
    context = rclpy.Context()
    rclpy.init(args=["--ros-args", "-p", f"p:={format_param(value)}"], context=context, domain_id=DOMAIN)
    try:
        node = Node("param_check", context=context)
        read = node.declare_parameter("p", None, ParameterDescriptor(dynamic_typing=True)).value
        node.destroy_node()
    finally:
        rclpy.shutdown(context=context)

    assert read == value and type(read) is type(value)


@pytest.mark.unit
def test_cli_params_and_config_paths(tmp_path, monkeypatch):
    import argparse

    from nav.graph.supervisor import add_arguments

    parser = argparse.ArgumentParser()
    add_arguments(parser)
    cfg = config_from_args(parser.parse_args(["--sim", "-p", "sim.world_seed=3", "-p", "sim.artifacts_dir=/tmp/x"]))
    assert cfg.sim and dict(cfg.node_params) == {"sim": {"world_seed": 3, "artifacts_dir": "/tmp/x"}}
    assert parse_param("agent.variant='3'") == ("agent", "variant", "3")
    with pytest.raises(ValueError, match="node.name=value"):
        parse_param("world_seed=3")

    assert resolve_config_path("ros.yaml") == (config_dir() / "ros.yaml").resolve()
    (tmp_path / "ros.yaml").write_text("{}\n")
    monkeypatch.setenv("NAV_CONFIG_DIR", str(tmp_path))
    assert resolve_config_path("ros.yaml") == tmp_path / "ros.yaml"
    assert resolve_config_path("graph.yaml") == (config_dir() / "graph.yaml").resolve()


@pytest.mark.unit
def test_unknown_nodes_in_the_config_are_errors():
    graph = load_graph()
    with pytest.raises(ValueError, match="no such node"):
        BringupConfig(sim=True, node_params={"simm": {"seed": 1}}).selected(graph)
    with pytest.raises(ValueError, match="only"):
        BringupConfig(sim=False, only=("sim",)).selected(graph)
    with pytest.raises(ValueError, match="node_params"):
        BringupConfig(node_params={"sim": {"seed": [1]}})
    with pytest.raises(ValueError, match="no robot profile 'roomba'.*turtlebot3"):
        BringupConfig(robot="roomba")


# ============================================================================================ supervisor
@pytest.mark.e2e
def test_bringup_restarts_a_crashed_node_and_ctrl_c_stops_every_node(tmp_path):
    graph = write_graph(
        tmp_path / "graph.yaml",
        [
            {"name": "sim", "executable": "sim_node", "module": "nav.nodes.sim_node", "when": "sim", "respawn": False},
            {"name": "crashy", "executable": "crashy_node", "module": "crashy_node", "when": "always"},
            {"name": "steady", "executable": "crashy_node", "module": "crashy_node", "when": "always"},
            {"name": "on_robot", "executable": "crashy_node", "module": "crashy_node", "when": "robot"},
        ],
    )
    cmd = [
        sys.executable,
        "-m",
        "nav.graph.supervisor",
        "--sim",
        "--graph",
        str(graph),
        "--log-dir",
        str(tmp_path / "logs"),
    ]
    cmd += ["-p", "crashy.crash_after=0.3", "-p", "steady.mode=steady", "-p", "sim.publish_points=false"]
    proc = subprocess.Popen(
        cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env={**os.environ, **NODE_ENV}
    )
    lines: queue.Queue[str] = queue.Queue()
    seen: list[str] = []
    threading.Thread(target=lambda: [lines.put(line.rstrip("\n")) for line in proc.stdout], daemon=True).start()

    def wait_until(predicate, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while not predicate():
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise AssertionError("timed out; output so far:\n" + "\n".join(seen))
            with contextlib.suppress(queue.Empty):
                seen.append(lines.get(timeout=min(remaining, 0.2)))

    def crashy_pids() -> list[int]:
        return [int(m.group(1)) for line in seen if (m := re.match(r"\[crashy\] crashy_node crashy pid (\d+)", line))]

    try:
        wait_until(lambda: len(crashy_pids()) >= 3 and any("[sim]: world" in line for line in seen), timeout=40)
        pids = [int(m.group(1)) for line in seen if (m := re.search(r"started \w+ \(pid (\d+)\)", line))]
        proc.send_signal(signal.SIGINT)
        rc = proc.wait(timeout=20)
    finally:
        if proc.poll() is None:
            proc.kill()
    while not lines.empty():
        seen.append(lines.get())
    out = "\n".join(seen)

    assert rc == 0, out
    assert len(set(crashy_pids())) >= 3, "the crashed node was started again, as a new process"
    assert "crashy exited with code 3; restarting in" in out
    assert "sim exited with code 0" in out and "steady exited with code 0" in out
    assert "[steady] crashy_node steady: clean exit on signal 2" in out, "the node got SIGINT"
    assert "shutting down (SIGINT)" in out, "the sim node got SIGINT"
    assert "on_robot" not in out, "a `when: robot` node does not run with --sim"
    assert f"config {(config_dir() / 'ros.yaml').resolve()}" in out, "every node gets the ros.yaml path"
    assert not [pid for pid in pids if alive(pid)], "no node outlives the supervisor"
    assert "clean exit" in (tmp_path / "logs" / "steady.log").read_text()
    assert "[sim]: world" in (tmp_path / "logs" / "sim.log").read_text()


@pytest.mark.e2e
def test_a_node_alive_but_stuck_is_killed_and_restarted_and_the_supervisor_says_so(tmp_path):
    """Issue 18 item 7: a node whose spin loop stops (its heartbeat goes stale) is restarted like a crashed one."""
    graph = write_graph(
        tmp_path / "graph.yaml",
        [
            {"name": "hung", "executable": "crashy_node", "module": "crashy_node"},
            {"name": "steady", "executable": "crashy_node", "module": "crashy_node"},
        ],
    )
    out: list[str] = []
    config = BringupConfig(
        graph=graph,
        node_params={"hung": {"mode": "hang", "crash_after": 0.5}, "steady": {"mode": "steady"}},
        env=NODE_ENV,
        respawn_delay=0.1,
        liveness_timeout=1.0,
    )
    with GraphProcesses(config, out=out.append) as graph_processes:
        deadline = time.monotonic() + 30
        while {s.name: s for s in graph_processes.poll()}["hung"].starts < 2:
            assert time.monotonic() < deadline, "\n".join(out)
            time.sleep(0.05)
        status = {s.name: s for s in graph_processes.status()}
        assert status["steady"].starts == 1, "a node that keeps beating is left alone"
        graph_processes.stop()
    text = "\n".join(out)
    assert "hung is stuck: no heartbeat for" in text and "killing it to restart it" in text
    assert "hung was killed by SIGKILL; restarting in" in text


@pytest.mark.e2e
def test_graph_processes_gives_up_on_a_crash_loop_and_kills_a_node_that_ignores_signals(tmp_path):
    graph = write_graph(
        tmp_path / "graph.yaml",
        [
            {"name": "crashy", "executable": "crashy_node", "module": "crashy_node"},
            {"name": "stubborn", "executable": "crashy_node", "module": "crashy_node"},
        ],
    )
    out: list[str] = []
    config = BringupConfig(
        graph=graph,
        node_params={"crashy": {"crash_after": 0.1}, "stubborn": {"mode": "stubborn"}},
        env=NODE_ENV,
        respawn_delay=0.1,
        max_restarts_per_minute=2,
        sigint_timeout=0.5,
        sigterm_timeout=0.5,
    )
    with GraphProcesses(config, out=out.append) as graph_processes:
        deadline = time.monotonic() + 30
        while not any(s.gave_up for s in graph_processes.poll()):
            assert time.monotonic() < deadline, "\n".join(out)
            time.sleep(0.05)
        status = {s.name: s for s in graph_processes.status()}
        stubborn_pid = graph_processes.pids()["stubborn"]
        assert status["crashy"].starts == 3 and status["crashy"].pid is None
        assert status["stubborn"].running
        assert graph_processes.active
        # stubborn prints its line once started: wait for it so that it ignores SIGINT for sure
        while not any(line.startswith("[stubborn] crashy_node") for line in out):
            assert time.monotonic() < deadline, "\n".join(out)
            time.sleep(0.05)
        clean = graph_processes.stop()
    text = "\n".join(out)

    assert "giving up on it: already restarted 2 times in the last minute" in text
    assert "stubborn still running: sending SIGTERM" in text
    assert "stubborn still running: sending SIGKILL" in text
    assert clean is False, "a node that had to be killed is not a clean shutdown"
    assert {s.name: s.returncode for s in graph_processes.status()}["stubborn"] == -signal.SIGKILL
    assert not alive(stubborn_pid)


def _topics_seen(domain: int, seconds: float) -> set[str]:
    """The topic names a node on ``domain`` (this process's discovery range) hears of within ``seconds``."""
    context = rclpy.Context()
    rclpy.init(context=context, domain_id=domain)
    try:
        node = Node("fence_probe", context=context)
        seen: set[str] = set()
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            seen |= {name for name, _ in node.get_topic_names_and_types()}
            time.sleep(0.2)
        node.destroy_node()
        return seen
    finally:
        rclpy.shutdown(context=context)


@pytest.mark.e2e
def test_a_simulated_graph_is_fenced_off_from_other_domains_and_other_machines(tmp_path):
    from nav.runtime.config import load_ros_config

    network = load_ros_config().sim_network
    config = BringupConfig(sim=True, only=("sim",), node_params={"sim": {"publish_points": False}}, liveness_timeout=0)
    lines: list[str] = []
    with GraphProcesses(config, out=lines.append) as graph:
        deadline = time.monotonic() + 60
        while not any("[sim]: world" in line for line in lines):
            graph.poll()
            assert time.monotonic() < deadline, "\n".join(lines)
            time.sleep(0.1)
        environ = psutil.Process(graph.pids()["sim"]).environ()
        outside = _topics_seen(0, 4.0)  # a robot's usual domain
        inside = _topics_seen(network.domain_id, 4.0)
    assert environ["ROS_DOMAIN_ID"] == str(network.domain_id)
    assert environ["ROS_AUTOMATIC_DISCOVERY_RANGE"] == "LOCALHOST", "nothing off this machine discovers it"
    assert any(f"ROS domain {network.domain_id}, this machine only" in line for line in lines), lines[:3]
    assert "/scan" in inside, "a tool on the fenced domain, on this machine, hears the simulator"
    assert not {"/scan", "/cmd_vel", "/camera/image_raw"} & outside, f"heard from domain 0: {sorted(outside)}"


@pytest.mark.unit
@pytest.mark.parametrize("sim", [True, False])
def test_the_instruction_goes_to_the_simulator_or_on_a_robot_to_the_agent(sim: bool):
    graph = GraphProcesses(BringupConfig(sim=sim, instruction="go to the red cube", liveness_timeout=0.0))
    agent = " ".join(graph.nodes["agent"].argv)
    assert ("instruction:='go to the red cube'" in agent) is not sim
    if sim:
        assert "instruction:='go to the red cube'" in " ".join(graph.nodes["sim"].argv)
