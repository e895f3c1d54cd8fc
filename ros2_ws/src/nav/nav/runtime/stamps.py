"""Header stamps: when one can be believed, and how old an input is by it. Pure Python.

A stamp says when the data was taken, on the sensor's clock. It is used only when it is sane
(:func:`stamp_age`); otherwise the input is judged on its arrival time. Shared by the agent's core
(:mod:`nav.runtime.agent`) and the bag clock of replay evaluation (:mod:`nav.bags.clock`).
"""

from __future__ import annotations

import math

__all__ = [
    "ARRIVAL",
    "HEADER_STAMP",
    "STAMP_FUTURE_TOLERANCE_S",
    "STAMP_OTHER_CLOCK_S",
    "input_age",
    "stamp_age",
    "stamp_went_back",
]

STAMP_FUTURE_TOLERANCE_S = 0.5
"""A header stamp further ahead of the clock than this is not believed (a clock that is off)."""
STAMP_OTHER_CLOCK_S = 3600.0
"""A header stamp this far from the clock is on another clock altogether: the input is judged on arrival."""
HEADER_STAMP, ARRIVAL = "header stamp", "arrival"


def stamp_age(stamp: float | None, stamp_now: float | None) -> float | None:
    """How old an input stamped ``stamp`` is at ``stamp_now`` (s), or ``None`` when the stamp is not sane
    (missing or zero, ahead of the clock, or on another clock: see the module docstring)."""
    if stamp is None or stamp_now is None or stamp <= 0.0 or not math.isfinite(stamp):
        return None
    age = stamp_now - stamp
    if age < -STAMP_FUTURE_TOLERANCE_S or age > STAMP_OTHER_CLOCK_S:
        return None
    return max(age, 0.0)


def input_age(
    arrived: float, stamp: float | None, now: float, stamp_now: float | None, arrival_too: bool = False
) -> tuple[float, str]:
    """How old an input that ``arrived`` at (the caller's clock) with header ``stamp`` is at ``now``, and the
    basis: the stamp against ``stamp_now`` when it is sane (:func:`stamp_age`), else the arrival.

    With ``arrival_too`` (a live robot) the older of the two counts: a sensor stamped in the past is stale
    though it just arrived, and one that went silent is stale though the stamp clock stopped with it (a
    crashed simulator's ``/clock``)."""
    by_stamp, by_arrival = stamp_age(stamp, stamp_now), now - arrived
    if by_stamp is None or (arrival_too and by_arrival > by_stamp):
        return by_arrival, ARRIVAL
    return by_stamp, HEADER_STAMP


def stamp_went_back(previous: float | None, stamp: float | None) -> str | None:
    """Why a header ``stamp`` earlier than the ``previous`` one on the same topic is refused (None: it is not).
    Zero stamps (a driver that does not stamp) are not compared."""
    if stamp is None or previous is None or stamp <= 0.0 or previous <= 0.0 or stamp >= previous:
        return None
    return f"header stamp went back {previous - stamp:.3f} s (older than the message before it)"
