"""The privileged teacher: reaches the named target without collisions, and searches before it has seen it."""

from __future__ import annotations

import math

import numpy as np
import pytest

from policy.evaluation import EvalConfig, evaluate
from sim.config import SimConfig
from sim.env import LangNavEnv
from sim.teacher import Teacher, TeacherConfig

pytestmark = pytest.mark.unit

EPISODES = 6


@pytest.fixture(scope="module")
def evaluation():
    return evaluate(Teacher, EvalConfig(episodes=EPISODES, seed=0, progress=False), SimConfig())


def test_the_teacher_succeeds_on_seeded_episodes(evaluation):
    summary, results = evaluation

    assert summary["episodes"] == EPISODES
    assert summary["success_rate"] >= (EPISODES - 1) / EPISODES
    assert sum(r.success for r in results) == round(summary["success_rate"] * EPISODES)


def test_the_teacher_never_collides(evaluation):
    summary, results = evaluation

    assert [r.collisions for r in results] == [0] * EPISODES
    assert summary["collision_rate"] == 0.0


def test_the_teacher_takes_near_shortest_paths(evaluation):
    summary, _ = evaluation

    assert summary["spl"] >= 0.8


def reset_with_the_target_out_of_view(env: LangNavEnv) -> tuple[dict, dict]:
    """The first episode (seeds 0..29) that starts with the named object out of the camera's view."""
    for seed in range(30):
        obs, info = env.reset(seed=seed)
        if info["target_visible_px"] == 0:
            return obs, info
    pytest.fail("no episode among seeds 0..29 starts with the target out of view")


def test_the_teacher_turns_on_the_spot_while_it_has_not_seen_the_target():
    env = LangNavEnv(config=SimConfig())
    try:
        teacher = Teacher(env, TeacherConfig())
        obs, info = reset_with_the_target_out_of_view(env)
        teacher.reset()

        action = teacher.act(obs, info)

        assert action[0] == 0.0
        assert action[1] > 0.0
        assert action[1] == pytest.approx(TeacherConfig().search_turn_rate)
    finally:
        env.close()


def test_the_search_label_lasts_until_the_robot_has_really_turned_round():
    """When a learner drives (DAgger) and does not turn, the label keeps asking for the search turn
    (the learner has nothing else to go on) for longer than a full turn would take."""
    env = LangNavEnv(config=SimConfig())
    try:
        teacher = Teacher(env, TeacherConfig())
        obs, info = reset_with_the_target_out_of_view(env)
        teacher.reset()
        full_turn_steps = math.ceil(2 * math.pi / TeacherConfig().search_turn_rate / env.dt)
        for _ in range(full_turn_steps + 10):  # the learner stands still
            label = teacher.act(obs, info)
            assert label[0] == 0.0 and label[1] == pytest.approx(TeacherConfig().search_turn_rate)
            obs, _, _, _, info = env.step(np.zeros(2, np.float32))
        for _ in range(full_turn_steps + 10):  # following the label finds the target (it starts in view)
            obs, _, _, _, info = env.step(teacher.act(obs, info))
            if info["target_visible_px"] >= TeacherConfig().visible_pixels:
                break
        assert info["target_visible_px"] >= TeacherConfig().visible_pixels
    finally:
        env.close()


def test_the_teacher_slows_to_a_stop_inside_the_success_radius():
    env = LangNavEnv(config=SimConfig())
    try:
        teacher = Teacher(env, TeacherConfig())
        obs, info = env.reset(seed=0)
        teacher.reset()
        terminated = False
        for _ in range(400):
            action = teacher.act(obs, info)
            obs, _, terminated, _, info = env.step(action)
            if terminated:
                break
        assert terminated and info["success"]
        assert info["target_distance"] <= env.config.task.success_radius
        speeds = [float(teacher.act(obs, info)[0])]
        for _ in range(30):  # keep following its own commands: it comes to a halt and holds still
            obs, _, _, _, info = env.step(teacher.act(obs, info))
            speeds.append(float(teacher.act(obs, info)[0]))
        assert speeds[-10:] == [0.0] * 10 and info["collisions"] == 0
        # It stops with a margin inside the radius (a learner that stops a little short still succeeds).
        assert info["target_distance"] <= env.config.task.success_radius - 0.1
    finally:
        env.close()


def test_the_teacher_cannot_reset_before_the_env_has_an_episode():
    env = LangNavEnv(config=SimConfig())
    try:
        with pytest.raises(RuntimeError, match="reset"):
            Teacher(env, TeacherConfig()).reset()
    finally:
        env.close()


def test_the_teacher_cannot_act_before_it_has_been_reset():
    env = LangNavEnv(config=SimConfig())
    try:
        obs, info = env.reset(seed=0)
        with pytest.raises(RuntimeError, match="reset"):
            Teacher(env, TeacherConfig()).act(obs, info)
    finally:
        env.close()
