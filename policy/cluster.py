"""Closed-loop episodes on a Ray cluster (``nav eval --ray [ADDRESS]``; ``pip install .[cluster]``).

Each Ray actor holds one PyBullet client (one env) and one controller, built once, and runs the episodes it
is handed one seed at a time, as :func:`policy.evaluation.run_episodes` does in a local worker: the same seed
gives the same episode on either path. The driver keeps every actor busy with the next seed; when an actor
dies (its node lost, its process killed) the seed it held is handed to a fresh actor, so every episode is
counted exactly once: results are kept by seed, and a seed is only ever held by one actor at a time.

Ray is imported here only, and only when a Ray path is asked for: the local default needs no Ray.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from sim.config import SimConfig
from sim.metrics import EpisodeResult

__all__ = ["LOCAL", "ClusterError", "connect", "run_episodes_on_ray"]

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
    """One env and one controller (the body of the Ray actor)."""

    def __init__(self, name: str, sim: SimConfig, model_root: str, threads: int) -> None:
        import os

        import torch

        from policy.evaluation import _Timed, build_controller
        from sim.env import make_env

        torch.set_num_threads(threads)
        self.env = make_env(sim)
        self.controller = _Timed(build_controller(name, self.env.unwrapped, Path(model_root)))
        self.pid = os.getpid()

    def run(self, seed: int) -> tuple[int, EpisodeResult, list[float]]:
        from sim.rollout import run_episode

        self.controller.latencies_ms.clear()
        result, _ = run_episode(self.env, self.controller, seed=seed)
        return seed, result, list(self.controller.latencies_ms)

    def process_id(self) -> int:
        return self.pid


def run_episodes_on_ray(
    name: str,
    sim: SimConfig,
    seeds: Sequence[int],
    model_root: Path,
    threads: int,
    workers: int,
    address: str,
    on_start: Callable[[list[int]], None] | None = None,
    on_lost: Callable[[int, str], None] | None = None,
) -> tuple[list[EpisodeResult], list[float]]:
    """The episodes of ``seeds`` (results in the order of ``seeds``) and every ``act`` latency (ms), run by
    ``workers`` Ray actors of one CPU each. ``on_start`` gets the actors' process ids once they are up;
    ``on_lost`` gets each seed whose actor died under it, and why, before it is handed to a fresh actor."""
    ray = connect(address)
    actor_class = ray.remote(num_cpus=1, max_restarts=0)(_EpisodeWorker)
    pending = deque(dict.fromkeys(seeds))
    attempts = dict.fromkeys(pending, 0)
    done: dict[int, EpisodeResult] = {}
    latencies: list[float] = []
    running: dict[Any, tuple[Any, int]] = {}  # future -> (actor, seed)
    idle: list[Any] = []

    def spawn() -> Any:
        return actor_class.remote(name, sim, str(model_root), threads)

    actors = [spawn() for _ in range(max(1, min(workers, len(pending))))]
    if on_start is not None:
        on_start(ray.get([a.process_id.remote() for a in actors]))
    idle.extend(actors)
    while pending or running:
        while pending and idle:
            actor, seed = idle.pop(), pending.popleft()
            attempts[seed] += 1
            running[actor.run.remote(seed)] = (actor, seed)
        ready, _ = ray.wait(list(running), num_returns=1)
        actor, seed = running.pop(ready[0])
        try:
            got_seed, result, lat = ray.get(ready[0])
        except (ray.exceptions.RayActorError, ray.exceptions.WorkerCrashedError, ray.exceptions.NodeDiedError) as exc:
            if attempts[seed] >= MAX_ATTEMPTS:
                raise ClusterError(f"episode seed {seed} failed on {attempts[seed]} actors in a row: {exc}") from exc
            if on_lost is not None:
                on_lost(seed, type(exc).__name__)
            pending.appendleft(seed)  # to a fresh actor; nothing of the lost attempt was counted
            ray.kill(actor, no_restart=True)
            idle.append(spawn())
            continue
        if got_seed in done:  # cannot happen: a seed is held by one actor at a time
            raise ClusterError(f"episode seed {got_seed} came back twice")
        done[got_seed] = result
        latencies.extend(lat)
        idle.append(actor)
    for actor in idle:
        ray.kill(actor, no_restart=True)
    return [done[s] for s in seeds], latencies
