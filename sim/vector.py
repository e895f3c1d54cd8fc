"""Many envs in a few processes: a vector env whose workers each step a group of envs back to back.

Gymnasium's ``AsyncVectorEnv`` runs one env per process in lockstep: every vector step waits for the
dearest world of the step, and every env step pays a pipe round trip and a process wake-up
(``nav bench sim`` measured both: 0.5 of the cores' floor with one env per core). Here each of ``workers``
processes holds ``num_envs / workers`` envs and steps them one after another per vector step, so a step's
world-to-world differences average out inside a worker and the wake-up is paid once per group. The images,
scans and odometry come back through shared memory; rewards, flags, instructions and infos through the pipe.

Episodes restart the gymnasium way (``AutoresetMode.NEXT_STEP``): the step after an env's episode ended
resets it (its action is ignored) and returns the new episode's first observation with reward 0. Env ``i``
is reset with ``seed + i`` on the first ``reset(seed=...)``, as in ``AsyncVectorEnv``.
"""

from __future__ import annotations

import contextlib
import multiprocessing as mp
from collections.abc import Callable, Sequence
from multiprocessing.connection import Connection
from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium import spaces
from gymnasium.vector import AutoresetMode, VectorEnv
from gymnasium.vector.utils import batch_space

from sim.config import SimConfig

__all__ = ["GroupedVectorEnv", "split_groups"]

_ARRAYS = ("image", "scan", "odom")
"""The observation keys that travel through shared memory (fixed-shape arrays)."""


def split_groups(num_envs: int, workers: int) -> list[range]:
    """Env indices per worker: ``num_envs`` split as evenly as possible over ``workers`` (the first ones one more)."""
    if num_envs < 1 or workers < 1:
        raise ValueError(f"num_envs and workers must be >= 1, got {num_envs} and {workers}")
    workers = min(workers, num_envs)
    size, extra = divmod(num_envs, workers)
    groups, first = [], 0
    for w in range(workers):
        n = size + (w < extra)
        groups.append(range(first, first + n))
        first += n
    return groups


class GroupedVectorEnv(VectorEnv):
    """``num_envs`` copies of the env of ``sim`` in ``workers`` processes (spawned), grouped per process."""

    def __init__(
        self, sim: SimConfig, num_envs: int, workers: int, make: Callable[[SimConfig], gym.Env] | None = None
    ) -> None:
        """``make`` builds one env from ``sim`` in a worker (default :func:`sim.env.make_env`); it must pickle
        by reference (a module-level function)."""
        from sim.env import make_env

        make = make or make_env
        self.groups = split_groups(num_envs, workers)
        self.num_envs = num_envs
        probe = make(sim)  # the spaces, without stepping a world here
        try:
            self.single_observation_space = probe.observation_space
            self.single_action_space = probe.action_space
        finally:
            probe.close()
        self.observation_space = batch_space(self.single_observation_space, num_envs)
        self.action_space = batch_space(self.single_action_space, num_envs)
        self.metadata = {"autoreset_mode": AutoresetMode.NEXT_STEP}
        obs_space = self.single_observation_space
        assert isinstance(obs_space, spaces.Dict)
        context = mp.get_context("spawn")
        layout: dict[str, tuple[Any, tuple[int, ...], str]] = {}
        self._arrays: dict[str, np.ndarray] = {}
        for key in _ARRAYS:
            box = obs_space[key]
            assert isinstance(box, spaces.Box)
            shape, dtype = (num_envs, *box.shape), np.dtype(box.dtype)
            raw = context.RawArray("b", max(1, int(np.prod(shape)) * dtype.itemsize))  # handed to the workers at spawn
            layout[key] = (raw, shape, dtype.str)
            self._arrays[key] = _view(raw, shape, dtype.str)
        self._pipes: list[Connection] = []
        self._processes: list[Any] = []
        try:
            for group in self.groups:
                parent, child = context.Pipe()
                process = context.Process(
                    target=_worker, args=(child, sim, make, group.start, len(group), layout), daemon=True
                )
                process.start()
                child.close()
                self._pipes.append(parent)
                self._processes.append(process)
            self._gather()  # each worker says its envs are built (or why not)
        except BaseException:
            self.close()
            raise
        self.closed = False

    # ------------------------------------------------------------------ the vector API
    def reset(
        self, *, seed: int | Sequence[int] | None = None, options: dict[str, Any] | None = None
    ) -> tuple[dict[str, Any], dict[str, Any]]:
        seeds = _seeds(seed, self.num_envs)
        instructions, infos = [], []
        for words, group_infos in self._exchange([("reset", [seeds[i] for i in g], options) for g in self.groups]):
            instructions += words
            infos += group_infos
        return self._observations(instructions), _vector_infos(infos)

    def step(self, actions: Any) -> tuple[dict[str, Any], np.ndarray, np.ndarray, np.ndarray, dict[str, Any]]:
        actions = np.asarray(actions, dtype=np.float32).reshape(self.num_envs, -1)
        rewards, terminated, truncated, instructions, infos = [], [], [], [], []
        for r, te, tr, words, group_infos in self._exchange(
            [("step", actions[g.start : g.stop], None) for g in self.groups]
        ):
            rewards += r
            terminated += te
            truncated += tr
            instructions += words
            infos += group_infos
        return (
            self._observations(instructions),
            np.asarray(rewards, dtype=np.float64),
            np.asarray(terminated, dtype=np.bool_),
            np.asarray(truncated, dtype=np.bool_),
            _vector_infos(infos),
        )

    def call(self, name: str, *args: Any, **kwargs: Any) -> tuple[Any, ...]:
        """``name`` (a method, or an attribute when not callable) of every env, in env order."""
        answers = self._exchange([("call", (name, args, kwargs), None)] * len(self.groups))
        return tuple(result for results in answers for result in results)

    def close_extras(self, **kwargs: Any) -> None:
        for pipe in self._pipes:
            with contextlib.suppress(BrokenPipeError, OSError):  # a worker that died already
                pipe.send(("close", None, None))
        for process in self._processes:
            process.join(timeout=10)
            if process.is_alive():
                process.terminate()
        for pipe in self._pipes:
            pipe.close()
        self._pipes, self._processes = [], []

    # ------------------------------------------------------------------ helpers
    def _observations(self, instructions: list[str]) -> dict[str, Any]:
        obs: dict[str, Any] = {key: self._arrays[key].copy() for key in _ARRAYS}
        obs["instruction"] = tuple(instructions)
        return obs

    def _exchange(self, messages: list[tuple[str, Any, Any]]) -> list[Any]:
        """Send each worker its message, then its answers in worker order: see :meth:`_gather`."""
        sent = []
        for pipe, message in zip(self._pipes, messages, strict=True):
            try:
                pipe.send(message)
                sent.append(True)
            except (BrokenPipeError, OSError):  # the process is gone; _gather says so
                sent.append(False)
        return self._gather(sent)

    def _gather(self, sent: list[bool] | None = None) -> list[Any]:
        """Every worker's answer to the command just sent, in worker order; the first failure (an error in a
        worker, or a worker that died) raised once all have answered, so the pipes stay in step."""
        answers = []
        for worker, pipe in enumerate(self._pipes):
            try:
                if sent is not None and not sent[worker]:
                    raise EOFError
                answers.append(pipe.recv())
            except (EOFError, OSError):  # the process is gone: killed, or crashed in PyBullet
                process = self._processes[worker]
                process.join(timeout=1.0)
                answers.append((False, f"the process died (exit code {process.exitcode})"))
        for worker, (ok, payload) in enumerate(answers):
            if not ok:
                raise RuntimeError(f"vector env worker {worker} (envs {self.groups[worker]}): {payload}")
        return [payload for _, payload in answers]


def _view(raw: Any, shape: tuple[int, ...], dtype: str) -> np.ndarray:
    return np.frombuffer(raw, dtype=np.dtype(dtype), count=int(np.prod(shape))).reshape(shape)


def _seeds(seed: int | Sequence[int] | None, n: int) -> list[int | None]:
    if seed is None:
        return [None] * n
    if isinstance(seed, int):
        return [seed + i for i in range(n)]
    if len(seed) != n:
        raise ValueError(f"{len(seed)} seeds for {n} envs")
    return list(seed)


def _vector_infos(infos: list[dict[str, Any]]) -> dict[str, Any]:
    """Per-env info dicts as gymnasium's vector infos: each key an array over the envs, with ``_key`` saying
    which envs have it."""
    out: dict[str, Any] = {}
    n = len(infos)
    for key in {k for info in infos for k in info}:
        mask = np.array([key in info for info in infos])
        values = [info.get(key) for info in infos]
        if all(isinstance(v, bool | np.bool_) for v, m in zip(values, mask, strict=True) if m):
            array: np.ndarray = np.zeros(n, dtype=np.bool_)
        elif all(
            isinstance(v, int | float | np.number) and not isinstance(v, bool)
            for v, m in zip(values, mask, strict=True)
            if m
        ):
            array = np.zeros(n, dtype=np.float64)
        else:
            array = np.empty(n, dtype=object)
        for i, (v, m) in enumerate(zip(values, mask, strict=True)):
            if m:
                array[i] = v
        out[key], out[f"_{key}"] = array, mask
    return out


def _worker(
    pipe: Connection,
    sim: SimConfig,
    make: Callable[[SimConfig], gym.Env],
    first: int,
    count: int,
    layout: dict[str, Any],
) -> None:
    """One process: ``count`` envs, written into rows ``first..first+count`` of the shared observations."""
    arrays = {key: _view(raw, shape, dtype)[first : first + count] for key, (raw, shape, dtype) in layout.items()}
    try:
        try:
            envs: list[gym.Env] = [make(sim) for _ in range(count)]
        except Exception as error:  # noqa: BLE001 - reported to the parent, which raises it
            pipe.send((False, f"building the envs: {type(error).__name__}: {error}"))
            return
        pipe.send((True, None))
        ended = [False] * count

        def write(i: int, obs: dict[str, Any]) -> str:
            for key in _ARRAYS:
                arrays[key][i] = obs[key]
            return str(obs["instruction"])

        while True:
            command, data, options = pipe.recv()
            try:
                if command == "step":
                    rewards, terminated, truncated, words, infos = [], [], [], [], []
                    for i, env in enumerate(envs):
                        if ended[i]:  # NEXT_STEP autoreset: this step starts the next episode
                            obs, info = env.reset()
                            reward, te, tr = 0.0, False, False
                        else:
                            obs, r, te, tr, info = env.step(data[i])
                            reward = float(r)
                        ended[i] = bool(te or tr)
                        words.append(write(i, obs))
                        rewards.append(float(reward))
                        terminated.append(bool(te))
                        truncated.append(bool(tr))
                        infos.append(info)
                    pipe.send((True, (rewards, terminated, truncated, words, infos)))
                elif command == "reset":
                    words, infos = [], []
                    for i, (env, seed) in enumerate(zip(envs, data, strict=True)):
                        obs, info = env.reset(seed=seed, options=options)
                        ended[i] = False
                        words.append(write(i, obs))
                        infos.append(info)
                    pipe.send((True, (words, infos)))
                elif command == "call":
                    name, args, kwargs = data
                    results = []
                    for env in envs:
                        attribute = env.get_wrapper_attr(name)
                        results.append(attribute(*args, **kwargs) if callable(attribute) else attribute)
                    pipe.send((True, results))
                elif command == "close":
                    break
                else:
                    pipe.send((False, f"unknown command {command!r}"))
            except Exception as error:  # noqa: BLE001 - reported to the parent, which raises it
                pipe.send((False, f"{command}: {type(error).__name__}: {error}"))
        for env in envs:
            env.close()
    finally:
        pipe.close()
