"""2D lidar pre-processing: resample any ``sensor_msgs/LaserScan`` onto the model's beam layout.

**Beam layout** (shared with :mod:`perception.pointcloud`): ``beams`` beams evenly spaced over
``[-pi, pi)``; beam ``i`` points at ``-pi + i * 2 * pi / beams`` (beam 0 straight behind). Angles
follow REP 103: 0 is straight ahead (+x), counter-clockwise (towards +y) is positive. Input ray ``j``
covers the sector ``angle_min + j * angle_increment +- angle_increment / 2``; output beam ``i``
covers ``theta_i +- pi / beams`` and collects every ray whose sector overlaps its own (sectors that
merely touch do not overlap, so a scan already in the model's layout maps one-to-one).

**Range semantics** of the input: REP 117 for the special values, the ``sensor_msgs/LaserScan``
definition for the rest, and the robot's own conventions (:class:`ScanConventions`, stated in the
robot profile) for the finite readings a driver puts outside ``[range_min, range_max]``:

* ``NaN``: invalid measurement; ignored.
* ``+inf``: no return; free out to ``out_range_max``.
* ``-inf``: an object too close to measure; ``0.0``.
* Finite values in ``[range_min, range_max]``: the range, clipped to ``[0, out_range_max]``.
* Finite values below ``range_min`` or above ``range_max``: discarded (invalid, as the message
  definition says), unless the conventions read them otherwise: ``below_range_min: too_close`` (a
  driver that reports a too-close object just under ``range_min``), ``above_range_max: no_return``
  (one that reports "nothing" as ``range_max`` or more), ``zero: no_return`` (one that reports
  "nothing" as ``0.0``, the TurtleBot3 LDS among them). A reading of exactly 0.0 follows ``zero``
  whatever ``range_min`` is.

**Scan direction.** A negative ``angle_increment`` (a clockwise scan, what an upside-down lidar
publishes) is legal: ray ``j`` is still at ``angle_min + j * angle_increment``, and the scan reads
as its counter-clockwise twin (:func:`counter_clockwise`).

When several input rays fall in one output beam the **minimum** is kept (conservative for
obstacles); a scan coarser than the model's layout spreads each ray over the beams it spans.
Output beams that no ray's sector reaches (outside the scan's field of view), or reached only by
``NaN`` rays, are **invalid**: :class:`Scan` marks them in ``valid`` and fills their range with
``fill_value`` (default ``out_range_max``, i.e. "assume free").
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache
from typing import Literal

import numpy as np
import numpy.typing as npt

from perception.errors import ScanError

__all__ = [
    "MESSAGE_DEFINITION",
    "Scan",
    "ScanConventions",
    "COVERED_SHARE",
    "counter_clockwise",
    "covered_scan",
    "metadata_mismatch",
    "beam_angles",
    "beam_index",
    "min_per_beam",
    "prepare_scan",
    "rep117_to_ranges",
    "resample_scan",
    "resample_scan_with_mask",
    "to_robot_centre",
    "unusable_scan",
]

FloatArray = npt.NDArray[np.float32]
_TWO_PI = 2.0 * math.pi
_EPS_BEAM = 1e-6
"""Tolerance, in beam spacings, below which two sectors count as touching rather than overlapping."""


@dataclass(frozen=True)
class ScanConventions:
    """What a driver's finite readings outside ``[range_min, range_max]`` mean (robot profile ``lidar.readings``).

    The defaults are the ``sensor_msgs/LaserScan`` definition: such readings are discarded.
    """

    zero: Literal["invalid", "no_return"] = "invalid"
    """A reading of exactly 0.0: discarded (invalid), or "nothing out to range_max" (no_return)."""
    below_range_min: Literal["invalid", "too_close"] = "invalid"
    """A finite reading below ``range_min``: discarded, or an object too close to measure (read as 0 m)."""
    above_range_max: Literal["invalid", "no_return"] = "invalid"
    """A finite reading above ``range_max``: discarded, or no return (free)."""

    def __post_init__(self) -> None:
        for name, allowed in (
            ("zero", ("invalid", "no_return")),
            ("below_range_min", ("invalid", "too_close")),
            ("above_range_max", ("invalid", "no_return")),
        ):
            if getattr(self, name) not in allowed:
                raise ScanError(f"scan convention {name} must be one of {list(allowed)}, got {getattr(self, name)!r}")


MESSAGE_DEFINITION = ScanConventions()
"""Readings outside ``[range_min, range_max]`` are discarded, as ``sensor_msgs/LaserScan`` says."""


@dataclass(frozen=True)
class Scan:
    """A scan in the model's beam layout."""

    ranges: FloatArray
    """``(beams,)`` float32 ranges in ``[0, out_range_max]``; invalid beams hold the fill value."""
    valid: npt.NDArray[np.bool_]
    """``(beams,)`` bool: ``True`` where the range comes from a measurement (including no-return)."""

    def __post_init__(self) -> None:
        if self.ranges.shape != self.valid.shape or self.ranges.ndim != 1:
            raise ScanError(f"Scan ranges {self.ranges.shape} and valid {self.valid.shape} must be equal 1-D shapes")


def _check_beams(beams: int) -> int:
    if isinstance(beams, bool) or not isinstance(beams, int | np.integer) or beams <= 0:
        raise ScanError(f"beams must be a positive integer, got {beams!r}")
    return int(beams)


def _check_positive(name: str, value: float) -> float:
    if not math.isfinite(value) or value <= 0:
        raise ScanError(f"{name} must be finite and > 0, got {value}")
    return float(value)


def beam_angles(beams: int) -> npt.NDArray[np.float64]:
    """Angles (rad) of the model's ``beams`` beams: ``-pi + i * 2 * pi / beams``."""
    beams = _check_beams(beams)
    return -math.pi + np.arange(beams, dtype=np.float64) * (_TWO_PI / beams)


def beam_index(angles: npt.ArrayLike, beams: int) -> npt.NDArray[np.int64]:
    """Index of the model beam nearest to each angle (rad, any value; wrapped to ``[-pi, pi)``)."""
    beams = _check_beams(beams)
    a = np.asarray(angles, dtype=np.float64)
    position = np.mod(a + math.pi, _TWO_PI) / (_TWO_PI / beams)
    return np.mod(np.rint(position).astype(np.int64), beams)


def min_per_beam(
    index: npt.NDArray[np.int64], values: npt.ArrayLike, beams: int
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.bool_]]:
    """Minimum of ``values`` per beam index, and whether each beam received any value.

    Beams without a value hold ``+inf`` in the first array and ``False`` in the second.
    """
    out = np.full(beams, np.inf, dtype=np.float64)
    np.minimum.at(out, index, np.asarray(values, dtype=np.float64))
    hit = np.zeros(beams, dtype=bool)
    hit[index] = True
    return out, hit


def rep117_to_ranges(
    ranges: npt.NDArray[np.float64],
    range_min: float,
    range_max: float,
    out_range_max: float,
    conventions: ScanConventions = MESSAGE_DEFINITION,
) -> npt.NDArray[np.float64]:
    """Read raw ranges (any shape) as the module docstring says: NaN for an invalid or discarded reading,
    else a range in [0, out_range_max]: 0 for too close (``-inf``), ``out_range_max`` for no return
    (``+inf``; ``math.inf`` keeps them infinite); finite readings outside ``[range_min, range_max]``
    as ``conventions`` say (default: discarded, as the message definition says)."""
    ranges = np.asarray(ranges, dtype=np.float64)
    finite = np.isfinite(ranges)
    zero = finite & (ranges == 0.0)
    below = finite & ~zero & (ranges < range_min)
    above = finite & (ranges > range_max)
    no_return = np.isposinf(ranges)
    too_close = np.isneginf(ranges)
    invalid = np.zeros(ranges.shape, dtype=bool)
    for mask, reading in (
        (zero, conventions.zero),
        (below, conventions.below_range_min),
        (above, conventions.above_range_max),
    ):
        no_return |= mask & (reading == "no_return")
        too_close |= mask & (reading == "too_close")
        invalid |= mask & (reading == "invalid")
    out = np.where(no_return, out_range_max, ranges)
    out = np.where(too_close, 0.0, out)
    out = np.where(invalid, np.nan, out)
    return np.clip(out, 0.0, out_range_max)  # NaN passes through np.clip


def unusable_scan(ranges: npt.ArrayLike, angle_increment: float) -> str | None:
    """Why a received scan cannot be read at all (no ray, or no angle between its rays), or None. The agent node
    and the bag inputs drop such a scan with this reason; anything else is read ray by ray."""
    if np.asarray(ranges).size == 0:
        return "empty scan (no ranges)"
    if not math.isfinite(angle_increment) or angle_increment == 0:
        return f"angle_increment is {angle_increment}: the rays have no angle between them"
    return None


COVERED_SHARE = 0.9
"""Share of beams reading "too close" (``-inf``) above which a scan is taken for a covered or failed lidar."""


def metadata_mismatch(ranges: npt.ArrayLike, angle_min: float, angle_max: float, angle_increment: float) -> str | None:
    """Why a scan's rays do not span the angles it declares, or None: 360 ranges whose ``angle_increment``
    covers half a turn. Real drivers do this on every scan (the ROS 1 LDS recording in ``shared/bags``: 64
    ranges at 2 pi / 64 with ``angle_max`` 270 degrees past ``angle_min``), so it is reported, not refused;
    the rays are read at ``angle_min + k * angle_increment``, as the message definition places them."""
    r = np.asarray(ranges, dtype=np.float64).reshape(-1)
    declared = angle_max - angle_min
    spanned = (r.size - 1) * angle_increment
    if math.isfinite(declared) and abs(declared - spanned) > 1.5 * abs(angle_increment) + 1e-6:
        return (
            f"{r.size} ranges at angle_increment {angle_increment:.6g} span {spanned:.4g} rad, but angle_max - "
            f"angle_min is {declared:.4g} rad: the rays are read by angle_increment"
        )
    return None


def covered_scan(ranges: npt.ArrayLike) -> str | None:
    """Why a scan looks like a covered or failed lidar (at least :data:`COVERED_SHARE` of its beams ``-inf``,
    "too close to measure", or every beam NaN, "invalid"), or None."""
    r = np.asarray(ranges, dtype=np.float64).reshape(-1)
    if r.size and np.isnan(r).all():
        return f"the lidar reads NaN (invalid) on all {r.size} beams: failed"
    close = int(np.isneginf(r).sum())
    if r.size and close >= COVERED_SHARE * r.size:
        return f"the lidar reads 'too close' (-inf) on {close} of {r.size} beams: covered or failed"
    return None


def counter_clockwise(
    ranges: npt.NDArray[np.float64], angle_min: float, angle_increment: float
) -> tuple[npt.NDArray[np.float64], float, float]:
    """A scan's ``(ranges, angle_min, angle_increment)`` with a positive increment: a clockwise scan
    (negative increment) reversed, so ray ``j`` keeps its angle. The last axis holds the rays."""
    if angle_increment >= 0:
        return ranges, angle_min, angle_increment
    last = angle_min + (ranges.shape[-1] - 1) * angle_increment
    return ranges[..., ::-1], last, -angle_increment


def _validate_scan_args(
    ranges: npt.ArrayLike,
    angle_min: float,
    angle_increment: float,
    range_min: float,
    range_max: float,
    count: int | None,
) -> npt.NDArray[np.float64]:
    r = np.asarray(ranges, dtype=np.float64)
    if r.ndim != 1:
        raise ScanError(f"ranges must be a 1-D array, got shape {r.shape}")
    if r.size == 0:
        raise ScanError("ranges is empty: a scan needs at least one beam")
    if count is not None and r.size != count:
        raise ScanError(f"scan declares {count} beams but ranges has {r.size} values")
    if not math.isfinite(angle_min):
        raise ScanError(f"angle_min must be finite, got {angle_min}")
    if not math.isfinite(angle_increment) or angle_increment == 0:
        raise ScanError(
            f"angle_increment must be finite and non-zero (> 0 counter-clockwise, < 0 clockwise), got {angle_increment}"
        )
    if not math.isfinite(range_min) or range_min < 0:
        raise ScanError(f"range_min must be finite and >= 0, got {range_min}")
    if not math.isfinite(range_max) or range_max <= range_min:
        raise ScanError(f"range_max must be finite and > range_min ({range_min}), got {range_max}")
    if np.isnan(r).all():
        raise ScanError(f"all {r.size} ranges are NaN (invalid): nothing usable in this scan")
    return r


def to_robot_centre(
    values: npt.NDArray[np.float64],
    angles: npt.NDArray[np.float64],
    origin: tuple[float, float],
    out_range_max: float = math.inf,
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    """Rays of a lidar that sits at ``origin`` (x, y in the robot's frame, m), their ``angles`` already turned
    into the robot's frame, as ranges and bearings from the robot's centre.

    A return (a range above 0 and below ``out_range_max``) moves to the point it hit; a ray with no return
    keeps its direction (what it did not see is far away), and a too-close one (0) stays 0: the
    object is at the lidar, as close as the robot can tell.
    """
    x0, y0 = float(origin[0]), float(origin[1])
    if x0 == 0.0 and y0 == 0.0:
        return values, angles
    hit = np.isfinite(values) & (values > 0.0) & (values < out_range_max)
    px, py = x0 + values * np.cos(angles), y0 + values * np.sin(angles)
    return np.where(hit, np.hypot(px, py), values), np.where(hit, np.arctan2(py, px), angles)


def _ray_beam_pairs(
    ray_angles: npt.NDArray[np.float64], angle_increment: float, beams: int
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]:
    """(ray, beam) index pairs for every model beam sector that a ray's sector overlaps.

    A ray at angle ``a`` covers ``(a - inc/2, a + inc/2)``; model beam ``i`` covers
    ``[theta_i - d/2, theta_i + d/2)`` with ``d = 2 pi / beams``. Sectors that only touch do not
    overlap, so an input in the model's own layout maps one-to-one.
    """
    spacing = _TWO_PI / beams
    position = np.mod(ray_angles + math.pi, _TWO_PI) / spacing  # beam i sits at position i
    half = angle_increment / (2.0 * spacing)
    first = np.floor(position - half - 0.5 + _EPS_BEAM).astype(np.int64) + 1
    last = np.ceil(position + half + 0.5 - _EPS_BEAM).astype(np.int64) - 1
    count = np.clip(last - first + 1, 1, beams)
    widest = int(count.max())
    rays = np.repeat(np.arange(ray_angles.size)[:, None], widest, axis=1)
    cols = first[:, None] + np.arange(widest)[None, :]
    keep = np.arange(widest)[None, :] < count[:, None]
    return rays[keep], np.mod(cols[keep], beams)


@lru_cache(maxsize=8)
def _sector_layout(
    angle_min: float, angle_increment: float, rays: int, beams: int
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64], npt.NDArray[np.int64]]:
    """For a scan centred on the robot, the :func:`_ray_beam_pairs` of all its rays grouped by beam: the rays in
    beam order, where each beam's group starts, and the beams that have one. A driver's geometry is the same
    on every scan, so this is computed once per geometry."""
    angles = angle_min + np.arange(rays, dtype=np.float64) * angle_increment
    ray, beam = _ray_beam_pairs(angles, angle_increment, beams)
    order = np.argsort(beam, kind="stable")
    present, starts = np.unique(beam[order], return_index=True)
    layout = (ray[order], starts.astype(np.int64), present.astype(np.int64))
    for array in layout:
        array.setflags(write=False)
    return layout


def _beam_minima(
    values: npt.NDArray[np.float64],
    measured: npt.NDArray[np.bool_],
    angle_min: float,
    angle_increment: float,
    beams: int,
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.bool_]]:
    """:func:`min_per_beam` of the ``measured`` rays of a scan centred on the robot, by its cached sector layout."""
    rays, starts, present = _sector_layout(angle_min, angle_increment, values.size, beams)
    mins = np.minimum.reduceat(np.where(measured, values, np.inf)[rays], starts)
    counts = np.add.reduceat(measured[rays].astype(np.int64), starts)
    out = np.full(beams, np.inf, dtype=np.float64)
    hit = np.zeros(beams, dtype=bool)
    out[present] = mins
    hit[present] = counts > 0
    return out, hit


def resample_scan_with_mask(
    ranges: npt.ArrayLike,
    angle_min: float,
    angle_increment: float,
    range_min: float,
    range_max: float,
    beams: int,
    out_range_max: float,
    *,
    count: int | None = None,
    fill_value: float | None = None,
    conventions: ScanConventions = MESSAGE_DEFINITION,
    origin: tuple[float, float] = (0.0, 0.0),
) -> Scan:
    """Resample a laser scan onto the model's beam layout, with a validity mask.

    Args:
        ranges: The scan's ranges (``msg.ranges``), any length, REP 117 semantics.
        angle_min: Angle of the first ray (rad, REP 103).
        angle_increment: Angle between consecutive rays (rad); negative for a clockwise scan.
        range_min: The sensor's minimum range (m); finite values below it are read by ``conventions``.
        range_max: The sensor's maximum range (m); finite values above it are read by ``conventions``.
        beams: Number of model beams over ``[-pi, pi)``.
        out_range_max: Largest range the model sees (m); no-return beams read this.
        count: If given, the number of rays the message declares; a different ``len(ranges)`` is
            an error (a truncated or mis-parsed scan).
        fill_value: Range written into invalid beams; default ``out_range_max``.
        conventions: How the driver's readings outside ``[range_min, range_max]`` read (robot profile
            ``lidar.readings``); default the message definition (discarded).
        origin: Where the lidar sits in the robot's frame (x, y, m); its returns are re-measured from the
            robot's centre (:func:`to_robot_centre`). The angles must already be in the robot's frame.

    Raises:
        ScanError: empty or non-1-D ranges, a length disagreeing with ``count``, a non-finite or
            zero ``angle_increment``, bad range limits, or all ranges NaN.
    """
    beams = _check_beams(beams)
    out_range_max = _check_positive("out_range_max", out_range_max)
    fill = out_range_max if fill_value is None else float(fill_value)
    if not 0.0 <= fill <= out_range_max:
        raise ScanError(f"fill_value must be within [0, out_range_max={out_range_max}], got {fill}")
    raw = _validate_scan_args(ranges, angle_min, angle_increment, range_min, range_max, count)
    raw, angle_min, angle_increment = counter_clockwise(raw, angle_min, angle_increment)
    values = rep117_to_ranges(raw, range_min, range_max, out_range_max, conventions)

    measured = ~np.isnan(values)
    if float(origin[0]) == 0.0 and float(origin[1]) == 0.0:  # the rays' angles are the geometry's: cached
        out, hit = _beam_minima(values, measured, float(angle_min), float(angle_increment), beams)
    else:  # returns re-measured from the centre change their bearings: paired per scan
        ray_angles = angle_min + np.arange(values.size, dtype=np.float64) * angle_increment
        values, ray_angles = to_robot_centre(values[measured], ray_angles[measured], origin, out_range_max)
        rays, beam = _ray_beam_pairs(ray_angles, angle_increment, beams)
        out, hit = min_per_beam(beam, values[rays], beams)
    out = np.where(hit, out, fill)
    return Scan(ranges=out.astype(np.float32), valid=hit)


def resample_scan(
    ranges: npt.ArrayLike,
    angle_min: float,
    angle_increment: float,
    range_min: float,
    range_max: float,
    beams: int,
    out_range_max: float,
    *,
    count: int | None = None,
    fill_value: float | None = None,
    conventions: ScanConventions = MESSAGE_DEFINITION,
    origin: tuple[float, float] = (0.0, 0.0),
) -> FloatArray:
    """:func:`resample_scan_with_mask` without the mask: ``(beams,)`` float32 ranges."""
    return resample_scan_with_mask(
        ranges,
        angle_min,
        angle_increment,
        range_min,
        range_max,
        beams,
        out_range_max,
        count=count,
        fill_value=fill_value,
        conventions=conventions,
        origin=origin,
    ).ranges


def prepare_scan(ranges: npt.ArrayLike, range_max: float) -> FloatArray:
    """Normalise ranges in the model's layout to float32 ``[0, 1]`` (what the scan encoder eats).

    ``x = clip(range / range_max, 0, 1)``; ``+inf`` reads 1 (free), ``-inf`` reads 0, and a ``NaN``
    reads 1 like an invalid beam filled with ``out_range_max``. Works on ``(beams,)`` or batched
    ``(..., beams)`` arrays.

    Raises:
        ScanError: empty input, a bad ``range_max``, or a scan (a row of a batch) that is all NaN.
    """
    range_max = _check_positive("range_max", range_max)
    r = np.asarray(ranges, dtype=np.float32)
    if r.ndim == 0 or r.size == 0:
        raise ScanError(f"ranges must be a non-empty array of beams, got shape {r.shape}")
    all_nan = np.isnan(r).all(axis=-1)
    if np.any(all_nan):
        raise ScanError("scan is all NaN (invalid): nothing usable to normalise")
    scaled = np.where(np.isnan(r), np.float32(1.0), r / np.float32(range_max))
    return np.clip(scaled, 0.0, 1.0).astype(np.float32)


def wrap_angle(angles: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    """Angles in [-pi, pi)."""
    return np.mod(angles + math.pi, 2.0 * math.pi) - math.pi


def nearest_in_sector(
    distance: npt.NDArray[np.float64], angles: npt.NDArray[np.float64], centre: float, half_angle: float
) -> npt.NDArray[np.float64]:
    """The nearest of ``distance`` (``(..., beams)``, REP 117 already applied, NaN invalid) over the
    beams at ``angles`` (rad) within ``half_angle`` of ``centre``; NaN where no beam there is valid."""
    in_sector = distance[..., np.abs(wrap_angle(angles - centre)) <= half_angle]
    valid = ~np.isnan(in_sector)
    nearest = np.min(np.where(valid, in_sector, math.inf), axis=-1, initial=math.inf)
    return np.where(valid.any(axis=-1), nearest, math.nan)
