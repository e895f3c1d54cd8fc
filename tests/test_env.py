"""The nav/LangNav-v0 gymnasium env: API contract, determinism, episode ends and reward bookkeeping."""

from __future__ import annotations

import dataclasses
import math
import warnings

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

import sim
from perception.language import normalise_instruction
from sim.config import SimConfig
from sim.env import LangNavEnv, make_env
from sim.instructions import InstructionError

pytestmark = pytest.mark.unit

CONFIG = SimConfig()
FORWARD = np.array([CONFIG.robot.max_linear, 0.0], dtype=np.float32)
STILL = np.zeros(2, dtype=np.float32)


def with_task(**changes) -> SimConfig:
    return CONFIG.replace(task=dataclasses.replace(CONFIG.task, **changes))


@pytest.fixture
def env():
    environment = LangNavEnv(config=CONFIG)
    yield environment
    environment.close()


def actions(n: int, seed: int) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    return [np.array([rng.uniform(-0.1, 0.5), rng.uniform(-1.5, 1.5)], dtype=np.float32) for _ in range(n)]


def assert_same_observation(a: dict, b: dict) -> None:
    assert a.keys() == b.keys()
    np.testing.assert_array_equal(a["image"], b["image"])
    np.testing.assert_array_equal(a["scan"], b["scan"])
    np.testing.assert_array_equal(a["odom"], b["odom"])
    assert a["instruction"] == b["instruction"]


def drive_until(env: LangNavEnv, action: np.ndarray, stop, limit: int = 400):
    """Step ``action`` until ``stop(terminated, info)``; returns the last step's results."""
    for _ in range(limit):
        obs, reward, terminated, truncated, info = env.step(action)
        if stop(terminated, info):
            return obs, reward, terminated, truncated, info
    raise AssertionError(f"condition not reached in {limit} steps")


def test_the_env_passes_the_gymnasium_env_checker(env):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # inf lidar bounds and unnormalised actions are by design
        check_env(env, skip_render_check=True)


def test_gymnasium_make_works_after_importing_sim():
    assert sim.ENV_ID == "nav/LangNav-v0"
    environment = gym.make("nav/LangNav-v0")
    try:
        obs, _ = environment.reset(seed=0)
        assert obs in environment.observation_space
        assert environment.spec.max_episode_steps == CONFIG.task.max_episode_steps
    finally:
        environment.close()


def test_the_same_seed_and_actions_give_identical_rollouts():
    a, b = LangNavEnv(config=CONFIG), LangNavEnv(config=CONFIG)
    try:
        obs_a, info_a = a.reset(seed=123)
        obs_b, info_b = b.reset(seed=123)
        assert_same_observation(obs_a, obs_b)
        assert info_a == info_b
        for action in actions(30, seed=5):
            obs_a, reward_a, term_a, trunc_a, info_a = a.step(action)
            obs_b, reward_b, term_b, trunc_b, info_b = b.step(action)
            assert_same_observation(obs_a, obs_b)
            assert reward_a == reward_b
            assert (term_a, trunc_a) == (term_b, trunc_b)
            assert info_a == info_b
            if term_a:
                break
    finally:
        a.close()
        b.close()


def test_a_reset_with_the_same_seed_repeats_the_episode_in_the_same_env(env):
    obs_first, info_first = env.reset(seed=9)
    env.step(FORWARD)
    obs_again, info_again = env.reset(seed=9)

    assert_same_observation(obs_first, obs_again)
    assert info_first == info_again


def test_different_seeds_give_different_worlds(env):
    _, info_a = env.reset(seed=0)
    world_a = env.episode.world
    _, info_b = env.reset(seed=1)
    world_b = env.episode.world

    assert info_a["world_seed"] != info_b["world_seed"]
    assert world_a != world_b


def test_the_world_seed_option_picks_the_world(env):
    _, info = env.reset(seed=0, options={"world_seed": 42})

    assert info["world_seed"] == 42
    assert env.episode.world.seed == 42


def test_the_observation_holds_only_sensor_data_and_the_instruction(env):
    obs, _ = env.reset(seed=0)

    assert set(obs) == {"image", "scan", "instruction", "odom"}
    assert obs["image"].shape == (CONFIG.camera.height, CONFIG.camera.width, 3)
    assert obs["image"].dtype == np.uint8
    assert obs["scan"].shape == (CONFIG.lidar.beams,) and obs["scan"].dtype == np.float32
    assert obs["odom"].shape == (2,) and obs["odom"].dtype == np.float32
    assert isinstance(obs["instruction"], str) and obs["instruction"]


def test_info_holds_success_spl_inputs_collisions_and_reward_terms_that_sum_to_the_reward(env):
    _, info = env.reset(seed=4)
    for key in ("success", "shortest_path_length", "path_length", "collisions", "reward_terms"):
        assert key in info
    assert info["shortest_path_length"] > 0
    assert info["path_length"] == 0.0

    for action in actions(30, seed=2):
        _, reward, terminated, _, info = env.step(action)
        assert set(info["reward_terms"]) == {"progress", "success", "collision", "time"}
        assert sum(info["reward_terms"].values()) == pytest.approx(reward)
        if terminated:
            break
    assert info["path_length"] > 0


def test_standing_still_earns_only_the_time_penalty(env):
    env.reset(seed=4)

    _, reward, terminated, _, info = env.step(STILL)

    assert not terminated
    assert info["reward_terms"]["progress"] == pytest.approx(0.0, abs=1e-9)
    assert reward == pytest.approx(CONFIG.task.reward.time)


def test_driving_into_a_wall_ends_the_episode_when_collision_mode_is_end():
    env = LangNavEnv(config=with_task(collision_mode="end"))
    try:
        env.reset(seed=0)
        _, reward, terminated, truncated, info = drive_until(env, FORWARD, lambda term, info: info["collision"])
        assert terminated and not truncated
        assert not info["success"]
        assert info["collisions"] == 1
        assert info["reward_terms"]["collision"] == CONFIG.task.reward.collision
    finally:
        env.close()


def test_driving_into_a_wall_only_penalises_when_collision_mode_is_penalise():
    env = LangNavEnv(config=with_task(collision_mode="penalise"))
    try:
        env.reset(seed=0)
        _, _, terminated, _, info = drive_until(env, FORWARD, lambda term, info: info["collision"])
        assert not terminated
        assert info["reward_terms"]["collision"] == CONFIG.task.reward.collision

        _, _, terminated, _, info = env.step(FORWARD)  # still pushing into the wall
        assert not terminated
        assert info["collisions"] >= 2
    finally:
        env.close()


def test_the_time_limit_truncates_the_episode_at_max_episode_steps():
    env = make_env(with_task(max_episode_steps=5))
    try:
        env.reset(seed=0)
        for _ in range(4):
            _, _, terminated, truncated, _ = env.step(STILL)
            assert not terminated and not truncated
        _, _, terminated, truncated, info = env.step(STILL)
        assert truncated and not terminated
        assert info["steps"] == 5
    finally:
        env.close()


def test_an_instruction_naming_an_object_absent_from_the_world_raises_instruction_error(env):
    with pytest.raises(InstructionError, match="go to the purple cube"):
        env.reset(seed=0, options={"instruction": "go to the purple cube"})


def test_the_instruction_option_sets_the_goal_and_the_observed_instruction(env):
    env.reset(seed=0, options={"world_seed": 3})
    target = env.episode.world.targets[0]
    instruction = f"please go to the {target.colour} {target.shape}"

    obs, info = env.reset(seed=0, options={"world_seed": 3, "instruction": instruction})

    assert obs["instruction"] == instruction
    assert info["goal"] == target.name


def test_a_goal_with_an_instruction_keeps_the_words_as_given_and_the_goal_as_the_target(env):
    env.reset(seed=0, options={"world_seed": 3})
    target = env.episode.world.targets[0]
    words = "make for that crimson thing"  # not in the simulator's phrase table: grounded elsewhere

    obs, info = env.reset(
        seed=0, options={"world_seed": 3, "goal": (target.colour, target.shape), "instruction": words}
    )

    assert obs["instruction"] == words
    assert info["goal"] == target.name


def test_an_empty_instruction_is_refused_even_with_a_goal(env):
    env.reset(seed=0, options={"world_seed": 3})
    target = env.episode.world.targets[0]
    with pytest.raises(InstructionError, match="empty"):
        env.reset(seed=0, options={"world_seed": 3, "goal": (target.colour, target.shape), "instruction": "  "})


@pytest.mark.parametrize("words", ["your target: the {object}", "the {object}; go (now)!", "Go To The  {object}"])
def test_the_simulator_takes_every_instruction_the_agent_takes(env, words: str) -> None:
    env.reset(seed=0, options={"world_seed": 3})
    target = env.episode.world.targets[0]
    instruction = words.format(object=target.name)
    normalise_instruction(instruction)  # the agent takes it
    obs, _ = env.reset(
        seed=0, options={"world_seed": 3, "goal": (target.colour, target.shape), "instruction": instruction}
    )
    assert obs["instruction"] == instruction and env.observation_space["instruction"].contains(instruction)


def test_the_simulator_refuses_what_the_agent_refuses_with_the_agents_reason(env) -> None:
    env.reset(seed=0, options={"world_seed": 3})
    target = env.episode.world.targets[0]
    for bad in ("go to the red cube\x00", "go " * 50 + "there"):
        with pytest.raises(InstructionError) as agent:
            normalise_instruction(bad)
        with pytest.raises(InstructionError) as simulator:
            env.reset(seed=0, options={"world_seed": 3, "goal": (target.colour, target.shape), "instruction": bad})
        assert str(simulator.value) == str(agent.value)


def test_canonical_and_vocabulary_phrasings_give_the_same_episode_in_other_words() -> None:
    episodes = []
    for split in ("canonical", "vocabulary"):
        environment = LangNavEnv(config=with_task(instruction_split=split, world_split="unseen"))
        try:
            obs, info = environment.reset(seed=7)
            episodes.append((obs, info))
        finally:
            environment.close()
    (canonical, a), (vocabulary, b) = episodes
    assert a["goal"] == b["goal"] and canonical["instruction"] == f"go to the {a['goal']}"
    np.testing.assert_array_equal(canonical["image"], vocabulary["image"])  # same world, same start pose
    np.testing.assert_array_equal(canonical["scan"], vocabulary["scan"])
    assert vocabulary["instruction"] != canonical["instruction"]


def test_an_unknown_reset_option_is_refused(env):
    with pytest.raises(ValueError, match="world"):
        env.reset(seed=0, options={"wrold_seed": 3})


@pytest.mark.parametrize("action", [[math.nan, 0.0], [0.0, math.inf], [0.1]], ids=["nan", "inf", "one-number"])
def test_an_action_that_is_not_two_finite_numbers_raises_value_error(env, action):
    env.reset(seed=0)

    with pytest.raises(ValueError, match="finite"):
        env.step(np.array(action, dtype=np.float32))


def test_step_before_reset_is_refused(env):
    with pytest.raises(RuntimeError, match="reset"):
        env.step(STILL)


@pytest.mark.parametrize("train_worlds", [1000, 2**31])
def test_unseen_worlds_never_come_from_the_train_range(train_worlds):
    cfg = with_task(world_split="unseen", train_worlds=train_worlds)
    env = LangNavEnv(config=cfg)
    try:
        for seed in range(8):
            _, info = env.reset(seed=seed)
            assert info["world_seed"] >= cfg.task.train_worlds
    finally:
        env.close()


def test_train_worlds_come_from_the_train_range():
    cfg = with_task(world_split="train", train_worlds=3)
    env = LangNavEnv(config=cfg)
    try:
        seen = {env.reset(seed=seed)[1]["world_seed"] for seed in range(12)}
        assert seen <= {0, 1, 2}
    finally:
        env.close()


def test_turning_on_the_spot_at_the_start_brings_the_named_object_into_view(env):
    """start_in_view: nothing stands between the start and the object, so one turn finds it."""
    turn = np.array([0.0, env.config.robot.max_angular], dtype=np.float32)
    steps_per_turn = math.ceil(2 * math.pi / (env.config.robot.max_angular * env.dt)) + 2
    for seed in range(12):
        _, info = env.reset(seed=seed)
        seen = info["target_visible_px"] > 0
        for _ in range(steps_per_turn):
            if seen:
                break
            _, _, _, _, info = env.step(turn)
            seen = info["target_visible_px"] > 0
        assert seen, f"seed {seed}: the named object never came into view while turning at the start"


def test_info_says_where_the_named_object_is_relative_to_the_robot(env):
    _, info = env.reset(seed=3)
    target, pose = env.episode.target, env.pose
    bearing = math.atan2(target.y - pose.y, target.x - pose.x) - pose.yaw
    assert math.isclose(info["target_bearing"], math.atan2(math.sin(bearing), math.cos(bearing)), abs_tol=1e-9)
    assert info["target_distance"] < math.hypot(target.x - pose.x, target.y - pose.y)
    assert -1.0 <= info["target_column"] <= 1.0
    if info["target_visible_px"] == 0:
        assert info["target_column"] == 0.0
