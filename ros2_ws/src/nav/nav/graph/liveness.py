"""Liveness: a node that is alive but stuck is noticed and restarted. Pure Python (no ROS).

A crashed node is reaped and restarted by the supervisor; a hung one (a callback that never returns, a
deadlock, a process stopped with SIGSTOP) would go on holding its topics with nothing behind them, and only
the mux's input timeout would notice. So every node started by ``nav bringup`` touches a heartbeat file from
its spin loop (``$NAV_HEARTBEAT_FILE``, set by the supervisor; :class:`Heartbeat`), between callbacks: a
loop that stops turning stops the heartbeat. The supervisor kills a node whose heartbeat is older than
``liveness_timeout`` (:func:`heartbeat_age`), says so, and restarts it as it restarts a crashed one. As with
Nav2's lifecycle bond, a node is judged only once its first heartbeat came (loading models is not hanging).
"""

from __future__ import annotations

import os
import time
from pathlib import Path

__all__ = ["HEARTBEAT_ENV", "Heartbeat", "heartbeat_age"]

HEARTBEAT_ENV = "NAV_HEARTBEAT_FILE"


class Heartbeat:
    """Touch ``path`` at most every ``period`` seconds (:meth:`beat`, from the spin loop)."""

    def __init__(self, path: str | Path, period: float = 0.2) -> None:
        self.path = Path(path)
        self.period = period
        self._last = -float("inf")

    @classmethod
    def from_env(cls) -> Heartbeat | None:
        path = os.environ.get(HEARTBEAT_ENV)
        return cls(path) if path else None

    def beat(self) -> None:
        now = time.monotonic()
        if now - self._last >= self.period:
            self.path.touch()
            self._last = now


def heartbeat_age(path: str | Path, now: float | None = None) -> float | None:
    """Seconds since ``path`` was last touched (wall clock, as file times are), or None before the first beat."""
    try:
        mtime = Path(path).stat().st_mtime
    except FileNotFoundError:
        return None
    return (time.time() if now is None else now) - mtime
