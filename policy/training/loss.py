"""The training loss: masked sequence loss of the action, the stop decision and the auxiliary heads.

The loss is the MSE between the tanh action and the teacher's label normalised by
``PolicyProcessor.normalise_action``, plus ``stop_weight`` times the cross-entropy of the stop decision,
plus ``aux_weight`` times the auxiliary losses (:func:`sequence_loss`). With ``near_weight`` a step with
something close in front of the robot counts more (:func:`near_obstacle_weights`): those few steps are
where a learner's loose speed turns into a collision. Every coefficient is a :class:`TrainConfig` field;
the defaults here are its defaults.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from perception.lidar import nearest_in_sector, rep117_to_ranges
from policy.modeling import Encoded, NavPolicy
from policy.processing import ScanGeometry
from policy.training.config import TrainConfig


def sequence_loss(
    model: NavPolicy,
    inputs: Any,
    labels: torch.Tensor,
    valid: torch.Tensor,
    train: torch.Tensor,
    burn: int,
    aux: torch.Tensor | None = None,
    aux_weight: float = 0.0,
    stop_weight: float = TrainConfig.stop_weight,
    aux_distance_scale: float = TrainConfig.aux_distance_scale,
) -> tuple[torch.Tensor, dict[str, float]]:
    """Masked loss over a ``(B, W)`` batch of sequences, the memory carried step by step.

    ``inputs`` is a :class:`PolicyInputs` of ``B * W`` rows (row-major over ``(B, W)``); the first
    ``burn`` columns only warm the memory up (no gradient). A padded step keeps the memory unchanged.
    The memory-free part of each step (:meth:`NavPolicy.encode`) runs once for all the burn-in rows
    and once for all the training rows; only the memory update runs step by step.
    The loss is the MSE of the action, plus ``stop_weight`` times the cross-entropy of the stop
    decision (the label is a stop where the teacher's command is exactly zero), plus ``aux_weight``
    times the auxiliary losses (:func:`aux_loss`, distances in units of ``aux_distance_scale`` metres)
    on the steps whose ``aux`` row (``(B, W, len(AUX_COLUMNS))``, NaN where unknown) is known. Returns
    the loss and its parts (floats, for logging).
    """
    batch, width = valid.shape

    def encode(columns: slice) -> Encoded:
        """Every row of ``columns`` in one :meth:`NavPolicy.encode` call, as ``(B, columns, ...)``."""
        rows = [x.reshape(batch, width, *x.shape[1:])[:, columns].flatten(0, 1) for x in inputs.as_tuple()]
        rows[0] = rows[0].contiguous(memory_format=torch.channels_last)  # faster convolutions on CPU
        return Encoded(*(f.unflatten(0, (batch, -1)) for f in model.encode(*rows)))

    hidden = model.initial_hidden(batch, valid.device)
    if burn:
        with torch.no_grad():
            warm = encode(slice(0, burn))
            for t in range(burn):
                new = model.recur(warm.at(t), hidden).hidden
                hidden = torch.where(valid[:, t, None], new, hidden)
    hidden = hidden.detach()
    encoded = encode(slice(burn, width))
    actions, stops, views, memories = [], [], [], []
    for t in range(width - burn):
        out = model.recur(encoded.at(t), hidden)
        hidden = torch.where(valid[:, burn + t, None], out.hidden, hidden)
        actions.append(out.action)
        stops.append(out.stop_logit)
        views.append(out.view)
        memories.append(out.memory)
    weight = train[:, burn:]
    count = weight.sum().clamp(min=1)
    target = labels[:, burn:]
    action_error = F.mse_loss(torch.stack(actions, 1), target, reduction="none").mean(dim=2)
    stop_label = (target == 0).all(dim=2).to(target.dtype)  # the teacher's stop: exactly zero
    stop_error = F.binary_cross_entropy_with_logits(torch.stack(stops, 1), stop_label, reduction="none")
    action_loss = (action_error * weight).sum() / count
    stop_loss = (stop_error * weight).sum() / count
    parts = {"action": float(action_loss.detach()), "stop": float(stop_loss.detach())}
    action_loss = action_loss + stop_weight * stop_loss
    if aux is None or aux_weight <= 0:
        return action_loss, parts
    auxiliary = aux_loss(
        torch.stack(views, 1), torch.stack(memories, 1), aux[:, burn:], weight, parts, aux_distance_scale
    )
    return action_loss + aux_weight * auxiliary, parts


def aux_loss(
    view: torch.Tensor,
    memory: torch.Tensor,
    truth: torch.Tensor,
    weight: torch.Tensor,
    parts: dict[str, float],
    distance_scale: float = TrainConfig.aux_distance_scale,
) -> torch.Tensor:
    """The auxiliary losses (see :data:`policy.data.AUX_COLUMNS`), each a masked mean, summed; each is
    also added to ``parts`` as ``aux_<name>``. The distance output is in units of ``distance_scale`` metres."""
    known = torch.isfinite(truth[..., 0]).float() * weight
    truth = torch.nan_to_num(truth)
    visible, column, bearing, distance, seen = truth.unbind(-1)

    def masked(error: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        return (error * mask).sum() / mask.sum().clamp(min=1)

    terms = {
        "in_view": masked(F.binary_cross_entropy_with_logits(view[..., 0], visible, reduction="none"), known),
        "column": masked((view[..., 1] - column) ** 2, known * visible),
        "seen": masked(F.binary_cross_entropy_with_logits(memory[..., 3], seen, reduction="none"), known),
        "bearing": masked(
            (memory[..., 0] - torch.sin(bearing)) ** 2 + (memory[..., 1] - torch.cos(bearing)) ** 2, known * seen
        ),
        "distance": masked((memory[..., 2] - distance / distance_scale) ** 2, known * seen),
    }
    parts.update({f"aux_{k}": float(v.detach()) for k, v in terms.items()})
    return sum(terms.values(), torch.zeros((), device=view.device))


def near_obstacle_weights(
    scans: np.ndarray,
    geometry: ScanGeometry,
    robot_radius: float,
    distance: float,
    extra: float,
    half_angle_deg: float = TrainConfig.near_half_angle_deg,
) -> np.ndarray:
    """Per-step loss weights from raw scans ``(N, beams)`` (``geometry``'s layout, REP 117 ranges):
    ``1 + extra`` where a return within ``half_angle_deg`` of straight ahead is less than ``distance`` from the
    robot's surface (too close to measure counts as near; NaN and no return do not), else 1. The
    sector is read as the robot's collision guard reads its own (:func:`perception.lidar.nearest_in_sector`)."""
    ranges = rep117_to_ranges(scans, geometry.range_min, geometry.range_max, math.inf, geometry.conventions)
    angles = geometry.angle_min + geometry.angle_increment * np.arange(scans.shape[1], dtype=np.float64)
    nearest = nearest_in_sector(ranges, angles, 0.0, math.radians(half_angle_deg))
    near = nearest - robot_radius < distance  # NaN (no valid beam ahead) is not near
    return np.where(near, 1.0 + extra, 1.0).astype(np.float32)
