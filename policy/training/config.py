"""The training run's configuration (``configs/train.yaml``): :class:`TrainConfig` and its loader."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from configs import load

DEFAULT_TRAIN_CONFIG = "train.yaml"
"""The training config, relative to ``configs/``."""

Log = Callable[[str], None]
"""Where a run reports its progress, one line per call (``print`` by default)."""


@dataclass(frozen=True)
class TrainConfig:
    """One training run (``configs/train.yaml``). Every field is a YAML key."""

    variant: str = "medium"
    """Model variant in ``configs/models.yaml`` (its velocity limits are taken from the sim config)."""
    seed: int = 0
    """Seeds everything: episode seeds, DAgger driver draws, weight init, batch order, eval seeds."""
    bc_episodes: int = 600
    """Teacher-driven episodes for behaviour cloning (0 allowed when ``demonstrations`` supply the data)."""
    dagger_rounds: int = 2
    """DAgger rounds after BC (0: BC only)."""
    dagger_episodes_per_round: int = 150
    """Episodes collected in each DAgger round."""
    hold_steps: int = 10
    """Steps recorded after each successful episode, the teacher holding still at the goal
    (:func:`policy.data.collect_episode`)."""
    dagger_beta: float = 0.5
    """In round ``r`` (1-based) the teacher drives an episode with probability ``dagger_beta ** r``,
    the learner otherwise; the teacher labels every step either way."""
    epochs_bc: int = 4
    """Passes over the BC data."""
    epochs_dagger: int = 1
    """Passes over all data aggregated so far, after each DAgger round's collection."""
    sequence_length: int = 16
    """Steps per training sequence (truncated back-propagation through time)."""
    burn_in: int = 8
    """Steps before a sequence that does not start an episode, run without gradient from a zero
    memory to warm the GRU up (0: every sequence starts from zero memory)."""
    batch_sequences: int = 16
    """Sequences per optimiser step (samples per step: this times ``sequence_length``)."""
    learning_rate: float = 1e-3
    """AdamW peak learning rate (cosine decay to ``lr_final_fraction`` of it within each stage)."""
    lr_final_fraction: float = 0.1
    """Learning rate at the end of each stage's cosine decay, as a fraction of ``learning_rate``."""
    weight_decay: float = 1e-4
    """AdamW decoupled weight decay."""
    grad_clip: float = 1.0
    """Gradient norm clip (0: off)."""
    stop_weight: float = 0.5
    """Weight of the stop decision's cross-entropy (the label is a stop where the teacher's command is
    exactly zero) against the action's MSE (0: the stop head is not trained)."""
    aux_weight: float = 0.5
    """Weight of the auxiliary losses (object in view and where; its bearing, distance and whether it
    was seen, from the memory) against the action loss (0: off). Steps without simulator truth (e.g.
    from bags) only train the action."""
    aux_distance_scale: float = 5.0
    """Metres per unit of the auxiliary distance output: its loss is the squared error against the true
    distance divided by this (a larger scale weights distance errors less)."""
    workers: int = 2
    """Collection processes (1: collect in the training process)."""
    train_workers: int = 1
    """Optimiser processes: 1 trains in the ``nav train`` process; N > 1 trains data-parallel on N Ray actors
    (``nav train --ray``; :mod:`policy.training.distributed`), each on 1/N of every batch."""
    shard_episodes: int = 25
    """Episodes per data shard (what a kill during collection can lose, per worker)."""
    out_dir: str = "runs/train"
    """Run folder: ``data/`` shards, ``checkpoints/``, ``tb/`` TensorBoard, ``model/`` the result."""
    eval_episodes: int = 50
    """Closed-loop evaluation episodes on unseen worlds at the end."""
    stage_eval_episodes: int = 20
    """Closed-loop episodes on unseen worlds after each stage's training, for the log and TensorBoard
    (0: none)."""
    checkpoint_every_steps: int = 200
    """Optimiser steps between checkpoints (and one at every epoch end)."""
    sim_config: str = "sim.yaml"
    """Simulator config (relative paths resolve in ``configs/``)."""
    torch_threads: int = 0
    """Torch CPU threads in the training process (0: torch's default, every core)."""
    device: str = "auto"
    """Where the optimiser steps and the closed-loop checks run: ``auto`` (CUDA when torch sees a GPU, else
    the CPU), ``cpu``, ``cuda`` or ``cuda:N`` (:mod:`policy.training.step`). Collection runs on the CPU."""
    mixed_precision: bool = True
    """bf16 autocast of the forward pass and the loss on CUDA (weights and optimiser float32); no effect on
    the CPU."""
    batch_threads: int = -1
    """Threads that make the next batches while the device steps (0: none; -1: auto, 2 on CUDA and none on the
    CPU, whose cores the step itself uses)."""
    demonstrations: tuple[str, ...] = ()
    """Extra demonstration shards (``policy.data`` ``.npz`` files, or folders of them: e.g. written by
    ``nav train --from-bags``, or another run's ``data/``) trained on in every stage beside the
    collected data. Steps without simulator truth (bags) train the action only."""
    weights_dtype: str = "float32"
    """How the final model's weights are stored (``float32``, ``float16``, ``bfloat16``)."""
    near_weight: float = 0.0
    """Extra loss weight on a step where an obstacle or object is within ``near_distance`` of the
    robot's front (a step counts ``1 + near_weight``; 0: every step counts the same)."""
    near_distance: float = 0.12
    """Clearance (m, from the robot's surface, within ``near_half_angle_deg`` of straight ahead) that makes
    a step a near step for ``near_weight``."""
    near_half_angle_deg: float = 45.0
    """Half-width (degrees) of the sector ahead of the robot that ``near_distance`` is measured in."""
    perturbations: tuple[str, ...] = ()
    """Domain randomisation over :data:`sim.perturb.PERTURBATIONS` (``name`` or ``name=strength``): each collected
    episode draws each on with ``perturbation_probability``, between its neutral value and that strength
    (empty: none, the shipped models' training)."""
    perturbation_probability: float = 0.5
    perturbation_probabilities: dict[str, float] = field(default_factory=dict)
    """A probability of its own for some of ``perturbations`` (``{colours: 0.5}``: the recolouring is drawn on
    in half the episodes, the rest keep ``perturbation_probability``)."""
    clean_episode_fraction: float = 0.0
    """The share of collected episodes drawn wholly clean (none of ``perturbations``), from a draw of its own: the
    others draw as they would without it. 0: every episode draws each perturbation as above."""

    def __post_init__(self) -> None:
        from policy.training.step import check_batch_threads, check_device_name
        from sim.perturbations import check_probabilities, parse_perturbations

        check_device_name(self.device)
        check_batch_threads(self.batch_threads)
        drawn = parse_perturbations(self.perturbations)  # an unknown name or a strength out of range: the key's error
        if not 0.0 <= self.perturbation_probability <= 1.0:
            raise ValueError(f"perturbation_probability must be in [0, 1], got {self.perturbation_probability}")
        check_probabilities(self.perturbation_probabilities, drawn, "perturbation_probabilities")
        if not 0.0 <= self.clean_episode_fraction <= 1.0:
            raise ValueError(f"clean_episode_fraction must be in [0, 1], got {self.clean_episode_fraction}")
        positive = (
            "train_workers",
            "sequence_length",
            "batch_sequences",
            "workers",
            "shard_episodes",
            "eval_episodes",
            "checkpoint_every_steps",
            "epochs_bc",
        )
        for name in positive:
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        if self.bc_episodes < 0 or (self.bc_episodes == 0 and not self.demonstrations):
            raise ValueError(f"bc_episodes must be >= 1 (or 0 with demonstrations), got {self.bc_episodes}")
        non_negative = (
            "dagger_rounds",
            "dagger_episodes_per_round",
            "epochs_dagger",
            "burn_in",
            "torch_threads",
            "stage_eval_episodes",
            "hold_steps",
        )
        for name in non_negative:
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must be >= 0, got {getattr(self, name)}")
        if self.batch_sequences < self.train_workers:
            raise ValueError(
                f"batch_sequences ({self.batch_sequences}) must be >= train_workers ({self.train_workers}): "
                "every rank trains on at least one sequence of each batch"
            )
        if self.dagger_rounds > 0 and self.dagger_episodes_per_round < 1:
            raise ValueError("dagger_episodes_per_round must be >= 1 when dagger_rounds > 0")
        if not 0.0 <= self.dagger_beta <= 1.0:
            raise ValueError(f"dagger_beta must be in [0, 1], got {self.dagger_beta}")
        if self.near_weight < 0 or self.near_distance <= 0:
            raise ValueError(
                f"near_weight must be >= 0 and near_distance > 0, got {self.near_weight} and {self.near_distance}"
            )
        if not 0.0 < self.near_half_angle_deg <= 180.0:
            raise ValueError(f"near_half_angle_deg must be in (0, 180], got {self.near_half_angle_deg}")
        if self.learning_rate <= 0 or self.weight_decay < 0 or self.grad_clip < 0:
            raise ValueError("learning_rate must be > 0, weight_decay and grad_clip >= 0")
        if not 0.0 <= self.lr_final_fraction <= 1.0:
            raise ValueError(f"lr_final_fraction must be in [0, 1], got {self.lr_final_fraction}")
        if self.aux_weight < 0 or self.stop_weight < 0 or self.aux_distance_scale <= 0:
            raise ValueError(
                f"aux_weight and stop_weight must be >= 0 and aux_distance_scale > 0, got {self.aux_weight}, "
                f"{self.stop_weight} and {self.aux_distance_scale}"
            )
        if self.weights_dtype not in ("float32", "float16", "bfloat16"):
            raise ValueError(f"weights_dtype must be float32, float16 or bfloat16, got {self.weights_dtype!r}")
        if not self.variant or not self.out_dir:
            raise ValueError("variant and out_dir must be non-empty")


def load_train_config(path: str | Path = DEFAULT_TRAIN_CONFIG) -> TrainConfig:
    """Read a :class:`TrainConfig` (unknown keys and wrong types are a ``ConfigError``)."""
    return load(TrainConfig, path)
