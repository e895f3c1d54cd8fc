"""Navigation metrics as small named functions over per-episode results."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass

import numpy as np


@dataclass(frozen=True)
class EpisodeResult:
    success: bool
    shortest_path_length: float
    """Geodesic distance from the start to the success region (m)."""
    path_length: float
    """Distance the robot actually travelled (m)."""
    collisions: int
    time_s: float
    steps: int

    def to_dict(self) -> dict:
        return asdict(self)


def success_rate(results: Sequence[EpisodeResult]) -> float:
    """Fraction of episodes that ended in success."""
    return float(np.mean([r.success for r in results])) if results else float("nan")


def spl(results: Sequence[EpisodeResult]) -> float:
    """Success weighted by (normalised inverse) Path Length, Anderson et al. 2018:
    mean over episodes of S_i * l_i / max(p_i, l_i)."""
    if not results:
        return float("nan")
    terms = [
        (r.shortest_path_length / max(r.path_length, r.shortest_path_length, 1e-9)) if r.success else 0.0
        for r in results
    ]
    return float(np.mean(terms))


def collision_rate(results: Sequence[EpisodeResult]) -> float:
    """Fraction of episodes with at least one collision."""
    return float(np.mean([r.collisions > 0 for r in results])) if results else float("nan")


def time_to_goal(results: Sequence[EpisodeResult]) -> float:
    """Mean time (s) of the successful episodes (NaN when none succeeded)."""
    times = [r.time_s for r in results if r.success]
    return float(np.mean(times)) if times else float("nan")


def summarize(results: Sequence[EpisodeResult]) -> dict[str, float | int]:
    """All metrics in one mapping (the JSON the eval commands print)."""
    return {
        "episodes": len(results),
        "success_rate": success_rate(results),
        "spl": spl(results),
        "collision_rate": collision_rate(results),
        "time_to_goal_s": time_to_goal(results),
    }
