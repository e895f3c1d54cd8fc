"""The resource monitor's decision (pure Python, no ROS): which model variant the agent should run.

Fed one sample per agent tick (the variant that ran and the tick's compute time), it keeps a latency
window per variant and predicts each variant's tail latency (``tail_percentile`` of the window):

* the running variant: measured, once it has ``min_samples`` fresh samples since it started;
* any other variant: the running variant's measured tail scaled by the cost ratio between the two.
  The ratios start from ``relative_cost`` in ``configs/monitor.yaml`` (what ``nav bench encoder``
  measured) and are corrected after every switch by what was measured on both sides of it.

A variant *fits* when its predicted tail is within ``budget_ms * (1 - margin)``. The decision:

1. a pin (a variant named by hand) wins over everything;
2. **sustained misses** (``miss_threshold`` ticks over ``budget_ms`` among the last
   ``miss_window`` ticks of the running variant) step down at once, cooldown or not, to the
   largest smaller variant that fits (else the smallest);
3. a running variant whose measured tail no longer fits steps down, once the cooldown has passed;
4. a larger variant is taken only after it has been predicted to fit within the stricter
   ``budget_ms * (1 - step_up_margin)`` for ``headroom_s`` without a break, the cooldown has
   passed, and no resource veto holds (temperature at or over ``thermal_limit_c``).

The two margins are the hysteresis band: near the threshold the monitor stays where it is instead
of flapping. Times are seconds of whatever clock the caller passes (wall time on the robot, the
control clock in the experiment).
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from configs import load

__all__ = [
    "DEFAULT_MONITOR_CONFIG",
    "Decision",
    "MonitorConfig",
    "MonitorNodeConfig",
    "VariantMonitor",
    "load_monitor_config",
    "load_monitor_node_config",
]

DEFAULT_MONITOR_CONFIG = "monitor.yaml"


@dataclass(frozen=True)
class MonitorConfig:
    budget_ms: float = 40.0
    """Compute budget of one agent tick (ms); a tick over it is a deadline miss."""
    margin: float = 0.2
    """A variant fits while its predicted tail is at most ``budget_ms * (1 - margin)``."""
    step_up_margin: float = 0.4
    """A larger variant is taken only when predicted at most ``budget_ms * (1 - step_up_margin)``."""
    tail_percentile: float = 95.0
    window: int = 50
    """Latency samples kept per variant (ticks)."""
    min_samples: int = 10
    """Fresh samples a variant needs before its own tail is trusted."""
    miss_window: int = 20
    """Ticks over which misses are counted."""
    miss_threshold: int = 3
    """Misses within ``miss_window`` that count as sustained."""
    headroom_s: float = 5.0
    """How long a larger variant must have fitted before the monitor steps up to it."""
    cooldown_s: float = 3.0
    """Least time between two switches (sustained misses step down regardless)."""
    ratio_learning_rate: float = 0.5
    """Weight of a newly measured cost ratio against the previous estimate (0: never learn)."""
    thermal_limit_c: float = 85.0
    """At or above this temperature no step up is made."""
    relative_cost: dict[str, float] = field(default_factory=dict)
    """Tick cost of each variant relative to each other (any unit); also the ladder's order. Required:
    the measured figures live in ``configs/monitor.yaml`` only (from ``nav bench encoder``)."""

    def __post_init__(self) -> None:
        if self.budget_ms <= 0:
            raise ValueError("budget_ms must be > 0")
        if not 0 <= self.margin < 1 or not self.margin <= self.step_up_margin < 1:
            raise ValueError("need 0 <= margin <= step_up_margin < 1")
        if not 0 < self.tail_percentile <= 100:
            raise ValueError("tail_percentile must be in (0, 100]")
        if not 1 <= self.min_samples <= self.window:
            raise ValueError("need 1 <= min_samples <= window")
        if not 1 <= self.miss_threshold <= self.miss_window:
            raise ValueError("need 1 <= miss_threshold <= miss_window")
        if self.headroom_s < 0 or self.cooldown_s < 0:
            raise ValueError("headroom_s and cooldown_s must be >= 0")
        if not 0 <= self.ratio_learning_rate <= 1:
            raise ValueError("ratio_learning_rate must be in [0, 1]")
        if not self.relative_cost:
            raise ValueError(
                "relative_cost must name at least one variant (configs/monitor.yaml: each variant's tick cost)"
            )
        bad = {k: v for k, v in self.relative_cost.items() if not v > 0}
        if bad:
            raise ValueError(f"relative_cost values must be > 0, got {bad}")

    @property
    def ladder(self) -> tuple[str, ...]:
        """Variant names from the cheapest to the most expensive."""
        return tuple(sorted(self.relative_cost, key=lambda name: self.relative_cost[name]))

    @property
    def fit_limit_ms(self) -> float:
        return self.budget_ms * (1.0 - self.margin)

    @property
    def step_up_limit_ms(self) -> float:
        return self.budget_ms * (1.0 - self.step_up_margin)


def load_monitor_config(path: str | Path = DEFAULT_MONITOR_CONFIG) -> MonitorConfig:
    """Read the ``monitor`` section of ``path`` (default ``configs/monitor.yaml``)."""
    return load(MonitorConfig, path, section="monitor")


@dataclass(frozen=True)
class MonitorNodeConfig:
    sample_period_s: float = 1.0
    """Resource readings and diagnostics once per this."""
    pin: str = ""
    """A variant to run whatever the load; empty: decide by latency."""

    def __post_init__(self) -> None:
        if self.sample_period_s <= 0:
            raise ValueError("sample_period_s must be > 0")


def load_monitor_node_config(path: str | Path = DEFAULT_MONITOR_CONFIG) -> MonitorNodeConfig:
    """Read the ``node`` section of ``path`` (default ``configs/monitor.yaml``)."""
    return load(MonitorNodeConfig, path, section="node")


@dataclass(frozen=True)
class Decision:
    variant: str
    """The variant the agent should run."""
    reason: str
    switch: bool
    """True when ``variant`` differs from the variant that ran the last tick."""


class VariantMonitor:
    """Per-tick samples in (:meth:`observe`), the variant to run out."""

    def __init__(self, config: MonitorConfig, available: tuple[str, ...] | None = None) -> None:
        ladder = config.ladder
        if available is not None:
            unknown = sorted(set(available) - set(ladder))
            if unknown:
                raise ValueError(
                    f"variants {unknown} have no relative_cost in the monitor config; known: {list(ladder)}"
                )
            ladder = tuple(v for v in ladder if v in available)
            if not ladder:
                raise ValueError("no variant available to choose from")
        self.config = config
        self.ladder = ladder
        self.ratio = {v: float(config.relative_cost[v]) for v in ladder}
        self.pin: str | None = None
        self.current: str | None = None
        self.temperature_c: float | None = None
        self._windows: dict[str, deque[float]] = {v: deque(maxlen=config.window) for v in ladder}
        self._misses: deque[bool] = deque(maxlen=config.miss_window)
        self._last_switch = -float("inf")
        self._fit_since: dict[str, float | None] = dict.fromkeys(ladder)
        self._before_switch: tuple[str, float] | None = None
        """(variant, its tail) just before the last switch: the other side of the next ratio measurement."""
        self.last = Decision(ladder[0], "no sample yet", False)

    # ------------------------------------------------------------------ inputs
    def drop(self, unavailable: set[str]) -> tuple[str, ...]:
        """Never choose ``unavailable`` again (variants the agent refused to load); returns those dropped. The
        last variant is kept: the agent holds zero without one, whatever the monitor says."""
        dropped = tuple(v for v in self.ladder if v in unavailable)
        kept = tuple(v for v in self.ladder if v not in unavailable)
        if not dropped or not kept:
            return ()
        self.ladder = kept
        for v in dropped:
            del self.ratio[v], self._windows[v], self._fit_since[v]
        if self.pin in dropped:
            self.pin = None
        if self.current in dropped:
            self.current = None
        if self._before_switch is not None and self._before_switch[0] in dropped:
            self._before_switch = None
        if self.last.variant in dropped:
            self.last = Decision(kept[0], "no sample yet", False)
        return dropped

    def set_pin(self, variant: str | None) -> None:
        """Pin ``variant`` (``None`` or ``""`` unpins)."""
        if variant and variant not in self.ladder:
            raise ValueError(f"cannot pin {variant!r}: not among the available variants {list(self.ladder)}")
        self.pin = variant or None

    def observe(self, now: float, variant: str, latency_ms: float) -> Decision:
        """One agent tick of ``variant`` that took ``latency_ms``; returns the decision after it."""
        if variant not in self._windows:
            raise ValueError(f"sample from variant {variant!r}, which is not among {list(self.ladder)}")
        if variant != self.current:
            self._started(now, variant)
        self._windows[variant].append(float(latency_ms))
        self._misses.append(latency_ms > self.config.budget_ms)
        self._learn_ratio(variant)
        self.last = self._decide(now)
        return self.last

    # ------------------------------------------------------------------ predictions
    def measured_tail(self, variant: str) -> float | None:
        """The running variant's own tail (ms) once it has ``min_samples`` fresh samples, else None."""
        samples = self._windows[variant]
        if variant != self.current or len(samples) < self.config.min_samples:
            return None
        return float(np.percentile(np.fromiter(samples, float), self.config.tail_percentile))

    def predicted_tail(self, variant: str) -> float | None:
        """Predicted tail (ms) of ``variant`` under the present load; None before enough samples."""
        if self.current is None:
            return None
        base = self.measured_tail(self.current)
        if base is None:
            return None
        return base * self.ratio[variant] / self.ratio[self.current]

    def miss_count(self) -> int:
        return int(sum(self._misses))

    # ------------------------------------------------------------------ internals
    def _started(self, now: float, variant: str) -> None:
        """``variant`` ran its first tick (a switch took effect, or the first sample)."""
        previous = self.current
        if previous is not None:
            tail = self._tail_of(previous)
            self._before_switch = (previous, tail) if tail is not None else None
            self._last_switch = now
        self.current = variant
        self._windows[variant].clear()  # its old samples were taken under another load
        self._misses.clear()  # misses belong to the variant that had them
        self._fit_since = dict.fromkeys(self.ladder)

    def _tail_of(self, variant: str) -> float | None:
        samples = self._windows[variant]
        if len(samples) < self.config.min_samples:
            return None
        return float(np.percentile(np.fromiter(samples, float), self.config.tail_percentile))

    def _learn_ratio(self, variant: str) -> None:
        """After a switch, once the new variant has its own tail: correct the cost ratio between the two."""
        if self._before_switch is None or self.config.ratio_learning_rate == 0:
            return
        tail = self.measured_tail(variant)
        if tail is None:
            return
        old, old_tail = self._before_switch
        self._before_switch = None
        if old_tail <= 0:
            return
        measured = self.ratio[old] * tail / old_tail
        rate = self.config.ratio_learning_rate
        self.ratio[variant] = (1 - rate) * self.ratio[variant] + rate * measured

    def _decide(self, now: float) -> Decision:
        cfg, current = self.config, self.current
        assert current is not None
        if self.pin is not None:
            return self._to(self.pin, "pinned by hand")
        index = self.ladder.index(current)
        misses = self.miss_count()
        if misses >= cfg.miss_threshold and index > 0:
            target = self._largest_fitting(below=index, limit=cfg.fit_limit_ms) or self.ladder[0]
            why = f"sustained misses: {misses} of the last {len(self._misses)} ticks over {cfg.budget_ms:g} ms"
            return self._switch(now, target, why)
        tail = self.measured_tail(current)
        if tail is None:
            return self._to(current, f"measuring {current} ({len(self._windows[current])}/{cfg.min_samples} samples)")
        pct = f"p{cfg.tail_percentile:g}"
        cooling = now - self._last_switch < cfg.cooldown_s
        if tail > cfg.fit_limit_ms and index > 0:
            if cooling:
                return self._to(current, f"{pct} {tail:.1f} ms > {cfg.fit_limit_ms:.1f} ms, in cooldown")
            target = self._largest_fitting(below=index, limit=cfg.fit_limit_ms) or self.ladder[0]
            return self._switch(now, target, f"{current} {pct} {tail:.1f} ms > {cfg.fit_limit_ms:.1f} ms")
        # Headroom bookkeeping for every larger variant, then the largest that has had it long enough.
        ready = None
        for v in self.ladder[index + 1 :]:
            predicted = self.predicted_tail(v)
            if predicted is not None and predicted <= cfg.step_up_limit_ms:
                if self._fit_since[v] is None:
                    self._fit_since[v] = now
                if now - self._fit_since[v] >= cfg.headroom_s:  # type: ignore[operator]
                    ready = (v, predicted)
            else:
                self._fit_since[v] = None
        if ready is None:
            return self._to(current, f"{current} {pct} {tail:.1f} ms fits {cfg.fit_limit_ms:.1f} ms")
        if self.temperature_c is not None and self.temperature_c >= cfg.thermal_limit_c:
            return self._to(current, f"step up held: {self.temperature_c:.0f} C >= {cfg.thermal_limit_c:g} C")
        if cooling:
            return self._to(current, f"{ready[0]} would fit, in cooldown")
        v, predicted = ready
        return self._switch(
            now, v, f"{v} predicted {pct} {predicted:.1f} ms <= {cfg.step_up_limit_ms:.1f} ms for {cfg.headroom_s:g} s"
        )

    def _largest_fitting(self, below: int, limit: float) -> str | None:
        for v in reversed(self.ladder[:below]):
            predicted = self.predicted_tail(v)
            if predicted is not None and predicted <= limit:
                return v
        return None

    def _to(self, variant: str, reason: str) -> Decision:
        return Decision(variant, reason, variant != self.current)

    def _switch(self, now: float, variant: str, reason: str) -> Decision:
        # The cooldown runs from the decision; _started() restarts it when the agent really switches.
        self._last_switch = now
        return self._to(variant, reason)
