"""``nav bench loop``: sensor in -> Twist out through the real agent node over real DDS, per model variant.

The agent runs as it does on the robot, ``python -m nav.nodes.agent_node`` in its own process, here in a
private ``ROS_DOMAIN_ID``. One agent process serves every variant: they are switched through
``topics.variant`` (the agent preloads them all), so the run pays one start-up. When
``<models_dir>/<variant>/manifest.json`` is missing (no trained model shipped yet), an untrained model
of the same architecture is saved into a temporary folder and used instead: weights do not change
latency, and the result says ``"weights": "untrained"``.

This process plays the robot: a camera (64x64 rgb8 ``Image``, header stamp = publish time) at
``sensor_hz`` on average and a ``LaserScan`` in the robot profile's lidar layout at about ``scan_hz``,
both with the agent's sensor QoS, one instruction, and a recorder of every ``cmd_nav`` Twist, of the
agent's diagnostics and of its per-tick timing messages.
The camera's intervals are drawn uniformly from ``[0.5, 1.5] / sensor_hz``: with a fixed interval
the camera and the control timer would keep one phase for the whole run, and the image's wait for
the tick would be a constant of the run instead of a sample of its distribution.

**The floor** of a variant is what no control loop can beat, measured in the same run: a bare rclpy round
trip (``python -m nav.nodes.bench_nodes`` runs an echo node that republishes every Image it gets, same
size and QoS, as a Twist carrying the Image's stamp, at once; Twist received - Image published) plus the
variant's bare model forward (:func:`nav.bench.encoder.step_latencies_ms` in this process after the loop,
at the agent's ``torch_threads``). ``ratio_to_floor`` is the variant's end-to-end p50 over its floor p50.

**Measuring sensor-in -> Twist-out.** ``end_to_end_ms`` is, per tick that ran the model, the receipt of its
Twist less the header stamp of the camera frame the command was computed from, which the agent states in
that tick's timing message (``image_stamp`` on ``topics.agent_timing``, published right after the Twist;
this process stamps each image with its publish time). A tick's Twist is the last one received before
its timing message. So the figure is what a robot with a ``sensor_hz`` camera sees: the age of the frame a
command came from when the command arrives, with no inference about which frame a tick took.

``tick_ms`` is from the tick's scheduled time to its Twist received. An rcl timer fires on a fixed grid
``T0 + k * P`` (``P = 1 / control_hz``; the agent keeps its timer across variant switches). When the agent
has nothing to compute (before the instruction, and in the floor slots once the camera is stale) a tick
only publishes a zero Twist at once, so these Twists arrive one hop after their scheduled time: ``T0`` is
their earliest arrival phase less half the floor round trip (p50). Twist ``j`` received at ``r_j`` comes from
tick ``k_j = floor((r_j - T0) / P)`` (``k_j <= k_{j+1} - 1`` puts back a tick that overran). With
``agent.image_wait`` a driving tick waits for the next frame, so ``tick_ms`` includes that wait and
``compute_ms`` (the agent's own ``tick_ms``: decision, model, publish) is the tick's work.

``control_rate_hz`` is Twists received per second in the measured windows; ``deadline_misses`` is the
increase of the agent's own count (ticks whose compute exceeded ``P``, from its diagnostics) over the
measured windows. Slots are interleaved (floor, small, medium, large, floor, ...) in ``rounds`` rounds
so that a neighbour process loading the machine for a while touches every row alike; the first
``warmup_s`` of each slot (the variant switch, the first embedding of the instruction) is not measured.
"""

from __future__ import annotations

import bisect
import math
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from nav.runtime.config import DEFAULT_ROS_CONFIG, load_ros_config

if TYPE_CHECKING:
    from nav.nodes.bench_nodes import LoopRecord
    from policy.configuration import PolicyConfig

__all__ = [
    "LoopBenchConfig",
    "assign_ticks",
    "bench_loop",
    "end_to_end_ms",
    "format_table",
    "grid_phase",
    "prepare_models",
]


@dataclass(frozen=True)
class LoopBenchConfig:
    seconds: float = 10.0
    """Measured seconds per variant (and for the floor), split over ``rounds``; warm-up not included."""
    variants: tuple[str, ...] = ()
    """Variant names to run; empty means all of ``configs/models.yaml``."""
    models_dir: Path | None = None
    """Where ``<variant>/manifest.json`` model folders are looked for (None: ``agent.models_dir`` of ros.yaml)."""
    config: Path | None = None
    """The ros.yaml the agent runs with and this process reads (None: ``configs/ros.yaml``)."""
    rounds: int = 2
    """Interleaved rounds over the floor and the variants."""
    warmup_s: float = 0.6
    """Unmeasured start of every slot (variant switch, first embedding of the instruction)."""
    sensor_hz: float = 100.0
    """Mean camera rate; above ``control_hz`` so that a new frame always comes within a tick's wait."""
    scan_hz: float = 20.0
    """LaserScan rate (keeps the scan fresh)."""
    forward_iters: int = 300
    """Timed bare forwards per variant for the floor."""
    instruction: str | None = None
    """What the agent is asked (None: ``task.default_instruction`` of sim.yaml)."""
    domain_id: int | None = None
    """Private ROS_DOMAIN_ID for the agent, the echo node and this process (None: 50 + pid % 50)."""
    startup_timeout_s: float = 120.0
    """How long the agent may take to load its models and come up."""

    def __post_init__(self) -> None:
        if self.seconds <= 0 or self.rounds < 1 or self.warmup_s < 0:
            raise ValueError("seconds > 0, rounds >= 1 and warmup_s >= 0 are required")
        if self.sensor_hz <= 0 or self.scan_hz <= 0 or self.scan_hz > self.sensor_hz:
            raise ValueError("0 < scan_hz <= sensor_hz is required")
        if self.forward_iters < 1:
            raise ValueError(f"forward_iters must be >= 1, got {self.forward_iters}")
        if self.domain_id is not None and not 0 <= self.domain_id <= 101:
            raise ValueError(f"domain_id must be in [0, 101], got {self.domain_id}")


# ============================================================================================ the method
def grid_phase(times: Sequence[float], period: float) -> float:
    """The earliest arrival phase of ticks that do no work: the tick grid's ``T0`` (see the module docstring).

    Arrivals are taken modulo ``period`` around their median; one later than the median by more
    than half a period would wrap round and look early, so phases more than a quarter period before
    the median are ignored.
    """
    if not times:
        raise ValueError("no idle ticks were received to locate the agent's tick grid")
    t = np.asarray(times, dtype=np.float64)
    ref = float(t[0])
    offsets = np.mod(t - ref + period / 2, period) - period / 2
    median = float(np.median(offsets))
    around = np.mod(offsets - median + period / 2, period) - period / 2
    return ref + median + float(around[around >= -period / 4].min())


def assign_ticks(receipts: Sequence[float], phase: float, period: float) -> list[int]:
    """The tick index ``k`` (scheduled at ``phase + k * period``) of each Twist, given receipts in order."""
    ticks = [math.floor((r - phase) / period) for r in receipts]
    for j in range(len(ticks) - 2, -1, -1):  # a tick that overran into the next period
        ticks[j] = min(ticks[j], ticks[j + 1] - 1)
    return ticks


def end_to_end_ms(
    twists: Sequence[float], timing: Sequence[tuple[float, dict[str, str]]], variant: str, window: tuple[float, float]
) -> list[float]:
    """Per tick of ``variant`` whose timing message arrived in ``window`` and names its frame: the receipt of its
    Twist less the frame's header stamp, in ms (see the module docstring).

    ``twists`` are receipt times in order; ``timing`` (receipt, values) of the agent's timing messages in order.
    A tick's Twist is the last received before its timing message; one Twist is never counted twice.
    """
    out: list[float] = []
    taken = -1
    for received, values in timing:
        if not window[0] <= received < window[1] or values.get("variant") != variant:
            continue
        if values.get("inferred") != "true" or not values.get("image_stamp"):
            continue
        j = bisect.bisect_right(twists, received) - 1
        if j < 0 or j == taken:
            continue
        taken = j
        out.append((twists[j] - float(values["image_stamp"])) * 1e3)
    return out


def _p(values: Sequence[float]) -> dict[str, float | None]:
    if not values:
        return {"p50": None, "p99": None}
    return {"p50": round(float(np.percentile(values, 50)), 3), "p99": round(float(np.percentile(values, 99)), 3)}


# ============================================================================================ models
def prepare_models(names: Sequence[str], source: Path, dest: Path, log: Callable[[str], None]) -> dict[str, str]:
    """A models folder for the agent in ``dest``: the shipped model of each variant, else an untrained one.

    Returns ``{variant: "trained" | "untrained"}``.
    """
    dest.mkdir(parents=True, exist_ok=True)
    weights = {}
    missing = []
    for name in names:
        shipped = source / name
        if (shipped / "manifest.json").exists():
            (dest / name).symlink_to(shipped.resolve(), target_is_directory=True)
            weights[name] = "trained"
        else:
            missing.append(name)
    if missing:
        import torch

        from policy.configuration import get_variant
        from policy.model_io import save_model
        from policy.modeling import NavPolicy

        log(
            f"bench loop: no trained model for {missing} under {source} (no manifest.json); untrained models "
            "of the same architecture are used (weights do not change latency)"
        )
        for name in missing:
            torch.manual_seed(0)
            config = get_variant(name)
            save_model(NavPolicy(config), config, dest / name, {"note": "untrained, made by nav bench loop"}, {})
            weights[name] = "untrained"
    return weights


# ============================================================================================ processes
def _spawn(cmd: list[str], env: dict[str, str], log_path: Path) -> subprocess.Popen[bytes]:
    from nav.graph.supervisor import die_with_parent  # the child dies with this process

    with log_path.open("wb") as sink:
        return subprocess.Popen(cmd, env=env, stdout=sink, stderr=subprocess.STDOUT, preexec_fn=die_with_parent())


def _stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=5.0)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def _tail(path: Path, lines: int = 15) -> str:
    try:
        return "\n".join(path.read_text(encoding="utf-8", errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


def _check_alive(procs: dict[str, tuple[subprocess.Popen[bytes], Path]]) -> None:
    for name, (proc, log_path) in procs.items():
        if proc.poll() is not None:
            raise RuntimeError(f"the {name} process exited with code {proc.returncode}; its log:\n{_tail(log_path)}")


# ============================================================================================ the bench
def bench_loop(config: LoopBenchConfig, log: Callable[[str], None] = print) -> dict[str, Any]:
    """Run the benchmark (see the module docstring); returns the result as a JSON-ready dict."""
    from nav.graph.supervisor import format_param
    from nav.nodes.bench_nodes import BenchRobot
    from nav.runtime.config import resolve_models_dir
    from policy.configuration import UnknownVariantError, load_variants
    from sim.config import load_sim_config

    ros = load_ros_config(config.config or DEFAULT_ROS_CONFIG)
    if not ros.agent.use_header_stamps:
        raise ValueError(
            f"{config.config or 'configs/ros.yaml'}: agent.use_header_stamps is false, so the agent names no frame "
            "stamp for its commands: the end-to-end latency is measured from it, set it true for the benchmark"
        )
    instruction = config.instruction or load_sim_config().task.default_instruction
    registry = load_variants()
    names = list(dict.fromkeys(config.variants)) or list(registry)
    unknown = [n for n in names if n not in registry]
    if unknown:
        raise UnknownVariantError(f"unknown model variant(s) {unknown}; known variants: {', '.join(registry)}")
    period = 1.0 / ros.agent.control_hz
    domain = config.domain_id if config.domain_id is not None else 50 + os.getpid() % 50
    source = Path(config.models_dir) if config.models_dir is not None else resolve_models_dir(ros.agent.models_dir)
    slot_s = config.seconds / config.rounds
    windows: dict[str, list[tuple[float, float]]] = {name: [] for name in ["floor", *names]}
    idle: list[tuple[float, float]] = []
    """Windows in which the agent's ticks do no work (for the tick grid)."""
    stale_after = ros.agent.camera_timeout + 2 * period

    with tempfile.TemporaryDirectory(prefix="nav-bench-loop-") as tmp:
        folder = Path(tmp)
        weights = prepare_models(names, source, folder / "models", log)
        env = dict(os.environ, ROS_DOMAIN_ID=str(domain), ROS_AUTOMATIC_DISCOVERY_RANGE="LOCALHOST")
        env.update(PYTHONUNBUFFERED="1", RCUTILS_COLORIZED_OUTPUT="0")
        agent_cmd = [sys.executable, "-m", "nav.nodes.agent_node", "--ros-args", "-r", "__node:=agent"]
        agent_cmd += ["-p", f"models_dir:={format_param(str(folder / 'models'))}"]
        agent_cmd += ["-p", f"variant:={format_param(names[0])}"]
        if config.config is not None:
            agent_cmd += ["-p", f"config:={format_param(str(Path(config.config).resolve()))}"]
        echo_cmd = [sys.executable, "-m", "nav.nodes.bench_nodes", "--ros-args", "-r", "__node:=bench_echo"]
        log(f"bench loop: starting the agent with {names} and the echo node (ROS_DOMAIN_ID {domain})")
        started = time.monotonic()
        procs: dict[str, tuple[subprocess.Popen[bytes], Path]] = {}
        robot: BenchRobot | None = None
        try:
            for name, cmd in (("agent", agent_cmd), ("echo", echo_cmd)):
                procs[name] = (_spawn(cmd, env, folder / f"{name}.log"), folder / f"{name}.log")
            robot = BenchRobot(ros.topics, domain, config)
            import torch  # after the spawn: the agent loads meanwhile

            device = "cuda" if torch.cuda.is_available() else "cpu"
            while not robot.connected():
                _check_alive(procs)
                if time.monotonic() - started > config.startup_timeout_s:
                    raise TimeoutError(
                        f"the agent did not come up within {config.startup_timeout_s:.0f} s; its log:\n"
                        f"{_tail(procs['agent'][1])}"
                    )
                time.sleep(0.05)
            state = robot.record.diagnostics[-1][1]
            if state.get("variant") == "none":
                raise RuntimeError(f"the agent has no model: {state.get('reason')}")
            log(f"bench loop: agent up in {time.monotonic() - started:.1f} s; {config.seconds:g} s per row")

            t = time.time()
            time.sleep(1.0)  # no instruction yet: idle ticks
            idle.append((t, time.time()))
            robot.say(robot.instruction_pub, instruction)
            for r in range(config.rounds):
                for name in ["floor", *names]:
                    _check_alive(procs)
                    start = time.time()
                    if name == "floor":
                        robot.target = "echo"
                    else:
                        robot.say(robot.variant_pub, name)
                        robot.target = "agent"
                    time.sleep(config.warmup_s)
                    m0 = time.time()
                    time.sleep(slot_s)
                    m1 = time.time()
                    windows[name].append((m0, m1))
                    if name == "floor" and m1 > start + stale_after:
                        idle.append((start + stale_after, m1))
                log(f"  round {r + 1}/{config.rounds} done")
            robot.target = None
        finally:
            if robot is not None:
                robot.close()
            for proc, _ in procs.values():
                _stop(proc)
        assert robot is not None

    log("bench loop: timing the bare forward of each variant for the floor")
    forward = _forward_ms([registry[n] for n in names], ros.agent.torch_threads, config.forward_iters)
    result = _summarise(robot.record, windows, idle, names, weights, period, forward)
    result.update(
        control_hz=ros.agent.control_hz,
        image_wait=ros.agent.frame_wait,
        seconds=config.seconds,
        rounds=config.rounds,
        sensor_hz=config.sensor_hz,
        scan_hz=config.scan_hz,
        agent_device=device,
        cpu=_cpu_name(),
        load_average_1min=round(os.getloadavg()[0], 2) if hasattr(os, "getloadavg") else None,
        domain_id=domain,
    )
    return result


def _forward_ms(configs: Sequence[PolicyConfig], threads: int, iters: int) -> dict[str, list[float]]:
    """Bare forward latencies (ms) of each variant at ``threads`` torch threads, as ``nav bench encoder`` times them."""
    import torch

    from nav.bench.encoder import step_latencies_ms
    from perception.threads import torch_threads

    with torch_threads(threads):
        return step_latencies_ms(list(configs), torch.device("cpu"), iters, 30, 3)


def _inside(t: float, windows: Sequence[tuple[float, float]]) -> bool:
    return any(a <= t < b for a, b in windows)


def _summarise(
    record: LoopRecord,
    windows: dict[str, list[tuple[float, float]]],
    idle: list[tuple[float, float]],
    names: Sequence[str],
    weights: dict[str, str],
    period: float,
    forward: dict[str, list[float]],
) -> dict[str, Any]:
    floor = [rt * 1e3 for sent, rt in record.floor if _inside(sent, windows["floor"])]
    if not floor:
        raise RuntimeError("no echoed image came back from the echo node: no floor")
    round_trip = float(np.percentile(floor, 50))
    twists = sorted(record.twists)
    phase = grid_phase([t for t in twists if _inside(t, idle)], period) - round_trip / 2e3
    ticks = assign_ticks(twists, phase, period)
    rows = []
    for name in names:
        e2e: list[float] = []
        tick_ms, compute_ms, count, misses, counted = [], [], 0, 0, 0
        for a, b in windows[name]:
            for t, k in zip(twists, ticks, strict=True):
                if a <= t < b:
                    tick_ms.append((t - (phase + k * period)) * 1e3)
                    count += 1
            e2e += end_to_end_ms(twists, record.timing, name, (a, b))
            compute_ms += [
                float(v["tick_ms"])
                for t, v in record.timing
                if a <= t < b and v.get("variant") == name and v.get("inferred") == "true"
            ]
            diags = [values for t, values in record.diagnostics if a <= t < b]
            for values in diags:
                if values.get("variant") != name or values.get("reason"):
                    raise RuntimeError(
                        f"the agent was not driving with {name!r} in its window: variant "
                        f"{values.get('variant')!r}, reason {values.get('reason')!r}"
                    )
            if len(diags) >= 2:
                misses += int(diags[-1]["deadline_misses"]) - int(diags[0]["deadline_misses"])
                counted += int(diags[-1]["ticks"]) - int(diags[0]["ticks"])
        duration = sum(b - a for a, b in windows[name])
        forward_p50 = round(float(np.percentile(forward[name], 50)), 3)
        e2e_p = _p(e2e)
        floor_ms = round(round(round_trip, 3) + forward_p50, 3)  # the sum of the figures the report shows
        rows.append(
            {
                "variant": name,
                "weights": weights[name],
                "end_to_end_ms": e2e_p,
                "forward_p50_ms": forward_p50,
                "floor_ms": floor_ms,
                "ratio_to_floor": None if e2e_p["p50"] is None else round(e2e_p["p50"] / floor_ms, 3),
                "tick_ms": _p(tick_ms),
                "compute_ms": _p(compute_ms),
                "control_rate_hz": round(count / duration, 2),
                "deadline_misses": misses,
                "deadline_ticks_counted": counted,
                "twists": count,
                "e2e_samples": len(e2e),
            }
        )
    return {
        "floor_round_trip_ms": {**_p(floor), "samples": len(floor)},
        "variants": rows,
        "idle_ticks_for_grid": sum(1 for t in twists if _inside(t, idle)),
    }


def _cpu_name() -> str:
    from nav.bench.encoder import cpu_name

    return cpu_name()


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}"


def format_table(result: dict[str, Any]) -> str:
    """The benchmark as a markdown table, with the run's conditions and the method under it."""
    floor = result["floor_round_trip_ms"]
    lines = [
        "| | weights | end-to-end p50 ms | end-to-end p99 ms | floor ms | x floor | compute p50 ms | tick p50 ms "
        "| control rate Hz | deadline misses |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|",
        f"| bare rclpy Image -> Twist round trip | - | {_ms(floor['p50'])} | {_ms(floor['p99'])} "
        "| - | - | - | - | - | - |",
    ]
    for r in result["variants"]:
        e2e, tick = r["end_to_end_ms"], r["tick_ms"]
        ratio = "-" if r["ratio_to_floor"] is None else f"{r['ratio_to_floor']:.2f}"
        lines.append(
            f"| {r['variant']} | {r['weights']} | {_ms(e2e['p50'])} | {_ms(e2e['p99'])} | {_ms(r['floor_ms'])} "
            f"| {ratio} | {_ms(r['compute_ms']['p50'])} | {_ms(tick['p50'])} | {r['control_rate_hz']:.2f} "
            f"| {r['deadline_misses']} |"
        )
    lines += [
        "",
        f"agent at control_hz {result['control_hz']:g}, image_wait {result['image_wait']:g} s, on "
        f"{result['agent_device']}; camera {result['sensor_hz']:g} Hz, scan {result['scan_hz']:g} Hz; "
        f"{result['seconds']:g} s per row in {result['rounds']} interleaved rounds",
        f"CPU: {result['cpu']}; load average (1 min) {result['load_average_1min']}",
        "end-to-end: camera frame published -> the Twist computed from it, received; floor: the round trip plus "
        "the variant's bare forward; tick: scheduled tick time -> its Twist received (see nav/bench/loop.py)",
    ]
    return "\n".join(lines)
