"""``nav replay-eval``: a recorded bag through the agent's own core and models, against reference commands.

Pure Python (no ROS, no DDS). The bag's mapped sensor messages (:mod:`nav.bags.inputs`) are fed
into :class:`nav.runtime.agent.AgentCore`, the decision core of the agent node, with the message's log time
as the core's clock; the core ticks on bag time at the agent's control rate (``agent.control_hz``
of ros.yaml; ``align="reference"`` ticks at each reference message instead, which reproduces the
moments a recorded agent decided). Each tick's command is compared with the reference command
active at that tick (the newest one no older than ``reference_timeout``):

* MAE of linear (m/s) and angular (rad/s) velocity;
* turning-sign agreement (left / straight / right, with a dead band);
* a stop/go confusion matrix (stop: ``|linear| <= stop_linear``);
* per-tick latency (pre-processing + model, p50/p99), ``messages_per_second`` and
  ``real_time_factor`` = recorded duration / evaluation wall time (reading and decoding the bag
  included, shared by the variants, plus the variant's own ticks); beside it, in the same run,
  ``bare_decode_real_time_factor``: the recorded duration over the time the bag library alone takes
  to read and deserialise the same topics (the floor no evaluation can beat).

An input is stale at a tick when older than its limit: the recorded robot's (``max_age_s`` of the
bag config), else the robot profile's. Its age is judged on its header stamp against the bag's
rebuilt stamp clock when the stamps are sane (:mod:`nav.bags.clock`), on log time otherwise; the
summary's ``timing`` says which per topic, and each variant's ``judged_on`` counts the ticks.

``random`` is a pseudo-variant (uniform random commands within the robot's limits, seeded): a
reference point known not to match.
"""

from __future__ import annotations

import contextlib
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np

from nav.bags.clock import StampClock
from nav.bags.config import DEFAULT_BAG_CONFIG, load_bag_config
from nav.bags.inputs import BLANK_IMAGE, Event, InputTopics, read_inputs, resolve_inputs, sensor_timeouts
from nav.bags.reader import BagError, BagInfo, BagReader
from nav.runtime.agent import AgentCore, Timeouts
from nav.runtime.config import DEFAULT_ROS_CONFIG, load_ros_config

__all__ = ["ReplayEvalConfig", "VariantResult", "compare_commands", "replay_eval", "run_variant"]

RANDOM = "random"


@dataclass(frozen=True)
class ReplayEvalConfig:
    bag: Path
    variants: tuple[str, ...] = ("small",)
    """Model variants (folders under ``models_dir``) and/or ``random``."""
    models_dir: Path | None = None
    """Default: ``agent.models_dir`` of ros.yaml."""
    reference: str | None = None
    """Reference command topic (a ros.yaml key or a name); default: the first of ``topic_map.reference`` in the bag."""
    instruction: str | None = None
    """For a bag without an instruction; given with one, it replaces the recorded instruction."""
    align: Literal["control", "reference"] = "control"
    reference_timeout: float = 0.5
    """s: a reference command older than this at a tick is not compared (teleop that stopped publishing)."""
    stop_linear: float = 0.05
    """m/s: a command with ``|linear|`` at most this is a stop (the task's own stop threshold)."""
    turn_deadband: float = 0.05
    """rad/s: ``|angular|`` at most this counts as straight for the turning-sign agreement."""
    bag_config: str | Path = DEFAULT_BAG_CONFIG
    ros_config: str | Path = DEFAULT_ROS_CONFIG
    seed: int = 0
    """For the ``random`` pseudo-variant."""

    def __post_init__(self) -> None:
        if not self.variants:
            raise ValueError("give at least one --variant")
        if self.reference_timeout <= 0 or self.stop_linear < 0 or self.turn_deadband < 0:
            raise ValueError("reference_timeout must be > 0, stop_linear and turn_deadband >= 0")


@dataclass
class VariantResult:
    variant: str
    ticks: int
    compared: int
    metrics: dict[str, Any]
    times: np.ndarray = field(repr=False)
    commands: np.ndarray = field(repr=False)
    """(ticks, 2) the model's commands."""
    references: np.ndarray = field(repr=False)
    """(ticks, 2) the reference command at each tick (NaN where none)."""
    latency_ms: np.ndarray = field(repr=False)
    stop_reasons: dict[str, int] = field(default_factory=dict)
    judged_on: dict[str, dict[str, int]] = field(default_factory=dict)
    """Per sensor, the ticks whose staleness was judged on the header stamp and on arrival."""


# ------------------------------------------------------------------------------------------ metrics
def turn_sign(angular: np.ndarray, deadband: float) -> np.ndarray:
    return np.where(angular > deadband, 1, np.where(angular < -deadband, -1, 0))


def compare_commands(
    model: np.ndarray, reference: np.ndarray, stop_linear: float = 0.05, turn_deadband: float = 0.05
) -> dict[str, Any]:
    """MAE, turning-sign agreement and the stop/go confusion matrix of ``(N, 2)`` model vs reference commands."""
    model, reference = np.asarray(model, dtype=np.float64), np.asarray(reference, dtype=np.float64)
    if len(model) == 0:
        raise ValueError("no tick had a reference command to compare with")
    ref_stop = np.abs(reference[:, 0]) <= stop_linear
    mod_stop = np.abs(model[:, 0]) <= stop_linear
    confusion = {
        "reference_stop_model_stop": int(np.sum(ref_stop & mod_stop)),
        "reference_stop_model_go": int(np.sum(ref_stop & ~mod_stop)),
        "reference_go_model_stop": int(np.sum(~ref_stop & mod_stop)),
        "reference_go_model_go": int(np.sum(~ref_stop & ~mod_stop)),
    }
    return {
        "mae_linear": float(np.mean(np.abs(model[:, 0] - reference[:, 0]))),
        "mae_angular": float(np.mean(np.abs(model[:, 1] - reference[:, 1]))),
        "turn_sign_agreement": float(
            np.mean(turn_sign(model[:, 1], turn_deadband) == turn_sign(reference[:, 1], turn_deadband))
        ),
        "stop_go_accuracy": float(np.mean(ref_stop == mod_stop)),
        "stop_go_confusion": confusion,
    }


# ------------------------------------------------------------------------------------------ running
def _controllers(variant: str, models_dir: Path, encoder: Any, seed: int) -> dict[str, Any]:
    from policy.controller import PolicyController
    from policy.processing import ScanGeometry

    if variant == RANDOM:
        from configs.robot import robot_profile
        from policy.baselines import RandomController

        robot = robot_profile()
        return {RANDOM: RandomController(robot.max_linear, robot.max_angular, seed=seed)}
    folder = models_dir / variant
    if not (folder / "manifest.json").exists():
        raise FileNotFoundError(f"no model for variant {variant!r}: {folder / 'manifest.json'} does not exist")
    # The robot's scan geometry until the first scan, which brings its own (AgentCore.on_scan).
    controller = PolicyController.from_directory(folder, ScanGeometry.from_profile(), encoder=encoder)
    return {variant: controller}


def _tick_times(events: Sequence[Event], align: str, period: float) -> np.ndarray:
    if align == "reference":
        return np.array([e.t for e in events if e.kind == "reference"])
    start, end = events[0].t, events[-1].t
    return start + period * np.arange(int(np.floor((end - start) / period)) + 1)


def run_variant(
    name: str,
    controllers: dict[str, Any],
    events: Sequence[Event],
    inputs: InputTopics,
    config: ReplayEvalConfig,
    timeouts: Timeouts,
    control_hz: float,
    instruction: str | None,
    clock: StampClock | None = None,
) -> VariantResult:
    """Feed ``events`` through a fresh :class:`AgentCore` and tick on bag time; the result per tick.

    With ``clock``, inputs of topics whose stamps it uses carry their stamps and each tick gets the
    stamp clock's reading, so their age is judged on the stamp."""
    from perception.errors import PerceptionError

    core = AgentCore(controllers, name, timeouts, arrival_too=False)  # as the recorded robot's clock ran
    ticks = _tick_times(events, config.align, 1.0 / control_hz)
    commands = np.zeros((len(ticks), 2))
    references = np.full((len(ticks), 2), np.nan)
    latency = np.zeros(len(ticks))
    reasons: Counter[str] = Counter()
    last_ref: Event | None = None
    i = 0
    if instruction is not None:
        core.on_instruction(instruction)
    started = time.perf_counter()
    for k, t in enumerate(ticks):
        while i < len(events) and events[i].t <= t:
            e = events[i]
            i += 1
            stamp = e.stamp if clock is not None and clock.uses_stamps(e.topic) else None
            if e.kind == "image":
                core.on_image(e.value, e.t, stamp)
            elif e.kind == "scan":
                core.on_scan(e.value[0], e.value[1], e.t, stamp)
            elif e.kind == "odom":
                core.on_odom(*e.value)
            elif e.kind == "reference":
                last_ref = e
            elif e.kind == "instruction" and instruction is None:
                # As the agent node: the same one again keeps the memory; a rejection stays the core's stop reason.
                with contextlib.suppress(PerceptionError):
                    core.offer_instruction(e.value)
        if inputs.lidar_only:  # no camera to go stale: a stopped tick is the scan's doing, and says so
            core.on_image(BLANK_IMAGE, t)
        t0 = time.perf_counter()
        result = core.tick(t, clock.at(t) if clock is not None else None)
        latency[k] = (time.perf_counter() - t0) * 1000.0
        commands[k] = (result.linear, result.angular)
        if result.reason is not None:
            reasons[result.reason.split(" (", 1)[0]] += 1
        if last_ref is not None and t - last_ref.t <= config.reference_timeout:
            references[k] = last_ref.value
    wall = time.perf_counter() - started
    has_ref = ~np.isnan(references[:, 0])
    metrics = compare_commands(commands[has_ref], references[has_ref], config.stop_linear, config.turn_deadband)
    metrics.update(
        {
            "ticks": len(ticks),
            "compared_ticks": int(has_ref.sum()),
            "zero_ticks": int(sum(reasons.values())),
            "latency_p50_ms": float(np.percentile(latency, 50)),
            "latency_p99_ms": float(np.percentile(latency, 99)),
            "eval_s": wall,
        }
    )
    judged = {sensor: dict(counts) for sensor, counts in core.judged_on.items() if counts}
    return VariantResult(
        name, len(ticks), int(has_ref.sum()), metrics, ticks, commands, references, latency, dict(reasons), judged
    )


def _bare_decode(bag: BagReader, topics: set[str]) -> tuple[float, int]:
    """Seconds the bag library takes to read and deserialise ``topics`` (nothing converted), and the messages."""
    started, count = time.perf_counter(), 0
    for _, kind, _, raw in bag.raw_messages(topics):
        with contextlib.suppress(BagError):  # counted by load_events already; here only the time matters
            bag.deserialize(raw, kind)
            count += 1
    return time.perf_counter() - started, count


def _slow_sensor_notes(clock: StampClock, inputs: InputTopics, timeouts: Timeouts) -> list[str]:
    """A note for each sensor whose messages come further apart than its staleness limit allows."""
    notes = []
    for sensor, topics, limit in (
        ("camera", inputs.camera, timeouts.camera),
        ("scan", [inputs.scan or inputs.points], timeouts.scan),
    ):
        for topic in topics:
            timing = clock.topics.get(topic) if topic else None
            if timing is not None and timing.median_period_s is not None and timing.median_period_s > limit:
                notes.append(
                    f"{topic} arrives every {timing.median_period_s:.2f} s (median, by {timing.basis}), slower than "
                    f"its staleness limit {limit:.2f} s: ticks between its messages stop. If that is the recorded "
                    f"robot's rate, give its limit in a bag config (max_age_s.{sensor}, about 2.5 periods)"
                )
    return notes


def replay_eval(
    config: ReplayEvalConfig, log: Callable[[str], None] = print
) -> tuple[dict[str, Any], list[VariantResult]]:
    """Evaluate every variant on the bag; the summary (JSON-ready) and the per-tick results.

    Raises:
        BagError: the bag cannot be read, holds none of the mapped topics, or lacks a scan, a
            reference or an instruction (the message names the file and what is missing).
        FileNotFoundError: a variant has no model folder.
    """
    ros = load_ros_config(config.ros_config)
    bag_config = load_bag_config(config.bag_config)
    models_dir = config.models_dir
    if models_dir is None:
        from nav.runtime.config import resolve_models_dir

        models_dir = resolve_models_dir(ros.agent.models_dir)
    wall0 = time.perf_counter()
    with BagReader(config.bag) as bag:
        info: BagInfo = bag.info  # type: ignore[assignment]
        inputs = resolve_inputs(info, bag_config.topic_map, ros.topics, config.reference)
        if inputs.instruction is None and config.instruction is None:
            raise BagError(
                f"{info.path}: no instruction in the bag "
                f"(looked for String on {list(bag_config.topic_map.instruction)}); "
                "give one with --instruction"
            )
        read = read_inputs(bag, inputs)
        decode_s = time.perf_counter() - wall0
        bare_s, bare_count = _bare_decode(bag, set(inputs.topics))
    events, rejected, clock = read.events, read.rejected, read.clock
    timeouts = sensor_timeouts(ros.agent, bag_config.max_age_s, inputs)
    duration = events[-1].t - events[0].t
    notes = [*info.notes, *inputs.notes, *read.mount_notes, *_slow_sensor_notes(clock, inputs, timeouts)]
    if config.instruction is not None:
        notes.append(
            f"instruction from the command line: {config.instruction!r}"
            + (" (replacing the recorded one)" if inputs.instruction else "")
        )
    log(
        f"replay-eval: {info.path} ({info.storage}), {duration:.1f} s, {len(events)} input messages "
        f"(read and converted in {decode_s:.2f} s; the bag library alone reads them in {bare_s:.2f} s); "
        f"reference {inputs.reference}; {clock.describe()['clock']}"
    )
    import torch

    torch.set_num_threads(ros.agent.torch_threads)
    encoder = None
    if any(v != RANDOM for v in config.variants):
        from perception.language import default_encoder

        encoder = default_encoder()
    results = []
    for variant in config.variants:
        controllers = _controllers(variant, Path(models_dir), encoder, config.seed)
        result = run_variant(
            variant, controllers, events, inputs, config, timeouts, ros.agent.control_hz, config.instruction, clock
        )
        eval_s = decode_s + result.metrics["eval_s"]
        result.metrics["messages_per_second"] = len(events) / eval_s
        result.metrics["real_time_factor"] = duration / eval_s
        results.append(result)
        m = result.metrics
        log(
            f"  {variant}: MAE linear {m['mae_linear']:.3f} m/s, angular {m['mae_angular']:.3f} rad/s, "
            f"turn sign {m['turn_sign_agreement']:.2f}, stop/go {m['stop_go_accuracy']:.2f}, "
            f"latency p50 {m['latency_p50_ms']:.2f} ms, {m['real_time_factor']:.1f}x real time"
        )
    # Valid: every variant was evaluated, i.e. its model ran on some tick (a run whose every tick
    # stopped for missing or stale input measured nothing, however its figures look).
    driven = {r.variant: r.ticks - sum(r.stop_reasons.values()) for r in results}
    idle = [name for name, n in driven.items() if n <= 0]
    if idle:
        notes.append(f"not valid: the model never ran for {idle} (every tick stopped: see zero_reasons)")
    summary: dict[str, Any] = {
        "valid": not idle,
        "ticks_evaluated": driven,
        "bag": str(info.path),
        "storage": info.storage,
        "recovered": info.recovered,
        "duration_s": duration,
        "input_messages": len(events),
        "rejected_messages": rejected,
        "decode_s": decode_s,
        "bare_decode_s": bare_s,
        "bare_decode_messages": bare_count,
        "bare_decode_real_time_factor": duration / bare_s if bare_s > 0 else None,
        "max_age_s": {"camera": timeouts.camera, "scan": timeouts.scan},
        "timing": clock.describe(),
        "align": config.align,
        "control_hz": ros.agent.control_hz,
        "topics": {
            "camera": list(inputs.camera),
            "scan": inputs.scan,
            "points": inputs.points,
            "instruction": inputs.instruction,
            "odom": inputs.odom,
            "reference": inputs.reference,
        },
        "lidar_only": inputs.lidar_only,
        "notes": notes,
        "variants": {
            r.variant: {**r.metrics, "zero_reasons": r.stop_reasons, "judged_on": r.judged_on} for r in results
        },
    }
    first = results[0].metrics
    summary["messages_per_second"] = first["messages_per_second"]
    summary["real_time_factor"] = first["real_time_factor"]
    return summary, results
