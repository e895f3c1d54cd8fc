"""The navigation policy network: camera + lidar + instruction + odometry + memory -> (linear, angular).

One sub-encoder per observation key, then fusion, memory and an action head::

    text (384) ──► FiLM γ,β per stage ─┐
    image (3,S,S) ─► stem ─► stage 1 ─► ... ─► stage n ─► pool 2x4 ─► linear ─┐
    scan (beams) ─► (+ near) conv1d stages ─► max-pool 16 sectors ─► linear ──┤
    text (384) ─► linear ─────────────────────────────────────────────────────┼─► fuse ─► GRUCell ─► head ─► tanh
    odom (2) ─► linear ───────────────────────────────────────────────────────┘

* **Vision** is built from torchvision blocks (``Conv2dNormActivation``, ``SqueezeExcitation``).
  After every stage a FiLM layer scales and shifts each channel with ``1 + gamma`` and ``beta``
  predicted from the instruction embedding, so the instruction decides what the trunk looks for
  ("red cube" and "blue sphere" light up different channels). Pooling keeps a coarse 2x4 grid, so
  the head knows whether the target is left or right.
* **Lidar** convolutions pad circularly over the beams: beam 0 (straight behind) neighbours the last.
  With ``lidar_near_range`` they also read the scan at near-field scale (a second channel), where
  the centimetres of clearance that decide a collision are.
* **Memory**: a ``GRUCell`` carries a hidden state from one control step to the next, so a target
  seen and then lost from view is remembered.
* **Output**: a normalised action in ``[-1, 1]^2`` (tanh) and a *stop* logit: where it is positive
  the action is exactly zero. Stopping at the goal is a decision, and a classifier makes it cleanly
  where a regression of small speeds blurs into creeping forward. The same blur elsewhere (a turn
  on the spot regressed to a slow creep) is cut off by ``min_linear``: ``forward`` sends a slower
  forward command as zero. :meth:`NavPolicy.scale_action` turns the action into (m/s, rad/s) with
  the config's limits.
* **Auxiliary heads** (training signal only; :meth:`NavPolicy.step` returns them, ``forward`` does
  not): from the instruction-conditioned image features, whether the named object is in view and
  where (image column); from the memory, the object's egocentric bearing and distance and whether it
  has been seen yet. They supervise the grounding and the memory densely with simulator truth; the
  action never depends on them.

Every variant has the same inputs and outputs; only the sizes inside differ.
"""

from __future__ import annotations

from typing import NamedTuple

import torch
from torch import nn
from torchvision.ops import Conv2dNormActivation, SqueezeExcitation

from policy.configuration import PolicyConfig

__all__ = [
    "AUX_MEMORY",
    "AUX_VIEW",
    "Encoded",
    "LIDAR_SECTORS",
    "ODOM_FEATURES",
    "VISION_GRID",
    "NavPolicy",
    "StepOutput",
    "default_device",
    "parameter_count",
]

VISION_GRID = (2, 4)
"""(rows, columns) the last vision feature map is average-pooled to."""
LIDAR_SECTORS = 16
"""Sectors (22.5 deg each) the lidar features are max-pooled to."""
ODOM_FEATURES = 32
"""Width of the odometry embedding."""
HEAD_OUTPUTS = ("linear", "angular", "stop_logit")
"""Outputs of the action head: the normalised action (before tanh), then the stop logit."""
STOP_LOGIT = HEAD_OUTPUTS.index("stop_logit")
AUX_VIEW = ("visible_logit", "column")
"""Outputs of the view head: named object in the image (logit), its column in [-1, 1] (left -1)."""
AUX_MEMORY = ("bearing_sin", "bearing_cos", "distance", "seen_logit")
"""Outputs of the memory head: egocentric bearing of the object, its distance (/ lidar range), seen yet (logit)."""


class Encoded(NamedTuple):
    """What :meth:`NavPolicy.encode` computes from one step's inputs (it does not read the memory)."""

    fused: torch.Tensor
    """``(B, fusion_dim)`` the fused camera, lidar, instruction and odometry features."""
    vision: torch.Tensor
    """``(B, fusion_dim)`` the instruction-conditioned image features (for the view head)."""

    def at(self, t: int) -> Encoded:
        """Column ``t`` of a ``(B, T, ...)`` batch of sequences: one step of each."""
        return Encoded(self.fused[:, t], self.vision[:, t])


class StepOutput(NamedTuple):
    """Everything one control step computes (:meth:`NavPolicy.step`)."""

    action: torch.Tensor
    """``(B, 2)`` normalised action in ``[-1, 1]``, before the stop decision."""
    stop_logit: torch.Tensor
    """``(B,)`` positive: stop (the command is zero)."""
    hidden: torch.Tensor
    """``(B, hidden_size)`` the new memory."""
    view: torch.Tensor
    """``(B, len(AUX_VIEW))`` auxiliary view outputs."""
    memory: torch.Tensor
    """``(B, len(AUX_MEMORY))`` auxiliary memory outputs."""


def default_device() -> torch.device:
    """CUDA when available, else CPU."""
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def parameter_count(model: nn.Module) -> int:
    """Number of trainable and frozen parameters (buffers such as BatchNorm statistics excluded)."""
    return sum(p.numel() for p in model.parameters())


class FiLM(nn.Module):
    """Feature-wise linear modulation: ``x * (1 + gamma(text)) + beta(text)`` per channel."""

    def __init__(self, text_dim: int, channels: int) -> None:
        super().__init__()
        self.proj = nn.Linear(text_dim, 2 * channels)

    def forward(self, x: torch.Tensor, text: torch.Tensor) -> torch.Tensor:
        gamma, beta = self.proj(text).unsqueeze(-1).unsqueeze(-1).chunk(2, dim=1)
        return x * (1.0 + gamma) + beta


class ResidualBlock(nn.Module):
    """Two 3x3 conv-BN layers with squeeze-and-excitation and an identity shortcut."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.body = nn.Sequential(
            Conv2dNormActivation(channels, channels, 3),
            Conv2dNormActivation(channels, channels, 3, activation_layer=None),
            SqueezeExcitation(channels, max(8, channels // 4)),
        )
        self.act = nn.ReLU(inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.act(x + self.body(x))


class VisionTrunk(nn.Module):
    """Stem (stride 2) then one stage per ``vision_channels`` entry, each followed by FiLM."""

    def __init__(self, config: PolicyConfig) -> None:
        super().__init__()
        channels = config.vision_channels
        self.stem = Conv2dNormActivation(3, channels[0], 3, stride=2)
        self.stages = nn.ModuleList()
        self.films = nn.ModuleList()
        previous = channels[0]
        for i, (width, blocks) in enumerate(zip(channels, config.vision_blocks, strict=True)):
            layers: list[nn.Module] = []
            if i > 0:
                layers.append(Conv2dNormActivation(previous, width, 3, stride=2))
            layers += [ResidualBlock(width) for _ in range(blocks)]
            self.stages.append(nn.Sequential(*layers))
            self.films.append(FiLM(config.text_dim, width))
            previous = width
        self.pool = nn.AdaptiveAvgPool2d(VISION_GRID)
        self.out_features = previous * VISION_GRID[0] * VISION_GRID[1]

    def forward(self, image: torch.Tensor, text: torch.Tensor) -> torch.Tensor:
        x = self.stem(image)
        for stage, film in zip(self.stages, self.films, strict=True):
            x = film(stage(x), text)
        return torch.flatten(self.pool(x), 1)


class LidarEncoder(nn.Module):
    """1-D convolutions over the beams with circular padding (the scan is a closed ring).

    With ``lidar_near_range`` the normalised scan is also read at near-field scale, as a second input
    channel: ``clip(scan * lidar_range_max / lidar_near_range, 0, 1)``, the ranges over that distance.
    """

    def __init__(self, config: PolicyConfig) -> None:
        super().__init__()
        near = config.lidar_near_range
        self.near_gain = config.lidar_range_max / near if near > 0 else 0.0
        layers: list[nn.Module] = []
        previous = 2 if near > 0 else 1
        for width in config.lidar_channels:
            layers += [
                nn.Conv1d(previous, width, 5, stride=2, padding=2, padding_mode="circular", bias=False),
                nn.BatchNorm1d(width),
                nn.ReLU(inplace=True),
            ]
            previous = width
        self.convs = nn.Sequential(*layers)
        self.pool = nn.AdaptiveMaxPool1d(LIDAR_SECTORS)
        self.out_features = previous * LIDAR_SECTORS

    def channels(self, scan: torch.Tensor) -> torch.Tensor:
        """``(B, beams)`` normalised scan -> the ``(B, C, beams)`` convolution input."""
        x = scan.unsqueeze(1)
        if self.near_gain:
            x = torch.cat((x, (x * self.near_gain).clamp(max=1.0)), dim=1)
        return x

    def forward(self, scan: torch.Tensor) -> torch.Tensor:
        return torch.flatten(self.pool(self.convs(self.channels(scan))), 1)


class NavPolicy(nn.Module):
    """Language-conditioned navigation policy with recurrent memory (see the module docstring).

    Inputs come from :class:`policy.processing.PolicyProcessor`; the output action is normalised.
    """

    def __init__(self, config: PolicyConfig) -> None:
        super().__init__()
        self.config = config
        fusion = config.fusion_dim
        self.vision = VisionTrunk(config)
        self.vision_proj = nn.Sequential(nn.Linear(self.vision.out_features, fusion), nn.ReLU(inplace=True))
        self.lidar = LidarEncoder(config)
        self.lidar_proj = nn.Sequential(nn.Linear(self.lidar.out_features, fusion), nn.ReLU(inplace=True))
        self.text_proj = nn.Sequential(nn.Linear(config.text_dim, fusion), nn.ReLU(inplace=True))
        self.odom_proj = nn.Sequential(nn.Linear(2, ODOM_FEATURES), nn.ReLU(inplace=True))
        self.fuse = nn.Sequential(
            nn.Linear(3 * fusion + ODOM_FEATURES, fusion), nn.LayerNorm(fusion), nn.ReLU(inplace=True)
        )
        self.memory = nn.GRUCell(fusion, config.hidden_size)
        self.head = nn.Sequential(
            nn.Linear(config.hidden_size + fusion, fusion), nn.ReLU(inplace=True), nn.Linear(fusion, len(HEAD_OUTPUTS))
        )
        self.view_head = nn.Linear(fusion, len(AUX_VIEW))
        self.memory_head = nn.Linear(config.hidden_size, len(AUX_MEMORY))
        out = self.head[-1]
        assert isinstance(out, nn.Linear)
        nn.init.uniform_(out.weight, -1e-3, 1e-3)  # start near "stand still"
        nn.init.zeros_(out.bias)
        self.action_scale: torch.Tensor
        self.register_buffer(
            "action_scale", torch.tensor([config.max_linear, config.max_angular], dtype=torch.float32), persistent=False
        )

    def initial_hidden(self, batch: int = 1, device: torch.device | str | None = None) -> torch.Tensor:
        """The memory at the start of an episode: zeros ``(batch, hidden_size)``."""
        device = device if device is not None else self.action_scale.device
        return torch.zeros(batch, self.config.hidden_size, device=device)

    def encode_vision(self, image: torch.Tensor, text: torch.Tensor) -> torch.Tensor:
        """Instruction-conditioned (FiLM) image features ``(B, fusion_dim)``."""
        return self.vision_proj(self.vision(image, text))

    def forward(
        self,
        image: torch.Tensor,
        scan: torch.Tensor,
        text: torch.Tensor,
        odom: torch.Tensor,
        hidden: torch.Tensor | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """One control step: ``(action, new_hidden)``, the action zero where the policy stops and
        its linear part zero where it is slower than ``config.min_linear`` (the arguments as in
        :meth:`step`)."""
        out = self.step(image, scan, text, odom, hidden)
        return self.decide(out), out.hidden

    def decide(self, out: StepOutput) -> torch.Tensor:
        """The normalised action a step commands: zero where the policy stops, its linear part zero where it
        is slower than ``config.min_linear``."""
        action = out.action * (out.stop_logit <= 0).unsqueeze(1).to(out.action.dtype)
        creep = action[:, 0].abs() * self.config.max_linear < self.config.min_linear
        linear = torch.where(creep, torch.zeros_like(action[:, 0]), action[:, 0])
        return torch.stack([linear, action[:, 1]], dim=1)

    def encode(
        self,
        image: torch.Tensor,
        scan: torch.Tensor,
        text: torch.Tensor,
        odom: torch.Tensor,
        vision: torch.Tensor | None = None,
    ) -> Encoded:
        """The part of a step that does not read the memory: the fused features of each input row.

        Rows are independent, so training encodes every step of a batch of sequences in one call
        (large batches keep the convolutions efficient) and only :meth:`recur` runs step by step.
        The arguments are as in :meth:`step`; ``vision``, when given, is :meth:`encode_vision` of this
        ``image`` and ``text`` already computed (a camera frame seen at an earlier tick).
        """
        self._check_inputs(image, scan, text, odom)
        if vision is None:
            vision = self.encode_vision(image, text)
        features = torch.cat(
            [
                vision,
                self.lidar_proj(self.lidar(scan)),
                self.text_proj(text),
                self.odom_proj(odom if self.config.use_odom else torch.zeros_like(odom)),
            ],
            dim=1,
        )
        return Encoded(self.fuse(features), vision)

    def recur(self, encoded: Encoded, hidden: torch.Tensor | None = None) -> StepOutput:
        """The memory update and the heads, from :meth:`encode`'s output and the previous memory."""
        want = (encoded.fused.shape[0], self.config.hidden_size)
        if hidden is None:
            hidden = self.initial_hidden(want[0], encoded.fused.device)
        elif tuple(hidden.shape) != want:
            raise ValueError(f"{self.config.name}: hidden must have shape {want}, got {tuple(hidden.shape)}")
        new_hidden = self.memory(encoded.fused, hidden)
        raw = self.head(torch.cat([new_hidden, encoded.fused], dim=1))
        return StepOutput(
            torch.tanh(raw[:, :STOP_LOGIT]),
            raw[:, STOP_LOGIT],
            new_hidden,
            self.view_head(encoded.vision),
            self.memory_head(new_hidden),
        )

    def step(
        self,
        image: torch.Tensor,
        scan: torch.Tensor,
        text: torch.Tensor,
        odom: torch.Tensor,
        hidden: torch.Tensor | None = None,
    ) -> StepOutput:
        """One control step: :meth:`recur` of :meth:`encode`.

        Args:
            image: ``(B, 3, S, S)`` float, prepared by :func:`perception.camera.prepare_image`.
            scan: ``(B, lidar_beams)`` float in ``[0, 1]`` (:func:`perception.lidar.prepare_scan`).
            text: ``(B, text_dim)`` instruction embedding.
            odom: ``(B, 2)`` measured (linear, angular) divided by (max_linear, max_angular).
            hidden: ``(B, hidden_size)`` memory from the previous step; ``None`` at an episode start.

        Returns:
            :class:`StepOutput`: the normalised action ``(B, 2)`` in ``[-1, 1]`` (before the stop
            decision), the stop logit, the memory and the auxiliary outputs.
        """
        return self.recur(self.encode(image, scan, text, odom), hidden)

    def scale_action(self, action: torch.Tensor) -> torch.Tensor:
        """Normalised ``(..., 2)`` action -> (linear m/s, angular rad/s) within the config's limits."""
        return action.clamp(-1.0, 1.0) * self.action_scale.to(action.device)

    def _check_inputs(
        self,
        image: torch.Tensor,
        scan: torch.Tensor,
        text: torch.Tensor,
        odom: torch.Tensor,
    ) -> None:
        c = self.config
        batch = image.shape[0]
        expected = {
            "image": ((batch, 3, c.image_size, c.image_size), image.shape),
            "scan": ((batch, c.lidar_beams), scan.shape),
            "text": ((batch, c.text_dim), text.shape),
            "odom": ((batch, 2), odom.shape),
        }
        for name, (want, got) in expected.items():
            if tuple(got) != want:
                raise ValueError(f"{c.name}: {name} must have shape {want}, got {tuple(got)}")
