"""Episodes on a Ray cluster: evaluation (``nav eval --ray [ADDRESS]``) and collection (``nav train --ray``);
``pip install .[cluster]``.

Each Ray actor holds one PyBullet client (one env) and what drives it (a controller; or the teacher and the
learner), built once, and runs the tasks it is handed one at a time (an evaluation episode by its seed; a
collection chunk), as a local worker process does: the same seeds give the same episodes on either path.
The driver keeps every actor busy with the next task; when an actor dies (its node lost, its process
killed) the task it held is handed to a fresh actor, so every task comes back exactly once: results are
kept by key, and a key is only ever held by one actor at a time. Collection shards are written by the
driver as the chunks come back, in the run's ``out_dir`` (reused on resume, as locally).

Ray is imported here only, and only when a Ray path is asked for: the local default needs no Ray.
"""

from __future__ import annotations

import os
from collections import deque
from collections.abc import Callable, Hashable, Iterator, Sequence
from pathlib import Path
from typing import Any

from sim.config import SimConfig
from sim.metrics import EpisodeResult

__all__ = ["LOCAL", "ClusterError", "collect_on_ray", "connect", "run_episodes_on_ray", "run_on_actors"]

MAX_ATTEMPTS = 3
"""Actors one seed may be handed to before the run fails (a seed that kills every actor is a bug, not a fault)."""


class ClusterError(RuntimeError):
    """The Ray cluster could not be used (Ray missing, no cluster at the address, a seed failing every time)."""


def _ray() -> Any:
    try:
        import ray
    except ImportError as exc:  # the optional extra
        raise ClusterError("--ray needs Ray: pip install '.[cluster]' (the local path needs nothing more)") from exc
    return ray


LOCAL = "local"
"""The address that asks for Ray's default: ``$RAY_ADDRESS`` when set, else a Ray instance started for this run."""


def connect(address: str) -> Any:
    """Join the Ray cluster at ``address`` (``host:port``; ``auto``: the one started on this machine with ``ray
    start``; :data:`LOCAL`: Ray's default), once per process; returns the ``ray`` module."""
    ray = _ray()
    if not ray.is_initialized():
        try:
            ray.init(
                address=None if address == LOCAL else address,
                log_to_driver=False,
                include_dashboard=False,
                configure_logging=False,
            )
        except (ConnectionError, RuntimeError, ValueError) as exc:
            raise ClusterError(f"no Ray cluster at {address!r}: {exc}") from exc
    return ray


class _EpisodeWorker:
    """One env and one controller: the body of an evaluation actor."""

    def __init__(self, name: str, sim: SimConfig, model_root: str, threads: int) -> None:
        import torch

        from policy.evaluation import _Timed, build_controller
        from sim.env import make_env

        torch.set_num_threads(threads)
        self.env = make_env(sim)
        self.controller = _Timed(build_controller(name, self.env.unwrapped, Path(model_root)))

    def run(self, seed: int) -> tuple[EpisodeResult, list[float]]:
        from sim.rollout import run_episode

        self.controller.latencies_ms.clear()
        result, _ = run_episode(self.env, self.controller, seed=seed)
        return result, list(self.controller.latencies_ms)

    def process_id(self) -> int:
        return os.getpid()


class _CollectionWorker:
    """One env, the teacher and the learner: the body of a collection actor
    (:mod:`policy.training.collection`)."""

    def __init__(self, *init_args: Any) -> None:
        from policy.training.collection import _init_collector

        _init_collector(*init_args)

    def run(self, task: tuple[int, list[int], list[bool]]) -> Any:
        from policy.training.collection import _collect_chunk

        return _collect_chunk(task)[1]

    def process_id(self) -> int:
        return os.getpid()


def run_on_actors(
    body: type,
    init_args: tuple[Any, ...],
    tasks: Sequence[tuple[Hashable, Any]],
    workers: int,
    address: str,
    on_start: Callable[[list[int]], None] | None = None,
    on_lost: Callable[[Hashable, str], None] | None = None,
) -> Iterator[tuple[Hashable, Any]]:
    """``(key, body.run(payload))`` for each ``(key, payload)`` of ``tasks``, as they finish, from ``workers``
    Ray actors of one CPU each built as ``body(*init_args)``. Each actor holds one task at a time; when one dies
    (its process killed, its node lost), its task goes to a fresh actor, so every key comes back exactly once.
    ``on_start`` gets the actors' process ids once they are up; ``on_lost`` each key whose actor died under
    it, and why."""
    ray = connect(address)
    actor_class = ray.remote(num_cpus=1, max_restarts=0)(body)
    payloads = dict(tasks)
    if len(payloads) != len(tasks):
        raise ValueError("task keys must be distinct")
    pending = deque(payloads)
    attempts = dict.fromkeys(payloads, 0)
    returned: set[Hashable] = set()
    running: dict[Any, tuple[Any, Hashable]] = {}  # future -> (actor, key)
    idle = [actor_class.remote(*init_args) for _ in range(max(1, min(workers, len(pending))))]
    try:
        try:
            pids = ray.get([a.process_id.remote() for a in idle])  # every actor up, its env built
        except ray.exceptions.RayActorError as exc:
            raise ClusterError(f"the {body.__name__} actors could not start: {exc}") from exc
        if on_start is not None:
            on_start(pids)
        while pending or running:
            while pending and idle:
                actor, key = idle.pop(), pending.popleft()
                attempts[key] += 1
                running[actor.run.remote(payloads[key])] = (actor, key)
            ready, _ = ray.wait(list(running), num_returns=1)
            actor, key = running.pop(ready[0])
            try:
                result = ray.get(ready[0])
            except (
                ray.exceptions.RayActorError,
                ray.exceptions.WorkerCrashedError,
                ray.exceptions.NodeDiedError,
            ) as exc:
                if attempts[key] >= MAX_ATTEMPTS:
                    raise ClusterError(f"task {key!r} failed on {attempts[key]} actors in a row: {exc}") from exc
                if on_lost is not None:
                    on_lost(key, type(exc).__name__)
                pending.appendleft(key)  # to a fresh actor; nothing of the lost attempt was kept
                ray.kill(actor, no_restart=True)
                idle.append(actor_class.remote(*init_args))
                continue
            if key in returned:  # cannot happen: a key is held by one actor at a time
                raise ClusterError(f"task {key!r} came back twice")
            returned.add(key)
            idle.append(actor)
            yield key, result
    finally:
        for actor in [*idle, *(a for a, _ in running.values())]:
            ray.kill(actor, no_restart=True)


def run_episodes_on_ray(
    name: str,
    sim: SimConfig,
    seeds: Sequence[int],
    model_root: Path,
    threads: int,
    workers: int,
    address: str,
    on_start: Callable[[list[int]], None] | None = None,
    on_lost: Callable[[Hashable, str], None] | None = None,
) -> tuple[list[EpisodeResult], list[float]]:
    """The episodes of ``seeds`` (results in the order of ``seeds``) and every ``act`` latency (ms), one seed
    at a time on ``workers`` evaluation actors (:func:`run_on_actors`)."""
    done: dict[Hashable, tuple[EpisodeResult, list[float]]] = dict(
        run_on_actors(
            _EpisodeWorker,
            (name, sim, str(model_root), threads),
            [(s, s) for s in seeds],
            workers,
            address,
            on_start,
            on_lost,
        )
    )
    return [done[s][0] for s in seeds], [x for s in seeds for x in done[s][1]]


def collect_on_ray(
    init_args: tuple[Any, ...],
    tasks: Sequence[tuple[int, list[int], list[bool]]],
    workers: int,
    address: str,
    on_start: Callable[[list[int]], None] | None = None,
    on_lost: Callable[[Hashable, str], None] | None = None,
) -> Iterator[tuple[int, Any]]:
    """``(chunk, episodes)`` of each collection task as it finishes, on ``workers`` collection actors built
    with :func:`policy.training.collection._init_collector`'s ``init_args``."""
    for chunk, episodes in run_on_actors(
        _CollectionWorker, init_args, [(t[0], t) for t in tasks], workers, address, on_start, on_lost
    ):
        yield int(chunk), episodes  # type: ignore[call-overload]
