"""Demonstration data: teacher-labelled rollouts stored as ``.npz`` shards.

``policy.training`` collects them in worker processes. Each episode keeps the raw observations
(camera image, REP 117 scan, instruction, odometry) and the teacher's command for every step,
whoever drove (under DAgger the learner drives and the teacher only labels). Raw data is stored,
never processed tensors, so training and the robot go through the same pre-processing
(``policy.processing``) at use time. Files are loaded with ``allow_pickle=False``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np


@dataclass
class Episode:
    images: np.ndarray
    """(T, H, W, 3) uint8."""
    scans: np.ndarray
    """(T, beams) float32, REP 117 ranges."""
    odom: np.ndarray
    """(T, 2) float32."""
    labels: np.ndarray
    """(T, 2) float32: the teacher's (linear, angular) for each observation."""
    instruction: str
    success: bool
    aux: np.ndarray | None = None
    """(T, len(AUX_COLUMNS)) float32 simulator truth for the auxiliary losses, or None (e.g. from a bag)."""

    def __len__(self) -> int:
        return len(self.labels)


AUX_COLUMNS = ("visible", "column", "bearing", "distance", "seen")
"""Per-step simulator truth kept beside the labels: the named object is in the camera image (0/1) and
its column there (-1 left .. 1 right, 0 when not visible); its egocentric bearing (rad) and distance
to its surface (m); whether the teacher has seen it yet (0/1)."""
VISIBLE_MIN_PIXELS = 2
"""Object pixels in the image that count as 'in view' for the auxiliary label."""


def aux_row(info: dict[str, Any], seen: bool) -> np.ndarray:
    """One row of :data:`AUX_COLUMNS` from the env's (privileged) ``info``."""
    visible = info["target_visible_px"] >= VISIBLE_MIN_PIXELS
    column = float(info["target_column"]) if visible else 0.0
    return np.array(
        [float(visible), column, float(info["target_bearing"]), float(info["target_distance"]), float(seen)],
        dtype=np.float32,
    )


Driver = Callable[[dict[str, Any], dict[str, Any], np.ndarray], np.ndarray]
"""(obs, info, teacher_action) -> executed action; the identity on teacher_action is behaviour cloning."""


MAX_SETTLE_STEPS = 30
"""After a success, the most steps the teacher may take to come to its stop before the held steps."""


def collect_episode(env: Any, teacher: Any, seed: int, driver: Driver | None = None, hold_steps: int = 0) -> Episode:
    """Roll out one episode; the teacher labels every step, ``driver`` (default: the teacher) drives.

    After a success the teacher drives on until it has held still at the goal for ``hold_steps``
    steps: without them a demonstration ends at its first stop command, and a learner sees almost no
    "stay stopped here" labels. A slow command inside the success radius (turning, or creeping in)
    already counts as the success, so the teacher may first close in to its own stop point (for at
    most ``MAX_SETTLE_STEPS`` steps).
    """
    obs, info = env.reset(seed=seed)
    teacher.reset()
    images, scans, odom, labels, aux = [], [], [], [], []

    def label_and_record(obs: dict[str, Any], info: dict[str, Any]) -> np.ndarray:
        label = np.asarray(teacher.act(obs, info), dtype=np.float32)
        aux.append(aux_row(info, bool(getattr(teacher, "seen", False))))
        images.append(obs["image"])
        scans.append(obs["scan"])
        odom.append(obs["odom"])
        labels.append(label)
        return label

    done = False
    while not done:
        label = label_and_record(obs, info)
        action = label if driver is None else np.asarray(driver(obs, info, label), dtype=np.float32)
        obs, _, terminated, truncated, info = env.step(action)
        done = terminated or truncated
    success = bool(info["success"])
    held, settling = 0, 0
    while success and held < hold_steps and settling < MAX_SETTLE_STEPS:
        label = label_and_record(obs, info)
        if label.any():  # still closing in: a slow command inside the radius counted as the success
            settling += 1
        else:
            held += 1
        obs, _, _, _, info = env.step(label)
    return Episode(
        images=np.stack(images),
        scans=np.stack(scans).astype(np.float32),
        odom=np.stack(odom).astype(np.float32),
        labels=np.stack(labels),
        instruction=info["instruction"],
        success=success,
        aux=np.stack(aux),
    )


def save_episodes(path: str | Path, episodes: Sequence[Episode]) -> Path:
    """Concatenate episodes into one compressed ``.npz`` (episode boundaries in ``starts``)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    lengths = np.array([len(e) for e in episodes], dtype=np.int64)
    tmp = path.with_suffix(".tmp.npz")
    extra: dict[str, Any] = {}
    if all(e.aux is not None for e in episodes):
        extra["aux"] = np.concatenate([e.aux for e in episodes])
    np.savez_compressed(
        tmp,
        **extra,
        images=np.concatenate([e.images for e in episodes]),
        scans=np.concatenate([e.scans for e in episodes]),
        odom=np.concatenate([e.odom for e in episodes]),
        labels=np.concatenate([e.labels for e in episodes]),
        starts=np.concatenate([[0], np.cumsum(lengths)[:-1]]).astype(np.int64),
        lengths=lengths,
        instructions=np.array([e.instruction for e in episodes], dtype=np.str_),
        success=np.array([e.success for e in episodes], dtype=bool),
    )
    tmp.replace(path)  # a killed process never leaves a half-written shard under the real name
    return path


def load_episodes(path: str | Path) -> list[Episode]:
    """Read a shard written by :func:`save_episodes`; a damaged file is a clear error."""
    path = Path(path)
    try:
        with np.load(path, allow_pickle=False) as data:
            arrays = {k: data[k] for k in data.files}
    except (OSError, ValueError, EOFError) as exc:
        raise ValueError(f"{path}: not a readable demonstration shard ({exc})") from exc
    missing = {"images", "scans", "odom", "labels", "starts", "lengths", "instructions", "success"} - set(arrays)
    if missing:
        raise ValueError(f"{path}: demonstration shard lacks {sorted(missing)}")
    episodes = []
    for k, (s, n) in enumerate(zip(arrays["starts"], arrays["lengths"], strict=True)):
        sl = slice(int(s), int(s + n))
        episodes.append(
            Episode(
                images=arrays["images"][sl],
                scans=arrays["scans"][sl],
                odom=arrays["odom"][sl],
                labels=arrays["labels"][sl],
                instruction=str(arrays["instructions"][k]),
                success=bool(arrays["success"][k]),
                aux=arrays["aux"][sl] if "aux" in arrays else None,
            )
        )
    return episodes
