"""Closed-loop evaluation of controllers over seeded episodes (``nav eval``, ``nav teacher-eval``, training).

Episode ``i`` of an evaluation is reset with seed ``seed + i`` in the simulator set to a world split
(``train`` worlds or ``unseen`` ones training never drew) and an instruction split (``train`` phrasings or
``heldout`` templates and words training never saw). ``nav eval`` names three combinations (:data:`SPLITS`):

- ``train``: train worlds, train phrasings;
- ``unseen``: worlds training never drew, train phrasings;
- ``heldout``: unseen worlds and held-out phrasings.

:func:`evaluate` runs a controller built by a factory in this process (the teacher, or the model being
trained); :func:`evaluate_controller` runs a controller named as ``nav eval`` names it, its episodes spread
over worker processes, and adds the latency of its ``act`` (p50/p99 ms, pre-processing and inference
together). Both run their episodes through :func:`run_episodes`.
"""

from __future__ import annotations

import dataclasses
import multiprocessing as mp
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
from tqdm import tqdm

from configs import models_dir as shipped_models_dir
from perception.errors import InstructionError
from sim.config import SimConfig, load_sim_config
from sim.env import make_env
from sim.metrics import EpisodeResult, summarize
from sim.perturbations import parse_perturbations
from sim.rollout import Controller, run_episode

WorldSplit = Literal["train", "unseen"]
InstructionSplit = Literal["train", "heldout", "canonical", "vocabulary"]
Split = Literal["train", "unseen", "heldout", "vocabulary"]
SPLITS: dict[str, tuple[WorldSplit, tuple[InstructionSplit, ...]]] = {
    "train": ("train", ("train",)),
    "unseen": ("unseen", ("train",)),
    "heldout": ("unseen", ("heldout",)),
    "vocabulary": ("unseen", ("canonical", "vocabulary")),
}
"""split -> (world split, its instruction splits). ``vocabulary`` runs every controller twice on the same
episodes: phrased canonically, and in the words of the held-out vocabulary's ``report`` half
(``configs/vocabulary.yaml``), a row each."""

REFERENCE_CONTROLLERS = ("teacher", "classical", "random")

GUARD_SUFFIX = "+guard"
"""``<controller>+guard``: that controller behind the robot's collision guard (``ros.yaml`` ``guard``)."""

ControllerFactory = Callable[[Any], Controller]
"""Builds a controller for an env (``env.unwrapped``, a :class:`sim.env.LangNavEnv`)."""


def models_dir() -> Path:
    """The shipped models (:func:`configs.models_dir`)."""
    return shipped_models_dir()


@dataclass(frozen=True)
class EvalConfig:
    """Which seeded episodes :func:`evaluate` runs."""

    episodes: int = 200
    """Number of episodes; episode i is reset with seed ``seed + i``."""
    seed: int = 0
    world_split: WorldSplit = "train"
    instruction_split: InstructionSplit = "train"
    progress: bool = True
    """Show a progress bar (on stderr)."""

    def __post_init__(self) -> None:
        if self.episodes < 1:
            raise ValueError(f"episodes must be >= 1, got {self.episodes}")
        if self.world_split not in ("train", "unseen"):
            raise ValueError(f"world_split must be train or unseen, got {self.world_split!r}")
        if self.instruction_split not in ("train", "heldout", "canonical", "vocabulary"):
            raise ValueError(
                f"instruction_split must be train, heldout, canonical or vocabulary, got {self.instruction_split!r}"
            )

    @property
    def seeds(self) -> list[int]:
        """The reset seed of each episode, in order."""
        return [self.seed + i for i in range(self.episodes)]


@dataclass(frozen=True)
class EvalTableConfig:
    """What ``nav eval`` runs: controllers by name on the episodes of a named split."""

    controllers: tuple[str, ...] = ("medium", "teacher", "classical", "random")
    """Model variants (folders under ``models_dir``) and/or teacher, classical, random."""
    split: Split = "unseen"
    episodes: int = 200
    seed: int = 0
    workers: int = 2
    models_dir: Path | None = None
    torch_threads: int = 1
    """Threads per worker for model inference (workers x threads should not exceed the cores)."""
    perturbations: tuple[str, ...] = ()
    """``name[=strength]`` items of :data:`sim.perturb.PERTURBATIONS` applied to every episode (none: clean)."""
    ray: str | None = None
    """Run the episodes on the Ray cluster at this address (``host:port``, ``auto``, or ``local``: Ray's default),
    ``workers`` actors of one CPU each (:mod:`policy.cluster`); None: local processes."""

    def __post_init__(self) -> None:
        from sim.perturbations import parse_perturbations

        parse_perturbations(self.perturbations)
        if self.split not in SPLITS:
            raise ValueError(f"unknown split {self.split!r}; known: {sorted(SPLITS)}")
        if self.episodes < 1 or self.workers < 1:
            raise ValueError("episodes and workers must be >= 1")

    @property
    def phrasings(self) -> tuple[InstructionSplit, ...]:
        """The split's instruction splits: one row per controller and phrasing."""
        return SPLITS[self.split][1]

    def episode_config(self, phrasing: InstructionSplit | None = None) -> EvalConfig:
        """The episodes every controller runs: ``split``'s worlds, ``seed + i``, phrased by ``phrasing`` (default
        the split's first)."""
        world_split, phrasings = SPLITS[self.split]
        instruction_split = phrasings[0] if phrasing is None else phrasing
        return EvalConfig(
            episodes=self.episodes,
            seed=self.seed,
            world_split=world_split,
            instruction_split=instruction_split,
            progress=False,
        )


def split_config(sim: SimConfig, world_split: WorldSplit, instruction_split: InstructionSplit) -> SimConfig:
    """``sim`` with the task's world and instruction splits set."""
    task = dataclasses.replace(sim.task, world_split=world_split, instruction_split=instruction_split)
    return sim.replace(task=task)


class _Timed:
    """Wraps a controller and records how long each ``act`` takes. An instruction the controller refuses
    (:class:`InstructionError`: the grounding names no known object) holds the robot still, as the agent
    does on a robot; the episode then fails, and ``refused_acts`` counts such steps."""

    def __init__(self, inner: Controller) -> None:
        self.inner = inner
        self.latencies_ms: list[float] = []
        self.refused_acts = 0

    def reset(self) -> None:
        self.inner.reset()

    def act(self, obs: dict[str, Any], info: dict[str, Any]) -> np.ndarray:
        t0 = time.perf_counter()
        try:
            action = self.inner.act(obs, info)
        except InstructionError:
            self.refused_acts += 1
            action = np.zeros(2, dtype=np.float32)
        self.latencies_ms.append((time.perf_counter() - t0) * 1000.0)
        return action


def run_episodes(
    make_controller: ControllerFactory, sim: SimConfig, seeds: Sequence[int], progress: bool = False
) -> tuple[list[EpisodeResult], list[float]]:
    """One env of ``sim``, one controller built for it, one episode per seed (reset with that seed, in
    order); returns the results and the latency of every ``act`` (ms)."""
    env = make_env(sim)
    try:
        controller = _Timed(make_controller(env.unwrapped))
        results = [
            run_episode(env, controller, seed=seed)[0]
            for seed in tqdm(seeds, disable=not progress, desc="episodes", unit="ep")
        ]
    finally:
        env.close()
    return results, controller.latencies_ms


def evaluate(
    make_controller: ControllerFactory, config: EvalConfig, sim: SimConfig | None = None
) -> tuple[dict[str, Any], list[EpisodeResult]]:
    """Run ``config``'s episodes in this process; ``make_controller(env.unwrapped)`` builds the controller
    once. Returns the metrics (with the seed and the splits) and the per-episode results."""
    sim_cfg = split_config(sim or load_sim_config(), config.world_split, config.instruction_split)
    results, _ = run_episodes(make_controller, sim_cfg, config.seeds, config.progress)
    summary: dict[str, Any] = dict(summarize(results))
    summary.update(seed=config.seed, world_split=config.world_split, instruction_split=config.instruction_split)
    return summary, results


def evaluate_teacher(config: EvalConfig, sim: SimConfig | None = None) -> dict[str, Any]:
    """Metrics of the privileged teacher (``nav teacher-eval``)."""
    from sim.teacher import Teacher

    summary, _ = evaluate(Teacher, config, sim)
    return summary


def build_controller(name: str, env: Any, model_root: Path) -> Any:
    """A controller by name: a reference controller or a model variant folder under ``model_root``;
    with the ``+guard`` suffix, behind the collision guard the robot's mux applies."""
    if name.endswith(GUARD_SUFFIX):
        from nav.runtime.guard import GuardedController, load_guard_config
        from policy.processing import ScanGeometry

        inner = build_controller(name[: -len(GUARD_SUFFIX)], env, model_root)
        geometry = ScanGeometry.from_lidar_config(env.config.lidar)
        return GuardedController(inner, load_guard_config(), geometry, 1.0 / env.config.task.control_hz)
    if name == "teacher":
        from sim.teacher import Teacher

        return Teacher(env)
    if name == "classical":
        from policy.baselines import ClassicalController

        return ClassicalController(fov_deg=env.config.camera.fov_deg)
    if name == "random":
        from policy.baselines import RandomController

        return RandomController(env.config.robot.max_linear, env.config.robot.max_angular)
    folder = model_root / name
    if not (folder / "manifest.json").exists():
        raise FileNotFoundError(
            f"no model {name!r}: {folder / 'manifest.json'} does not exist (train it with nav train)"
        )
    from policy.controller import PolicyController
    from policy.processing import ScanGeometry

    return PolicyController.from_directory(folder, ScanGeometry.from_lidar_config(env.config.lidar))


def _worker(task: tuple[str, SimConfig, list[int], Path, int]) -> tuple[list[EpisodeResult], list[float]]:
    """One process's share of :func:`evaluate_controller`: the named controller on ``seeds``."""
    name, sim_cfg, seeds, model_root, threads = task
    from perception.threads import torch_threads

    with torch_threads(threads):  # in this process when there is one worker: the caller's count comes back
        return run_episodes(lambda env: build_controller(name, env, model_root), sim_cfg, seeds)


def controller_episodes(
    name: str, config: EvalTableConfig, sim: SimConfig | None = None, phrasing: InstructionSplit | None = None
) -> tuple[SimConfig, list[EpisodeResult], list[float]]:
    """The episodes :func:`evaluate_controller` runs: the sim config they ran in, the results in seed order, and
    every ``act`` latency (ms). Local: the seeds dealt round-robin over ``config.workers`` processes (one: in
    this process); with ``config.ray``, Ray actors (:func:`policy.cluster.run_episodes_on_ray`)."""
    episodes = config.episode_config(phrasing)
    sim_cfg = split_config(sim or load_sim_config(), episodes.world_split, episodes.instruction_split)
    if config.perturbations:
        sim_cfg = sim_cfg.replace(perturbations=config.perturbations)
    seeds = list(episodes.seeds)
    root = Path(config.models_dir) if config.models_dir is not None else models_dir()
    if config.ray is not None:
        from policy.cluster import run_episodes_on_ray

        results, latencies = run_episodes_on_ray(
            name, sim_cfg, seeds, root, config.torch_threads, config.workers, config.ray
        )
        return sim_cfg, results, latencies
    chunks = [seeds[i :: config.workers] for i in range(config.workers) if seeds[i :: config.workers]]
    tasks = [(name, sim_cfg, chunk, root, config.torch_threads) for chunk in chunks]
    if len(tasks) == 1:
        parts = [_worker(tasks[0])]
    else:
        with mp.get_context("spawn").Pool(len(tasks)) as pool:
            parts = pool.map(_worker, tasks)
    by_seed: dict[int, EpisodeResult] = {}
    for (part, _), chunk in zip(parts, chunks, strict=True):
        by_seed.update(zip(chunk, part, strict=True))
    return sim_cfg, [by_seed[s] for s in seeds], [x for _, lat in parts for x in lat]


def evaluate_controller(
    name: str, config: EvalTableConfig, sim: SimConfig | None = None, phrasing: InstructionSplit | None = None
) -> dict[str, Any]:
    """Metrics of one controller (by :func:`build_controller` name) on the config's split and seeds, phrased by
    ``phrasing`` (default the split's first), run as :func:`controller_episodes` says. With a split of several
    phrasings the row's ``controller`` names the phrasing."""
    episodes = config.episode_config(phrasing)
    sim_cfg, results, lat = controller_episodes(name, config, sim, phrasing)
    latencies = np.array(lat) if lat else np.zeros(1)
    summary: dict[str, Any] = dict(summarize(results))
    summary.update(
        controller=name if len(config.phrasings) == 1 else f"{name} ({episodes.instruction_split})",
        phrasing=episodes.instruction_split,
        perturbations=",".join(str(q) for q in parse_perturbations(sim_cfg.perturbations)) or "clean",
        latency_ms_p50=round(float(np.percentile(latencies, 50)), 3),
        latency_ms_p99=round(float(np.percentile(latencies, 99)), 3),
    )
    return summary


def evaluate_table(config: EvalTableConfig, sim: SimConfig | None = None) -> list[dict[str, Any]]:
    """:func:`evaluate_controller` rows of every controller of ``config``, for each of the split's phrasings."""
    return [evaluate_controller(n, config, sim, p) for n in config.controllers for p in config.phrasings]


def robustness_rows(config: EvalTableConfig, sim: SimConfig | None = None, log: Any = None) -> list[dict[str, Any]]:
    """``nav eval --robustness``: each controller clean, then under every perturbation at its default strength,
    on the same seeded episodes."""
    from sim.perturbations import PERTURBATIONS

    rows = []
    for name in config.controllers:
        for perturbation in ("", *PERTURBATIONS):
            case = dataclasses.replace(config, perturbations=(perturbation,) if perturbation else ())
            if log is not None:
                log(f"eval: {name}, {perturbation or 'clean'}, {config.episodes} {config.split} episodes")
            rows.append(evaluate_controller(name, case, sim))
    return rows


def format_robustness(rows: Sequence[dict[str, Any]]) -> str:
    """Markdown table of :func:`robustness_rows`: each perturbation's row beside its controller's clean one."""
    clean = {r["controller"]: r["success_rate"] for r in rows if r["perturbations"] == "clean"}
    lines = [
        "| controller | perturbation | success | change | SPL | collisions |",
        "|---|---|---:|---:|---:|---:|",
    ]
    for r in rows:
        change = r["success_rate"] - clean.get(r["controller"], r["success_rate"])
        lines.append(
            f"| {r['controller']} | {r['perturbations']} | {r['success_rate']:.3f} | {change:+.3f} | {r['spl']:.3f} | "
            f"{r['collision_rate']:.3f} |"
        )
    return "\n".join(lines)


def format_rows(rows: Sequence[dict[str, Any]], split: str) -> str:
    """Markdown table of :func:`evaluate_table` rows."""
    lines = [
        f"| controller ({split}) | success | SPL | collisions | time to goal (s) | act p50 / p99 (ms) |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        ttg = r["time_to_goal_s"]
        ttg_text = "-" if ttg is None or not np.isfinite(ttg) else f"{ttg:.1f}"
        lines.append(
            f"| {r['controller']} | {r['success_rate']:.3f} | {r['spl']:.3f} | {r['collision_rate']:.3f} | "
            f"{ttg_text} | {r['latency_ms_p50']:.2f} / {r['latency_ms_p99']:.2f} |"
        )
    return "\n".join(lines)
