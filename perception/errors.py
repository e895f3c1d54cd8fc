"""The exceptions ``perception`` raises for input it cannot use.

Every error is a :class:`PerceptionError`, itself a :class:`ValueError` (bad input, not a bug), so a
ROS node can catch one class at the message boundary and log the message, which always names what
was wrong and what was expected.
"""

from __future__ import annotations


class PerceptionError(ValueError):
    """Input to a perception function that cannot be used; the message says why."""


class ImageError(PerceptionError):
    """A raw or compressed image that cannot be decoded or prepared."""


class ScanError(PerceptionError):
    """A 2D laser scan that cannot be resampled or normalised."""


class PointCloudError(PerceptionError):
    """A point cloud (array or PointCloud2-style buffer) that cannot be read or projected."""


class InstructionError(PerceptionError):
    """A language instruction that cannot be used: not a usable string (empty, too long, not text), or
    naming no object the grounding (or the simulator's phrase table, :mod:`sim.instructions`) knows."""
