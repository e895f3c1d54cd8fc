"""Real CPU contention for experiments: busy-loop processes, one per core by default.

Use as a context manager; the processes are always stopped on the way out (asked first, then
terminated, then killed), whatever happened inside the block::

    with CpuBurners(2):
        ...  # both cores are busy here
"""

from __future__ import annotations

import multiprocessing as mp
import os
from types import TracebackType

__all__ = ["CpuBurners"]


def _burn(stop: mp.synchronize.Event) -> None:  # type: ignore[name-defined]
    x = 0
    while not stop.is_set():
        for _ in range(20_000):  # pure Python arithmetic: keeps one core at 100 %
            x = (x * 1_103_515_245 + 12_345) & 0x7FFFFFFF


class CpuBurners:
    """``count`` busy-loop processes (0: one per CPU this process may run on) while the block runs."""

    def __init__(self, count: int = 0) -> None:
        if count < 0:
            raise ValueError(f"burner count must be >= 0, got {count}")
        if count == 0:
            try:
                count = len(os.sched_getaffinity(0))
            except AttributeError:  # not on Linux
                count = os.cpu_count() or 1
        self.count = count
        self._ctx = mp.get_context("spawn")  # no fork of a process that holds torch and PyBullet state
        self._stop = self._ctx.Event()
        self._procs: list[mp.process.BaseProcess] = []

    def start(self) -> None:
        self._stop.clear()
        for i in range(self.count):
            proc = self._ctx.Process(target=_burn, args=(self._stop,), name=f"cpu-burner-{i}", daemon=True)
            proc.start()
            self._procs.append(proc)

    def stop(self) -> None:
        self._stop.set()
        for proc in self._procs:
            proc.join(timeout=2.0)
            if proc.is_alive():
                proc.terminate()
                proc.join(timeout=2.0)
            if proc.is_alive():
                proc.kill()
                proc.join(timeout=2.0)
        self._procs.clear()

    @property
    def alive(self) -> int:
        return sum(p.is_alive() for p in self._procs)

    def __enter__(self) -> CpuBurners:
        try:
            self.start()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()
