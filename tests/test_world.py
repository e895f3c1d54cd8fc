"""Procedural worlds: deterministic per seed, targets distinct and clear of neutral-coloured obstacles."""

from __future__ import annotations

import math

import pytest

from sim.config import COLOURS, NEUTRAL_COLOURS, SimConfig
from sim.world import World, generate_world

pytestmark = pytest.mark.unit

CONFIG = SimConfig()
SEEDS = range(40)


@pytest.fixture(scope="module")
def worlds() -> list[World]:
    return [generate_world(seed, CONFIG) for seed in SEEDS]


def test_the_same_seed_gives_the_same_world():
    assert generate_world(7, CONFIG) == generate_world(7, CONFIG)


def test_different_seeds_give_different_worlds():
    assert generate_world(7, CONFIG) != generate_world(8, CONFIG)


def test_room_sizes_lie_within_the_configured_range(worlds):
    for world in worlds:
        assert CONFIG.room.size_min <= world.width <= CONFIG.room.size_max
        assert CONFIG.room.size_min <= world.depth <= CONFIG.room.size_max


def test_every_world_has_three_to_six_targets_each_a_distinct_colour_and_shape(worlds):
    for world in worlds:
        assert 3 <= len(world.targets) <= 6, world.seed
        pairs = [(t.colour, t.shape) for t in world.targets]
        assert len(set(pairs)) == len(pairs), world.seed
        for colour, _ in pairs:
            assert colour in COLOURS


def test_obstacles_are_only_neutral_colours(worlds):
    for world in worlds:
        for obstacle in world.obstacles:
            assert obstacle.colour in NEUTRAL_COLOURS
            assert obstacle.colour not in COLOURS


def test_targets_never_overlap_obstacles(worlds):
    for world in worlds:
        for target in world.targets:
            for obstacle in world.obstacles:
                gap = math.hypot(target.x - obstacle.x, target.y - obstacle.y)
                assert gap > target.footprint_radius() + obstacle.footprint_radius(), world.seed


def test_targets_stand_inside_the_room(worlds):
    for world in worlds:
        for target in world.targets:
            assert abs(target.x) + target.footprint_radius() < world.width / 2
            assert abs(target.y) + target.footprint_radius() < world.depth / 2


def test_targets_keep_their_minimum_separation(worlds):
    for world in worlds:
        targets = world.targets
        for i, a in enumerate(targets):
            for b in targets[i + 1 :]:
                assert math.hypot(a.x - b.x, a.y - b.y) >= CONFIG.targets.min_separation


def test_find_target_returns_the_named_target():
    world = generate_world(3, CONFIG)
    wanted = world.targets[-1]

    assert world.find_target(wanted.colour, wanted.shape) is wanted


def test_find_target_of_an_absent_object_raises_lookup_error_naming_what_is_present():
    world = generate_world(3, CONFIG)

    with pytest.raises(LookupError) as excinfo:
        world.find_target("purple", "cube")  # purple is not a configured target colour

    message = str(excinfo.value)
    assert "purple cube" in message
    for target in world.targets:
        assert target.name in message


def test_a_seed_whose_first_layout_crowds_the_targets_out_gets_another_layout():
    world = generate_world(805, CONFIG)  # its first draw fits only two targets
    assert len(world.targets) >= CONFIG.targets.count_min
    assert generate_world(805, CONFIG) == world


def test_a_room_that_can_never_hold_the_targets_is_an_error_naming_the_seed():
    import dataclasses

    tiny = CONFIG.replace(room=dataclasses.replace(CONFIG.room, size_min=1.6, size_max=1.6))
    with pytest.raises(RuntimeError, match="world 3: .*too small"):
        generate_world(3, tiny)
