"""``task.action_latency``: an action acts only after the compute time of its tick; until then the
previous command drives (so a slow controller acts on stale observations)."""

from __future__ import annotations

import dataclasses
import math
import time

import pytest

from sim.config import load_sim_config
from sim.env import LangNavEnv

pytestmark = pytest.mark.unit

CONFIG = load_sim_config()


def make(latency: bool) -> LangNavEnv:
    config = CONFIG.replace(task=dataclasses.replace(CONFIG.task, action_latency=latency))
    env = LangNavEnv(config)
    env.reset(seed=3, options={"world_seed": 3})
    return env


def moved(env: LangNavEnv, action: tuple[float, float], delay: float | None = None) -> float:
    before = env.pose
    if delay is not None:
        env.set_action_delay(delay)
    env.step(action)
    return math.hypot(env.pose.x - before.x, env.pose.y - before.y)


def test_off_by_default_and_the_action_acts_at_once() -> None:
    assert CONFIG.task.action_latency is False
    env = make(latency=False)
    try:
        time.sleep(0.05)  # compute time is ignored when the option is off
        assert moved(env, (0.3, 0.0)) == pytest.approx(0.03, rel=0.15)
    finally:
        env.close()


def test_a_full_period_of_compute_delays_the_action_by_one_step() -> None:
    env = make(latency=True)
    try:
        assert moved(env, (0.3, 0.0), delay=env.dt) < 1e-3  # the previous command (zero) ran all step
        assert moved(env, (0.3, 0.0), delay=0.0) == pytest.approx(0.03, rel=0.15)
        # half a period late: half the step at the old command, half at the new (zero)
        assert moved(env, (0.0, 0.0), delay=env.dt / 2) == pytest.approx(0.015, rel=0.2)
    finally:
        env.close()


def test_the_measured_wall_time_from_observation_to_step_is_the_delay() -> None:
    env = make(latency=True)
    try:
        time.sleep(env.dt * 0.5)  # "computing" for half a period
        assert moved(env, (0.3, 0.0)) == pytest.approx(0.015, rel=0.35)
        with pytest.raises(ValueError, match="action delay"):
            env.set_action_delay(-1.0)
    finally:
        env.close()
