"""The one pre-processing path from raw observations to model tensors, for training and the robot.

:class:`PolicyProcessor` takes one raw observation (what ``LangNav-v0`` returns, or what a ROS node
has converted from its messages) and produces the float32 tensors :class:`policy.modeling.NavPolicy`
eats, through :mod:`perception`:

* image: ``H x W x 3`` uint8 RGB -> :func:`perception.camera.prepare_image` at ``image_size`` square.
* scan: REP 117 ranges with their :class:`ScanGeometry` -> :func:`perception.lidar.resample_scan`
  onto the model's ``lidar_beams`` layout -> :func:`perception.lidar.prepare_scan` (``[0, 1]``).
* instruction: a string is grounded to the object the policy knows
  (:class:`perception.grounding.InstructionGrounder`: "head over to the scarlet block" -> "go to the
  red cube") and that canonical phrase is embedded by a :class:`perception.language.SentenceEncoder`
  (cached); or an already computed ``(text_dim,)`` embedding.
* odom: measured (linear m/s, angular rad/s) divided by (``max_linear``, ``max_angular``) and
  clipped to ``[-ODOM_CLIP, ODOM_CLIP]``.

:meth:`PolicyProcessor.batch` (training arrays) calls the same per-observation function on every row,
so the two paths cannot drift. Importing this module loads no model (the sentence encoder is created
on the first string instruction, unless one is passed in).
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import numpy as np
import numpy.typing as npt
import torch

from configs.robot import RobotProfile, robot_profile
from perception.camera import prepare_image
from perception.errors import InstructionError
from perception.grounding import InstructionGrounder
from perception.language import TextEncoder
from perception.lidar import MESSAGE_DEFINITION, ScanConventions, prepare_scan, resample_scan
from policy.configuration import PolicyConfig

__all__ = ["ODOM_CLIP", "PolicyInputs", "PolicyProcessor", "ScanGeometry", "TextEncoder", "default_grounder"]

ODOM_CLIP = 2.0
"""Normalised odometry is clipped to +-this (a reading far beyond the limits is a sensor fault)."""

FloatArray = npt.NDArray[np.float32]


@dataclass(frozen=True)
class ScanGeometry:
    """The ``sensor_msgs/LaserScan`` fields needed to read its ranges (REP 103 angles, REP 117 ranges)."""

    angle_min: float
    """Angle of the first ray (rad)."""
    angle_increment: float
    """Angle between consecutive rays (rad); negative for a clockwise scan."""
    range_min: float
    """Sensor minimum range (m)."""
    range_max: float
    """Sensor maximum range (m)."""
    conventions: ScanConventions = MESSAGE_DEFINITION
    """How the driver's readings outside ``[range_min, range_max]`` read (robot profile ``lidar.readings``)."""
    origin: tuple[float, float] = (0.0, 0.0)
    """Where the lidar sits in the robot's frame (x, y, m): its returns are re-measured from the robot's centre."""

    @classmethod
    def full_circle(cls, beams: int, range_min: float, range_max: float) -> ScanGeometry:
        """``beams`` rays evenly over ``[-pi, pi)``, ray 0 straight behind (the simulator's layout)."""
        return cls(-math.pi, 2.0 * math.pi / beams, range_min, range_max)

    @classmethod
    def of_cloud(cls, config: Any, mount: Any = None) -> ScanGeometry:
        """The scan :func:`perception.pointcloud.cloud_to_scan` makes with ``config`` (its beams around the cloud's
        own frame), in the robot's frame: turned by the 3D lidar's ``mount`` yaw and re-measured from its x, y
        (default the robot profile's ``lidar3d.mount``)."""
        mount = robot_profile().lidar3d.mount if mount is None else mount
        geometry = cls.full_circle(config.beams, config.range_min, config.range_max)
        yaw = math.radians(mount.yaw_deg)
        return dataclasses.replace(geometry, angle_min=geometry.angle_min + yaw, origin=(mount.x, mount.y))

    @classmethod
    def from_lidar_config(cls, lidar: Any) -> ScanGeometry:
        """From a :class:`sim.config.Lidar2DConfig`-like object (``beams``, ``angle_*_deg``, ``range_*``), such as
        the robot profile's :class:`configs.robot.LidarLayout` (whose mount's yaw turns the rays into the
        robot's frame)."""
        span = math.radians(lidar.angle_max_deg - lidar.angle_min_deg)
        conventions = getattr(lidar, "readings", MESSAGE_DEFINITION)
        mount = getattr(lidar, "mount", None)
        yaw = math.radians(mount.yaw_deg) if mount is not None else 0.0
        origin = (mount.x, mount.y) if mount is not None else (0.0, 0.0)
        angle_min = math.radians(lidar.angle_min_deg) + yaw
        return cls(angle_min, span / lidar.beams, lidar.range_min, lidar.range_max, conventions, origin)

    @classmethod
    def of_message(
        cls, angle_min: float, angle_increment: float, range_min: float, range_max: float, mount: Any = None
    ) -> ScanGeometry:
        """A received scan's own fields (angles in the lidar's frame), in the robot's frame and read with the
        robot's conventions (``lidar.readings``). ``mount`` (x, y, yaw_deg and, optionally, ``upside_down``:
        a lidar rolled over, whose counter-clockwise is the robot's clockwise) is where the lidar sits:
        default the robot profile's ``lidar.mount``; a bag's ``/tf_static`` gives its own."""
        lidar = robot_profile().lidar
        mount = lidar.mount if mount is None else mount
        if getattr(mount, "upside_down", False):
            angle_min, angle_increment = -angle_min, -angle_increment
        yaw = math.radians(mount.yaw_deg)
        return cls(angle_min + yaw, angle_increment, range_min, range_max, lidar.readings, (mount.x, mount.y))

    @classmethod
    def from_profile(cls, profile: RobotProfile | None = None) -> ScanGeometry:
        """The robot's 2D lidar layout (the robot profile's ``lidar``; default the process's profile,
        :func:`configs.robot.robot_profile`): what the robot's scans say, and the simulator's."""
        return cls.from_lidar_config((profile or robot_profile()).lidar)


@dataclass(frozen=True)
class PolicyInputs:
    """Model-ready float32 tensors with a leading batch dimension (the arguments of ``NavPolicy``)."""

    image: torch.Tensor
    """``(B, 3, image_size, image_size)``"""
    scan: torch.Tensor
    """``(B, lidar_beams)`` in ``[0, 1]``"""
    text: torch.Tensor
    """``(B, text_dim)``"""
    odom: torch.Tensor
    """``(B, 2)`` normalised"""

    def __len__(self) -> int:
        return int(self.image.shape[0])

    def to(self, device: torch.device | str) -> PolicyInputs:
        return PolicyInputs(self.image.to(device), self.scan.to(device), self.text.to(device), self.odom.to(device))

    def as_tuple(self) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        """``(image, scan, text, odom)``, the order of ``NavPolicy.forward``."""
        return self.image, self.scan, self.text, self.odom


class PolicyProcessor:
    """Raw observation -> model inputs for one :class:`PolicyConfig` (see the module docstring).

    Args:
        config: The model's architecture (image size, beam layout, limits, text size).
        encoder: Embeds string instructions; default the process-wide
            :func:`perception.language.default_encoder`, created on first use.
        grounder: Grounds string instructions before they are embedded; default
            :func:`default_grounder` over ``encoder``, created on first use.
    """

    def __init__(
        self, config: PolicyConfig, encoder: TextEncoder | None = None, grounder: InstructionGrounder | None = None
    ) -> None:
        self.config = config
        self._encoder = encoder
        self._grounder = grounder
        self._odom_scale = np.array([config.max_linear, config.max_angular], dtype=np.float32)

    # -- one field at a time ---------------------------------------------------------------------

    def image(self, rgb: npt.NDArray[np.uint8]) -> FloatArray:
        """``(3, S, S)`` float32, ImageNet-normalised."""
        size = self.config.image_size
        return prepare_image(rgb, (size, size))

    def scan(self, ranges: npt.ArrayLike, geometry: ScanGeometry) -> FloatArray:
        """``(lidar_beams,)`` float32 in ``[0, 1]`` on the model's beam layout."""
        c = self.config
        resampled = resample_scan(
            ranges,
            geometry.angle_min,
            geometry.angle_increment,
            geometry.range_min,
            geometry.range_max,
            c.lidar_beams,
            c.lidar_range_max,
            conventions=geometry.conventions,
            origin=geometry.origin,
        )
        return prepare_scan(resampled, c.lidar_range_max)

    def text(self, instruction: str | npt.ArrayLike) -> FloatArray:
        """``(text_dim,)`` float32: a string is grounded and its canonical phrase embedded (both cached);
        an array is checked and passed on.

        Raises:
            InstructionError: the string is empty or too long, or names no object the policy knows.
        """
        if isinstance(instruction, str):
            embedding = self.encoder.encode(self.grounder.canonical(instruction))
        else:
            embedding = np.asarray(instruction, dtype=np.float32)
        if embedding.shape != (self.config.text_dim,):
            raise InstructionError(
                f"instruction embedding must have shape ({self.config.text_dim},), got {embedding.shape}"
            )
        if not np.all(np.isfinite(embedding)):
            raise InstructionError("instruction embedding contains NaN or inf")
        return embedding.astype(np.float32, copy=False)

    def odom(self, odom: npt.ArrayLike) -> FloatArray:
        """``(2,)`` float32: (linear, angular) / (max_linear, max_angular), clipped to +-ODOM_CLIP."""
        values = np.asarray(odom, dtype=np.float32)
        if values.shape != (2,):
            raise ValueError(f"odom must be (linear, angular) of shape (2,), got {values.shape}")
        values = np.nan_to_num(values, nan=0.0)
        return np.clip(values / self._odom_scale, -ODOM_CLIP, ODOM_CLIP).astype(np.float32)

    def normalise_action(self, action: npt.ArrayLike) -> FloatArray:
        """(linear m/s, angular rad/s) ``(..., 2)`` -> the model's ``[-1, 1]`` action (training labels)."""
        values = np.asarray(action, dtype=np.float32)
        return np.clip(values / self._odom_scale, -1.0, 1.0).astype(np.float32)

    @property
    def encoder(self) -> TextEncoder:
        if self._encoder is None:
            from perception.language import default_encoder  # loads MiniLM: only when a string arrives

            self._encoder = default_encoder()
        return self._encoder

    @property
    def grounder(self) -> InstructionGrounder:
        if self._grounder is None:
            self._grounder = default_grounder(self.encoder)  # type: ignore[arg-type]  # encoders hash by identity
        return self._grounder

    # -- whole observations ------------------------------------------------------------------------

    def prepare(self, observation: Mapping[str, Any], geometry: ScanGeometry) -> dict[str, FloatArray]:
        """THE pre-processing of one raw observation, as float32 numpy arrays without a batch dimension.

        Args:
            observation: ``image`` (H x W x 3 uint8 RGB), ``scan`` (REP 117 ranges), ``instruction``
                (str, or a ``(text_dim,)`` embedding) and ``odom`` ((linear, angular)) -- the keys
                of ``LangNav-v0`` observations.
            geometry: How to read ``scan`` (its angles and sensor range limits).
        """
        missing = {"image", "scan", "instruction", "odom"} - set(observation)
        if missing:
            raise ValueError(f"observation lacks {sorted(missing)}; it needs image, scan, instruction and odom")
        return {
            "image": self.image(observation["image"]),
            "scan": self.scan(observation["scan"], geometry),
            "text": self.text(observation["instruction"]),
            "odom": self.odom(observation["odom"]),
        }

    def __call__(
        self, observation: Mapping[str, Any], geometry: ScanGeometry, device: torch.device | str = "cpu"
    ) -> PolicyInputs:
        """One observation -> :class:`PolicyInputs` with batch size 1 on ``device`` (a control step)."""
        arrays = self.prepare(observation, geometry)
        return _to_inputs({k: v[np.newaxis] for k, v in arrays.items()}, device)

    def batch(
        self,
        images: npt.NDArray[np.uint8],
        scans: npt.ArrayLike,
        geometry: ScanGeometry,
        instructions: str | npt.ArrayLike | Sequence[str],
        odom: npt.ArrayLike,
        device: torch.device | str = "cpu",
    ) -> PolicyInputs:
        """Training arrays (``N`` rows of raw observations) -> :class:`PolicyInputs` of batch ``N``.

        Every row goes through :meth:`prepare`. ``instructions`` is one string or ``(text_dim,)``
        embedding for all rows (an episode), or one per row (a list of strings or ``(N, text_dim)``).
        """
        images = np.asarray(images)
        scans = np.asarray(scans)
        odom = np.asarray(odom)
        n = len(images)
        if len(scans) != n or len(odom) != n:
            raise ValueError(f"batch rows disagree: {n} images, {len(scans)} scans, {len(odom)} odom")
        per_row = self._per_row_instructions(instructions, n)
        rows = [
            self.prepare({"image": images[i], "scan": scans[i], "instruction": per_row[i], "odom": odom[i]}, geometry)
            for i in range(n)
        ]
        stacked = {k: np.stack([r[k] for r in rows]) for k in ("image", "scan", "text", "odom")}
        return _to_inputs(stacked, device)

    def _per_row_instructions(
        self, instructions: str | npt.ArrayLike | Sequence[str], n: int
    ) -> list[str | FloatArray]:
        if isinstance(instructions, str):
            return [instructions] * n
        if isinstance(instructions, Sequence) and instructions and isinstance(instructions[0], str):
            if len(instructions) != n:
                raise ValueError(f"{len(instructions)} instructions for {n} rows")
            return list(instructions)
        emb = np.asarray(instructions, dtype=np.float32)
        if emb.ndim == 1:
            return [emb] * n
        if emb.ndim != 2 or emb.shape[0] != n:
            raise ValueError(f"instruction embeddings must be (text_dim,) or ({n}, text_dim), got {emb.shape}")
        return list(emb)


@lru_cache(maxsize=8)
def default_grounder(encoder: TextEncoder) -> InstructionGrounder:
    """Grounding to the simulator's target vocabulary (``sim.yaml`` ``targets``: what the policy was
    trained to find), configured by ``configs/language.yaml``. One per encoder: the processors of every
    preloaded variant share it (and its cache)."""
    from configs.loader import load
    from perception.grounding import GroundingConfig
    from sim.config import load_sim_config

    targets = load_sim_config().targets
    config = load(GroundingConfig, "language.yaml", section="grounding")
    return InstructionGrounder(targets.colours, targets.shapes, encoder, config)


def _to_inputs(arrays: dict[str, FloatArray], device: torch.device | str) -> PolicyInputs:
    return PolicyInputs(*(torch.from_numpy(arrays[k]).to(device) for k in ("image", "scan", "text", "odom")))
