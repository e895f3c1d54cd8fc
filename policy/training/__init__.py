"""Behaviour cloning + DAgger for :class:`policy.modeling.NavPolicy`, resumable after a kill (``nav train``).

The run is a list of *stages*: stage 0 is behaviour cloning (BC), stage ``r`` (1..``dagger_rounds``)
is DAgger round ``r``. Each stage

1. **collects** episodes into ``out_dir/data/<stage>-<chunk>.npz`` shards in ``workers`` processes
   (:mod:`~policy.training.collection`): in BC the privileged teacher drives; in DAgger round ``r`` the
   learner (the model at the end of the previous stage) drives an episode with probability
   ``1 - dagger_beta ** r`` and the teacher otherwise, and the teacher labels every step either way;
2. **trains** on all data collected so far (DAgger aggregation) in truncated-BPTT sequences
   (:mod:`~policy.training.dataset`) under the loss of :mod:`~policy.training.loss`, the loop and its
   checkpoints in :mod:`~policy.training.trainer`;
3. **checks** the learner closed-loop on unseen worlds (:mod:`~policy.training.stage_eval`).

One optimiser step (:mod:`~policy.training.step`) runs on the CPU or a CUDA GPU (``device``, bf16 autocast
with ``mixed_precision``). The loop and the collection load on first use (they need the simulator); the
config, the dataset, the loss and the step import without it (``nav bench train``).

Every coefficient of the run is a field of :class:`TrainConfig` (:mod:`~policy.training.config`).
Rollouts and evaluation use :class:`policy.controller.PolicyController`, which calls the same
``PolicyProcessor`` as training batches, one observation at a time.
"""

from typing import Any

from policy.training.config import DEFAULT_TRAIN_CONFIG, TrainConfig, load_train_config
from policy.training.dataset import SequenceDataset, make_batch
from policy.training.loss import near_obstacle_weights, sequence_loss
from policy.training.step import optimiser_step, resolve_device

__all__ = [
    "DEFAULT_TRAIN_CONFIG",
    "SequenceDataset",
    "TrainConfig",
    "load_train_config",
    "make_batch",
    "near_obstacle_weights",
    "optimiser_step",
    "resolve_device",
    "sequence_loss",
    "train",
    "training_episodes",
]


def __getattr__(name: str) -> Any:
    if name == "train":
        from policy.training.trainer import train

        return train
    if name == "training_episodes":
        from policy.training.collection import training_episodes

        return training_episodes
    raise AttributeError(f"module 'policy.training' has no attribute {name!r}")
