"""Closed-loop checks of the learner on unseen worlds: after each stage (for the log) and at the end of the run.

Both go through :func:`policy.evaluation.evaluate`, the learner driving through
:class:`policy.controller.PolicyController` (the processor the robot runs, one observation at a time).
The checks draw no number from the training RNG.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

from policy.controller import PolicyController
from policy.evaluation import EvalConfig, evaluate
from policy.modeling import NavPolicy
from policy.processing import PolicyProcessor, ScanGeometry
from policy.training.config import Log, TrainConfig
from sim.config import SimConfig

STAGE_EVAL_SEED_OFFSET = 7919
"""The stage checks run from ``seed + STAGE_EVAL_SEED_OFFSET``: other episodes than the final evaluation's."""


class ScalarWriter(Protocol):
    """What the checks need of a TensorBoard ``SummaryWriter``."""

    def add_scalar(self, tag: str, scalar_value: float, global_step: int | None = None) -> None: ...


@dataclass(frozen=True)
class Learner:
    """The model being trained and what it drives with: its processor and the lidar's geometry."""

    model: NavPolicy
    processor: PolicyProcessor
    geometry: ScanGeometry

    def controller(self, env: Any) -> PolicyController:
        """A controller of the model for ``env`` (any env: the geometry is the training sim's)."""
        return PolicyController(self.model, self.processor, self.geometry)

    def evaluate(self, sim: SimConfig, config: EvalConfig) -> dict[str, Any]:
        """Metrics of the model (put in eval mode) on ``config``'s episodes of ``sim``."""
        self.model.eval()
        summary, _ = evaluate(self.controller, config, sim)
        return summary


def _write(writer: ScalarWriter, group: str, summary: dict[str, Any], keys: tuple[str, ...], step: int) -> None:
    for key in keys:
        if isinstance(summary.get(key), (int, float)):
            writer.add_scalar(f"{group}/{key}", summary[key], step)


def stage_eval(
    learner: Learner, sim: SimConfig, config: TrainConfig, stage: int, writer: ScalarWriter, log: Log
) -> dict[str, Any]:
    """After ``stage``'s training: ``stage_eval_episodes`` on unseen worlds from ``seed +
    STAGE_EVAL_SEED_OFFSET``, logged and written as ``stage_eval/*`` scalars at step ``stage``; the
    model is left in train mode."""
    episodes = EvalConfig(
        episodes=config.stage_eval_episodes,
        seed=config.seed + STAGE_EVAL_SEED_OFFSET,
        world_split="unseen",
        progress=False,
    )
    summary = learner.evaluate(sim, episodes)
    log(f"stage {stage} closed loop on unseen worlds: {summary}")
    _write(writer, "stage_eval", summary, ("success_rate", "spl", "collision_rate"), stage)
    learner.model.train()
    return summary


def final_eval(
    learner: Learner,
    sim: SimConfig,
    config: TrainConfig,
    global_step: int,
    writer: ScalarWriter,
    log: Log,
    progress: bool,
) -> dict[str, Any]:
    """At the end of the run: ``eval_episodes`` on unseen worlds from ``seed``, logged and written as
    ``eval/*`` scalars at ``global_step``; the model is left in eval mode (as it is saved)."""
    episodes = EvalConfig(episodes=config.eval_episodes, seed=config.seed, world_split="unseen", progress=progress)
    summary = learner.evaluate(sim, episodes)
    log(f"eval on unseen worlds: {summary}")
    _write(writer, "eval", summary, ("success_rate", "spl"), global_step)
    return summary
