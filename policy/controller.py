"""A closed-loop controller around a trained :class:`NavPolicy`: raw observation in, (m/s, rad/s) out.

It is the inference path shared by DAgger rollouts, closed-loop evaluation and the robot: every
observation goes through :class:`policy.processing.PolicyProcessor` (the same function training
uses, via ``PolicyProcessor.batch``), and the GRU memory is carried from step to step and cleared by
:meth:`PolicyController.reset` at each episode start. It satisfies ``sim.rollout.Controller``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch

from policy.modeling import NavPolicy
from policy.processing import PolicyProcessor, ScanGeometry, TextEncoder

__all__ = ["PolicyController"]


class PolicyController:
    """``reset()`` at an episode start, then ``act(obs, info)`` every control step.

    Args:
        model: The policy (switched to eval mode).
        processor: Its :class:`PolicyProcessor` (same config as the model).
        geometry: How to read the observation's scan (e.g. ``ScanGeometry.from_lidar_config(sim.lidar)``).
        device: Where the model runs; default the model's device.
    """

    def __init__(
        self,
        model: NavPolicy,
        processor: PolicyProcessor,
        geometry: ScanGeometry,
        device: torch.device | str | None = None,
    ) -> None:
        if processor.config != model.config:
            raise ValueError(f"processor is for {processor.config.name!r}, model for {model.config.name!r}")
        self.model = model.eval()
        self.processor = processor
        self.geometry = geometry
        self.device = torch.device(device) if device is not None else next(model.parameters()).device
        self.hidden: torch.Tensor | None = None

    @classmethod
    def from_directory(
        cls,
        directory: str | Path,
        geometry: ScanGeometry,
        encoder: TextEncoder | None = None,
        device: torch.device | str | None = None,
    ) -> PolicyController:
        """Load a model folder written by :func:`policy.model_io.save_model`."""
        from policy.model_io import load_model

        model, config, _ = load_model(directory, device=device)
        return cls(model, PolicyProcessor(config, encoder), geometry)

    def reset(self) -> None:
        """Forget the memory (start of an episode)."""
        self.hidden = None

    def act(self, obs: dict[str, Any], info: dict[str, Any] | None = None) -> np.ndarray:
        """(linear m/s, angular rad/s) float32 for one raw observation; ``info`` is unused."""
        inputs = self.processor(obs, self.geometry, self.device)
        with torch.inference_mode():
            action, self.hidden = self.model(*inputs.as_tuple(), self.hidden)
            command = self.model.scale_action(action)[0]
        return command.cpu().numpy().astype(np.float32)
