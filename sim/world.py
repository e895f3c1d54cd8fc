"""Procedural indoor worlds: a pure description (no PyBullet) drawn from a seed.

A :class:`World` is a rectangular room centred on the origin (x forward, y left, metres) with
static obstacles of neutral colours and 3..6 target objects, each a distinct colour x shape.
The same seed and config always give the same world.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal, cast

import numpy as np

from sim.config import SimConfig, load_sim_config
from sim.instructions import Goal

TargetShape = Literal["cube", "sphere", "cylinder"]
"""The target shapes (``sim.yaml`` ``targets.shapes`` names a subset; the scene builds each)."""
CYLINDER_TARGET_HEIGHT = 0.4
"""Height of a cylinder target (m); cubes and spheres are as tall as they are wide."""


@dataclass(frozen=True)
class Obstacle:
    """A static box or column standing on the floor."""

    shape: Literal["box", "column"]
    x: float
    y: float
    size_x: float
    """Box side along its own x, or column diameter."""
    size_y: float
    """Box side along its own y (equal to size_x for a column)."""
    height: float
    yaw: float
    colour: str

    def footprint_radius(self) -> float:
        """Radius of a circle that contains the footprint."""
        return 0.5 * math.hypot(self.size_x, self.size_y) if self.shape == "box" else 0.5 * self.size_x


@dataclass(frozen=True)
class Target:
    """A coloured object that an instruction can name."""

    colour: str
    shape: TargetShape
    x: float
    y: float
    size: float

    @property
    def name(self) -> str:
        return f"{self.colour} {self.shape}"

    @property
    def height(self) -> float:
        return CYLINDER_TARGET_HEIGHT if self.shape == "cylinder" else self.size

    def footprint_radius(self) -> float:
        return self.size * (math.sqrt(0.5) if self.shape == "cube" else 0.5)


@dataclass(frozen=True)
class World:
    """One procedurally generated room."""

    seed: int
    width: float
    """Inner extent along x (m)."""
    depth: float
    """Inner extent along y (m)."""
    obstacles: tuple[Obstacle, ...]
    targets: tuple[Target, ...]

    def find_target(self, colour: str, shape: str) -> Target:
        """The target of that colour and shape; a clear error if this world has none."""
        for target in self.targets:
            if target.colour == colour and target.shape == shape:
                return target
        present = ", ".join(t.name for t in self.targets)
        raise LookupError(f"no {colour} {shape} in world {self.seed} (it has: {present})")


LAYOUT_ATTEMPTS = 20
"""Layouts drawn for one seed before giving up (a draw can crowd the targets out of the room)."""


def generate_world(seed: int, config: SimConfig) -> World:
    """Draw a world from ``seed``. Deterministic for a given seed and config.

    The first layout comes from ``default_rng(seed)``; when its obstacles leave no room for the
    targets, the next from ``default_rng([seed, 1])`` and so on.
    """
    for attempt in range(LAYOUT_ATTEMPTS):
        world = _draw_world(np.random.default_rng(seed if attempt == 0 else [seed, attempt]), seed, config)
        if world is not None:
            return world
    raise RuntimeError(
        f"world {seed}: no layout in {LAYOUT_ATTEMPTS} draws places {config.targets.count_min} targets; the room is "
        f"too small for the configured targets/obstacles (room.size_min={config.room.size_min}, "
        f"targets.count_min={config.targets.count_min})"
    )


def _draw_world(rng: np.random.Generator, seed: int, config: SimConfig) -> World | None:
    """One layout, or None when the targets do not fit."""
    room, ob_cfg, tg_cfg = config.room, config.obstacles, config.targets
    robot_clear = 2.0 * config.robot.radius + 0.25
    width = float(rng.uniform(room.size_min, room.size_max))
    depth = float(rng.uniform(room.size_min, room.size_max))
    half_w, half_d = width / 2.0, depth / 2.0

    obstacles: list[Obstacle] = []
    n_obstacles = int(rng.integers(ob_cfg.count_min, ob_cfg.count_max + 1))
    for _ in range(200):
        if len(obstacles) >= n_obstacles:
            break
        shape: Literal["box", "column"] = "box" if rng.random() < 0.6 else "column"
        sx = float(rng.uniform(ob_cfg.size_min, ob_cfg.size_max))
        sy = float(rng.uniform(ob_cfg.size_min, ob_cfg.size_max)) if shape == "box" else sx
        candidate = Obstacle(
            shape=shape,
            x=0.0,
            y=0.0,
            size_x=sx,
            size_y=sy,
            height=float(rng.uniform(ob_cfg.height_min, ob_cfg.height_max)),
            yaw=float(rng.uniform(-math.pi, math.pi)) if shape == "box" else 0.0,
            colour=str(rng.choice(list(ob_cfg.colours))),
        )
        r = candidate.footprint_radius()
        # Keep a robot-wide corridor between an obstacle and the walls and between obstacles.
        margin = r + robot_clear
        if margin >= half_w or margin >= half_d:
            continue
        x = float(rng.uniform(-half_w + margin, half_w - margin))
        y = float(rng.uniform(-half_d + margin, half_d - margin))
        if all(math.hypot(x - o.x, y - o.y) >= r + o.footprint_radius() + robot_clear for o in obstacles):
            obstacles.append(Obstacle(**{**candidate.__dict__, "x": x, "y": y}))

    pairs = [(c, s) for c in tg_cfg.colours for s in tg_cfg.shapes]
    n_targets = int(rng.integers(tg_cfg.count_min, tg_cfg.count_max + 1))
    order = rng.permutation(len(pairs))[:n_targets]
    targets: list[Target] = []
    wall_margin = tg_cfg.size / 2.0 + robot_clear
    for index in order:
        colour, target_shape = pairs[int(index)]
        for _ in range(500):
            x = float(rng.uniform(-half_w + wall_margin, half_w - wall_margin))
            y = float(rng.uniform(-half_d + wall_margin, half_d - wall_margin))
            probe = Target(colour=colour, shape=cast(TargetShape, target_shape), x=x, y=y, size=tg_cfg.size)
            clear_of_obstacles = all(
                math.hypot(x - o.x, y - o.y) >= probe.footprint_radius() + o.footprint_radius() + robot_clear
                for o in obstacles
            )
            clear_of_targets = all(math.hypot(x - t.x, y - t.y) >= tg_cfg.min_separation for t in targets)
            if clear_of_obstacles and clear_of_targets:
                targets.append(probe)
                break
    if len(targets) < tg_cfg.count_min:
        return None
    return World(seed=int(seed), width=width, depth=depth, obstacles=tuple(obstacles), targets=tuple(targets))


def find_world_with(goal: Goal, seed: int, tries: int, config: SimConfig | None = None) -> int:
    """A world seed (from ``seed`` upward) whose world, under ``config``, holds the ``goal`` object."""
    cfg = config if config is not None else load_sim_config()
    for world_seed in range(seed, seed + tries):
        world = generate_world(world_seed, cfg)
        if any(t.colour == goal.colour and t.shape == goal.shape for t in world.targets):
            return world_seed
    raise LookupError(f"no world among seeds {seed}..{seed + tries - 1} holds a {goal.name}")
