"""The clock a bag's header stamps were written on, rebuilt from the bag, so replay judges inputs as the robot did.

Pure Python (no ROS). A bag's log time is when the recorder received each message (the wall clock);
header stamps are when the data was taken, on the robot's clock: sim time in Gazebo, which may run
slower than real time (the TurtleBot3 bag's scans arrive up to 0.74 s apart in log time, yet are
0.2 s apart in the time they describe). Replay evaluation ticks on log time; :class:`StampClock`
tells, at each tick, what the stamps' clock read then, so that
:meth:`nav.runtime.agent.AgentCore.tick` judges an input's age on its stamp.

A topic's stamps are used when they are sane: none zero (a driver that does not stamp), none going
backwards, and on the same clock as the others (within
:data:`nav.runtime.stamps.STAMP_OTHER_CLOCK_S`). Otherwise that topic's inputs are judged on arrival
(log time), and :attr:`StampClock.topics` says why. The clock reading is rebuilt from ``/clock`` when
the bag has it, else from the scan's stamps, and between its readings from the other sane topics'
(odometry at 30 Hz keeps it close between 5 Hz scans). Each topic's readings are first shifted by its
median lead over the reference (a driver that stamps 0.2 s late does not slow the clock down). At a
log time the clock reads the newest reading carried on at the bag's overall rate of stamp time to
log time.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from nav.runtime.stamps import ARRIVAL, HEADER_STAMP, STAMP_OTHER_CLOCK_S

__all__ = ["StampClock", "TopicTiming", "rebuild_clock"]


@dataclass(frozen=True)
class TopicTiming:
    """How one topic's inputs are timed in replay."""

    basis: str
    """``header stamp`` or ``arrival``."""
    why: str
    median_period_s: float | None
    """Median time between its messages on that basis (None with fewer than two)."""


@dataclass
class StampClock:
    """The stamps' clock as known at each log time (s): :meth:`at`."""

    logs: np.ndarray = field(default_factory=lambda: np.zeros(0))
    stamps: np.ndarray = field(default_factory=lambda: np.zeros(0))
    """The clock readings (header stamps, ``/clock``, each shifted onto the reference) at :attr:`logs`."""
    rate: float = 1.0
    """Stamp seconds per log second (1 in real time; below 1 where the simulator ran slower)."""
    sources: tuple[str, ...] = ()
    topics: dict[str, TopicTiming] = field(default_factory=dict)

    def at(self, t: float) -> float | None:
        """The stamps' clock at log time ``t`` (see the module docstring); ``None`` before the first reading
        (or with no sane stamp in the bag)."""
        i = int(np.searchsorted(self.logs, t, side="right")) - 1
        return None if i < 0 else float(self.stamps[i] + self.rate * (t - self.logs[i]))

    def uses_stamps(self, topic: str) -> bool:
        timing = self.topics.get(topic)
        return timing is not None and timing.basis == HEADER_STAMP

    def describe(self) -> dict[str, Any]:
        """JSON-ready: which topics were judged on which basis, and why."""
        return {
            "clock": (
                f"header stamps, rebuilt from {', '.join(self.sources)} "
                f"({self.rate:.2f} s of stamp time per s of log time)"
                if self.sources
                else "arrival (log time): no topic has sane header stamps"
            ),
            "topics": {
                t: {"basis": x.basis, "why": x.why, "median_period_s": x.median_period_s}
                for t, x in sorted(self.topics.items())
            },
        }


def _median_gap(values: np.ndarray) -> float | None:
    return float(np.median(np.diff(values))) if len(values) > 1 else None


def _sanity(stamps: np.ndarray) -> str | None:
    """Why a topic's stamps cannot be used, or None. Zeros before the first stamp are a clock not yet started
    (sim time begins at 0); those messages are judged on arrival (:func:`nav.runtime.stamps.stamp_age`)."""
    started = np.flatnonzero(stamps > 0)
    if not started.size:
        return f"all {len(stamps)} header stamps are zero"
    stamps = stamps[started[0] :]
    unset = int(np.sum(~np.isfinite(stamps) | (stamps <= 0)))
    if unset:
        return f"{unset} of {len(stamps)} header stamps are zero or not finite"
    backwards = int(np.sum(np.diff(stamps) < 0))
    if backwards:
        return f"header stamps go backwards {backwards} times"
    return None


def rebuild_clock(readings: dict[str, tuple[np.ndarray, np.ndarray]], order: Sequence[str]) -> StampClock:
    """The stamp clock of a bag from each topic's ``(log times, header stamps)`` (s).

    ``order`` ranks the topics whose clock is the reference when they disagree (``/clock`` first when
    the bag has it, then the scan); a topic whose stamps are not sane, or more than
    ``STAMP_OTHER_CLOCK_S`` from the reference's, is judged on arrival.
    """
    topics: dict[str, TopicTiming] = {}
    sane: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    for topic, (logs, stamps) in readings.items():
        problem = _sanity(stamps) if len(stamps) else "no message"
        if problem is None:
            sane[topic] = (logs, stamps)
        else:
            topics[topic] = TopicTiming(ARRIVAL, problem, _median_gap(logs))
    reference = next((t for t in order if t in sane), None)
    if reference is None:
        return StampClock(topics=topics)
    sane = {t: (logs[stamps > 0], stamps[stamps > 0]) for t, (logs, stamps) in sane.items()}
    ref_logs, ref_stamps = sane[reference]
    span = ref_logs[-1] - ref_logs[0] if len(ref_logs) > 1 else 0.0
    rate = (ref_stamps[-1] - ref_stamps[0]) / span if span > 0 else 1.0
    rate = float(np.clip(rate, 0.01, 100.0)) if np.isfinite(rate) else 1.0
    agreeing, shifted = [], []
    for topic, (logs, stamps) in sane.items():
        offset = float(np.median(stamps - np.interp(logs, ref_logs, ref_stamps)))
        if abs(offset) > STAMP_OTHER_CLOCK_S:
            why = f"header stamps on another clock than {reference}'s (median {offset:.3g} s apart)"
            topics[topic] = TopicTiming(ARRIVAL, why, _median_gap(logs))
        else:
            agreeing.append(topic)
            shifted.append(stamps - (0.0 if topic == reference else offset))
            topics[topic] = TopicTiming(HEADER_STAMP, "header stamps sane", _median_gap(stamps))
    logs = np.concatenate([sane[t][0] for t in agreeing])
    stamps = np.concatenate(shifted)
    by_log = np.argsort(logs, kind="stable")
    logs, stamps = logs[by_log], stamps[by_log]
    sources = (reference, *(t for t in agreeing if t != reference))
    return StampClock(logs, stamps, rate, sources, topics)
