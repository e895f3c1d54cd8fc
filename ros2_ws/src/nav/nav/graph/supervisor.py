"""``nav bringup [--sim]``: run the node graph of ``configs/graph.yaml`` as supervised processes.

The ROS 2-less counterpart of ``ros2 launch nav bringup.launch.py``; both read the same graph
declaration (:func:`nav.graph.declaration.load_graph`). Each selected node runs as

    python -m <module> --ros-args -r __node:=<name> -p config:=<ros.yaml> [-p key:=value ...] [-r from:=to ...]

with its output lines prefixed by its name (and copied to ``<log_dir>/<name>.log``). A node that
exits while the graph runs is restarted when its spec says ``respawn`` (after a back-off that
doubles, at most ``max_restarts_per_minute`` times a minute, then it is given up on), and the reason
is logged. Ctrl-C or SIGTERM stops the graph: SIGINT to every node, then SIGTERM and SIGKILL to
those still running after ``sigint_timeout`` and ``sigterm_timeout``; a second Ctrl-C skips the
waiting.

As a library (``nav demo``, tests)::

    with GraphProcesses(BringupConfig(sim=True, node_params={"sim": {"artifacts_dir": "out"}})) as graph:
        while graph.active and not done():
            graph.poll()           # reaps exited nodes, restarts the ones that respawn
            time.sleep(0.1)
    # leaving the block stops every node (graph.stop())

Each node is started in its own session, so a terminal's Ctrl-C reaches only the supervisor, which
forwards exactly one SIGINT; on Linux a node also gets SIGTERM if the thread that started it dies
(``PR_SET_PDEATHSIG``), so a killed supervisor leaves no orphans. Start and poll the graph from one
long-lived thread.
"""

from __future__ import annotations

import argparse
import collections
import ctypes
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from configs.robot import ROBOT_PROFILE_ENV, named_profile
from nav.graph.declaration import DEFAULT_GRAPH, RECORDER, Graph, NodeSpec, load_graph
from nav.graph.liveness import HEARTBEAT_ENV, heartbeat_age
from nav.graph.paths import resolve_config_path
from nav.graph.security import enclave
from nav.runtime.config import DEFAULT_ROS_CONFIG

ParamValue = str | int | float | bool


# ============================================================================================ config
@dataclass(frozen=True)
class BringupConfig:
    sim: bool = False
    """Run the simulator in place of the robot (the nodes with ``when: sim``), else the robot's nodes."""
    instruction: str | None = None
    """The goal: the sim node's ``instruction`` parameter (None: its default); on a robot the agent's first
    instruction (None: it waits for one on the instruction topic)."""
    config: str | Path = DEFAULT_ROS_CONFIG
    """ros.yaml (a path, or a name looked up by :func:`resolve_config_path`); every node gets it as ``config``."""
    graph: str | Path = DEFAULT_GRAPH
    """graph.yaml: the nodes to run."""
    log_dir: str | Path | None = None
    """Also write each node's output to ``<log_dir>/<name>.log``."""
    node_params: Mapping[str, Mapping[str, ParamValue]] = field(default_factory=dict)
    """Extra parameters per node name, e.g. ``{"sim": {"world_seed": 3, "real_time": False}}``."""
    only: tuple[str, ...] = ()
    """Run only these of the selected nodes (empty: all of them)."""
    record: str | Path | None = None
    """Also run the recorder (:mod:`nav.nodes.recorder_node`), writing a rosbag2 bag into this new folder."""
    record_storage: str = ""
    """``mcap`` or ``sqlite3`` for ``record`` (empty: ``record.storage`` of bags.yaml)."""
    params_file: str | Path | None = None
    """A standard ROS params file (``<node>: ros__parameters: {...}``) given to every node (``--params-file``)."""
    keystore: str | Path | None = None
    """An SROS2 keystore (``nav security`` tells how to make one): every node runs in its enclave
    ``/nav/<node>`` with security enforced (``ROS_SECURITY_ENABLE``, ``ROS_SECURITY_STRATEGY=Enforce``)."""
    fence: bool = True
    """With the simulator, run on ``sim_network`` of ros.yaml (a private domain, localhost only) unless ``env``
    names a ``ROS_DOMAIN_ID``; False: the environment's domain and discovery range."""
    robot: str | None = None
    """The robot profile of every node (:func:`configs.robot.named_profile`: ``turtlebot3``, or a file);
    None: the environment's (``$NAV_ROBOT_PROFILE``, else ``robot.yaml``)."""
    env: Mapping[str, str] = field(default_factory=dict)
    """Extra environment for every node (``ROS_DOMAIN_ID``, ``PYTHONPATH``...)."""
    python: str = sys.executable
    respawn_delay: float = 1.0
    """Seconds before the first restart of a node; doubles with each restart within a minute."""
    respawn_delay_max: float = 10.0
    max_restarts_per_minute: int = 5
    """A node that needs more restarts than this within 60 s is given up on."""
    sigint_timeout: float = 5.0
    """Seconds a node has to exit after SIGINT before it gets SIGTERM."""
    sigterm_timeout: float = 2.0
    """Seconds after SIGTERM before SIGKILL."""
    liveness_timeout: float = 5.0
    """A node whose heartbeat (:mod:`nav.graph.liveness`) is older than this is stuck: killed and restarted
    (0: not checked)."""

    def __post_init__(self) -> None:
        for name in ("respawn_delay", "respawn_delay_max", "sigint_timeout", "sigterm_timeout", "liveness_timeout"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must be >= 0, got {getattr(self, name)}")
        if self.max_restarts_per_minute < 0:
            raise ValueError("max_restarts_per_minute must be >= 0")
        for node, params in self.node_params.items():
            for key, value in params.items():
                if not isinstance(value, (str, int, float, bool)):
                    raise ValueError(f"node_params[{node!r}][{key!r}] must be a str, int, float or bool, got {value!r}")
                if key == "config":
                    raise ValueError("set the config file with BringupConfig.config, not node_params")
        if self.robot is not None:
            named_profile(self.robot)  # an unknown robot fails here, naming the known ones
        if self.keystore is not None and not (Path(self.keystore) / "enclaves").is_dir():
            raise ValueError(f"--keystore {self.keystore}: not an SROS2 keystore (no enclaves/); see nav security")
        if self.params_file is not None and not Path(self.params_file).is_file():
            raise ValueError(f"--params-file {self.params_file}: no such file")
        if self.record is not None and Path(self.record).exists():
            raise ValueError(f"--record {self.record}: exists already; a recording never overwrites a bag")

    def network_env(self) -> dict[str, str]:
        """What fences the nodes in (see :attr:`fence`), under ``env``'s own settings."""
        if not (self.sim and self.fence):
            return {}
        from nav.runtime.config import load_ros_config

        return load_ros_config(resolve_config_path(self.config)).sim_network.env()

    def selected(self, graph: Graph) -> list[NodeSpec]:
        specs = graph.selected(self.sim)
        if self.only:
            names = {s.name for s in specs}
            unknown = sorted(set(self.only) - names)
            if unknown:
                raise ValueError(f"--only {unknown}: not among the selected nodes {sorted(names)}")
            specs = [s for s in specs if s.name in self.only]
        unknown = sorted(set(self.node_params) - {s.name for s in specs})
        if unknown:
            raise ValueError(f"node_params for {unknown}: no such node runs (running: {[s.name for s in specs]})")
        return specs


def format_param(value: ParamValue) -> str:
    """A parameter value as rcl reads it after ``-p name:=`` (YAML; strings single-quoted so they stay strings)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    return "'" + str(value).replace("'", "''") + "'"


def node_command(
    spec: NodeSpec, ros_yaml: str | Path, params: Mapping[str, ParamValue] | None = None, python: str = sys.executable
) -> list[str]:
    """The command line that runs one node of the graph."""
    cmd = [python, "-m", spec.module, "--ros-args", "-r", f"__node:={spec.name}"]
    cmd += ["-p", f"config:={format_param(str(ros_yaml))}"]
    for key, value in (params or {}).items():
        cmd += ["-p", f"{key}:={format_param(value)}"]
    for source, target in spec.remappings:
        cmd += ["-r", f"{source}:={target}"]
    return cmd


# ============================================================================================ processes
def _describe_exit(code: int) -> str:
    if code < 0:
        try:
            return f"was killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"was killed by signal {-code}"
    return f"exited with code {code}"


def die_with_parent() -> Callable[[], None] | None:
    """A preexec_fn asking Linux to SIGTERM the child when its parent thread dies (None elsewhere)."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        prctl = ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return None
    pr_set_pdeathsig = 1

    def preexec() -> None:
        prctl(pr_set_pdeathsig, int(signal.SIGTERM), 0, 0, 0)

    return preexec


@dataclass
class NodeStatus:
    name: str
    pid: int | None
    """The running process (None while waiting to restart or when stopped)."""
    running: bool
    starts: int
    """How many times the node was started."""
    returncode: int | None
    """Of the last exit."""
    gave_up: bool
    restart_at: float | None
    """time.monotonic() of the pending restart."""


class _Node:
    def __init__(self, spec: NodeSpec, argv: list[str], heartbeat: Path) -> None:
        self.spec = spec
        self.argv = argv
        self.heartbeat = heartbeat
        """The file the node touches from its spin loop (:mod:`nav.graph.liveness`)."""
        self.proc: subprocess.Popen[str] | None = None
        self.reader: threading.Thread | None = None
        self.starts = 0
        self.restart_times: collections.deque[float] = collections.deque()
        self.restart_at: float | None = None
        self.returncode: int | None = None
        self.gave_up = False


class GraphProcesses:
    """The processes of the node graph: ``start()``, ``poll()`` (restarts), ``stop()``; a context manager."""

    def __init__(self, config: BringupConfig, out: Callable[[str], None] | None = None) -> None:
        self.config = config
        self.ros_yaml = resolve_config_path(config.config)
        self.specs = config.selected(load_graph(resolve_config_path(config.graph)))
        record_params: dict[str, ParamValue] = {}
        if config.record is not None:  # first, so that it hears the graph from its first message
            self.specs.insert(0, RECORDER)
            record_params = {"out": str(Path(config.record).resolve())}
            if config.record_storage:
                record_params["storage"] = config.record_storage
        self._out = out
        self._out_lock = threading.Lock()
        self._logs: dict[str, IO[str]] = {}
        self._hurry = threading.Event()
        self._started = False
        self.nodes: dict[str, _Node] = {}
        self._beats = tempfile.TemporaryDirectory(prefix="nav-heartbeats-")
        self.run_id = uuid.uuid4().hex[:12]
        """This run of the graph: a restarted agent takes back its instruction from the same run only."""
        self._network = config.network_env()
        self.security_env = (
            {}
            if config.keystore is None
            else {
                "ROS_SECURITY_KEYSTORE": str(Path(config.keystore).resolve()),
                "ROS_SECURITY_ENABLE": "true",
                "ROS_SECURITY_STRATEGY": "Enforce",
            }
        )
        """The SROS2 environment every node gets with ``keystore`` (empty without)."""
        for spec in self.specs:
            params: dict[str, ParamValue] = {}
            if spec.module == "nav.nodes.agent_node":
                params["run_id"] = self.run_id
                if not config.sim and config.instruction is not None:  # on a robot, the agent's first goal
                    params["instruction"] = config.instruction
            if spec.uses_sim_time(config.sim):
                params["use_sim_time"] = True
            if spec.module == "nav.nodes.sim_node" and config.instruction is not None:
                params["instruction"] = config.instruction
            params.update(config.node_params.get(spec.name, {}))
            if spec.module == "nav.nodes.recorder_node":
                params.update(record_params)
            argv = node_command(spec, self.ros_yaml, params, config.python)
            if config.params_file is not None:  # after the -p of the graph: the robot's own values win
                argv += ["--params-file", str(Path(config.params_file).resolve())]
            if config.keystore is not None:
                argv += ["--enclave", enclave(spec.name)]
            self.nodes[spec.name] = _Node(spec, argv, Path(self._beats.name) / f"{spec.name}.heartbeat")

    # ------------------------------------------------------------------ output
    def log(self, line: str) -> None:
        """A line of the supervisor's own (prefixed ``[bringup]``)."""
        self._emit("bringup", line)

    def _emit(self, name: str, line: str) -> None:
        text = f"[{name}] {line}"
        with self._out_lock:
            if self._out is not None:
                self._out(text)
            else:
                print(text, flush=True)
            log = self._logs.get(name)
            if log is not None:
                log.write(line + "\n")
                log.flush()

    def _pump(self, name: str, stream: IO[str]) -> None:
        for line in stream:
            self._emit(name, line.rstrip("\n"))
        stream.close()

    # ------------------------------------------------------------------ life cycle
    def __enter__(self) -> GraphProcesses:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self) -> None:
        if self._started:
            raise RuntimeError("the graph is already started")
        self._started = True
        if self.config.log_dir is not None:
            log_dir = Path(self.config.log_dir)
            log_dir.mkdir(parents=True, exist_ok=True)
            for name in [*self.nodes, "bringup"]:
                self._logs[name] = (log_dir / f"{name}.log").open("a", encoding="utf-8")
        network = {**os.environ, **self._network, **self.config.env}
        where = f"ROS domain {network.get('ROS_DOMAIN_ID', '0')}"
        if network.get("ROS_AUTOMATIC_DISCOVERY_RANGE") == "LOCALHOST":
            where += ", this machine only"
        self.log(
            f"{'simulation' if self.config.sim else 'robot'} graph: {', '.join(self.nodes) or '(no nodes)'}; "
            f"config {self.ros_yaml}; {where}"
        )
        for node in self.nodes.values():
            self._spawn(node)

    def _spawn(self, node: _Node) -> None:
        node.heartbeat.unlink(missing_ok=True)  # judged again from its first beat
        env = {**os.environ, "PYTHONUNBUFFERED": "1", **self._network, **self.security_env, **self.config.env}
        env[HEARTBEAT_ENV] = str(node.heartbeat)
        if self.config.robot is not None:
            env[ROBOT_PROFILE_ENV] = str(named_profile(self.config.robot))
        node.proc = subprocess.Popen(
            node.argv,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            errors="replace",
            bufsize=1,
            env=env,
            start_new_session=True,
            preexec_fn=die_with_parent(),
        )
        node.starts += 1
        node.restart_at = None
        node.returncode = None
        node.reader = threading.Thread(
            target=self._pump, args=(node.spec.name, node.proc.stdout), name=f"bringup-{node.spec.name}", daemon=True
        )
        node.reader.start()
        self.log(f"started {node.spec.name} (pid {node.proc.pid}): {' '.join(node.argv[1:3])}")

    def poll(self) -> list[NodeStatus]:
        """Reap nodes that exited, schedule or perform their restarts; the status of every node."""
        now = time.monotonic()
        cfg = self.config
        for node in self.nodes.values():
            name = node.spec.name
            if cfg.liveness_timeout > 0 and node.proc is not None and node.proc.poll() is None:
                age = heartbeat_age(node.heartbeat)  # None before its first beat: loading is not hanging
                if age is not None and age > cfg.liveness_timeout:
                    self.log(
                        f"{name} is stuck: no heartbeat for {age:.1f} s (liveness_timeout {cfg.liveness_timeout:g} s); "
                        "killing it to restart it"
                    )
                    self._signal(node, signal.SIGKILL)
                    node.proc.wait()
            if node.proc is not None and node.proc.poll() is not None:
                node.returncode = node.proc.returncode
                self._join_reader(node)
                node.proc = None
                why = _describe_exit(node.returncode)
                if not node.spec.respawn:
                    self.log(f"{name} {why}; not restarted (respawn: false in the graph)")
                    continue
                while node.restart_times and now - node.restart_times[0] > 60.0:
                    node.restart_times.popleft()
                recent = len(node.restart_times)
                if recent >= cfg.max_restarts_per_minute:
                    node.gave_up = True
                    self.log(
                        f"{name} {why}; giving up on it: already restarted {recent} times in the last minute "
                        f"(max_restarts_per_minute={cfg.max_restarts_per_minute})"
                    )
                    continue
                delay = min(cfg.respawn_delay * 2**recent, cfg.respawn_delay_max)
                node.restart_at = now + delay
                self.log(
                    f"{name} {why}; restarting in {delay:.1f} s "
                    f"(restart {recent + 1} of at most {cfg.max_restarts_per_minute} a minute)"
                )
            if node.proc is None and node.restart_at is not None and now >= node.restart_at:
                node.restart_times.append(now)
                self._spawn(node)
        return self.status()

    def status(self) -> list[NodeStatus]:
        return [
            NodeStatus(
                name=n.spec.name,
                pid=n.proc.pid if n.proc is not None else None,
                running=n.proc is not None and n.proc.poll() is None,
                starts=n.starts,
                returncode=n.returncode,
                gave_up=n.gave_up,
                restart_at=n.restart_at,
            )
            for n in self.nodes.values()
        ]

    @property
    def active(self) -> bool:
        """Whether any node runs or waits to be restarted."""
        return any(n.proc is not None or n.restart_at is not None for n in self.nodes.values())

    def pids(self) -> dict[str, int]:
        return {name: n.proc.pid for name, n in self.nodes.items() if n.proc is not None}

    def hurry(self) -> None:
        """Make a running :meth:`stop` skip its waiting (a second Ctrl-C)."""
        self._hurry.set()

    def stop(self) -> bool:
        """SIGINT every node, then SIGTERM, then SIGKILL the ones still running; True if none needed SIGKILL."""
        for node in self.nodes.values():
            node.restart_at = None
        running = [n for n in self.nodes.values() if n.proc is not None and n.proc.poll() is None]
        clean = True
        if running:
            self.log(f"stopping {', '.join(n.spec.name for n in running)}")
        for sig, timeout in (
            (signal.SIGINT, self.config.sigint_timeout),
            (signal.SIGTERM, self.config.sigterm_timeout),
            (signal.SIGKILL, 5.0),
        ):
            running = [n for n in running if n.proc is not None and n.proc.poll() is None]
            if not running:
                break
            if sig != signal.SIGINT:
                self.log(f"{', '.join(n.spec.name for n in running)} still running: sending {sig.name}")
            if sig == signal.SIGKILL:
                clean = False
            for node in running:
                self._signal(node, sig)
            deadline = time.monotonic() + timeout
            while time.monotonic() < deadline and any(n.proc.poll() is None for n in running if n.proc):
                if self._hurry.is_set() and sig != signal.SIGKILL:
                    break
                time.sleep(0.02)
        for node in self.nodes.values():
            if node.proc is not None:
                node.returncode = node.proc.poll()
                if node.returncode is None:  # unkillable (D state): leave it, say so
                    clean = False
                    self.log(f"{node.spec.name} (pid {node.proc.pid}) did not exit")
                    continue
                self._join_reader(node)
                self.log(f"{node.spec.name} {_describe_exit(node.returncode)}")
                node.proc = None
        for log in self._logs.values():
            log.close()
        self._logs.clear()
        return clean

    @staticmethod
    def _signal(node: _Node, sig: signal.Signals) -> None:
        assert node.proc is not None
        try:
            os.killpg(node.proc.pid, sig)  # the node's session: it and anything it started
        except ProcessLookupError:
            pass
        except PermissionError:
            node.proc.send_signal(sig)

    @staticmethod
    def _join_reader(node: _Node) -> None:
        if node.reader is not None:
            node.reader.join(timeout=2.0)
            node.reader = None


# ============================================================================================ entry point
def run_bringup(config: BringupConfig, out: Callable[[str], None] | None = None) -> int:
    """Run the graph until Ctrl-C / SIGTERM (or until no node is left); 0 on a clean shutdown.

    1 when a node had to be killed, was given up on, or (with no signal) when nodes exited with errors.
    """
    graph = GraphProcesses(config, out)
    stop = threading.Event()
    received: list[int] = []

    def on_signal(signum: int, _frame: Any) -> None:
        received.append(signum)
        if stop.is_set():
            graph.log(f"{signal.Signals(signum).name} again: not waiting for the nodes any longer")
            graph.hurry()
        stop.set()

    in_main = threading.current_thread() is threading.main_thread()
    previous = {s: signal.signal(s, on_signal) for s in (signal.SIGINT, signal.SIGTERM)} if in_main else {}
    clean = False
    try:
        graph.start()
        while not stop.is_set():
            graph.poll()
            if not graph.active:
                graph.log("no node is running any more")
                break
            stop.wait(0.1)
        if received:
            graph.log(f"{signal.Signals(received[0]).name}: shutting down")
    finally:
        clean = graph.stop()
        for s, handler in previous.items():
            signal.signal(s, handler)
    given_up = [s.name for s in graph.status() if s.gave_up]
    if given_up:
        graph.log(f"gave up on {', '.join(given_up)} (see above)")
    failed = not received and any(s.returncode not in (0, None) for s in graph.status())
    return 0 if clean and not given_up and not failed else 1


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The ``nav bringup`` options (for ``nav.cli``)."""
    parser.add_argument("--sim", action="store_true", help="run the simulator in place of the robot")
    parser.add_argument(
        "--instruction",
        default=None,
        help="the goal: the simulator's (default: sim.yaml task.default_instruction), or on a robot the agent's first",
    )
    parser.add_argument("--config", default=DEFAULT_ROS_CONFIG, help="ros.yaml (path or name)")
    parser.add_argument(
        "--params-file", default=None, help="a ROS params file (<node>: ros__parameters: ...) for every node"
    )
    parser.add_argument(
        "--keystore", default=None, help="SROS2 keystore: each node in its enclave /nav/<node>, security enforced"
    )
    parser.add_argument(
        "--domain", type=int, default=None, help="ROS_DOMAIN_ID of the graph (with --sim: default sim_network's)"
    )
    parser.add_argument(
        "--open", action="store_true", help="with --sim: the environment's ROS domain and discovery, not sim_network"
    )
    parser.add_argument(
        "--robot",
        default=None,
        help="robot profile: a name of configs/robots (turtlebot3) or a file (default robot.yaml)",
    )
    parser.add_argument("--graph", default=DEFAULT_GRAPH, help="graph.yaml (path or name)")
    parser.add_argument("--log-dir", default=None, help="also write each node's output to <dir>/<node>.log")
    parser.add_argument("--only", nargs="+", default=(), metavar="NODE", help="run only these nodes")
    parser.add_argument("--record", default=None, metavar="DIR", help="record a rosbag2 bag into DIR (a new folder)")
    parser.add_argument("--storage", default="", choices=["", "mcap", "sqlite3"], help="bag storage for --record")
    parser.add_argument(
        "-p",
        "--param",
        action="append",
        default=[],
        metavar="NODE.NAME=VALUE",
        help="extra node parameter, e.g. sim.world_seed=3 (value read as YAML)",
    )


def parse_param(text: str) -> tuple[str, str, ParamValue]:
    """``node.name=value`` -> (node, name, value); the value is read as YAML (``3``, ``true``, ``'3'``)."""
    import yaml

    key, sep, raw = text.partition("=")
    node, dot, name = key.partition(".")
    if not sep or not dot or not node or not name:
        raise ValueError(f"parameter {text!r} must look like node.name=value")
    value = yaml.safe_load(raw) if raw.strip() else ""
    if not isinstance(value, (str, int, float, bool)):
        value = raw
    return node, name, value


def config_from_args(args: argparse.Namespace) -> BringupConfig:
    params: dict[str, dict[str, ParamValue]] = {}
    for text in args.param:
        node, name, value = parse_param(text)
        params.setdefault(node, {})[name] = value
    return BringupConfig(
        sim=args.sim,
        instruction=args.instruction,
        config=args.config,
        graph=args.graph,
        log_dir=args.log_dir,
        node_params=params,
        only=tuple(args.only),
        record=args.record,
        record_storage=args.storage,
        robot=args.robot,
        fence=not args.open,
        params_file=args.params_file,
        keystore=args.keystore,
        env={} if args.domain is None else {"ROS_DOMAIN_ID": str(args.domain)},
    )


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="nav bringup", description=__doc__.splitlines()[0])
    add_arguments(parser)
    args = parser.parse_args(argv)
    try:
        return run_bringup(config_from_args(args))
    except ValueError as exc:  # ConfigError included
        print(f"nav bringup: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
