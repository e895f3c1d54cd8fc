"""The perturbations' names, kinds and strengths, and their parsing (no simulator: configs validate with it).

What each one does to an episode is :mod:`sim.perturb`'s :class:`~sim.perturb.PerturbedEnv`.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

__all__ = ["PERTURBATIONS", "Kind", "Perturbation", "parse_perturbations"]


@dataclass(frozen=True)
class Kind:
    kind: str
    default: float
    minimum: float
    maximum: float
    what: str
    neutral: float = 0.0
    """The strength at which it changes nothing (domain randomisation draws between this and its strength)."""


PERTURBATIONS: dict[str, Kind] = {
    "camera_noise": Kind("camera", 12.0, 0.0, 128.0, "pixel noise, std of 0..255"),
    "camera_blur": Kind("camera", 1.5, 0.0, 10.0, "Gaussian blur, sigma in px"),
    "exposure": Kind("camera", 0.6, 0.05, 4.0, "brightness gain", neutral=1.0),
    "white_balance": Kind("camera", 0.2, 0.0, 0.9, "red up, blue down by this fraction"),
    "frame_rate": Kind("camera", 2.0, 1.0, 20.0, "a new frame every N steps", neutral=1.0),
    "jpeg": Kind("camera", 30.0, 1.0, 100.0, "JPEG quality", neutral=100.0),
    "colours": Kind("appearance", 0.5, 0.0, 1.0, "floor, walls, obstacles recoloured by up to this fraction"),
    "light": Kind("appearance", 0.5, 0.0, 0.9, "light turned and this much dimmer or brighter"),
    "target_hue": Kind("appearance", 10.0, 0.0, 30.0, "target hue turned by up to this many degrees"),
    "lidar_noise": Kind("lidar", 0.03, 0.0, 1.0, "range noise, std in m"),
    "lidar_dropout": Kind("lidar", 0.1, 0.0, 1.0, "fraction of rays read 0.0, NaN or inf"),
    "lidar_short": Kind("lidar", 3.5, 0.2, 100.0, "range_max in m, 0.0 beyond", neutral=100.0),
    "lidar_beams": Kind("lidar", 4.0, 1.0, 60.0, "every Nth ray kept", neutral=1.0),
    "scan_rate": Kind("lidar", 2.0, 1.0, 20.0, "a new scan every N steps", neutral=1.0),
    "latency": Kind("timing", 0.2, 0.0, 2.0, "s each command acts late"),
    "stale": Kind("timing", 0.1, 0.0, 1.0, "fraction of steps repeating the previous observation"),
    "slip": Kind("base", 0.15, 0.0, 0.9, "up to this fraction of each command lost"),
    "top_speed": Kind("base", 0.6, 0.05, 1.0, "fraction of the top speed reached", neutral=1.0),
    "wheel_asymmetry": Kind("base", 0.1, -2.0, 2.0, "rad/s of turn per m/s driven"),
}
"""Every perturbation: its kind, default strength, the strengths it accepts, and what the strength is."""


@dataclass(frozen=True)
class Perturbation:
    name: str
    strength: float

    def __post_init__(self) -> None:
        kind = PERTURBATIONS.get(self.name)
        if kind is None:
            raise ValueError(f"unknown perturbation {self.name!r}; known: {', '.join(PERTURBATIONS)}")
        if not (math.isfinite(self.strength) and kind.minimum <= self.strength <= kind.maximum):
            raise ValueError(
                f"perturbation {self.name}: strength {self.strength:g} outside {kind.minimum:g}..{kind.maximum:g} "
                f"({kind.what})"
            )

    @property
    def kind(self) -> str:
        return PERTURBATIONS[self.name].kind

    def __str__(self) -> str:
        return f"{self.name}={self.strength:g}"


def parse_perturbations(text: str | Sequence[str]) -> tuple[Perturbation, ...]:
    """``"camera_noise,latency=0.3"`` (or a list of such items) as perturbations, defaults where no strength."""
    items = text.split(",") if isinstance(text, str) else [i for t in text for i in t.split(",")]
    out = []
    for item in (i.strip() for i in items):
        if not item:
            continue
        name, _, value = item.partition("=")
        kind = PERTURBATIONS.get(name.strip())
        if kind is None:
            raise ValueError(f"unknown perturbation {name.strip()!r}; known: {', '.join(PERTURBATIONS)}")
        try:
            strength = float(value) if value.strip() else kind.default
        except ValueError:
            raise ValueError(f"perturbation {item!r}: the strength must be a number") from None
        out.append(Perturbation(name.strip(), strength))
    names = [q.name for q in out]
    if len(set(names)) != len(names):
        raise ValueError(f"a perturbation named twice in {names}")
    return tuple(out)


def check_probabilities(probabilities: Mapping[str, float], randomised: Iterable[Perturbation], key: str) -> None:
    """Per-perturbation probabilities of domain randomisation: each a name drawn in ``randomised`` (the parsed
    ``perturbations``), each in [0, 1]. ``key`` names the setting in the error."""
    names = {q.name for q in randomised}
    for name, probability in probabilities.items():
        if name not in names:
            drawn = ", ".join(sorted(names)) or "none"
            raise ValueError(f"{key}: {name!r} is not one of the perturbations drawn in training ({drawn})")
        if not 0.0 <= probability <= 1.0:
            raise ValueError(f"{key}: {name}'s probability must be in [0, 1], got {probability}")
