"""The perturbation suite (sim.perturb): each perturbation does what its name says, is reproducible from the
episode's seed, and is off unless asked for."""

from __future__ import annotations

import colorsys
from functools import cache

import numpy as np
import pytest

from sim.config import load_sim_config
from sim.env import make_env
from sim.perturb import PERTURBATIONS, PerturbedEnv, parse_perturbations

pytestmark = pytest.mark.unit

SEED = 3
STEPS = 6
FORWARD = np.array([0.5, 0.0], dtype=np.float32)  # the top speed


@cache
def run(perturbation: str = "", steps: int = STEPS, seed: int = SEED) -> dict[str, list]:
    """Observations and poses of one episode start, driving straight ahead, with ``perturbation`` (or clean)."""
    sim = load_sim_config()
    env = make_env(sim.replace(perturbations=(perturbation,) if perturbation else ()))
    try:
        obs, _ = env.reset(seed=seed)
        images, scans, poses = [obs["image"]], [obs["scan"]], [env.unwrapped.pose]
        for _ in range(steps):
            obs, *_ = env.step(FORWARD)
            images.append(obs["image"])
            scans.append(obs["scan"])
            poses.append(env.unwrapped.pose)
        return {"images": images, "scans": scans, "poses": poses}
    finally:
        env.close()


def image(perturbation: str, step: int = 0) -> np.ndarray:
    return run(perturbation)["images"][step].astype(np.float64)


def scan(perturbation: str, step: int = 0) -> np.ndarray:
    return np.asarray(run(perturbation)["scans"][step], dtype=np.float64)


def travelled(perturbation: str) -> tuple[float, float]:
    poses = run(perturbation)["poses"]
    return float(np.hypot(poses[-1].x - poses[0].x, poses[-1].y - poses[0].y)), poses[-1].yaw - poses[0].yaw


def test_off_by_default_and_an_unknown_name_or_strength_is_refused():
    assert load_sim_config().perturbations == ()
    env = make_env(load_sim_config())
    assert not isinstance(env, PerturbedEnv)
    env.close()
    assert [str(q) for q in parse_perturbations("camera_noise, latency=0.3")] == ["camera_noise=12", "latency=0.3"]
    with pytest.raises(ValueError, match="unknown perturbation 'fog'"):
        parse_perturbations("fog")
    with pytest.raises(ValueError, match="strength 2 outside"):
        parse_perturbations("lidar_dropout=2")


@pytest.mark.parametrize("name", list(PERTURBATIONS))
def test_each_perturbation_is_the_same_episode_every_time_from_its_seed(name):
    again = make_env(load_sim_config().replace(perturbations=(name,)))
    try:
        obs, _ = again.reset(seed=SEED)
        for _ in range(STEPS):
            obs, *_ = again.step(FORWARD)
    finally:
        again.close()
    np.testing.assert_array_equal(obs["image"], run(name)["images"][-1])
    np.testing.assert_array_equal(obs["scan"], run(name)["scans"][-1])


def test_camera_perturbations_change_the_image_as_named():
    clean = image("")
    assert np.std(image("camera_noise") - clean) > 5.0
    assert image("exposure").mean() < 0.7 * clean.mean()
    wb = image("white_balance") - clean
    assert wb[..., 0].mean() > 0 > wb[..., 2].mean(), "red up, blue down"
    sharp, blurred = np.var(np.diff(clean, 2, axis=1)), np.var(np.diff(image("camera_blur"), 2, axis=1))
    assert blurred < 0.7 * sharp, "less fine detail"
    assert 0 < np.abs(image("jpeg") - clean).mean() < 20
    frames = run("frame_rate=2")["images"]  # a new frame every 2 steps, while the robot drives
    np.testing.assert_array_equal(frames[1], frames[0])
    assert not np.array_equal(frames[2], frames[1])


def test_appearance_perturbations_recolour_the_scene_and_relight_it():
    clean = image("")
    assert np.abs(image("colours") - clean).mean() > 3.0
    assert np.abs(image("light") - clean).mean() > 1.0
    # The target keeps its colour name: its hue moves, by at most the strength (30 degrees here).
    clean_hues, hues = target_hues(""), target_hues("target_hue=30")
    turned = [abs((h - c + 0.5) % 1.0 - 0.5) * 360.0 for h, c in zip(hues, clean_hues, strict=True)]
    assert any(t > 0.5 for t in turned) and all(t <= 30.0 + 1e-6 for t in turned), turned


def target_hues(perturbation: str) -> list[float]:
    import pybullet as p

    env = make_env(load_sim_config().replace(perturbations=(perturbation,) if perturbation else ()))
    try:
        env.reset(seed=SEED)
        scene = env.unwrapped.episode.scene
        return [
            colorsys.rgb_to_hsv(*p.getVisualShapeData(b, physicsClientId=scene.client)[0][7][:3])[0]
            for b in scene.targets
        ]
    finally:
        env.close()


def test_lidar_perturbations_change_the_scan_as_named():
    clean = scan("")
    finite = np.isfinite(clean)
    assert 0.01 < np.std(scan("lidar_noise")[finite] - clean[finite]) < 0.1
    short = scan("lidar_short")
    assert not np.any(np.isfinite(short) & (short > 3.5)) and np.any(short == 0.0), "0.0 beyond 3.5 m"
    dropped = scan("lidar_dropout")
    lost = (dropped == 0.0) | np.isnan(dropped) | (np.isinf(dropped) & ~np.isinf(clean))
    assert 0.05 < lost.mean() < 0.2
    coarse = scan("lidar_beams")
    assert np.array_equal(coarse[1:4], np.repeat(coarse[0], 3), equal_nan=True), "every 4th ray, its neighbours as it"
    scans = run("scan_rate=2")["scans"]
    np.testing.assert_array_equal(scans[1], scans[0])


def test_timing_perturbations_delay_commands_and_repeat_observations():
    assert travelled("latency=0.2")[0] < travelled("")[0] - 0.04, "two steps of 0.5 m/s lost to the delay"
    stale = run("stale=1.0")
    np.testing.assert_array_equal(stale["images"][-1], stale["images"][0])


def test_base_perturbations_make_the_base_slower_or_crooked():
    distance, _ = travelled("")
    assert travelled("slip=0.5")[0] < distance
    assert travelled("top_speed=0.5")[0] < 0.6 * distance
    assert abs(travelled("wheel_asymmetry=1.0")[1]) > abs(travelled("")[1]) + 0.05, "a straight command turns"


def test_domain_randomisation_draws_each_episode_its_own_perturbations_reproducibly():
    sim = load_sim_config().replace(
        randomise=("exposure=0.3", "lidar_noise=0.05", "latency"), randomise_probability=0.5
    )
    env = make_env(sim)
    try:
        drawn = []
        for seed in range(12):
            env.reset(seed=seed)
            drawn.append(dict(env.perturbations))
        env.reset(seed=4)
        assert env.perturbations == drawn[4], "the same episode seed draws the same perturbations"
    finally:
        env.close()
    assert len({tuple(sorted(d)) for d in drawn}) > 2, "episodes differ in which perturbations are on"
    exposures = [d["exposure"] for d in drawn if "exposure" in d]
    assert exposures and all(0.3 <= e <= 1.0 for e in exposures), "between the strength and the neutral 1.0"
    assert all(0.0 <= d.get("latency", 0.0) <= PERTURBATIONS["latency"].default for d in drawn)


def test_a_perturbation_with_a_probability_of_its_own_is_drawn_that_often_and_the_rest_keep_the_shared_one():
    randomise = ("exposure=0.3", "lidar_noise=0.05", "colours=0.5")
    shared = load_sim_config().replace(randomise=randomise, randomise_probability=0.3)
    own = shared.replace(randomise_probabilities={"colours": 1.0, "exposure": 0.0})
    drawn = {}
    for name, sim in (("shared", shared), ("own", own)):
        env = make_env(sim)
        try:
            drawn[name] = []
            for seed in range(12):
                env.reset(seed=seed)
                drawn[name].append(dict(env.perturbations))
        finally:
            env.close()
    assert all("colours" in d for d in drawn["own"]), "probability 1: every episode recoloured"
    assert not any("exposure" in d for d in drawn["own"]), "probability 0: never"
    assert [d.get("lidar_noise") for d in drawn["own"]] == [d.get("lidar_noise") for d in drawn["shared"]], (
        "a name without its own probability draws as before, episode for episode"
    )
    assert sum("colours" in d for d in drawn["shared"]) < 12
    with pytest.raises(ValueError, match="'light' is not one of the perturbations drawn"):
        shared.replace(randomise_probabilities={"light": 0.5})
    with pytest.raises(ValueError, match="colours's probability must be in"):
        shared.replace(randomise_probabilities={"colours": 1.5})


def test_a_clean_fraction_of_the_episodes_draws_no_randomisation_and_the_rest_draw_as_without_it():
    randomise = ("exposure=0.3", "lidar_noise=0.05", "colours=0.5")
    sim = load_sim_config().replace(randomise=randomise, randomise_probability=1.0, perturbations=("jpeg=30",))
    drawn = {}
    for fraction in (0.0, 0.5, 1.0):
        env = make_env(sim.replace(randomise_clean_fraction=fraction))
        try:
            drawn[fraction] = []
            for seed in range(16):
                env.reset(seed=seed)
                drawn[fraction].append(dict(env.perturbations))
        finally:
            env.close()
    fixed = {"jpeg": 30.0}
    assert all(set(d) == {"jpeg", "exposure", "lidar_noise", "colours"} for d in drawn[0.0]), "0: every one drawn"
    assert drawn[1.0] == [fixed] * 16, "1: no episode randomised; the fixed perturbations still apply"
    clean = [d == fixed for d in drawn[0.5]]
    assert 3 <= sum(clean) <= 13, f"about half the episodes clean, got {sum(clean)} of 16"
    assert [d for d, c in zip(drawn[0.5], clean, strict=True) if not c] == [
        d for d, c in zip(drawn[0.0], clean, strict=True) if not c
    ], "an episode that is not clean draws exactly as without a clean fraction"
    with pytest.raises(ValueError, match="randomise_clean_fraction must be in"):
        sim.replace(randomise_clean_fraction=1.5)


def test_a_randomised_short_lidar_is_drawn_below_the_sensors_own_range():
    """lidar_short's table neutral is 100 m; drawn from there, almost every draw would be longer than the
    lidar (8 m) and change nothing. The draws go from the sensor's range_max to the strength, and each
    shortens the scan to what it drew."""
    sim = load_sim_config().replace(randomise=("lidar_short=3.0",), randomise_probability=1.0)
    env = make_env(sim)
    try:
        drawn = []
        for seed in range(10):
            obs, _ = env.reset(seed=seed)
            drawn.append(env.perturbations["lidar_short"])
            scan = np.asarray(obs["scan"])
            assert not np.any(scan > drawn[-1]), "nothing reads beyond the drawn range"
    finally:
        env.close()
    assert all(3.0 <= r <= sim.lidar.range_max for r in drawn), drawn
    assert max(drawn) - min(drawn) > 1.0, "the draws spread over the range"


def test_training_takes_its_randomisation_from_train_yaml_and_refuses_an_unknown_name():
    from policy.training.config import TrainConfig, load_train_config
    from sim.perturb import PERTURBATIONS, parse_perturbations

    shipped = load_train_config()
    drawn = {q.name: q for q in parse_perturbations(shipped.perturbations)}
    assert set(drawn) == set(PERTURBATIONS), "the shipped recipe randomises over the whole suite"
    for name, q in drawn.items():  # each default strength lies inside what training saw
        kind = PERTURBATIONS[name]
        assert min(kind.neutral, q.strength) <= kind.default <= max(kind.neutral, q.strength), name
    assert TrainConfig().perturbations == (), "off unless a config lists them"
    with pytest.raises(ValueError, match="unknown perturbation 'fog'"):
        TrainConfig(perturbations=("fog",))
    with pytest.raises(ValueError, match="perturbation_probabilities: 'fog' is not one of"):
        TrainConfig(perturbations=("colours",), perturbation_probabilities={"fog": 0.5})
