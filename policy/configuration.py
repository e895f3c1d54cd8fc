"""Architecture of the navigation policy, and the registry of named variants (``configs/models.yaml``).

A :class:`PolicyConfig` holds everything needed to rebuild a :class:`policy.modeling.NavPolicy`
and to prepare its inputs (:class:`policy.processing.PolicyProcessor`): nothing about training.
Variants differ in cost (input resolution, width, depth) but share the same inputs and outputs, so a
robot can switch between them at run time.

**Beam layout.** ``lidar_beams`` beams evenly spaced over ``[-pi, pi)``, beam 0 straight behind and
counter-clockwise positive (the layout of :mod:`perception.lidar`, the same as the simulator's
360-beam scan). Any scan is resampled onto it, keeping the minimum range per beam. 360 beams (1 deg)
is the default; a cheaper variant may use 180 (2 deg), still finer than a 0.3 m target seen at 8 m.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from configs import ConfigError, from_mapping, load_yaml

__all__ = [
    "DEFAULT_MODELS_CONFIG",
    "PolicyConfig",
    "UnknownVariantError",
    "get_variant",
    "load_variants",
]

DEFAULT_MODELS_CONFIG = "models.yaml"
"""The variant registry, relative to ``configs/``."""


class UnknownVariantError(LookupError):
    """A model variant name that the registry does not declare."""


def _check_channels(name: str, values: tuple[int, ...]) -> None:
    if not values:
        raise ValueError(f"{name} must not be empty")
    bad = [v for v in values if v <= 0]
    if bad:
        raise ValueError(f"{name} must all be > 0, got {list(values)}")


@dataclass(frozen=True)
class PolicyConfig:
    """The architecture of one policy variant (also written, in full, into every model manifest)."""

    name: str
    """Variant name (the key in ``configs/models.yaml``)."""
    image_size: int = 64
    """Side of the square RGB input (px); camera frames are resized to it."""
    vision_channels: tuple[int, ...] = (24, 48, 96)
    """Output channels of each vision stage. The stem and every stage after the first halve the
    resolution, so the last feature map is ``image_size / 2**len(vision_channels)`` on a side."""
    vision_blocks: tuple[int, ...] = (1, 1, 1)
    """Residual blocks per vision stage (same length as ``vision_channels``)."""
    lidar_beams: int = 360
    """Beams of the model's scan layout over ``[-pi, pi)`` (see the module docstring)."""
    lidar_range_max: float = 8.0
    """Farthest range the model sees (m); longer ranges and no-returns read this, normalised to 1."""
    lidar_near_range: float = 0.0
    """With a value > 0 (m), the lidar encoder also gets a near-field channel, the ranges normalised
    to this distance instead of ``lidar_range_max``: the first channel puts everything within 1 m in
    ``[0, 0.125]``, so a few centimetres of clearance are hard to resolve; this one spreads that metre
    over ``[0, 1]``. 0: the scan channel alone (models trained before the option)."""
    lidar_channels: tuple[int, ...] = (16, 32)
    """Output channels of each circular 1-D conv stage over the beams (each halves the beams)."""
    text_dim: int = 384
    """Size of the instruction embedding (all-MiniLM-L6-v2)."""
    fusion_dim: int = 128
    """Width of the fused vision + lidar + text + odometry feature."""
    hidden_size: int = 128
    """GRU memory size."""
    use_odom: bool = False
    """Feed the measured odometry to the policy. Off by default: in teacher demonstrations the
    odometry is almost exactly the previous command (correlation 0.9994), so a cloned policy learns
    to repeat itself and never starts driving from a standstill (the copycat shortcut)."""
    max_linear: float = 0.5
    """Linear speed (m/s) that a normalised action of 1 means; also scales the odometry input.
    The robot's limit lives in ``configs/robot.yaml`` (``max_linear``): a trainer copies it in
    with :meth:`with_limits`, and the saved manifest records the value the model was trained with."""
    max_angular: float = 1.5
    """Turn rate (rad/s) that a normalised action of 1 means; also scales the odometry input."""
    min_linear: float = 0.05
    """Linear commands slower than this (m/s) are sent as zero: the task counts them as stopped
    (``sim.yaml`` ``task.stop_speed``, copied in by :meth:`with_limits`), the teacher drives that
    slowly only in passing (its speed fades out over the last few degrees before a turn on the spot),
    and a regressed speed that blurs into a creep pushed the robot into obstacles while it turned.
    Models trained before the option get this default."""

    def __post_init__(self) -> None:
        if not self.name or not isinstance(self.name, str):
            raise ValueError("name must be a non-empty string")
        if self.image_size < 16:
            raise ValueError(f"image_size must be >= 16 px, got {self.image_size}")
        _check_channels("vision_channels", self.vision_channels)
        _check_channels("lidar_channels", self.lidar_channels)
        if len(self.vision_blocks) != len(self.vision_channels):
            raise ValueError(
                f"vision_blocks has {len(self.vision_blocks)} stages but vision_channels has "
                f"{len(self.vision_channels)}: give one block count per stage"
            )
        if any(b < 0 for b in self.vision_blocks):
            raise ValueError(f"vision_blocks must all be >= 0, got {list(self.vision_blocks)}")
        if self.image_size >> len(self.vision_channels) < 2:
            raise ValueError(
                f"image_size {self.image_size} is too small for {len(self.vision_channels)} stages "
                "(the last feature map must be at least 2x2)"
            )
        if not 0.0 <= self.lidar_near_range < self.lidar_range_max:
            raise ValueError(
                f"lidar_near_range must be >= 0 and below lidar_range_max ({self.lidar_range_max}), "
                f"got {self.lidar_near_range}"
            )
        if self.lidar_beams < 8:
            raise ValueError(f"lidar_beams must be >= 8, got {self.lidar_beams}")
        for name in ("lidar_range_max", "max_linear", "max_angular"):
            if getattr(self, name) <= 0:
                raise ValueError(f"{name} must be > 0, got {getattr(self, name)}")
        if not 0.0 <= self.min_linear < self.max_linear:
            raise ValueError(f"min_linear must be >= 0 and below max_linear ({self.max_linear}), got {self.min_linear}")
        for name in ("text_dim", "fusion_dim", "hidden_size"):
            if getattr(self, name) <= 0:
                raise ValueError(f"{name} must be > 0, got {getattr(self, name)}")

    def with_limits(self, max_linear: float, max_angular: float, min_linear: float | None = None) -> PolicyConfig:
        """A copy whose action/odometry scale is the robot's velocity limits (m/s, rad/s), and with
        ``min_linear`` (m/s) when given."""
        limits: dict[str, Any] = {"max_linear": max_linear, "max_angular": max_angular}
        if min_linear is not None:
            limits["min_linear"] = min_linear
        return dataclasses.replace(self, **limits)


def load_variants(path: str | Path = DEFAULT_MODELS_CONFIG) -> dict[str, PolicyConfig]:
    """Every variant declared under ``variants:`` in ``path`` (default ``configs/models.yaml``), in order.

    The mapping key is the variant's name; an entry may repeat it as ``name`` but not contradict it.

    Raises:
        ConfigError: unreadable file, no ``variants`` mapping, an unknown key, a wrong type or an
            invalid value (the message names the file and the dotted key).
    """
    data = load_yaml(path)
    source = str(path)
    unknown = sorted(set(data) - {"variants"})
    if unknown:
        raise ConfigError(f"{source}: unknown key '{unknown[0]}' (known keys of '<root>': variants)")
    entries = data.get("variants")
    if not isinstance(entries, dict) or not entries:
        raise ConfigError(f"{source}: 'variants' must be a non-empty mapping of name -> architecture")
    variants: dict[str, PolicyConfig] = {}
    for name, entry in entries.items():
        if not isinstance(entry, dict):
            raise ConfigError(f"{source}: 'variants.{name}' must be a mapping, got {type(entry).__name__}")
        fields: dict[str, Any] = dict(entry)
        if fields.setdefault("name", name) != name:
            raise ConfigError(f"{source}: 'variants.{name}.name' is {fields['name']!r}, expected {name!r}")
        variants[str(name)] = from_mapping(PolicyConfig, fields, source=source, prefix=f"variants.{name}")
    return variants


def get_variant(name: str, path: str | Path = DEFAULT_MODELS_CONFIG) -> PolicyConfig:
    """The variant called ``name``.

    Raises:
        UnknownVariantError: ``name`` is not declared; the message lists the known variants.
    """
    variants = load_variants(path)
    try:
        return variants[name]
    except KeyError:
        raise UnknownVariantError(
            f"unknown model variant {name!r}; known variants: {', '.join(variants)} (declared in {path})"
        ) from None
