"""Occupancy grid of a world and shortest paths on it (privileged: used by the teacher and metrics)."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy import ndimage
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import dijkstra

from sim.world import Target, World

_NEIGHBOURS = [(-1, -1), (-1, 0), (-1, 1), (0, -1), (0, 1), (1, -1), (1, 0), (1, 1)]


@dataclass(frozen=True)
class OccupancyGrid:
    """Cells of ``resolution`` metres covering the room; row i is x, column j is y."""

    occupied: np.ndarray
    """bool (nx, ny): True where a wall, obstacle or target stands."""
    clearance: np.ndarray
    """float (nx, ny): distance (m) from each cell centre to the nearest occupied cell."""
    resolution: float
    origin: tuple[float, float]
    """World (x, y) of the centre of cell (0, 0)."""

    @property
    def shape(self) -> tuple[int, int]:
        return self.occupied.shape

    def to_cell(self, x: float, y: float) -> tuple[int, int]:
        i = int(round((x - self.origin[0]) / self.resolution))
        j = int(round((y - self.origin[1]) / self.resolution))
        return min(max(i, 0), self.shape[0] - 1), min(max(j, 0), self.shape[1] - 1)

    def to_world(self, i: int | np.ndarray, j: int | np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return (
            np.asarray(i) * self.resolution + self.origin[0],
            np.asarray(j) * self.resolution + self.origin[1],
        )

    def cell_centres(self) -> tuple[np.ndarray, np.ndarray]:
        ii, jj = np.meshgrid(np.arange(self.shape[0]), np.arange(self.shape[1]), indexing="ij")
        return self.to_world(ii, jj)


def build_grid(world: World, resolution: float, wall_thickness: float = 0.1) -> OccupancyGrid:
    """Rasterise the walls, obstacles and targets of ``world``."""
    half_w, half_d = world.width / 2.0, world.depth / 2.0
    nx = int(math.ceil(world.width / resolution)) + 1
    ny = int(math.ceil(world.depth / resolution)) + 1
    origin = (-half_w, -half_d)
    ii, jj = np.meshgrid(np.arange(nx), np.arange(ny), indexing="ij")
    xs = ii * resolution + origin[0]
    ys = jj * resolution + origin[1]
    occ = (xs <= -half_w) | (xs >= half_w) | (ys <= -half_d) | (ys >= half_d)
    for ob in world.obstacles:
        dx, dy = xs - ob.x, ys - ob.y
        if ob.shape == "column":
            occ |= dx * dx + dy * dy <= (ob.size_x / 2.0) ** 2
        else:
            c, s = math.cos(ob.yaw), math.sin(ob.yaw)
            lx, ly = c * dx + s * dy, -s * dx + c * dy
            occ |= (np.abs(lx) <= ob.size_x / 2.0) & (np.abs(ly) <= ob.size_y / 2.0)
    for tg in world.targets:
        occ |= _target_mask(tg, xs, ys)
    clearance = ndimage.distance_transform_edt(~occ) * resolution
    return OccupancyGrid(occupied=occ, clearance=clearance, resolution=resolution, origin=origin)


def _target_mask(tg: Target, xs: np.ndarray, ys: np.ndarray) -> np.ndarray:
    dx, dy = xs - tg.x, ys - tg.y
    if tg.shape == "cube":
        return (np.abs(dx) <= tg.size / 2.0) & (np.abs(dy) <= tg.size / 2.0)
    return dx * dx + dy * dy <= (tg.size / 2.0) ** 2


def distance_to_target_surface(tg: Target, x: np.ndarray | float, y: np.ndarray | float) -> np.ndarray:
    """Planar distance from points to the target's footprint (0 inside it)."""
    dx, dy = np.asarray(x) - tg.x, np.asarray(y) - tg.y
    if tg.shape == "cube":
        ox = np.maximum(np.abs(dx) - tg.size / 2.0, 0.0)
        oy = np.maximum(np.abs(dy) - tg.size / 2.0, 0.0)
        return np.hypot(ox, oy)
    return np.maximum(np.hypot(dx, dy) - tg.size / 2.0, 0.0)


def geodesic_field(
    grid: OccupancyGrid,
    goal: np.ndarray,
    traversable: np.ndarray,
    clearance_penalty: float = 0.0,
    soft_clearance: float = 0.0,
) -> np.ndarray:
    """Cost-to-go (m) from every cell to the ``goal`` cells over ``traversable`` cells (8-connected).

    With ``clearance_penalty`` > 0 a step costs more near obstacles, by up to that factor for cells
    whose clearance is 0 and nothing beyond ``soft_clearance`` (a teacher that keeps its distance).
    Unreachable cells are ``inf``.
    """
    nx, ny = grid.shape
    index = np.arange(nx * ny).reshape(nx, ny)
    weight = np.ones((nx, ny))
    if clearance_penalty > 0 and soft_clearance > 0:
        weight += clearance_penalty * np.clip((soft_clearance - grid.clearance) / soft_clearance, 0.0, 1.0)
    rows, cols, costs = [], [], []
    for di, dj in _NEIGHBOURS:
        a = (slice(max(0, -di), nx - max(0, di)), slice(max(0, -dj), ny - max(0, dj)))
        b = (slice(max(0, di), nx + min(0, di) or None), slice(max(0, dj), ny + min(0, dj) or None))
        ok = traversable[a] & traversable[b]
        step = math.hypot(di, dj) * grid.resolution
        rows.append(index[a][ok])
        cols.append(index[b][ok])
        costs.append(step * 0.5 * (weight[a][ok] + weight[b][ok]))
    graph = coo_matrix(
        (np.concatenate(costs), (np.concatenate(rows), np.concatenate(cols))), shape=(nx * ny, nx * ny)
    ).tocsr()
    sources = index[goal & traversable]
    if sources.size == 0:
        return np.full((nx, ny), np.inf)
    dist = dijkstra(graph, directed=True, indices=sources, min_only=True)
    return np.asarray(dist).reshape(nx, ny)


def descend(
    field: np.ndarray, start: tuple[int, int], resolution: float, max_steps: int = 100000
) -> list[tuple[int, int]]:
    """The shortest path from ``start`` down the cost-to-go ``field`` to the goal (field 0).

    Each step goes to the neighbour ``n`` minimising ``field[n] + step length``: the predecessor on
    the shortest path, where plain steepest descent would zig-zag onto costlier diagonals.
    """
    nx, ny = field.shape
    path = [start]
    i, j = start
    for _ in range(max_steps):
        here = field[i, j]
        best, best_val = None, here
        for di, dj in _NEIGHBOURS:
            a, b = i + di, j + dj
            if 0 <= a < nx and 0 <= b < ny and field[a, b] < here:
                value = field[a, b] + math.hypot(di, dj) * resolution
                if value < best_val or best is None:
                    best, best_val = (a, b), value
        if best is None:
            break
        i, j = best
        path.append(best)
    return path


def line_of_sight(free: np.ndarray, a: tuple[int, int], b: tuple[int, int]) -> bool:
    """True when every cell on the straight segment between cells ``a`` and ``b`` is ``free``."""
    n = int(max(abs(b[0] - a[0]), abs(b[1] - a[1]))) * 2 + 1
    ii = np.rint(np.linspace(a[0], b[0], n)).astype(int)
    jj = np.rint(np.linspace(a[1], b[1], n)).astype(int)
    return bool(np.all(free[ii, jj]))


def any_angle_length(field: np.ndarray, free: np.ndarray, start: tuple[int, int], resolution: float) -> float:
    """Length (m) of the steepest-descent path from ``start`` once pulled taut through ``free`` cells.

    An 8-connected grid path overstates a diagonal distance by up to 8 %; shortcutting it with
    line-of-sight checks gives the any-angle length that SPL's shortest path should be.
    """
    path = descend(field, start, resolution)
    if len(path) < 2:
        return 0.0
    length, anchor, k = 0.0, 0, 1
    while k < len(path):
        # Advance as far as the anchor still sees; then the last visible cell becomes the anchor.
        far = k
        while far + 1 < len(path) and line_of_sight(free, path[anchor], path[far + 1]):
            far += 1
        a, b = path[anchor], path[far]
        length += math.hypot(b[0] - a[0], b[1] - a[1]) * resolution
        anchor, k = far, far + 1
    return length
