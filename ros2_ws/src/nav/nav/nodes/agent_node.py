"""The agent node: camera, lidar and instruction in; a navigation Twist out at a fixed control rate.

A thin rclpy wrapper over :class:`nav.runtime.agent.AgentCore` (the decisions live there)::

    python -m nav.nodes.agent_node --ros-args -r __node:=agent -p config:=/path/ros.yaml

* Subscribes to ``topics.camera`` (sensor_msgs/Image) and ``topics.camera_compressed``
  (CompressedImage), ``topics.scan`` (LaserScan) or, with ``agent.use_point_cloud``,
  ``topics.points`` (PointCloud2, turned into the same 2D scan), ``topics.odom`` (Odometry),
  ``topics.instruction`` (String, taken at once) and ``topics.variant`` (String: the model variant
  to run, from the resource monitor or a human). Sensors use best-effort, keep-last-1 QoS.
* An input's age is judged on its arrival and, with ``agent.use_header_stamps``, on its header stamp
  against the ROS clock (``/clock`` with ``use_sim_time``, which ``nav bringup --sim`` sets): a scan
  stamped 5 s ago is stale though it just arrived, and one stamped before the scan before it is
  refused (:mod:`nav.runtime.stamps`). The ticks run on the steady clock, whatever the ROS clock does.
* Publishes geometry_msgs/Twist on ``topics.cmd_nav`` every tick; zero, with a log line saying
  why, whenever an input is missing or stale, the instruction is unusable or the model fails.
* A tick is due every ``1 / agent.control_hz`` s. One that would drive (:meth:`AgentCore.would_drive`) waits
  up to ``agent.image_wait`` (at most half a period) for the next camera frame and runs as that frame
  arrives: the command is computed from a frame one hop old, not from one that sat waiting for the timer
  (up to a camera interval). No frame in time, it runs on the newest it has; a stop (missing, stale or
  refused input) never waits, and a refused frame or scan runs a waiting tick at once.
* Publishes diagnostic_msgs/DiagnosticArray on ``topics.diagnostics``: state, variant, the reason
  for a stop, and per-tick timing (p50/p99 over the last ticks, deadline misses).
* Publishes one diagnostic_msgs/DiagnosticStatus per tick on ``topics.agent_timing`` (for the
  resource monitor): ``variant``, ``tick_ms`` (the tick's compute time), ``inferred`` (whether
  the model ran, or the tick gave zero without it), ``available`` (the loaded variants) and
  ``image_stamp`` (the header stamp of the frame the command came from, s; empty when none).
* Every model variant found under ``agent.models_dir`` is loaded at start-up (and the sentence
  encoder with them), so a switch costs nothing on the control path. A variant whose files are bad
  (a tampered weights file) is refused with the reason, on the log and on ``/diagnostics``, and the
  intact ones run (:mod:`nav.runtime.models`).
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus, KeyValue
from geometry_msgs.msg import Twist
from nav_msgs.msg import Odometry
from rclpy.clock import Clock, ClockType
from rclpy.node import Node
from rclpy.parameter import Parameter
from sensor_msgs.msg import CompressedImage, Image, LaserScan, PointCloud2
from std_msgs.msg import String

from nav.nodes.common import (
    COMMAND_QOS,
    EVENT_QOS,
    LATCHED_QOS,
    SENSOR_QOS,
    STATUS_QOS,
    declare_config,
    flush,
    run_node,
)
from nav.nodes.msgs import compressed_to_rgb, image_to_rgb, scan_to_arrays, twist
from nav.nodes.params import declare_tunables, on_parameter_change
from nav.runtime.agent import AgentCore, TickResult, Timeouts
from nav.runtime.config import resolve_models_dir
from nav.runtime.instruction_store import InstructionStore
from nav.runtime.models import choose_variant, load_controllers
from nav.runtime.tuning import agent_tunables, apply_agent
from perception.camera import too_small
from perception.errors import PerceptionError
from perception.lidar import covered_scan, metadata_mismatch, unusable_scan
from policy.processing import ScanGeometry

__all__ = ["AgentNode", "main"]

TIMING_WINDOW = 100
"""Ticks over which the reported latency percentiles are taken."""


class AgentNode(Node):
    def __init__(self) -> None:
        super().__init__("agent")
        config = declare_config(self)
        self.config = config
        agent, topics = config.agent, config.topics
        tunables = agent_tunables(agent, agent.variant, agent.models_dir)
        declared = declare_tunables(self, tunables)
        agent, _ = apply_agent(agent, {k: v for k, v in declared.items() if k != "variant"}, (), startup=True)
        self.agent = agent
        """The agent's config as tuned (params file, ``ros2 param set``)."""
        models_dir = resolve_models_dir(declared["models_dir"])
        variant = declared["variant"]
        self.period = 1.0 / agent.control_hz

        import torch

        from perception.language import default_encoder

        torch.set_num_threads(agent.torch_threads)
        t0 = time.perf_counter()
        encoder = default_encoder()
        self.variants = load_controllers(models_dir, encoder)
        controllers = self.variants.controllers
        for name, reason in self.variants.refused.items():
            self.get_logger().error(f"variant {name!r} refused: {reason}")
        if controllers:  # the variants share one grounder: warm it before any instruction arrives
            next(iter(controllers.values())).processor.grounder.warm()
        self.core: AgentCore | None = None
        self._startup_error: str | None = None
        chosen, why = choose_variant(variant, list(controllers), self.variants.ladder)
        if chosen is None:
            refused = f"; refused: {self.variants.describe_refused()}" if self.variants.refused else ""
            self._startup_error = f"no model files under {models_dir} (expected <variant>/manifest.json){refused}"
            self.get_logger().error(f"{self._startup_error}: publishing zero velocity")
        else:
            self.core = AgentCore(controllers, chosen, Timeouts.of_agent(agent))
            log = self.get_logger().warning if chosen != variant else self.get_logger().info
            log(f"loaded variants {sorted(controllers)} in {time.perf_counter() - t0:.1f} s; {why}")
            self.set_parameters([Parameter("variant", value=chosen)])  # the parameter says what runs

        run_id = self.declare_parameter("run_id", "").value
        first = self.declare_parameter("instruction", "").value  # the first goal (a robot's bringup), or none
        self._store = InstructionStore(run_id) if run_id else None
        kept = self._store.load() if self.core is not None and self._store is not None else None
        if kept is not None:  # a restart: the latest instruction of this run, not the first
            self._take_instruction(kept, resumed=True)
        elif first:
            self._take_instruction(first)

        self._scan_metadata: str | None = None
        """What does not fit in the scans' metadata (read by angle_increment), for the log and the diagnostics."""
        self._cloud_config = None
        self.create_subscription(Image, topics.camera, self._on_image, SENSOR_QOS)
        self.create_subscription(CompressedImage, topics.camera_compressed, self._on_compressed, SENSOR_QOS)
        if agent.use_point_cloud:
            from perception.pointcloud import CloudScanConfig

            self._cloud_config = CloudScanConfig.from_profile()
            self.create_subscription(PointCloud2, topics.points, self._on_points, SENSOR_QOS)
        else:
            self.create_subscription(LaserScan, topics.scan, self._on_scan, SENSOR_QOS)
        self.create_subscription(Odometry, topics.odom, self._on_odom, SENSOR_QOS)
        # Both durabilities: a volatile publisher (ros2 topic pub) and a latched one (the sim node), whose last
        # message a restarted agent receives at once; the same text twice keeps the memory.
        self.create_subscription(String, topics.instruction, self._on_instruction, EVENT_QOS)
        self.create_subscription(String, topics.instruction, self._on_instruction, LATCHED_QOS)
        self.create_subscription(String, topics.variant, self._on_variant, EVENT_QOS)
        self._cmd = self.create_publisher(Twist, topics.cmd_nav, COMMAND_QOS)
        self._diag = self.create_publisher(DiagnosticArray, topics.diagnostics, STATUS_QOS)
        self._timing = self.create_publisher(DiagnosticStatus, topics.agent_timing, STATUS_QOS)

        self._last_reason: str | None = "starting"
        self._tick_ms: deque[float] = deque(maxlen=TIMING_WINDOW)
        self._misses = 0
        self._ticks = 0
        self._last_tick: TickResult | None = None
        # The wall clock paces the ticks, whatever the ROS clock does: a simulator's /clock stands still while
        # its world waits for the first command, and stops when it dies; the agent must tick on (zero, and why).
        steady = Clock(clock_type=ClockType.STEADY_TIME)
        self._due = False
        """A tick is due and waits for the next camera frame (``agent.image_wait``)."""
        self._wait = (
            self.create_timer(agent.frame_wait, self._on_wait_over, clock=steady, autostart=False)
            if agent.frame_wait > 0
            else None
        )
        self.create_timer(self.period, self._on_period, clock=steady)
        self.create_timer(1.0, self._publish_diagnostics, clock=steady)
        on_parameter_change(self, tunables, self._apply_parameters)

    # ------------------------------------------------------------------ inputs (edge conversions)
    def _on_image(self, msg: Image) -> None:
        self._take_image(image_to_rgb, msg)

    def _on_compressed(self, msg: CompressedImage) -> None:
        self._take_image(compressed_to_rgb, msg)

    def _take_image(self, decode, msg) -> None:  # type: ignore[no-untyped-def]
        if self.core is None:
            return
        try:
            rgb = decode(msg)
            problem = too_small(rgb)
        except PerceptionError as exc:
            problem = str(exc)
        if problem is not None:
            self.get_logger().error(f"camera message rejected: {problem}", throttle_duration_sec=2.0)
            self.core.reject("camera", problem)
        else:
            self._refused("camera", self.core.on_image(rgb, stamp=self._stamp(msg)))
        self._run_due()  # the frame a waiting tick waited for (or a refusal: zero at once)

    def _on_scan(self, msg: LaserScan) -> None:
        if self.core is None:
            return
        scan = scan_to_arrays(msg)
        mismatch = metadata_mismatch(scan.ranges, scan.angle_min, float(msg.angle_max), scan.angle_increment)
        if mismatch != self._scan_metadata:
            if mismatch is not None:
                self.get_logger().warning(f"scan metadata: {mismatch}")
            self._scan_metadata = mismatch
        problem = unusable_scan(scan.ranges, scan.angle_increment) or covered_scan(scan.ranges)
        if problem is not None:
            self.get_logger().error(f"scan rejected: {problem}", throttle_duration_sec=2.0)
            self.core.reject("scan", problem)
            self._run_due()
            return
        geometry = ScanGeometry.of_message(scan.angle_min, scan.angle_increment, scan.range_min, scan.range_max)
        self._refused("scan", self.core.on_scan(scan.ranges, geometry, stamp=self._stamp(msg)))

    def _on_points(self, msg: PointCloud2) -> None:
        if self.core is None:
            return
        from perception.pointcloud import cloud_to_scan, points_from_cloud_message

        try:
            ranges = cloud_to_scan(points_from_cloud_message(msg), self._cloud_config)
        except PerceptionError as exc:
            self.get_logger().error(f"point cloud rejected: {exc}", throttle_duration_sec=2.0)
            return
        self._refused(
            "point cloud", self.core.on_scan(ranges, ScanGeometry.of_cloud(self._cloud_config), stamp=self._stamp(msg))
        )

    def _stamp(self, msg) -> float | None:  # type: ignore[no-untyped-def]
        """The message's header stamp (s), when stamps are judged (``agent.use_header_stamps``)."""
        if not self.agent.use_header_stamps:
            return None
        return msg.header.stamp.sec + msg.header.stamp.nanosec * 1e-9

    def _stamp_now(self) -> float | None:
        """The present on the clock the stamps use: the ROS clock (``/clock`` under ``use_sim_time``; None before
        its first reading)."""
        if not self.agent.use_header_stamps:
            return None
        now = self.get_clock().now().nanoseconds * 1e-9
        return now if now > 0.0 else None

    def _refused(self, what: str, why: str | None) -> None:
        if why is not None:
            self.get_logger().error(f"{what} message refused: {why}", throttle_duration_sec=2.0)
            self._run_due()  # zero at once, not after the wait

    def _on_odom(self, msg: Odometry) -> None:
        if self.core is not None:
            self.core.on_odom(msg.twist.twist.linear.x, msg.twist.twist.angular.z)

    def _on_instruction(self, msg: String) -> None:
        self._take_instruction(msg.data)

    def _take_instruction(self, data: str, resumed: bool = False) -> None:
        if self.core is None:
            return
        try:
            text = self.core.offer_instruction(data)
        except PerceptionError as exc:
            self.get_logger().error(f"instruction rejected, stopping: {exc}")
            if self._store is not None:
                self._store.clear()
            return
        if text is None:
            return  # the same instruction republished: the memory stays
        if self._store is not None:
            self._store.save(data)
        if resumed:
            self.get_logger().warning(f"resuming the instruction taken before this restart: {text!r}")
        else:
            self.get_logger().info(f"new instruction: {text!r}")

    def _apply_parameters(self, changes: Mapping[str, Any]) -> None:
        """``ros2 param set`` (see :mod:`nav.nodes.params`): timeouts and stamps at once, a variant at the next tick."""
        if self.core is None:
            raise ValueError(f"the agent runs no model ({self._startup_error}): nothing to tune")
        agent, variant = apply_agent(self.agent, changes, tuple(self.variants.controllers))
        if variant is not None and variant != self.core.variant:
            self.core.request_variant(variant)
        self.core.timeouts = Timeouts.of_agent(agent)
        self.agent = agent

    def _on_variant(self, msg: String) -> None:
        if self.core is None:
            return
        try:
            self.core.request_variant(msg.data.strip())
        except ValueError as exc:
            refused = self.variants.refused.get(msg.data.strip())
            self.get_logger().error(f"variant switch refused: {exc}" + (f" (its files: {refused})" if refused else ""))
            return
        self.get_logger().info(f"switching to variant {msg.data.strip()!r} at the next tick")
        self.set_parameters([Parameter("variant", value=msg.data.strip())])  # ros2 param get says it too

    # ------------------------------------------------------------------ control tick
    def _on_period(self) -> None:
        """The timer: a tick is due; one that would drive waits for the next frame (at most ``image_wait``)."""
        self._run_due()  # one still waiting (its wait outlasted a period on a stalled executor) goes first
        if self._wait is not None and self.core is not None and self.core.would_drive(stamp_now=self._stamp_now()):
            self._due = True
            self._wait.reset()
        else:
            self._tick()

    def _run_due(self) -> None:
        """Run the waiting tick, if there is one (a frame arrived, an input was refused, or the wait is over)."""
        if not self._due:
            return
        self._due = False
        if self._wait is not None:
            self._wait.cancel()
        self._tick()

    def _on_wait_over(self) -> None:
        """No frame within the wait: the waiting tick runs on the newest it has."""
        if self._wait is not None:
            self._wait.cancel()  # a one-shot: the next due tick starts it again
        self._run_due()

    def _tick(self) -> None:
        t0 = time.perf_counter()
        if self.core is None:
            result = TickResult(0.0, 0.0, "none", self._startup_error)
        else:
            result = self.core.tick(stamp_now=self._stamp_now())
        self._cmd.publish(twist(result.linear, result.angular))
        elapsed_ms = (time.perf_counter() - t0) * 1000.0
        self._tick_ms.append(elapsed_ms)
        self._ticks += 1
        if elapsed_ms > self.period * 1000.0:
            self._misses += 1
        self._last_tick = result
        self._publish_timing(result, elapsed_ms)
        # Log a change of state once: "camera stale (0.58 s old ...)" and "(0.68 s old ...)" are one state.
        state = None if result.reason is None else result.reason.split(" (", 1)[0]
        if state != self._last_reason:
            if result.reason is None:
                self.get_logger().info(f"driving with variant {result.variant!r}")
            else:
                self.get_logger().warning(f"zero velocity: {result.reason}")
            self._last_reason = state

    def _publish_timing(self, result: TickResult, elapsed_ms: float) -> None:
        status = DiagnosticStatus(name="nav: agent tick", hardware_id="agent")
        status.level = DiagnosticStatus.OK if result.ok else DiagnosticStatus.WARN
        status.values = [
            KeyValue(key="variant", value=result.variant),
            KeyValue(key="tick_ms", value=f"{elapsed_ms:.3f}"),
            KeyValue(key="inferred", value="true" if result.ok else "false"),
            KeyValue(key="available", value=",".join(self.variants.controllers)),
            KeyValue(key="image_stamp", value="" if result.image_stamp is None else f"{result.image_stamp:.9f}"),
        ]
        self._timing.publish(status)

    def _publish_diagnostics(self) -> None:
        result = self._last_tick
        times = np.array(self._tick_ms) if self._tick_ms else np.zeros(1)
        status = DiagnosticStatus()
        status.name = "nav: agent"
        status.hardware_id = "agent"
        if result is None or result.reason is not None:
            status.level = DiagnosticStatus.WARN
            status.message = result.reason if result is not None and result.reason else "starting"
        else:
            status.level = DiagnosticStatus.WARN if self.variants.refused else DiagnosticStatus.OK
            status.message = "driving"
        if self.variants.refused:
            status.message += f" (refused variants: {', '.join(self.variants.refused)})"
        values = {
            "variant": result.variant if result is not None else "none",
            "reason": (result.reason or "") if result is not None else "starting",
            "tick_p50_ms": f"{np.percentile(times, 50):.2f}",
            "tick_p99_ms": f"{np.percentile(times, 99):.2f}",
            "deadline_ms": f"{self.period * 1000.0:.1f}",
            "deadline_misses": str(self._misses),
            "ticks": str(self._ticks),
            "loaded_variants": ",".join(self.variants.controllers),
            "refused_variants": self.variants.describe_refused(),
            "scan_metadata": self._scan_metadata or "consistent",
        }
        status.values = [KeyValue(key=k, value=v) for k, v in values.items()]
        msg = DiagnosticArray()
        msg.header.stamp = self.get_clock().now().to_msg()
        msg.status = [status]
        self._diag.publish(msg)

    def on_shutdown(self) -> None:
        self._cmd.publish(twist(0.0, 0.0))
        flush(self._cmd)


def main(args: Sequence[str] | None = None) -> int:
    return run_node(AgentNode, args)


if __name__ == "__main__":
    raise SystemExit(main())
