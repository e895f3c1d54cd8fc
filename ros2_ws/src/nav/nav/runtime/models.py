"""Which model variants the agent runs: every intact one it finds, never a refused one. Pure Python (no ROS).

A models folder holds one sub-folder per variant of ``configs/models.yaml`` (``<variant>/manifest.json`` and
its weights). Each is loaded on its own: one whose files are bad (a weights file whose SHA-256 is not the
manifest's, a missing file, an unreadable manifest, an architecture the config loader refuses) is refused
with the loader's reason, and the others still run. The agent starts with the variant it was asked for, or,
when that one is refused or absent, the nearest intact one below it on the ladder (then above it), and says
so; the resource monitor is told which variants were loaded and chooses only among them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from policy.controller import PolicyController

__all__ = ["LoadedVariants", "choose_variant", "load_controllers"]


@dataclass
class LoadedVariants:
    """The variants of a models folder: the loaded ones, the refused ones (name -> reason), the ladder's order."""

    controllers: dict[str, PolicyController] = field(default_factory=dict)
    refused: dict[str, str] = field(default_factory=dict)
    ladder: tuple[str, ...] = ()

    def describe_refused(self) -> str:
        return "; ".join(f"{name}: {reason}" for name, reason in self.refused.items())


def load_controllers(models_dir: Path, encoder: object | None = None) -> LoadedVariants:
    """A :class:`PolicyController` for every declared variant with a model folder in ``models_dir``, each with the
    robot's scan geometry (the robot profile's lidar; every scan brings its own); the bad ones refused."""
    from configs import ConfigError
    from policy.configuration import load_variants
    from policy.controller import PolicyController
    from policy.model_io import ModelFileError
    from policy.processing import ScanGeometry

    loaded = LoadedVariants(ladder=tuple(load_variants()))
    for name in loaded.ladder:
        folder = models_dir / name
        if not (folder / "manifest.json").exists():
            continue
        try:
            loaded.controllers[name] = PolicyController.from_directory(
                folder,
                ScanGeometry.from_profile(),
                encoder=encoder,  # type: ignore[arg-type]
            )
        except (ModelFileError, ConfigError) as exc:
            loaded.refused[name] = str(exc)
    return loaded


def choose_variant(requested: str, loaded: Sequence[str], ladder: Sequence[str]) -> tuple[str | None, str]:
    """The variant to run, and why: ``requested`` if it is loaded, else the nearest loaded one below it on
    ``ladder`` (smaller and faster), else above it; None when nothing is loaded."""
    if requested in loaded:
        return requested, f"running {requested!r}"
    if not loaded:
        return None, f"no variant loaded to run in place of {requested!r}"
    order = list(ladder)
    at = order.index(requested) if requested in order else len(order)
    below = [v for v in reversed(order[:at]) if v in loaded]
    above = [v for v in order[at + 1 :] if v in loaded]
    chosen = (below + above + [v for v in loaded if v not in order])[0]
    return chosen, f"variant {requested!r} is not loaded: running {chosen!r} instead"
