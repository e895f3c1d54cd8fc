"""Untrained policies for tests of the plumbing around a model (agent, nodes, bags, CLI).

An untrained head starts near zero, so which side of zero its stop logit falls on depends on the
initial weights and the input: a model that happens to "stop" commands zero everywhere and a test of
the command path sees no motion. These models have the stop logit biased off, so they drive.
(Test modules import this as ``untrained_models``, like ``ros_harness``.)
"""

from __future__ import annotations

from pathlib import Path

import torch

from policy.configuration import get_variant
from policy.model_io import save_model
from policy.modeling import STOP_LOGIT, NavPolicy


def untrained_policy(variant: str) -> NavPolicy:
    """A seeded, untrained ``variant`` of ``configs/models.yaml`` that never takes the stop decision."""
    torch.manual_seed(0)
    model = NavPolicy(get_variant(variant))
    with torch.no_grad():
        model.head[-1].bias[STOP_LOGIT] = -1.0
    return model


def save_untrained(models_dir: Path, variant: str = "small") -> Path:
    """:func:`untrained_policy` saved as ``models_dir/variant`` (a model folder); returns the folder."""
    model = untrained_policy(variant)
    return save_model(model, model.config, models_dir / variant, {"note": "untrained, for tests"}, {})
