"""Navigation metrics on small hand-made episode lists whose answers are known."""

from __future__ import annotations

import math

import pytest

from sim.metrics import EpisodeResult, collision_rate, spl, success_rate, summarize, time_to_goal

pytestmark = pytest.mark.unit


def episode(
    success: bool = True,
    shortest: float = 2.0,
    path: float = 2.0,
    collisions: int = 0,
    time_s: float = 10.0,
) -> EpisodeResult:
    return EpisodeResult(
        success=success,
        shortest_path_length=shortest,
        path_length=path,
        collisions=collisions,
        time_s=time_s,
        steps=int(time_s * 10),
    )


def test_spl_of_a_success_along_the_shortest_path_is_one():
    assert spl([episode(shortest=3.0, path=3.0)]) == 1.0


def test_spl_of_a_success_twice_as_long_as_the_shortest_path_is_one_half():
    assert spl([episode(shortest=3.0, path=6.0)]) == pytest.approx(0.5)


def test_spl_of_a_failure_is_zero_however_short_its_path():
    assert spl([episode(success=False, shortest=3.0, path=3.0)]) == 0.0


def test_spl_is_capped_at_one_when_the_path_is_shorter_than_the_geodesic():
    assert spl([episode(shortest=3.0, path=2.9)]) == 1.0


def test_spl_averages_over_all_episodes():
    results = [episode(shortest=1.0, path=1.0), episode(shortest=1.0, path=2.0), episode(success=False)]

    assert spl(results) == pytest.approx((1.0 + 0.5 + 0.0) / 3)


def test_success_rate_is_the_fraction_of_successes():
    results = [episode(), episode(success=False), episode(), episode(success=False)]

    assert success_rate(results) == 0.5


def test_collision_rate_counts_episodes_with_any_collision_not_collisions():
    results = [episode(collisions=3), episode(), episode(), episode(collisions=1)]

    assert collision_rate(results) == 0.5


def test_time_to_goal_averages_only_successful_episodes():
    results = [episode(time_s=4.0), episode(time_s=8.0), episode(success=False, time_s=40.0)]

    assert time_to_goal(results) == pytest.approx(6.0)


def test_time_to_goal_is_nan_when_nothing_succeeded():
    assert math.isnan(time_to_goal([episode(success=False)]))


@pytest.mark.parametrize("metric", [success_rate, spl, collision_rate, time_to_goal])
def test_every_metric_of_an_empty_list_is_nan(metric):
    assert math.isnan(metric([]))


def test_summarize_reports_every_metric_and_the_episode_count():
    results = [episode(shortest=1.0, path=2.0, time_s=5.0), episode(success=False, collisions=2)]

    summary = summarize(results)

    assert summary == {
        "episodes": 2,
        "success_rate": 0.5,
        "spl": pytest.approx(0.25),
        "collision_rate": 0.5,
        "time_to_goal_s": 5.0,
    }
