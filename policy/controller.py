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
        self._vision: tuple[torch.Tensor, torch.Tensor, torch.Tensor] | None = None
        """(prepared image, text embedding, their vision features): a frame that comes again is not encoded again."""

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
        self._vision = None

    def act(self, obs: dict[str, Any], info: dict[str, Any] | None = None) -> np.ndarray:
        """(linear m/s, angular rad/s) float32 for one raw observation; ``info`` is unused.

        The image's features are computed once per frame: when the prepared image and the instruction's
        embedding equal the previous step's (a camera slower than the control rate, the blank image of a
        lidar-only replay), its features are reused; the command is the one computing them again gives.
        """
        inputs = self.processor(obs, self.geometry, self.device)
        with torch.inference_mode():
            cached = self._vision
            if cached is not None and torch.equal(cached[0], inputs.image) and torch.equal(cached[1], inputs.text):
                vision = cached[2]
            else:
                vision = self.model.encode_vision(inputs.image, inputs.text)
                self._vision = (inputs.image, inputs.text, vision)
            out = self.model.recur(self.model.encode(*inputs.as_tuple(), vision=vision), self.hidden)
            self.hidden = out.hidden
            command = self.model.scale_action(self.model.decide(out))[0]
        return command.cpu().numpy().astype(np.float32)
