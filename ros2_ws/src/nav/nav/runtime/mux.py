"""The velocity command multiplexer: which command reaches the base, and why. Pure Python (no ROS).

:class:`CommandMux` is the decision core of ``nav.nodes.mux_node`` (the node only converts messages and
calls these methods with ``time.monotonic()`` timestamps). It does what ros-teleop/twist_mux does,
and a few things twist_mux does not:

* **Priority with timeouts.** Each input (``configs/ros.yaml`` ``mux.inputs``) has a priority and a
  timeout. The highest-priority input whose last command is younger than its timeout wins; when it
  goes silent the next one takes over, and it takes back over as soon as it speaks again.
* **Always an answer.** When every input has timed out the decision is zero with the reason
  ``'all inputs timed out'`` (twist_mux stops publishing, leaving the base to its own watchdog).
* **Locks.** A lock (``mux.locks``, a ``std_msgs/Bool`` topic) blocks every input whose priority is
  not above the lock's priority (twist_mux's rule: an input passes only with a strictly higher
  priority) while it is true, once it has been silent longer than its timeout, and, with
  ``engage_if_never_heard``, before its first message.
* **Latched e-stop.** ``on_estop(True)`` latches a stop that outranks everything. Only
  :meth:`CommandMux.on_estop_reset` clears it, and only when the e-stop topic's last value is
  false: a reset while the button is still pressed is refused.
* **Non-finite commands rejected, and a broken input holds zero.** A NaN or infinite command is dropped
  and the decision names the input that sent it. While an input's latest command is non-finite and
  younger than its timeout, the output is zero: the inputs below it do not take over (a human whose
  teleop breaks while driving expects the robot to stop, not the autonomy to drive on). It ends when
  that input sends a finite command (it is in charge again) or stays silent for its timeout (the
  next input takes over, as from any input that falls silent).
* **Limits.** Each axis is clipped to ``max_linear`` / ``max_angular`` (the robot profile's,
  ``configs/robot.yaml``, as are the acceleration limits). Acceleration limits ramp
  the speed *up* (away from zero); slowing toward zero, stopping and the zero crossing of a
  reversal are immediate: a stop is never delayed.
* **Safety filter.** An optional ``guard`` (:class:`nav.runtime.guard.CollisionGuard`, or anything with
  the same ``filter`` method) sits between the selection and the acceleration ramp, so the output
  ramps up again smoothly after the guard has stopped the robot.

All times are seconds from one monotonic clock, passed in explicitly: the core reads no clock and
the tests drive it with plain floats.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Protocol

from nav.runtime.config import MuxConfig, MuxInput, MuxLock

__all__ = ["CommandMux", "Decision", "SafetyFilter", "ramp"]

ALL_TIMED_OUT = "all inputs timed out"


class _FilterResult(Protocol):
    linear: float
    angular: float
    reason: str
    code: str


class SafetyFilter(Protocol):
    """What the mux needs of a safety filter such as :class:`nav.runtime.guard.CollisionGuard`."""

    def filter(self, linear: float, angular: float, now: float) -> _FilterResult: ...


@dataclass(frozen=True)
class Decision:
    """The command to send to the base and why."""

    linear: float
    """m/s, limited."""
    angular: float
    """rad/s, limited."""
    source: str
    """The input whose command this is, or ``'estop'``, ``'lock:<name>'``, ``'none'``."""
    reason: str
    """Human-readable: ``'ok'`` when the source's command passes unchanged except for limits."""
    code: str = "ok"
    """A stable category for logging on change: ``ok``, ``estop``, ``lock``, ``timeout``,
    ``rejected`` or a guard code (``slow``, ``stop``, ``blind``, ``stale``, ``no_scan``)."""

    @property
    def stopped(self) -> bool:
        """True when the mux (not the source) forces zero linear speed."""
        return self.code not in ("ok", "slow")


def _clip(value: float, limit: float) -> float:
    return max(-limit, min(limit, value))


def ramp(previous: float, target: float, max_step: float) -> float:
    """One acceleration-limited step from ``previous`` toward ``target``.

    Moving toward zero (slowing, stopping) is immediate; a reversal drops to zero at once and then
    ramps up in the new direction; speeding up changes by at most ``max_step``.
    """
    if target == 0.0 or (previous * target >= 0.0 and abs(target) <= abs(previous)):
        return target
    base = previous if previous * target > 0.0 else 0.0
    return base + _clip(target - base, max_step)


@dataclass
class _InputState:
    spec: MuxInput
    linear: float = 0.0
    angular: float = 0.0
    heard_at: float | None = None
    """Time of the last finite command."""
    rejected_at: float | None = None
    """Time of the last non-finite command."""
    rejected: tuple[float, float] = (0.0, 0.0)

    def fresh(self, now: float) -> bool:
        if self.heard_at is None or now - self.heard_at > self.spec.timeout:
            return False
        return self.rejected_at is None or self.rejected_at < self.heard_at

    def recently_rejected(self, now: float) -> bool:
        """A non-finite command is this input's latest, and it would still be fresh."""
        if self.rejected_at is None or now - self.rejected_at > self.spec.timeout:
            return False
        return self.heard_at is None or self.rejected_at >= self.heard_at

    def describe(self, now: float) -> str:
        if self.recently_rejected(now):
            return f"rejected non-finite command ({self.rejected[0]}, {self.rejected[1]})"
        if self.heard_at is None:
            return "never heard"
        age = now - self.heard_at
        if age > self.spec.timeout:
            return f"timed out (last heard {age:.2f} s ago, timeout {self.spec.timeout:g} s)"
        return f"fresh ({self.linear:+.3f} m/s, {self.angular:+.3f} rad/s)"


@dataclass
class _LockState:
    spec: MuxLock
    value: bool = False
    heard_at: float | None = None

    def state(self, now: float) -> str:
        """``'clear'``, ``'engaged'``, ``'silent'`` or ``'never heard'`` (engaged unless clear)."""
        if self.heard_at is None:
            return "never heard" if self.spec.engage_if_never_heard else "clear"
        if now - self.heard_at > self.spec.timeout:
            return "silent"
        return "engaged" if self.value else "clear"

    def blocks(self, priority: int, now: float) -> bool:
        return priority <= self.spec.priority and self.state(now) != "clear"


class CommandMux:
    """Select, check and limit velocity commands. See the module docstring for the rules."""

    def __init__(self, config: MuxConfig, guard: SafetyFilter | None = None) -> None:
        self.config = config
        self.guard = guard
        # Highest priority first: the first fresh, unblocked input wins.
        specs = sorted(config.inputs, key=lambda spec: spec.priority, reverse=True)
        self._inputs = {spec.name: _InputState(spec) for spec in specs}
        self._locks = {spec.name: _LockState(spec) for spec in config.locks}
        self.estop_latched = False
        self.estop_held = False
        """The e-stop topic's last value."""
        self._output = (0.0, 0.0)
        self._output_at: float | None = None

    def reconfigure(self, config: MuxConfig) -> None:
        """New limits and timeouts (``ros2 param set``) for the same inputs and locks; what each has heard is kept."""
        same = {i.name: i.priority for i in config.inputs} == {n: s.spec.priority for n, s in self._inputs.items()}
        if not same or {lk.name for lk in config.locks} != set(self._locks):
            raise ValueError("a running mux keeps its inputs, their priorities and its locks; only limits change")
        for spec in config.inputs:
            self._inputs[spec.name].spec = spec
        for lock in config.locks:
            self._locks[lock.name].spec = lock
        self.config = config

    # -- inputs ------------------------------------------------------------------------------------

    def on_command(self, input_name: str, linear: float, angular: float, now: float) -> bool:
        """Record a command from ``input_name``; returns False (and rejects it) if not finite."""
        state = self._input(input_name)
        if not (math.isfinite(linear) and math.isfinite(angular)):
            state.rejected_at = now
            state.rejected = (linear, angular)
            return False
        state.linear, state.angular, state.heard_at = float(linear), float(angular), now
        return True

    def on_lock(self, name: str, engaged: bool, now: float) -> None:
        if name not in self._locks:
            raise KeyError(f"unknown mux lock {name!r}; known: {sorted(self._locks)}")
        lock = self._locks[name]
        lock.value, lock.heard_at = bool(engaged), now

    def on_estop(self, active: bool, now: float) -> None:
        """The e-stop topic's value: true latches a stop; false alone does not clear it."""
        self.estop_held = bool(active)
        if active:
            self.estop_latched = True

    def on_estop_reset(self, now: float) -> bool:
        """Clear a latched e-stop unless the e-stop topic still says true; returns whether it is clear."""
        if not self.estop_held:
            self.estop_latched = False
        return not self.estop_latched

    # -- decision ----------------------------------------------------------------------------------

    def select(self, now: float) -> Decision:
        """The winning command, clipped to the velocity limits, before the guard and the ramp."""
        if self.estop_latched:
            held = "e-stop topic still true" if self.estop_held else "publish true on the reset topic to clear"
            return Decision(0.0, 0.0, "estop", f"e-stop latched ({held})", "estop")
        winner = None
        for state in self._inputs.values():  # highest priority first
            if state.fresh(now):
                winner = state
                break
            if state.recently_rejected(now):  # a broken input above the rest holds zero: never hand over
                name = state.spec.name
                return Decision(
                    0.0,
                    0.0,
                    name,
                    f"non-finite command rejected from {name} {state.rejected}: holding zero until {name} sends a "
                    f"finite command or falls silent for {state.spec.timeout:g} s",
                    "rejected",
                )
        if winner is None:
            return Decision(0.0, 0.0, "none", ALL_TIMED_OUT, "timeout")
        for lock in self._locks.values():
            if lock.blocks(winner.spec.priority, now):
                return Decision(
                    0.0,
                    0.0,
                    f"lock:{lock.spec.name}",
                    f"lock {lock.spec.name} {lock.state(now)} (blocks priority <= {lock.spec.priority})",
                    "lock",
                )
        linear = _clip(winner.linear, self.config.max_linear)
        angular = _clip(winner.angular, self.config.max_angular)
        return Decision(linear, angular, winner.spec.name, "ok", "ok")

    def decide(self, now: float) -> Decision:
        """The command to publish now: :meth:`select`, then the guard, then the acceleration ramp.

        Call it at a steady rate (``mux.rate_hz``): the ramp uses the time since the previous call,
        at most two periods, so a stalled caller does not earn a large step.
        """
        decision = self.select(now)
        if self.guard is not None and decision.code == "ok":
            result = self.guard.filter(decision.linear, decision.angular, now)
            if result.code != "clear":
                decision = Decision(result.linear, result.angular, decision.source, result.reason, result.code)
        dt = 1.0 / self.config.rate_hz if self._output_at is None else now - self._output_at
        dt = min(max(dt, 0.0), 2.0 / self.config.rate_hz)
        linear = ramp(self._output[0], decision.linear, self.config.max_linear_accel * dt)
        angular = ramp(self._output[1], decision.angular, self.config.max_angular_accel * dt)
        self._output, self._output_at = (linear, angular), now
        if (linear, angular) == (decision.linear, decision.angular):
            return decision
        return Decision(linear, angular, decision.source, decision.reason, decision.code)

    # -- introspection -----------------------------------------------------------------------------

    @property
    def input_names(self) -> tuple[str, ...]:
        """Input names, highest priority first."""
        return tuple(self._inputs)

    @property
    def lock_names(self) -> tuple[str, ...]:
        return tuple(self._locks)

    def describe_input(self, name: str, now: float) -> str:
        """``'fresh (...)'``, ``'timed out (...)'``, ``'never heard'`` or ``'rejected non-finite ...'``."""
        return self._input(name).describe(now)

    def lock_state(self, name: str, now: float) -> str:
        return self._locks[name].state(now)

    def snapshot(self, now: float) -> dict[str, str]:
        """The state as flat key/value strings (for ``diagnostic_msgs/KeyValue``)."""
        values = {
            "estop": "latched" if self.estop_latched else "clear",
            "estop_topic": "true" if self.estop_held else "false",
            "output_linear": f"{self._output[0]:.3f}",
            "output_angular": f"{self._output[1]:.3f}",
        }
        for name in self._inputs:
            values[f"input.{name}"] = self.describe_input(name, now)
        for name in self._locks:
            values[f"lock.{name}"] = self.lock_state(name, now)
        return values

    def _input(self, name: str) -> _InputState:
        if name not in self._inputs:
            raise KeyError(f"unknown mux input {name!r}; known: {sorted(self._inputs)}")
        return self._inputs[name]
