"""``nav experiment adapt``: static model variants against the resource monitor, under real CPU load.

Closed-loop episodes in-process, without DDS: the simulator (``task.action_latency`` on, so each
action acts after the measured compute time of its tick), the agent's decision core
(:class:`nav.runtime.agent.AgentCore`, the code the agent node runs) and, for the adaptive run, the
monitor's decision (:class:`nav.runtime.monitor.VariantMonitor`). Each run goes through the same load
profile from ``configs/monitor.yaml``: idle, then contention (busy-loop processes on every core,
:class:`nav.experiments.cpu_load.CpuBurners`), then idle again. Phases are counted in control-loop time
(ticks at ``task.control_hz``); the loop itself runs as fast as the compute allows. Each phase
draws its episodes from its own block of seeds, the same in every run, so a phase's episodes are
paired across runs however far an earlier phase got; success under idle is compared on the idle
episodes every run completed (``idle`` in the summary).

A tick's latency is the wall time of ``AgentCore.tick`` (pre-processing + network); a deadline
miss is a tick over the monitor's ``budget_ms``.
"""

from __future__ import annotations

import dataclasses
import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np

from configs import load
from nav.experiments.cpu_load import CpuBurners
from nav.runtime.agent import AgentCore, Timeouts
from nav.runtime.monitor import DEFAULT_MONITOR_CONFIG, MonitorConfig, VariantMonitor, load_monitor_config
from nav.runtime.resources import ResourceSampler

__all__ = ["ExperimentConfig", "Phase", "Profile", "load_experiment_config", "run_adapt_experiment"]

RUN_NAMES = ("static_small", "static_medium", "static_large", "adaptive")
PHASE_SEED_STRIDE = 100_000
"""Phase ``k`` of a run draws its episode seeds from ``seed + k * PHASE_SEED_STRIDE`` upward."""


@dataclass(frozen=True)
class Phase:
    name: str
    load: Literal["idle", "contention"]
    seconds: float
    """Control-loop time (ticks / control_hz)."""

    def __post_init__(self) -> None:
        if self.seconds <= 0:
            raise ValueError(f"phase {self.name}: seconds must be > 0")


@dataclass(frozen=True)
class Profile:
    episode_seconds: float
    """Time limit of one episode (control-loop time); episodes run back to back through the phases."""
    phases: tuple[Phase, ...]

    def __post_init__(self) -> None:
        if self.episode_seconds <= 0 or not self.phases:
            raise ValueError("a profile needs episode_seconds > 0 and at least one phase")


@dataclass(frozen=True)
class ExperimentConfig:
    runs: tuple[str, ...] = RUN_NAMES
    adaptive_start: str = "large"
    burners: int = 0
    """Busy-loop processes during contention; 0: one per CPU core."""
    seed: int = 0
    profiles: dict[str, Profile] = field(default_factory=dict)

    def __post_init__(self) -> None:
        bad = [r for r in self.runs if r != "adaptive" and not r.startswith("static_")]
        if bad or not self.runs:
            raise ValueError(f"runs must be 'adaptive' or 'static_<variant>', got {list(self.runs)}")
        for name in ("full", "quick"):
            if name not in self.profiles:
                raise ValueError(f"profiles.{name} is missing")
        if self.burners < 0:
            raise ValueError("burners must be >= 0")


def load_experiment_config(path: str | Path = DEFAULT_MONITOR_CONFIG) -> ExperimentConfig:
    return load(ExperimentConfig, path, section="experiment")


@dataclass
class _Episode:
    phase: str
    success: bool = False
    shortest_path_length: float = 0.0
    path_length: float = 0.0
    done: bool = False


@dataclass
class _RunLog:
    t: list[float] = field(default_factory=list)
    phase: list[str] = field(default_factory=list)
    variant: list[str] = field(default_factory=list)
    latency_ms: list[float] = field(default_factory=list)
    reasons: list[tuple[float, str, str]] = field(default_factory=list)
    """(time, new variant, reason) of every switch decision."""
    episodes: list[_Episode] = field(default_factory=list)
    cpu_percent: dict[str, list[float]] = field(default_factory=dict)


def _variants_needed(config: ExperimentConfig, monitor: MonitorConfig) -> list[str]:
    needed: list[str] = []
    for run in config.runs:
        names = list(monitor.ladder) if run == "adaptive" else [run.removeprefix("static_")]
        needed += [n for n in names if n not in needed]
    return needed


def load_policies(models_dir: Path, variants: list[str], geometry: Any) -> dict[str, Any]:
    """A PolicyController per variant; a missing model folder is a FileNotFoundError naming the variant."""
    from perception.language import default_encoder
    from policy.controller import PolicyController

    missing = [v for v in variants if not (models_dir / v / "manifest.json").exists()]
    if missing:
        raise FileNotFoundError(
            f"no model for variant(s) {', '.join(missing)} under {models_dir} "
            f"(expected {models_dir / missing[0] / 'manifest.json'}); the experiment needs {', '.join(variants)}"
        )
    encoder = default_encoder()
    return {v: PolicyController.from_directory(models_dir / v, geometry, encoder=encoder) for v in variants}


def run_adapt_experiment(
    models_dir: str | Path,
    report_dir: str | Path | None = None,
    quick: bool = False,
    config_path: str | Path = DEFAULT_MONITOR_CONFIG,
    torch_threads: int = 1,
    log: Any = print,
    budget_ms: float | None = None,
) -> dict[str, dict[str, Any]]:
    """Run every configured run through the load profile; returns the summary keyed by run name.

    ``budget_ms`` replaces the monitor's ``budget_ms`` (the deadline of a tick, for the monitor and
    for counting misses): the same experiment for a robot with a tighter or looser loop.
    """
    import torch

    from policy.processing import ScanGeometry
    from sim.config import load_sim_config
    from sim.env import make_env

    monitor_config = load_monitor_config(config_path)
    if budget_ms is not None:
        monitor_config = dataclasses.replace(monitor_config, budget_ms=budget_ms)
    config = load_experiment_config(config_path)
    chosen_profile = config.profiles["quick" if quick else "full"]
    profile = chosen_profile.phases
    torch.set_num_threads(torch_threads)
    sim = load_sim_config()
    steps = max(1, round(chosen_profile.episode_seconds * sim.task.control_hz))
    sim = sim.replace(task=dataclasses.replace(sim.task, action_latency=True, max_episode_steps=steps))
    geometry = ScanGeometry.from_lidar_config(sim.lidar)
    controllers = load_policies(Path(models_dir), _variants_needed(config, monitor_config), geometry)
    unknown = [r for r in config.runs if r != "adaptive" and r.removeprefix("static_") not in controllers]
    if unknown:
        raise ValueError(f"runs {unknown} name variants that are not loaded: {sorted(controllers)}")
    if config.adaptive_start not in controllers:
        raise ValueError(f"adaptive_start {config.adaptive_start!r} is not among {sorted(controllers)}")
    env = make_env(sim)
    sampler = ResourceSampler(gpu=False)
    logs: dict[str, _RunLog] = {}
    try:
        for run in config.runs:
            log(f"run {run}: " + ", ".join(f"{p.name} {p.seconds:g} s ({p.load})" for p in profile))
            t0 = time.perf_counter()
            logs[run] = _run(run, env, controllers, monitor_config, config, profile, sim.task.control_hz, sampler)
            log(f"run {run}: {len(logs[run].t)} ticks in {time.perf_counter() - t0:.1f} s")
    finally:
        env.close()
    summary = {run: _summarise(logs[run], monitor_config, profile, sim.task.control_hz) for run in config.runs}
    for run, episodes in paired_idle_episodes(logs, profile).items():
        summary[run]["idle"] = _episode_metrics(episodes)
    if report_dir is not None:
        _write_report(Path(report_dir), summary, logs, monitor_config, chosen_profile, quick)
    return summary


def _run(
    run: str,
    env: Any,
    controllers: dict[str, Any],
    monitor_config: MonitorConfig,
    config: ExperimentConfig,
    profile: tuple[Phase, ...],
    control_hz: float,
    sampler: ResourceSampler,
) -> _RunLog:
    adaptive = run == "adaptive"
    start = config.adaptive_start if adaptive else run.removeprefix("static_")
    chosen = controllers if adaptive else {start: controllers[start]}
    core = AgentCore(chosen, start, Timeouts(camera=1.0, scan=1.0), clock=lambda: 0.0)
    monitor = VariantMonitor(monitor_config, available=tuple(chosen)) if adaptive else None
    base = env.unwrapped
    geometry_scan = next(iter(chosen.values())).geometry
    dt = 1.0 / control_hz
    out = _RunLog()
    obs: dict[str, Any] | None = None
    tick = 0
    for phase_number, phase in enumerate(profile):
        next_seed = config.seed + PHASE_SEED_STRIDE * phase_number
        burners = CpuBurners(config.burners) if phase.load == "contention" else None
        out.cpu_percent[phase.name] = []
        sampler.sample()  # start the CPU interval at the phase start
        last_sample = time.perf_counter()
        try:
            if burners is not None:
                burners.start()
            for _ in range(round(phase.seconds * control_hz)):
                now = tick * dt
                if obs is None:  # a new episode: the phase's next seed, the same in every run
                    obs, _ = env.reset(seed=next_seed)
                    next_seed += 1
                    text = core.on_instruction(obs["instruction"])
                    for controller in chosen.values():
                        controller.processor.text(text)  # embed off the tick, as the agent node does
                    out.episodes.append(_Episode(phase.name))
                    base.set_action_delay(None)
                core.on_image(obs["image"], now)
                core.on_scan(obs["scan"], geometry_scan, now)
                core.on_odom(float(obs["odom"][0]), float(obs["odom"][1]))
                t_tick = time.perf_counter()
                result = core.tick(now)
                latency = (time.perf_counter() - t_tick) * 1000.0
                if not result.ok:
                    raise RuntimeError(f"{run}: the agent stopped at tick {tick}: {result.reason}")
                out.t.append(now)
                out.phase.append(phase.name)
                out.variant.append(result.variant)
                out.latency_ms.append(latency)
                if monitor is not None:
                    decision = monitor.observe(now, result.variant, latency)
                    if decision.switch:
                        core.request_variant(decision.variant)
                        if not out.reasons or out.reasons[-1][1] != decision.variant:
                            out.reasons.append((now, decision.variant, decision.reason))
                obs, _, terminated, truncated, info = env.step((result.linear, result.angular))
                if terminated or truncated:
                    ep = out.episodes[-1]
                    ep.success, ep.done = bool(info["success"]), True
                    ep.shortest_path_length = float(info["shortest_path_length"])
                    ep.path_length = float(info["path_length"])
                    obs = None
                tick += 1
                if time.perf_counter() - last_sample >= 1.0:
                    out.cpu_percent[phase.name].append(sampler.sample().cpu_percent)
                    last_sample = time.perf_counter()
            out.cpu_percent[phase.name].append(sampler.sample().cpu_percent)
        finally:
            if burners is not None:
                burners.stop()
    return out


def _rates(log: _RunLog, mask: np.ndarray, budget_ms: float, control_hz: float) -> dict[str, Any]:
    latency = np.asarray(log.latency_ms)[mask]
    variants = np.asarray(log.variant)[mask]
    n = int(mask.sum())
    switches = int(np.sum(variants[1:] != variants[:-1])) if n else 0
    seconds = n / control_hz
    return {
        "ticks": n,
        "deadline_miss_rate": float(np.mean(latency > budget_ms)) if n else float("nan"),
        "latency_p50_ms": float(np.percentile(latency, 50)) if n else float("nan"),
        "latency_p95_ms": float(np.percentile(latency, 95)) if n else float("nan"),
        "share": {v: float(np.mean(variants == v)) for v in sorted(set(log.variant))} if n else {},
        "switches": switches,
        "switches_per_10s": float(10.0 * switches / seconds) if seconds else float("nan"),
    }


def _episode_metrics(episodes: list[_Episode]) -> dict[str, Any]:
    from sim.metrics import EpisodeResult, spl, success_rate

    done = [EpisodeResult(e.success, e.shortest_path_length, e.path_length, 0, 0.0, 0) for e in episodes if e.done]
    return {"episodes": len(done), "success_rate": success_rate(done), "spl": spl(done)}


def paired_idle_episodes(logs: dict[str, _RunLog], profile: tuple[Phase, ...]) -> dict[str, list[_Episode]]:
    """Per run, the idle-phase episodes that every run completed: in each idle phase the first ``n``
    (the same seeds in every run), ``n`` the fewest any run finished there."""
    out: dict[str, list[_Episode]] = {run: [] for run in logs}
    for phase in profile:
        if phase.load != "idle":
            continue
        done = {run: [e for e in log.episodes if e.phase == phase.name and e.done] for run, log in logs.items()}
        n = min((len(d) for d in done.values()), default=0)
        for run, episodes in done.items():
            out[run] += episodes[:n]
    return out


def _summarise(log: _RunLog, monitor: MonitorConfig, profile: tuple[Phase, ...], control_hz: float) -> dict[str, Any]:
    phases = np.asarray(log.phase)
    everything = _rates(log, np.ones(len(log.t), dtype=bool), monitor.budget_ms, control_hz)
    out: dict[str, Any] = {**_episode_metrics(log.episodes), **everything, "budget_ms": monitor.budget_ms}
    out["phases"] = {}
    for phase in profile:
        entry = _rates(log, phases == phase.name, monitor.budget_ms, control_hz)
        entry.update(_episode_metrics([e for e in log.episodes if e.phase == phase.name]))
        cpu = log.cpu_percent.get(phase.name) or [float("nan")]
        entry["cpu_percent_mean"] = float(np.mean(cpu))
        entry["load"] = phase.load
        out["phases"][phase.name] = entry
    out["switch_log"] = [{"t": t, "to": v, "reason": r} for t, v, r in log.reasons]
    return out


def _fmt(x: float, digits: int = 3) -> str:
    return "-" if x != x else f"{x:.{digits}f}"  # NaN as '-'


def format_table(summary: dict[str, dict[str, Any]]) -> str:
    rows = [
        "| run | episodes | success | SPL | miss rate | miss rate (contention) | p95 ms "
        "| share small / medium / large | switches | success idle, paired (episodes) |",
        "|---|---:|---:|---:|---:|---:|---:|---|---:|---:|",
    ]
    for run, s in summary.items():
        contention = [p for p in s["phases"].values() if p["load"] == "contention"]
        miss_c = float(np.mean([p["deadline_miss_rate"] for p in contention])) if contention else float("nan")
        share = " / ".join(f"{s['share'].get(v, 0.0):.2f}" for v in ("small", "medium", "large"))
        rows.append(
            f"| {run} | {s['episodes']} | {_fmt(s['success_rate'])} | {_fmt(s['spl'])} | "
            f"{_fmt(s['deadline_miss_rate'])} | {_fmt(miss_c)} | {_fmt(s['latency_p95_ms'], 1)} | {share} "
            f"| {s['switches']} | {_fmt(s['idle']['success_rate'])} ({s['idle']['episodes']}) |"
        )
    return "\n".join(rows)


def format_phase_table(summary: dict[str, dict[str, Any]]) -> str:
    rows = [
        "| run | phase | load | CPU % | ticks | miss rate | p50 / p95 ms | episodes | success | switches / 10 s |",
        "|---|---|---|---:|---:|---:|---|---:|---:|---:|",
    ]
    for run, s in summary.items():
        for name, p in s["phases"].items():
            rows.append(
                f"| {run} | {name} | {p['load']} | {_fmt(p['cpu_percent_mean'], 0)} | {p['ticks']} | "
                f"{_fmt(p['deadline_miss_rate'])} | {_fmt(p['latency_p50_ms'], 1)} / {_fmt(p['latency_p95_ms'], 1)} | "
                f"{p['episodes']} | {_fmt(p['success_rate'])} | {_fmt(p['switches_per_10s'], 2)} |"
            )
    return "\n".join(rows)


def _write_report(
    out_dir: Path,
    summary: dict[str, dict[str, Any]],
    logs: dict[str, _RunLog],
    monitor: MonitorConfig,
    chosen_profile: Profile,
    quick: bool,
) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out_dir.mkdir(parents=True, exist_ok=True)
    profile = chosen_profile.phases
    ladder = list(monitor.ladder)
    fig, axes = plt.subplots(len(logs), 1, figsize=(10, 2.6 * len(logs)), sharex=True, squeeze=False)
    for ax, (run, log) in zip(axes[:, 0], logs.items(), strict=True):
        t = np.asarray(log.t)
        start = 0.0
        for phase in profile:
            if phase.load == "contention":
                ax.axvspan(start, start + phase.seconds, color="tab:red", alpha=0.08, lw=0)
            start += phase.seconds
        ax.plot(t, log.latency_ms, ".", ms=2, color="tab:blue", label="tick latency")
        ax.axhline(monitor.budget_ms, color="tab:red", lw=1, label=f"budget {monitor.budget_ms:g} ms")
        ax.set_yscale("log")
        ax.set_ylabel("ms")
        ax.set_title(f"{run} (shaded: contention)", fontsize=9)
        twin = ax.twinx()
        twin.step(t, [ladder.index(v) for v in log.variant], where="post", color="tab:green", lw=1.2, label="variant")
        twin.set_yticks(range(len(ladder)), ladder)
        twin.set_ylim(-0.5, len(ladder) - 0.5)
        ax.legend(loc="upper left", fontsize=7)
    axes[-1, 0].set_xlabel("control-loop time (s)")
    fig.tight_layout()
    fig.savefig(out_dir / "latency_and_variant.png", dpi=110)
    plt.close(fig)

    (out_dir / "adapt.json").write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")
    phases = ", ".join(f"{p.name} {p.seconds:g} s ({p.load})" for p in profile)
    text = [
        f"# nav experiment adapt{' --quick' if quick else ''}",
        "",
        f"Load profile (control-loop time): {phases}; episodes of at most {chosen_profile.episode_seconds:g} s, "
        "back to back, each phase from its own seeds, the same in every run (an episode still running at the end "
        "is not counted). Success idle, paired: over the idle-phase episodes every run completed. "
        f"Budget {monitor.budget_ms:g} ms per tick; a variant fits at "
        f"p{monitor.tail_percentile:g} <= {monitor.fit_limit_ms:g} ms, steps up at <= {monitor.step_up_limit_ms:g} ms.",
        "",
        format_table(summary),
        "",
        "Per phase (episodes counted in the phase they started in):",
        "",
        format_phase_table(summary),
        "",
        "![latency and variant](latency_and_variant.png)",
        "",
    ]
    (out_dir / "report.md").write_text("\n".join(text), encoding="utf-8")
