"""Shortest paths on the occupancy grid."""

from __future__ import annotations

import math

import numpy as np
import pytest

from sim.grid import any_angle_length, descend, geodesic_field, line_of_sight

pytestmark = pytest.mark.unit


class _Grid:
    def __init__(self, n: int, resolution: float) -> None:
        self.occupied = np.zeros((n, n), dtype=bool)
        self.clearance = np.full((n, n), 10.0)
        self.resolution = resolution

    @property
    def shape(self):
        return self.occupied.shape


def test_a_diagonal_in_open_space_has_its_straight_line_length():
    grid = _Grid(101, 0.05)
    free = np.ones(grid.shape, dtype=bool)
    goal = np.zeros(grid.shape, dtype=bool)
    goal[100, 60] = True
    field = geodesic_field(grid, goal, free)
    straight = math.hypot(100, 60) * 0.05
    assert field[0, 0] > straight * 1.03  # the 8-connected cost overstates it ...
    assert abs(any_angle_length(field, free, (0, 0), 0.05) - straight) < 0.06  # ... the taut path does not


def test_a_wall_forces_the_path_around_it():
    grid = _Grid(61, 0.05)
    free = np.ones(grid.shape, dtype=bool)
    free[30, 0:50] = False  # a wall across most of the room
    goal = np.zeros(grid.shape, dtype=bool)
    goal[60, 0] = True
    field = geodesic_field(grid, goal, free)
    length = any_angle_length(field, free, (0, 0), 0.05)
    assert not line_of_sight(free, (0, 0), (60, 0))
    assert length > 2 * math.hypot(30, 50) * 0.05 * 0.95  # around the wall's end and back


def test_the_descended_path_is_as_long_as_its_cost_to_go():
    grid = _Grid(41, 0.05)
    free = np.ones(grid.shape, dtype=bool)
    free[20, 5:41] = False
    goal = np.zeros(grid.shape, dtype=bool)
    goal[40, 40] = True
    field = geodesic_field(grid, goal, free)
    path = descend(field, (0, 30), 0.05)
    steps = sum(math.hypot(b[0] - a[0], b[1] - a[1]) for a, b in zip(path, path[1:], strict=False)) * 0.05
    assert path[-1] == (40, 40)
    assert abs(steps - field[0, 30]) < 1e-9
