"""A node's tunables (:mod:`nav.runtime.tuning`) as ROS parameters: declared with descriptors, changed through
a set-parameters callback that applies the change or refuses it with the reason.

``ros2 param list /mux`` lists them, ``ros2 param describe`` gives the type, range and description, a
standard params file (``mux: ros__parameters: {max_linear: 0.3}``, ``--ros-args --params-file F`` or
``nav bringup --params-file F``) sets them at start-up, and ``ros2 param set /mux max_linear 0.2``
takes effect at the next tick.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from rcl_interfaces.msg import FloatingPointRange, IntegerRange, ParameterDescriptor, SetParametersResult
from rclpy.node import Node
from rclpy.parameter import Parameter

from nav.runtime.tuning import Tunable

__all__ = ["declare_tunables", "on_parameter_change"]


def _descriptor(t: Tunable) -> ParameterDescriptor:
    descriptor = ParameterDescriptor(description=t.description, read_only=t.read_only)
    if isinstance(t.value, float) and t.minimum is not None and t.maximum is not None:
        descriptor.floating_point_range = [FloatingPointRange(from_value=t.minimum, to_value=t.maximum, step=0.0)]
    elif isinstance(t.value, int) and not isinstance(t.value, bool) and t.minimum is not None and t.maximum is not None:
        descriptor.integer_range = [IntegerRange(from_value=int(t.minimum), to_value=int(t.maximum), step=1)]
    return descriptor


def declare_tunables(node: Node, tunables: Sequence[Tunable]) -> dict[str, Any]:
    """Declare each tunable (its value the default) and return the values the node starts with: a params file's
    or ``-p name:=value``'s where given."""
    out = {}
    for t in tunables:
        if node.has_parameter(t.name):  # declared already (models_dir, variant: read before the tunables exist)
            out[t.name] = node.get_parameter(t.name).value
            continue
        out[t.name] = node.declare_parameter(t.name, t.value, _descriptor(t)).value
    return out


def on_parameter_change(node: Node, tunables: Sequence[Tunable], apply: Callable[[Mapping[str, Any]], None]) -> None:
    """Hand every ``ros2 param set`` batch of ``tunables`` to ``apply`` (name -> value); a ValueError it raises
    refuses the batch with its message as the reason, and is logged. Other parameters (``use_sim_time``) pass.
    Register it once every parameter is declared: rclpy runs it on declarations too."""
    names = {t.name for t in tunables}

    def callback(params: list[Parameter]) -> SetParametersResult:
        changes = {p.name: p.value for p in params if p.name in names}
        if not changes:
            return SetParametersResult(successful=True)
        try:
            apply(changes)
        except ValueError as exc:
            node.get_logger().warning(f"parameter change refused: {exc}")
            return SetParametersResult(successful=False, reason=str(exc))
        node.get_logger().info("parameters set: " + ", ".join(f"{k}={v!r}" for k, v in changes.items()))
        return SetParametersResult(successful=True)

    node.add_on_set_parameters_callback(callback)
