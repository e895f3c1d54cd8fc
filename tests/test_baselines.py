"""The reference controllers see only the observation."""

from __future__ import annotations

import numpy as np
import pytest

from policy.baselines import ClassicalController, RandomController, colour_mask

pytestmark = pytest.mark.unit

SCAN = np.full(360, 4.0, dtype=np.float32)


def image_with_red_blob(column: int) -> np.ndarray:
    img = np.full((64, 64, 3), 180, dtype=np.uint8)
    img[30:38, column - 3 : column + 3] = (220, 20, 20)
    return img


def obs(image: np.ndarray, scan: np.ndarray = SCAN) -> dict:
    return {"image": image, "scan": scan, "instruction": "go to the red cube", "odom": np.zeros(2, np.float32)}


def test_the_colour_mask_finds_red_and_ignores_grey():
    mask = colour_mask(image_with_red_blob(10), "red")
    assert mask[30:38, 7:13].all() and mask.sum() == 8 * 6
    assert not colour_mask(image_with_red_blob(10), "blue").any()


def test_it_turns_toward_the_named_colour():
    c = ClassicalController()
    assert c.act(obs(image_with_red_blob(8)))[1] > 0  # target on the left: turn left (counter-clockwise)
    c.reset()
    assert c.act(obs(image_with_red_blob(56)))[1] < 0


def test_it_searches_on_the_spot_when_the_colour_is_not_in_view():
    c = ClassicalController()
    action = c.act(obs(np.full((64, 64, 3), 180, dtype=np.uint8)))
    assert action[0] == 0.0 and action[1] > 0


def test_it_stops_when_the_lidar_reads_the_target_close():
    scan = SCAN.copy()
    scan[175:186] = 0.4  # straight ahead (beam 180 is angle 0)
    action = ClassicalController().act(obs(image_with_red_blob(32), scan))
    assert np.allclose(action, 0.0)


def test_the_random_policy_stays_within_the_limits_and_is_seeded():
    a = [RandomController(seed=3).act({}) for _ in range(1)]
    b = [RandomController(seed=3).act({}) for _ in range(1)]
    assert np.allclose(a, b)
    many = np.array([RandomController(seed=1).act({}) for _ in range(50)])
    assert np.all(np.abs(many[:, 0]) <= 0.5) and np.all(np.abs(many[:, 1]) <= 1.5)
