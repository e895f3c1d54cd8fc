"""The agent's decision core (pure Python, no ROS): newest inputs in, one command per control tick.

The ROS node (``nav.nodes.agent_node``) converts messages at the edge and calls :class:`AgentCore`. Every
tick either runs the policy on the newest camera image, scan and instruction, or, when in doubt,
returns zero velocity with the reason: no instruction yet, an input missing or older than its
staleness limit, no model for the variant, or an error inside the model. Model variants are
preloaded, so a switch happens between two ticks without a load on the control path; the new
variant starts with an empty memory (hidden sizes differ between variants).

**How old an input is.** Each input is kept with its arrival time and, when the caller has one, its
header stamp. A tick given the stamp clock's present (``stamp_now``: the ROS clock on a robot, the
bag's reconstructed clock in replay) judges an input with a sane stamp on it: Gazebo running slower
than real time delivers scans late on the wall clock, yet they are fresh in the time they describe.
A stamp is not sane (:func:`nav.runtime.stamps.stamp_age`) when it is zero (drivers that do not
stamp), too far ahead of the clock, or so far from it that it is on another clock (a sensor's boot
time, sim time against wall time); such an input is judged on arrival. Each tick's basis is counted
per sensor (:attr:`AgentCore.judged_on`). On a robot (``arrival_too``, the default) an input must be fresh
by its arrival as well: a sensor gone silent is stale even when the stamp clock stopped with it. Replay
evaluation judges on the stamps alone, as the recorded robot's clock ran. A message whose sane stamp is
earlier than the one before it on the same topic is refused (zero until the next good one).
"""

from __future__ import annotations

import math
import time
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from nav.runtime.stamps import HEADER_STAMP, input_age, stamp_went_back
from perception.errors import PerceptionError
from perception.language import normalise_instruction
from policy.controller import PolicyController
from policy.processing import ScanGeometry

ZERO = (0.0, 0.0)


@dataclass(frozen=True)
class Timeouts:
    """Staleness limits (s) per input: the robot profile's ``max_age_s`` (:meth:`of_agent`)."""

    camera: float
    scan: float

    @classmethod
    def of_agent(cls, agent: Any) -> Timeouts:
        """From a :class:`nav.runtime.config.AgentConfig`: the cloud's limit where the cloud stands in for the scan."""
        return cls(agent.camera_timeout, agent.cloud_timeout if agent.use_point_cloud else agent.scan_timeout)


@dataclass
class TickResult:
    linear: float
    angular: float
    variant: str
    reason: str | None
    """Why the command is zero; ``None`` when the policy produced it."""
    timings_ms: dict[str, float] = field(default_factory=dict)
    image_stamp: float | None = None
    """Header stamp (s) of the camera frame the command was computed from, when it had one."""

    @property
    def ok(self) -> bool:
        return self.reason is None


@dataclass
class _Stamped:
    value: Any
    t: float
    """Arrival time (the core's clock)."""
    stamp: float | None = None
    """Header stamp (s), when the message had one."""

    def age(self, now: float, stamp_now: float | None, arrival_too: bool) -> tuple[float, str]:
        """Age and its basis: the header stamp when sane, else arrival (:func:`nav.runtime.stamps.input_age`)."""
        return input_age(self.t, self.stamp, now, stamp_now, arrival_too)


class AgentCore:
    """Holds the newest inputs and the preloaded policies; :meth:`tick` gives the command."""

    def __init__(
        self,
        controllers: Mapping[str, PolicyController],
        variant: str,
        timeouts: Timeouts,
        clock: Callable[[], float] = time.monotonic,
        arrival_too: bool = True,
    ) -> None:
        if not controllers:
            raise ValueError("the agent needs at least one loaded model variant")
        if variant not in controllers:
            raise ValueError(f"variant {variant!r} is not loaded; loaded: {sorted(controllers)}")
        self.controllers = dict(controllers)
        self.variant = variant
        self.timeouts = timeouts
        self.clock = clock
        self.arrival_too = arrival_too
        """Judge a stamped input on its arrival too (a robot); False: on the stamp alone (replay evaluation)."""
        self._pending_variant: str | None = None
        self._image: _Stamped | None = None
        self._scan: _Stamped | None = None
        self._odom = np.zeros(2, dtype=np.float32)
        self.instruction: str | None = None
        self._no_instruction = "no instruction yet"
        self._rejected: dict[str, str] = {}
        """Per sensor, why its latest message was refused (cleared by its next good one): zero at once."""
        self.judged_on: dict[str, Counter[str]] = {"camera": Counter(), "scan": Counter()}
        """Per sensor, how many ticks judged its age on the header stamp and how many on arrival."""
        self._last_stamp: dict[str, float | None] = {}
        """Per sensor, the header stamp of its latest message (refused or not)."""

    # ------------------------------------------------------------------ inputs
    def on_image(self, rgb: np.ndarray, now: float | None = None, stamp: float | None = None) -> str | None:
        """A decoded image arriving at ``now`` (default the clock), with its header ``stamp`` (s) if known.
        Returns why it was refused (its stamp went back), or None."""
        refused = self._stamp_went_back("camera", stamp)
        if refused is None:
            self._image = _Stamped(rgb, self._now(now), stamp)
        return refused

    def on_scan(
        self, ranges: np.ndarray, geometry: ScanGeometry, now: float | None = None, stamp: float | None = None
    ) -> str | None:
        """A scan in the robot's frame arriving at ``now``, with its header ``stamp`` (s) if known.
        Returns why it was refused (its stamp went back), or None."""
        refused = self._stamp_went_back("scan", stamp)
        if refused is None:
            self._scan = _Stamped((np.asarray(ranges, dtype=np.float32), geometry), self._now(now), stamp)
        return refused

    def _stamp_went_back(self, sensor: str, stamp: float | None) -> str | None:
        """Refuse (as :meth:`reject`) a message stamped before the one before it; clear a refusal otherwise."""
        refused = stamp_went_back(self._last_stamp.get(sensor), stamp)
        self._last_stamp[sensor] = stamp
        if refused is None:
            self._rejected.pop(sensor, None)
        else:
            self.reject(sensor, refused)
        return refused

    def reject(self, sensor: str, reason: str) -> None:
        """The latest ``sensor`` message (``camera`` or ``scan``) was refused for ``reason``: zero from the next tick
        until a good one arrives (not only once the last good one has gone stale)."""
        if sensor not in self.judged_on:
            raise ValueError(f"unknown sensor {sensor!r}; expected one of {sorted(self.judged_on)}")
        self._rejected[sensor] = reason

    def on_odom(self, linear: float, angular: float) -> None:
        values = np.array([linear, angular], dtype=np.float32)
        self._odom = np.where(np.isfinite(values), values, 0.0).astype(np.float32)

    def on_instruction(self, text: str) -> str:
        """Take a new instruction at once (memory cleared).

        An unusable one (empty, too long, naming no object the policy knows) raises PerceptionError
        and stops the robot: driving on toward the previous goal after the human asked for something
        else would be wrong. A usable one is grounded and embedded here, off the control tick.
        """
        try:
            normalised = normalise_instruction(text)
            processor = getattr(self.controllers[self.variant], "processor", None)
            if processor is not None:  # a learned policy (reference controllers read the text themselves)
                processor.text(normalised)
        except PerceptionError as exc:
            self.instruction = None
            self._no_instruction = f"instruction rejected: {exc}"
            raise
        self.instruction = normalised
        for controller in self.controllers.values():
            controller.reset()
        return normalised

    def offer_instruction(self, text: str) -> str | None:
        """An instruction as it arrives on the topic: the same one again keeps the memory.

        The sim republishes its instruction every few seconds and a latched topic delivers it again to
        a late subscriber: that is no new goal, so the memory stays (``None`` is returned). Any other
        text goes to :meth:`on_instruction` (memory cleared, the normalised text returned; an
        unusable one raises PerceptionError). The agent node and ``nav replay-eval`` both use this.
        """
        if self.instruction is not None:
            try:
                if normalise_instruction(text) == self.instruction:
                    return None
            except PerceptionError:
                pass  # unusable: on_instruction rejects it and stops the robot
        return self.on_instruction(text)

    def request_variant(self, name: str) -> None:
        """Switch to ``name`` at the next tick (it must be preloaded)."""
        if name not in self.controllers:
            raise ValueError(f"variant {name!r} is not loaded; loaded: {sorted(self.controllers)}")
        self._pending_variant = name

    # ------------------------------------------------------------------ decision
    def tick(self, now: float | None = None, stamp_now: float | None = None) -> TickResult:
        """One decision at ``now`` (default the clock); ``stamp_now`` is the present on the clock the inputs'
        header stamps use (none: every input is judged on arrival)."""
        now = self._now(now)
        if self._pending_variant is not None and self._pending_variant != self.variant:
            self.variant = self._pending_variant
            self.controllers[self.variant].reset()
        self._pending_variant = None
        reason = self._doubt(now, stamp_now)
        if reason is not None:
            return TickResult(*ZERO, self.variant, reason)
        controller = self.controllers[self.variant]
        ranges, geometry = self._scan.value  # type: ignore[union-attr]
        controller.geometry = geometry
        obs = {"image": self._image.value, "scan": ranges, "instruction": self.instruction, "odom": self._odom}  # type: ignore[union-attr]
        t0 = time.perf_counter()
        try:
            command = controller.act(obs)
        except (PerceptionError, ValueError, RuntimeError) as exc:
            return TickResult(*ZERO, self.variant, f"model error: {exc}")
        inference_ms = (time.perf_counter() - t0) * 1000.0
        linear, angular = float(command[0]), float(command[1])
        if not (math.isfinite(linear) and math.isfinite(angular)):
            return TickResult(*ZERO, self.variant, "model produced a non-finite command")
        return TickResult(linear, angular, self.variant, None, {"inference_ms": inference_ms}, self._image.stamp)  # type: ignore[union-attr]

    def would_drive(self, now: float | None = None, stamp_now: float | None = None) -> bool:
        """Whether a tick now would run the model (an instruction, no refused input, every input fresh): the
        node then waits a little for the next camera frame (``agent.image_wait``); a stop never waits."""
        return self._doubt(self._now(now), stamp_now, count=False) is None

    def _doubt(self, now: float, stamp_now: float | None, count: bool = True) -> str | None:
        if self.instruction is None:
            return self._no_instruction
        for name, why in self._rejected.items():
            return f"{name} rejected: {why}"
        for name, stamped, limit in (
            ("camera", self._image, self.timeouts.camera),
            ("scan", self._scan, self.timeouts.scan),
        ):
            if stamped is None:
                return f"no {name} message yet"
            age, basis = stamped.age(now, stamp_now, self.arrival_too)
            if count:
                self.judged_on[name][basis] += 1
            if age > limit:
                hint = ""
                if basis == HEADER_STAMP and now - stamped.t <= limit:
                    hint = f"; it arrived {now - stamped.t:.2f} s ago: is the sensor's clock behind this computer's?"
                return f"{name} stale ({age:.2f} s old by {basis} > {limit:.2f} s{hint})"
        return None

    def _now(self, now: float | None) -> float:
        return self.clock() if now is None else now
