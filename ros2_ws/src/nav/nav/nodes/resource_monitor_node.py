"""The resource monitor node: chooses the model variant the agent runs from its measured tick times.

A thin rclpy wrapper over :class:`nav.runtime.monitor.VariantMonitor` (the decision lives there)::

    python -m nav.nodes.resource_monitor_node --ros-args -r __node:=resource_monitor -p config:=/path/ros.yaml

* Subscribes to ``topics.agent_timing`` (diagnostic_msgs/DiagnosticStatus, one per agent tick:
  ``variant``, ``tick_ms``, ``inferred``); ticks without inference (a stopped agent) are not samples.
* Publishes the chosen variant (std_msgs/String) on ``topics.variant`` when it differs from the one
  the agent runs (again at most once a second until the agent has switched), and why on
  ``topics.variant_reason``.
* Publishes diagnostic_msgs/DiagnosticArray on ``topics.diagnostics`` every ``sample_period_s``:
  the decision and its reason, predicted tails, misses, CPU load and frequency, memory,
  temperature and GPU readings (where this machine has them).
* Parameters: ``monitor_config`` (a monitor.yaml; empty: ``configs/monitor.yaml``), ``models_dir``
  (default ``agent.models_dir``: only variants with a model there are chosen), ``pin`` (a variant
  to run whatever the load; settable at run time, empty unpins).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from pathlib import Path

from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus, KeyValue
from rcl_interfaces.msg import ParameterDescriptor, SetParametersResult
from rclpy.node import Node
from std_msgs.msg import String

from nav.nodes.common import EVENT_QOS, LATCHED_QOS, STATUS_QOS, declare_config, run_node
from nav.runtime.config import resolve_models_dir
from nav.runtime.monitor import DEFAULT_MONITOR_CONFIG, VariantMonitor, load_monitor_config, load_monitor_node_config
from nav.runtime.resources import ResourceSampler

__all__ = ["ResourceMonitorNode", "main"]

REPUBLISH_S = 1.0
"""A decision the agent has not acted on is published again after this long."""


class ResourceMonitorNode(Node):
    def __init__(self) -> None:
        super().__init__("resource_monitor")
        config = declare_config(self)
        topics = config.topics
        fixed = ParameterDescriptor(read_only=True, description="monitor.yaml path (empty: configs/monitor.yaml)")
        path = self.declare_parameter("monitor_config", "", fixed).value or DEFAULT_MONITOR_CONFIG
        monitor_config = load_monitor_config(path)
        node_config = load_monitor_node_config(path)

        where = ParameterDescriptor(
            read_only=True, description="the agent's models folder: the variants to choose from"
        )
        models_dir = resolve_models_dir(self.declare_parameter("models_dir", config.agent.models_dir, where).value)
        available = tuple(v for v in monitor_config.ladder if (Path(models_dir) / v / "manifest.json").exists())
        self.monitor: VariantMonitor | None = None
        self._problem = ""
        if available:
            self.monitor = VariantMonitor(monitor_config, available)
            self.get_logger().info(f"choosing among {list(available)} (models in {models_dir})")
        else:
            self._problem = f"no model files under {models_dir}: nothing to choose from"
            self.get_logger().error(self._problem)
        self.add_on_set_parameters_callback(self._on_parameters)
        pinned = ParameterDescriptor(description="run this variant only (empty: choose by the tick times)")
        pin = self.declare_parameter("pin", node_config.pin, pinned).value
        if pin and self.monitor is not None:
            self.monitor.set_pin(pin)  # a bad pin at start-up is a configuration error: fail loudly

        self.sampler = ResourceSampler()
        self._variant_pub = self.create_publisher(String, topics.variant, EVENT_QOS)
        self._reason_pub = self.create_publisher(String, topics.variant_reason, LATCHED_QOS)
        self._diag = self.create_publisher(DiagnosticArray, topics.diagnostics, STATUS_QOS)
        self.create_subscription(DiagnosticStatus, topics.agent_timing, self._on_timing, STATUS_QOS)
        self.create_timer(node_config.sample_period_s, self._publish_diagnostics)
        self._published: tuple[str, float] | None = None
        self._samples = 0

    def _on_parameters(self, params: list) -> SetParametersResult:  # type: ignore[type-arg]
        for param in params:
            if param.name == "pin" and self.monitor is not None:
                try:
                    self.monitor.set_pin(str(param.value or ""))
                except ValueError as exc:
                    return SetParametersResult(successful=False, reason=str(exc))
                self.get_logger().info(f"pin: {param.value or 'none'}")
        return SetParametersResult(successful=True)

    def _on_timing(self, msg: DiagnosticStatus) -> None:
        if self.monitor is None:
            return
        values = {kv.key: kv.value for kv in msg.values}
        if values.get("available"):  # the variants the agent loaded: never choose one it refused
            dropped = self.monitor.drop(set(self.monitor.ladder) - set(values["available"].split(",")))
            if dropped:
                self.get_logger().warning(
                    f"the agent has not loaded {list(dropped)}: choosing among {list(self.monitor.ladder)}"
                )
        if values.get("inferred") != "true" or values.get("variant") not in self.monitor.ladder:
            return
        try:
            latency = float(values["tick_ms"])
        except (KeyError, ValueError):
            self.get_logger().error(f"agent timing without a usable tick_ms: {values}", throttle_duration_sec=5.0)
            return
        now = time.monotonic()
        self._samples += 1
        decision = self.monitor.observe(now, values["variant"], latency)
        if not decision.switch:
            return
        published = self._published
        if published is not None and published[0] == decision.variant and now - published[1] < REPUBLISH_S:
            return
        self._variant_pub.publish(String(data=decision.variant))
        self._reason_pub.publish(String(data=f"{decision.variant}: {decision.reason}"))
        self._published = (decision.variant, now)
        self.get_logger().info(f"variant {values['variant']} -> {decision.variant}: {decision.reason}")

    def _publish_diagnostics(self) -> None:
        sample = self.sampler.sample()
        status = DiagnosticStatus(name="nav: resource monitor", hardware_id="resource_monitor")
        values: dict[str, str] = {}
        if self.monitor is None:
            status.level, status.message = DiagnosticStatus.ERROR, self._problem
        else:
            self.monitor.temperature_c = sample.temperature_c
            decision = self.monitor.last
            status.level = DiagnosticStatus.OK if self._samples else DiagnosticStatus.WARN
            status.message = decision.reason if self._samples else "no agent tick timing yet"
            values.update(
                variant=decision.variant,
                running=self.monitor.current or "",
                pin=self.monitor.pin or "",
                misses=str(self.monitor.miss_count()),
                budget_ms=f"{self.monitor.config.budget_ms:g}",
            )
            for v in self.monitor.ladder:
                predicted = self.monitor.predicted_tail(v)
                values[f"predicted_tail_ms_{v}"] = "" if predicted is None else f"{predicted:.2f}"
        for key, value in sample.to_dict().items():
            values[key] = "" if value is None else (f"{value:.1f}" if isinstance(value, float) else str(value))
        status.values = [KeyValue(key=k, value=v) for k, v in values.items()]
        msg = DiagnosticArray()
        msg.header.stamp = self.get_clock().now().to_msg()
        msg.status = [status]
        self._diag.publish(msg)


def main(args: Sequence[str] | None = None) -> int:
    return run_node(ResourceMonitorNode, args)


if __name__ == "__main__":
    raise SystemExit(main())
