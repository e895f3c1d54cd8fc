"""Perturbations of what the robot senses and how its base obeys, each named, with a strength, seeded.

``nav eval --perturb camera_noise,latency=0.3`` and the ``perturbations`` of a :class:`sim.config.SimConfig`
(empty by default: off) wrap the env in :class:`PerturbedEnv`. A perturbation's random draws come from
its own generator, seeded by the episode's seed (and the perturbation's name), so an episode is the same
episode with and without it, and the same perturbed episode every time. Kinds:

- **camera**: ``camera_noise`` (pixel noise, std of 0..255), ``camera_blur`` (Gaussian, sigma in px),
  ``exposure`` (gain: below 1 darker), ``white_balance`` (red up and blue down by this fraction),
  ``frame_rate`` (a new frame every N steps), ``jpeg`` (JPEG quality 1..100);
- **appearance** (drawn per episode): ``colours`` (floor, walls and obstacles recoloured, up to this
  fraction of the range per channel), ``light`` (light direction and this much dimmer or brighter),
  ``target_hue`` (the target's hue turned up to this many degrees, within its colour name);
- **lidar**: ``lidar_noise`` (range noise, std in m), ``lidar_dropout`` (this fraction of rays read as a
  driver reports a failed ray: ``0.0``, NaN or inf), ``lidar_short`` (``range_max`` in m; beyond it ``0.0``,
  as a TurtleBot3's LDS reports no return), ``lidar_beams`` (every Nth ray kept, its neighbours read as
  it: a coarser lidar), ``scan_rate`` (a new scan every N steps);
- **timing**: ``latency`` (s: each command acts this much later, in whole control steps), ``stale``
  (this fraction of steps repeat the previous observation);
- **base**: ``slip`` (up to this fraction of each command lost), ``top_speed`` (this fraction of the
  top speed reached), ``wheel_asymmetry`` (a turn of this many rad/s per m/s driven).
"""

from __future__ import annotations

import colorsys
import math
import zlib
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, cast

import cv2
import gymnasium as gym
import numpy as np
import pybullet as p

from sim.perturbations import PERTURBATIONS, Perturbation, check_probabilities, parse_perturbations

if TYPE_CHECKING:
    from sim.env import LangNavEnv

__all__ = ["PERTURBATIONS", "Perturbation", "PerturbedEnv", "parse_perturbations"]


class PerturbedEnv(gym.Wrapper):
    """The env with ``perturbations`` applied to its observations, its scene and its actions.

    With ``randomised`` (domain randomisation, for training), every episode also draws each of those on with
    ``probability`` (or that name's entry in ``probabilities``), at a strength uniform between its neutral value
    (for ``lidar_short``: the lidar's own ``range_max``) and the one given, from the episode's seed. A
    ``clean_fraction`` of the episodes (drawn from a stream of their own, so the others draw exactly as without
    it) applies none of the randomised ones: the clean worlds keep a known share of the data.
    """

    def __init__(
        self,
        env: gym.Env,
        perturbations: Sequence[Perturbation],
        randomised: Sequence[Perturbation] = (),
        probability: float = 0.5,
        probabilities: Mapping[str, float] | None = None,
        clean_fraction: float = 0.0,
    ) -> None:
        super().__init__(env)
        if not 0.0 <= probability <= 1.0:
            raise ValueError(f"randomisation probability must be in [0, 1], got {probability}")
        if not 0.0 <= clean_fraction <= 1.0:
            raise ValueError(f"clean fraction of the randomised episodes must be in [0, 1], got {clean_fraction}")
        self.clean_fraction = clean_fraction
        self.fixed = {q.name: q.strength for q in perturbations}
        self.randomised = tuple(randomised)
        self.probability = probability
        self.probabilities = dict(probabilities or {})
        check_probabilities(self.probabilities, self.randomised, "randomisation probabilities")
        self.perturbations = dict(self.fixed)
        """What this episode applies: the fixed ones and the ones drawn for it."""
        self._rng = np.random.default_rng(0)
        self._steps = 0
        self._last: dict[str, Any] | None = None
        self._shown: dict[str, Any] = {}
        self._actions: deque[np.ndarray] = deque()

    # ------------------------------------------------------------------ episode
    @property
    def base(self) -> LangNavEnv:
        return cast("LangNavEnv", self.env.unwrapped)

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        obs, info = self.env.reset(seed=seed, options=options)
        base_seed = seed if seed is not None else int(self.base.np_random.integers(2**31))
        names = ",".join(sorted([*self.fixed, *(f"~{q.name}" for q in self.randomised)]))
        self._rng = np.random.default_rng([base_seed, zlib.crc32(names.encode())])
        self.perturbations = dict(self.fixed)
        for q in self.randomised:  # drawn first, so the rest of the episode's draws do not shift them
            on, fraction = self._rng.random() < self.probabilities.get(q.name, self.probability), self._rng.random()
            neutral = self._neutral(q.name)
            if on and q.name not in self.fixed:
                self.perturbations[q.name] = neutral + fraction * (q.strength - neutral)
        if self.clean_fraction > 0.0 and self._clean(base_seed, names):
            self.perturbations = dict(self.fixed)
        self._steps, self._last, self._shown = 0, None, {}
        self._actions = deque()
        self._appearance()
        if self._appearance_changed():
            obs = self.base._observe()  # the first frame already in the new look
        return self._observe(obs), info

    def _clean(self, base_seed: int, names: str) -> bool:
        """Whether this episode is one of the ``clean_fraction`` without randomisation: a draw of its own."""
        own = np.random.default_rng([base_seed, zlib.crc32(names.encode()), zlib.crc32(b"clean")])
        return bool(own.random() < self.clean_fraction)

    def _neutral(self, name: str) -> float:
        """The strength at which ``name`` changes nothing here: its table value, except that a range_max at or
        over this lidar's own changes nothing either (draws of ``lidar_short`` go from there to the strength,
        not from 100 m: else only the few draws under the sensor's range would shorten it)."""
        neutral = PERTURBATIONS[name].neutral
        if name == "lidar_short":
            return min(neutral, float(self.base.config.lidar.range_max))
        return neutral

    def step(self, action: Any):
        obs, reward, terminated, truncated, info = self.env.step(self._act(np.asarray(action, dtype=np.float64)))
        self._steps += 1
        return self._observe(obs), reward, terminated, truncated, info

    # ------------------------------------------------------------------ actions
    def _act(self, action: np.ndarray) -> np.ndarray:
        q = self.perturbations
        if "latency" in q:  # whole control steps late: the previous commands act meanwhile (zero at first)
            delay = round(q["latency"] * self.base.config.task.control_hz)
            self._actions.append(action.copy())
            action = self._actions.popleft() if len(self._actions) > delay else np.zeros(2)
        linear, angular = float(action[0]), float(action[1])
        if "top_speed" in q:
            top = q["top_speed"] * self.base.config.robot.max_linear
            linear = float(np.clip(linear, -top, top))
        if "slip" in q:
            keep = 1.0 - self._rng.uniform(0.0, q["slip"])
            linear, angular = linear * keep, angular * (1.0 - self._rng.uniform(0.0, q["slip"]))
        if "wheel_asymmetry" in q:
            angular += q["wheel_asymmetry"] * linear
        return np.array([linear, angular], dtype=np.float32)

    # ------------------------------------------------------------------ the scene's look
    def _appearance_changed(self) -> bool:
        return any(name in self.perturbations for name in ("colours", "light", "target_hue"))

    def _appearance(self) -> None:
        base, q, rng = self.base, self.perturbations, self._rng
        camera = base.camera
        camera.light = None
        if base.episode is None:
            return
        scene = base.episode.scene
        if "colours" in q:
            for body in [scene.floor, *scene.walls, *scene.obstacles]:
                rgba = _rgba_of(scene.client, body)
                shift = rng.uniform(-q["colours"], q["colours"], size=3)
                rgba[:3] = np.clip(np.asarray(rgba[:3]) + shift, 0.0, 1.0).tolist()
                p.changeVisualShape(body, -1, rgbaColor=rgba, physicsClientId=scene.client)
        if "target_hue" in q:
            for body in scene.targets:
                rgba = _rgba_of(scene.client, body)
                h, s, v = colorsys.rgb_to_hsv(*rgba[:3])
                h = (h + math.radians(rng.uniform(-q["target_hue"], q["target_hue"])) / (2 * math.pi)) % 1.0
                rgba[:3] = list(colorsys.hsv_to_rgb(h, s, v))
                p.changeVisualShape(body, -1, rgbaColor=rgba, physicsClientId=scene.client)
        if "light" in q:
            azimuth, elevation = rng.uniform(0, 2 * math.pi), rng.uniform(0.3, 1.3)
            scale = 1.0 + rng.uniform(-q["light"], q["light"])
            camera.light = {
                "lightDirection": [
                    math.cos(elevation) * math.cos(azimuth),
                    math.cos(elevation) * math.sin(azimuth),
                    math.sin(elevation),
                ],
                "lightAmbientCoeff": 0.6 * scale,
                "lightDiffuseCoeff": 0.35 * scale,
            }

    # ------------------------------------------------------------------ observations
    def _observe(self, obs: dict[str, Any]) -> dict[str, Any]:
        q, rng = self.perturbations, self._rng
        obs = dict(obs)
        if "stale" in q and self._last is not None and rng.random() < q["stale"]:
            obs["image"], obs["scan"] = self._last["image"], self._last["scan"]
        else:
            obs["image"] = self._held("image", "frame_rate", obs["image"], self._camera)
            obs["scan"] = self._held("scan", "scan_rate", obs["scan"], self._lidar)
        self._last = obs
        return obs

    def _held(self, key: str, rate: str, value: np.ndarray, perturb: Callable[[np.ndarray], np.ndarray]) -> Any:
        """A new reading every ``rate`` steps (the perturbed one), else the one shown before."""
        every = int(self.perturbations.get(rate, 1))
        if key in self._shown and self._steps % every != 0:
            return self._shown[key]
        self._shown[key] = perturb(value)
        return self._shown[key]

    def _camera(self, rgb: np.ndarray) -> np.ndarray:
        q, rng = self.perturbations, self._rng
        img: np.ndarray = rgb.astype(np.float32)
        if "exposure" in q:
            img *= q["exposure"]
        if "white_balance" in q:
            img *= np.array([1.0 + q["white_balance"], 1.0, 1.0 - q["white_balance"]], dtype=np.float32)
        if "camera_blur" in q and q["camera_blur"] > 0:
            img = cv2.GaussianBlur(img, (0, 0), q["camera_blur"])
        if "camera_noise" in q:
            img += rng.normal(0.0, q["camera_noise"], size=img.shape).astype(np.float32)
        out = np.clip(img, 0, 255).astype(np.uint8)
        if "jpeg" in q:
            ok, data = cv2.imencode(".jpg", out[:, :, ::-1], [cv2.IMWRITE_JPEG_QUALITY, int(q["jpeg"])])
            decoded = cv2.imdecode(data, cv2.IMREAD_COLOR) if ok else None
            if decoded is not None:
                out = np.ascontiguousarray(decoded[:, :, ::-1])
        return out

    def _lidar(self, scan: np.ndarray) -> np.ndarray:
        q, rng = self.perturbations, self._rng
        r = np.asarray(scan, dtype=np.float32).copy()
        if "lidar_noise" in q:
            finite = np.isfinite(r)
            r[finite] += rng.normal(0.0, q["lidar_noise"], size=int(finite.sum())).astype(np.float32)
        if "lidar_short" in q:
            r[(r > q["lidar_short"]) | np.isposinf(r)] = 0.0  # no return, as such a driver says it
        if "lidar_beams" in q and q["lidar_beams"] > 1:
            every = int(q["lidar_beams"])
            r = np.repeat(r[::every], every)[: r.size]
        if "lidar_dropout" in q:
            lost = rng.random(r.size) < q["lidar_dropout"]
            r[lost] = rng.choice(np.array([0.0, np.nan, np.inf], dtype=np.float32), size=int(lost.sum()))
        return r


def _rgba_of(client: int, body: int) -> list[float]:
    data = p.getVisualShapeData(body, physicsClientId=client)
    return list(data[0][7]) if data else [0.5, 0.5, 0.5, 1.0]
