"""Episode artifacts: a camera video with the command overlaid, a top-down trajectory plot, metrics JSON."""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from sim.config import COLOURS, NEUTRAL_COLOURS
from sim.world import World

VIDEO_SCALE = 4


def write_camera_video(
    path: str | Path,
    frames: Sequence[np.ndarray],
    commands: Sequence[tuple[float, float]],
    caption: str,
    fps: float,
) -> Path:
    """Write the robot's camera frames (RGB) as MP4, each with the command that followed it."""
    path = Path(path)
    if not frames:
        raise ValueError("no camera frames to write")
    h, w = frames[0].shape[:2]
    size = (w * VIDEO_SCALE, h * VIDEO_SCALE + 40)
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter.fourcc(*"mp4v"), fps, size)
    if not writer.isOpened():
        raise RuntimeError(f"cannot open a video writer for {path}")
    try:
        for k, frame in enumerate(frames):
            big = cv2.resize(frame, (size[0], size[1] - 40), interpolation=cv2.INTER_NEAREST)
            canvas = np.zeros((size[1], size[0], 3), dtype=np.uint8)
            canvas[40:] = cv2.cvtColor(big, cv2.COLOR_RGB2BGR)
            cv2.putText(canvas, caption[:40], (4, 15), cv2.FONT_HERSHEY_SIMPLEX, 0.4, (255, 255, 255), 1)
            if k < len(commands):
                v, wz = commands[k]
                text = f"t={k / fps:4.1f}s  v={v:+.2f} m/s  w={wz:+.2f} rad/s"
            else:
                text = f"t={k / fps:4.1f}s  end"
            cv2.putText(canvas, text, (4, 33), cv2.FONT_HERSHEY_SIMPLEX, 0.4, (0, 255, 255), 1)
            writer.write(canvas)
    finally:
        writer.release()
    return path


def plot_trajectory(
    path: str | Path,
    world: World,
    poses: Sequence[tuple[float, float, float]],
    goal_name: str,
    title: str,
) -> Path:
    """Top-down plot of the room, obstacles, targets and the robot's path."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.patches import Circle, Polygon, Rectangle

    path = Path(path)
    fig, ax = plt.subplots(figsize=(6, 6))
    hw, hd = world.width / 2, world.depth / 2
    ax.add_patch(Rectangle((-hw, -hd), world.width, world.depth, fill=False, lw=2, ec="black"))
    for ob in world.obstacles:
        colour = NEUTRAL_COLOURS[ob.colour]
        if ob.shape == "column":
            ax.add_patch(Circle((ob.x, ob.y), ob.size_x / 2, fc=colour, ec="black"))
        else:
            c, s = math.cos(ob.yaw), math.sin(ob.yaw)
            corners = [(sx * ob.size_x / 2, sy * ob.size_y / 2) for sx, sy in ((-1, -1), (1, -1), (1, 1), (-1, 1))]
            pts = [(ob.x + c * a - s * b, ob.y + s * a + c * b) for a, b in corners]
            ax.add_patch(Polygon(pts, fc=colour, ec="black"))
    markers = {"cube": "s", "sphere": "o", "cylinder": "h"}
    for tg in world.targets:
        is_goal = tg.name == goal_name
        ax.scatter(
            [tg.x],
            [tg.y],
            s=260 if is_goal else 140,
            marker=markers[tg.shape],
            c=[COLOURS[tg.colour]],
            edgecolors="black",
            linewidths=2.5 if is_goal else 0.8,
            zorder=3,
            label=f"goal: {tg.name}" if is_goal else None,
        )
    xy = np.asarray([(x, y) for x, y, _ in poses])
    if len(xy):
        ax.plot(xy[:, 0], xy[:, 1], "-", c="tab:purple", lw=2, label="robot path", zorder=4)
        ax.scatter(xy[:1, 0], xy[:1, 1], c="white", edgecolors="black", s=60, zorder=5, label="start")
        x, y, yaw = poses[-1]
        ax.arrow(x, y, 0.3 * math.cos(yaw), 0.3 * math.sin(yaw), width=0.03, color="tab:purple", zorder=5)
    ax.set_aspect("equal")
    ax.set_xlim(-hw - 0.3, hw + 0.3)
    ax.set_ylim(-hd - 0.3, hd + 0.3)
    ax.set_xlabel("x (m)")
    ax.set_ylabel("y (m)")
    ax.set_title(title, fontsize=10)
    ax.legend(loc="upper right", fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def write_json(path: str | Path, data: dict[str, Any]) -> Path:
    path = Path(path)
    path.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    return path
