"""Header stamps: when one can be believed, and how old an input is by it. Pure Python.

A stamp says when the data was taken, on the sensor's clock. It is used only when it is sane
(:func:`stamp_age`); otherwise the input is judged on its arrival time. Shared by the agent's core
(:mod:`nav.runtime.agent`) and the bag clock of replay evaluation (:mod:`nav.bags.clock`).
"""

from __future__ import annotations

import math

__all__ = ["ARRIVAL", "HEADER_STAMP", "STAMP_FUTURE_TOLERANCE_S", "STAMP_OTHER_CLOCK_S", "input_age", "stamp_age"]

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


def input_age(arrived: float, stamp: float | None, now: float, stamp_now: float | None) -> tuple[float, str]:
    """How old an input that ``arrived`` at (the caller's clock) with header ``stamp`` is at ``now``, and the
    basis: the stamp against ``stamp_now`` when it is sane (:func:`stamp_age`), else the arrival."""
    by_stamp = stamp_age(stamp, stamp_now)
    return (now - arrived, ARRIVAL) if by_stamp is None else (by_stamp, HEADER_STAMP)
