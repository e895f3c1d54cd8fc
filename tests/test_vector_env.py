"""The grouped vector env: many envs in a few processes, each env's episodes exactly those of the env alone."""

from __future__ import annotations

import dataclasses
import os
import signal

import numpy as np
import pytest

from sim.config import load_sim_config
from sim.env import make_env
from sim.vector import GroupedVectorEnv, split_groups


@pytest.mark.unit
def test_envs_are_split_evenly_over_the_workers_and_never_more_workers_than_envs() -> None:
    assert split_groups(5, 2) == [range(0, 3), range(3, 5)]
    assert split_groups(2, 4) == [range(0, 1), range(1, 2)]
    with pytest.raises(ValueError, match="num_envs and workers"):
        split_groups(0, 2)


@pytest.mark.e2e
def test_each_env_of_the_vector_lives_the_episodes_it_would_alone_restarting_on_the_next_step() -> None:
    sim = load_sim_config()
    sim = sim.replace(task=dataclasses.replace(sim.task, max_episode_steps=12))  # episodes end inside the test
    n, steps = 3, 30
    rng = np.random.default_rng(0)
    actions = rng.uniform([-0.1, -1.0], [0.3, 1.0], size=(steps, n, 2)).astype(np.float32)

    alone = []  # per env: the observations and flags it yields by itself, autoreset by hand
    for i in range(n):
        env = make_env(sim)
        try:
            obs, _ = env.reset(seed=7 + i)
            trace, ended = [(obs["scan"].copy(), obs["image"].copy(), obs["instruction"], False, False)], False
            for t in range(steps):
                if ended:
                    obs, _ = env.reset()
                    te = tr = False
                else:
                    obs, _, te, tr, _ = env.step(actions[t, i])
                ended = te or tr
                trace.append((obs["scan"].copy(), obs["image"].copy(), obs["instruction"], te, tr))
            alone.append(trace)
        finally:
            env.close()

    vec = GroupedVectorEnv(sim, n, workers=2)
    try:
        assert [len(g) for g in vec.groups] == [2, 1]
        obs, _ = vec.reset(seed=7)
        traces = [[(obs["scan"][i], obs["image"][i], obs["instruction"][i], False, False)] for i in range(n)]
        for t in range(steps):
            obs, rewards, terminated, truncated, infos = vec.step(actions[t])
            assert rewards.shape == (n,) and terminated.dtype == np.bool_ and "_success" in infos
            for i in range(n):
                traces[i].append((obs["scan"][i], obs["image"][i], obs["instruction"][i], terminated[i], truncated[i]))
    finally:
        vec.close()

    ends = 0
    for i in range(n):
        for (scan_a, image_a, words_a, te_a, tr_a), (scan_b, image_b, words_b, te_b, tr_b) in zip(
            alone[i], traces[i], strict=True
        ):
            np.testing.assert_array_equal(scan_a, scan_b)
            np.testing.assert_array_equal(image_a, image_b)
            assert (words_a, bool(te_a), bool(tr_a)) == (words_b, bool(te_b), bool(tr_b))
            ends += int(te_a or tr_a)
    assert ends >= n  # every env finished at least one episode and went on into the next


@pytest.mark.e2e
def test_an_env_that_refuses_its_action_is_an_error_naming_why_and_the_vector_closes_cleanly() -> None:
    vec = GroupedVectorEnv(load_sim_config(), 2, workers=2)
    processes = list(vec._processes)
    try:
        vec.reset(seed=0)
        with pytest.raises(RuntimeError, match=r"worker 1 \(envs range\(1, 2\)\): step: ValueError: action must be"):
            vec.step(np.array([[0.1, 0.0], [np.nan, 0.0]], dtype=np.float32))
        obs, *_ = vec.step(np.zeros((2, 2), dtype=np.float32))  # both workers still answer in step
        assert obs["scan"].shape[0] == 2
    finally:
        vec.close()
    assert len(processes) == 2 and not any(process.is_alive() for process in processes)


@pytest.mark.e2e
def test_a_killed_worker_is_an_error_naming_it_not_a_hang() -> None:
    vec = GroupedVectorEnv(load_sim_config(), 2, workers=2)
    try:
        vec.reset(seed=0)
        victim = vec._processes[0]
        os.kill(victim.pid, signal.SIGKILL)
        victim.join(timeout=10)
        with pytest.raises(RuntimeError, match=r"worker 0 \(envs range\(0, 1\)\): the process died \(exit code -9\)"):
            vec.step(np.zeros((2, 2), dtype=np.float32))
    finally:
        vec.close()
