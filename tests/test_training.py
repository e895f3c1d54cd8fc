"""BC + DAgger training: a tiny end-to-end run, resume after a kill, one pre-processing path, checkpoints."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml

from configs import ConfigError, load_yaml
from perception.lidar import ScanConventions
from policy.checkpoint import latest_checkpoint, load_checkpoint, save_checkpoint
from policy.configuration import get_variant
from policy.controller import PolicyController
from policy.data import AUX_COLUMNS, Episode, save_episodes
from policy.model_io import load_model
from policy.modeling import NavPolicy
from policy.processing import PolicyProcessor, ScanGeometry
from policy.training import (
    SequenceDataset,
    TrainConfig,
    load_train_config,
    make_batch,
    near_obstacle_weights,
    sequence_loss,
    train,
    training_episodes,
)
from sim.config import load_sim_config
from sim.env import make_env
from sim.rollout import run_episode


class Killed(Exception):
    """Stands for SIGKILL: raised from the log callback in the middle of a run."""


@pytest.fixture(scope="module")
def short_sim(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The project's sim config with 60-step episodes (keeps learner rollouts short)."""
    data = load_yaml("sim.yaml")
    data["task"]["max_episode_steps"] = 60
    path = tmp_path_factory.mktemp("sim") / "sim.yaml"
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    return path


def tiny_config(out_dir: Path, sim: Path, **overrides: object) -> TrainConfig:
    fields = {
        "variant": "small",
        "seed": 3,
        "bc_episodes": 4,
        "dagger_rounds": 1,
        "dagger_episodes_per_round": 2,
        "epochs_bc": 1,
        "epochs_dagger": 1,
        "sequence_length": 8,
        "burn_in": 4,
        "batch_sequences": 4,
        "workers": 1,
        "shard_episodes": 2,
        "out_dir": str(out_dir),
        "eval_episodes": 2,
        "checkpoint_every_steps": 5,
        "stage_eval_episodes": 1,
        "sim_config": str(sim),
    }
    fields.update(overrides)
    return TrainConfig(**fields)  # type: ignore[arg-type]


@pytest.mark.unit
def test_default_config_file_loads_and_unknown_keys_are_refused(tmp_path: Path) -> None:
    config = load_train_config()
    assert config.variant == "medium" and config.workers == 2
    bad = tmp_path / "train.yaml"
    bad.write_text("variant: small\nepochs: 3\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="epochs"):
        load_train_config(bad)
    with pytest.raises(ValueError, match="dagger_beta"):
        TrainConfig(dagger_beta=1.5)


@pytest.mark.unit
def test_the_loss_and_schedule_coefficients_are_config_fields_with_checked_values() -> None:
    for name in ("train.yaml", "train_small.yaml", "train_large.yaml"):
        config = load_train_config(name)
        assert (config.stop_weight, config.aux_distance_scale, config.near_half_angle_deg) == (0.5, 5.0, 45.0)
        assert config.lr_final_fraction == 0.1
    for name, value in (
        ("stop_weight", -0.1),
        ("aux_distance_scale", 0.0),
        ("near_half_angle_deg", 0.0),
        ("lr_final_fraction", 1.5),
        ("clean_episode_fraction", 1.5),
    ):
        with pytest.raises(ValueError, match=name):
            TrainConfig(**{name: value})  # type: ignore[arg-type]


@pytest.mark.unit
def test_randomised_training_collects_in_perturbed_worlds_and_checks_in_clean_ones(
    tmp_path: Path, short_sim: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import policy.training.trainer as trainer
    from sim.config import SimConfig

    Seen = tuple[tuple[str, ...], dict[str, float], float]
    collected: list[Seen] = []
    checked: list[Seen] = []

    def noting_randomisation(name: str, seen: list[Seen]) -> None:
        real = getattr(trainer, name)

        def call(*args, **kwargs):
            sim = next(a for a in args if isinstance(a, SimConfig))
            seen.append((sim.randomise, sim.randomise_probabilities, sim.randomise_clean_fraction))
            return real(*args, **kwargs)

        monkeypatch.setattr(trainer, name, call)

    noting_randomisation("collect_stage", collected)
    noting_randomisation("stage_eval", checked)
    noting_randomisation("final_eval", checked)
    drawn = ("colours=0.5", "latency=0.2")
    own = {"colours": 0.5}
    config = tiny_config(
        tmp_path,
        short_sim,
        perturbations=drawn,
        perturbation_probability=1.0,
        perturbation_probabilities=own,
        clean_episode_fraction=0.25,
        dagger_rounds=0,
    )

    model_dir = train(config, log=lambda _: None, progress=False)

    assert collected == [(drawn, own, 0.25)], "every collected stage draws from train.yaml's perturbations"
    assert checked == [((), {}, 0.0), ((), {}, 0.0)], "the stage and end-of-training checks run in clean worlds"
    _, _, manifest = load_model(model_dir, device="cpu")
    assert manifest["training_config"]["perturbations"] == list(drawn)
    assert manifest["training_config"]["perturbation_probabilities"] == own
    assert manifest["training_config"]["clean_episode_fraction"] == 0.25


@pytest.mark.training
def test_tiny_run_shares_preprocessing_and_gives_a_loadable_acting_model(
    tmp_path: Path, short_sim: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls = {"batch": 0, "single": 0, "prepare": 0}
    real_prepare, real_batch, real_call = PolicyProcessor.prepare, PolicyProcessor.batch, PolicyProcessor.__call__

    def prepare(self, *args, **kwargs):
        calls["prepare"] += 1
        return real_prepare(self, *args, **kwargs)

    def batch(self, *args, **kwargs):
        calls["batch"] += 1
        return real_batch(self, *args, **kwargs)

    def single(self, *args, **kwargs):
        calls["single"] += 1
        return real_call(self, *args, **kwargs)

    monkeypatch.setattr(PolicyProcessor, "prepare", prepare)
    monkeypatch.setattr(PolicyProcessor, "batch", batch)
    monkeypatch.setattr(PolicyProcessor, "__call__", single)

    model_dir = train(tiny_config(tmp_path, short_sim), log=lambda _: None, progress=False)

    # Training batches and closed-loop control (DAgger + eval) both reached PolicyProcessor.prepare.
    assert calls["batch"] > 0 and calls["single"] > 0
    assert calls["prepare"] >= calls["single"] + calls["batch"]
    model, config, manifest = load_model(model_dir, device="cpu")
    assert config.name == "small" and config.max_linear == load_sim_config(short_sim).robot.max_linear
    assert manifest["training_config"]["bc_episodes"] == 4
    assert 0.0 <= manifest["metrics"]["eval_unseen"]["success_rate"] <= 1.0
    assert sorted(p.name for p in (tmp_path / "data").iterdir()) == [
        "bc-00000.npz",
        "bc-00001.npz",
        "dagger01-00000.npz",
    ]
    assert any((tmp_path / "tb").iterdir())

    sim = load_sim_config(short_sim)
    controller = PolicyController(model, PolicyProcessor(config), ScanGeometry.from_lidar_config(sim.lidar))
    assert isinstance(controller.processor, PolicyProcessor)
    env = make_env(sim)
    try:
        result, _ = run_episode(env, controller, seed=0)
    finally:
        env.close()
    assert result.steps > 0


@pytest.mark.training
def test_a_killed_run_resumes_without_recollecting_and_ends_with_an_unbroken_runs_weights(
    tmp_path: Path, short_sim: Path
) -> None:
    out = tmp_path / "killed"
    config = tiny_config(out, short_sim, dagger_rounds=0, epochs_bc=2)
    messages: list[str] = []

    def kill_at_second_checkpoint(message: str) -> None:
        messages.append(message)
        if sum(m.startswith("checkpoint") for m in messages) == 2:
            raise Killed

    with pytest.raises(Killed):
        train(config, log=kill_at_second_checkpoint, progress=False)
    saved = load_checkpoint(latest_checkpoint(out / "checkpoints"))
    killed_at = saved.progress["global_step"]
    assert killed_at > 0 and not (out / "model").exists()
    shards = {p: p.stat().st_mtime_ns for p in (out / "data").glob("*.npz")}
    assert len(shards) == 2

    resumed: list[str] = []
    train(config, log=resumed.append, progress=False)
    assert any(m.startswith("resumed from") and f"step {killed_at})" in m for m in resumed)
    assert any("reusing 2 existing shard(s)" in m for m in resumed)
    assert not any(m.startswith("shard ") for m in resumed)  # nothing recollected
    assert {p: p.stat().st_mtime_ns for p in (out / "data").glob("*.npz")} == shards
    final = load_checkpoint(latest_checkpoint(out / "checkpoints"))
    assert final.progress["global_step"] > killed_at  # the step counter continued
    assert (out / "model" / "manifest.json").is_file()
    # and it ends where a run that was never killed ends: the same data, batches and weights, bit for bit
    whole = train(dataclasses.replace(config, out_dir=str(tmp_path / "whole")), log=lambda _: None, progress=False)
    assert _weights_sha256(whole) == _weights_sha256(out / "model")


def _weights_sha256(model_dir: Path) -> str:
    return str(json.loads((model_dir / "manifest.json").read_text(encoding="utf-8"))["weights_sha256"])


@pytest.mark.unit
def test_checkpoint_round_trips_weights_and_adam_state_without_pickle(tmp_path: Path) -> None:
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.BatchNorm1d(4), torch.nn.Linear(4, 1))
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-2)
    for _ in range(3):
        optimizer.zero_grad()
        model(torch.randn(8, 3)).pow(2).mean().backward()
        optimizer.step()
    path = save_checkpoint(tmp_path, model, optimizer, {"global_step": 3, "epoch": 1, "rng": [1, 2]})
    assert sorted(p.name for p in path.iterdir()) == ["state.json", "state.safetensors"]

    other = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.BatchNorm1d(4), torch.nn.Linear(4, 1))
    other_opt = torch.optim.AdamW(other.parameters(), lr=1e-2)
    checkpoint = load_checkpoint(latest_checkpoint(tmp_path))
    checkpoint.restore(other, other_opt)
    assert checkpoint.progress == {"global_step": 3, "epoch": 1, "rng": [1, 2]}
    for a, b in zip(model.state_dict().values(), other.state_dict().values(), strict=True):
        assert torch.equal(a, b)
    x = torch.randn(8, 3)
    for m, o in ((model, optimizer), (other, other_opt)):  # the next step is identical after the restore
        o.zero_grad()
        m(x).pow(2).mean().backward()
        o.step()
    for a, b in zip(model.parameters(), other.parameters(), strict=True):
        assert torch.allclose(a, b)
    # Only the newest checkpoints are kept, and a leftover temporary folder is never "latest".
    for step in (4, 5):
        save_checkpoint(tmp_path, model, optimizer, {"global_step": step})
    (tmp_path / ".tmp-step-000000009-1").mkdir()
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith("step-")) == [
        "step-000000004",
        "step-000000005",
    ]
    assert latest_checkpoint(tmp_path).name == "step-000000005"
    assert np.isfinite(load_checkpoint(latest_checkpoint(tmp_path)).model_state["0.weight"].numpy()).all()


def synthetic_episode(steps: int, with_truth: bool, seed: int) -> Episode:
    rng = np.random.default_rng(seed)
    truth = np.column_stack(
        [
            rng.integers(0, 2, steps),
            rng.uniform(-1, 1, steps),
            rng.uniform(-3, 3, steps),
            rng.uniform(0, 5, steps),
            np.ones(steps),
        ]
    ).astype(np.float32)
    return Episode(
        images=rng.integers(0, 255, (steps, 64, 64, 3), dtype=np.uint8),
        scans=rng.uniform(0.2, 8.0, (steps, 360)).astype(np.float32),
        odom=np.zeros((steps, 2), np.float32),
        labels=rng.uniform(-0.5, 0.5, (steps, 2)).astype(np.float32),
        instruction="go to the red cube",
        success=True,
        aux=truth if with_truth else None,
    )


@pytest.mark.unit
def test_the_sequence_loss_is_the_error_of_stepping_the_model_through_each_sequence() -> None:
    """Training encodes all steps of a batch at once; that must equal the step-by-step policy the
    robot runs, burn-in and padding included (eval mode, so batch norm does not depend on the batch),
    each step's error weighted by the dataset's step weight."""
    config = get_variant("small")
    torch.manual_seed(0)
    model = NavPolicy(config).eval()
    torch.nn.init.normal_(model.head[-1].weight, std=0.5)  # the action reads the memory (not ~0 as initialised)
    processor = PolicyProcessor(config)
    episodes = [synthetic_episode(steps, False, seed) for seed, steps in enumerate((5, 13, 9))]
    dataset = SequenceDataset(episodes, {"go to the red cube": np.ones(384, np.float32) / 20}, 4, 3)
    dataset.weights = np.random.default_rng(0).uniform(1.0, 4.0, dataset.samples).astype(np.float32)
    geometry = ScanGeometry.full_circle(360, 0.12, 8.0)
    inputs, labels, valid, train_mask, burn, _ = make_batch(dataset, np.arange(len(dataset)), processor, geometry)
    assert burn > 0 and not bool(valid.all()), "the batch has burn-in and padding"

    with torch.no_grad():
        _, parts = sequence_loss(model, inputs, labels, valid, train_mask, burn)
        batch, width = valid.shape
        rows = [x.reshape(batch, width, *x.shape[1:]) for x in inputs.as_tuple()]
        errors, weights = [], []
        for b in range(batch):
            hidden = model.initial_hidden()
            for t in range(width):
                if not valid[b, t]:
                    continue
                out = model.step(*(x[b, t : t + 1] for x in rows), hidden)
                hidden = out.hidden
                if train_mask[b, t]:
                    errors.append(float(((out.action[0] - labels[b, t]) ** 2).mean()))
                    weights.append(float(train_mask[b, t]))

    assert len(set(weights)) > 1, "the steps have different weights"
    assert parts["action"] == pytest.approx(np.average(errors, weights=weights), rel=1e-4)


@pytest.mark.unit
def test_near_obstacle_weights_pick_the_steps_with_something_close_ahead() -> None:
    geometry = ScanGeometry.full_circle(360, 0.12, 8.0)  # beam 180 is straight ahead, beam 0 behind
    scans = np.full((7, 360), np.inf, dtype=np.float32)
    scans[0, 180] = 0.25  # 7 cm from a 0.18 m robot's surface, straight ahead
    scans[1, 0] = 0.25  # as close, behind
    scans[2, 180 + 60] = 0.25  # as close, 60 degrees to the left
    scans[3, 180 - 40] = -np.inf  # too close to measure, 40 degrees to the right
    scans[4, 180] = np.nan  # an invalid reading is not an obstacle
    scans[5, 180] = 0.35  # 17 cm ahead: clear of a 12 cm margin
    scans[6, 180] = 0.05  # below the sensor's 0.12 m minimum: discarded, as the LaserScan definition says
    weights = near_obstacle_weights(scans, geometry, robot_radius=0.18, distance=0.12, extra=3.0)
    assert weights.tolist() == [4.0, 1.0, 1.0, 4.0, 1.0, 1.0, 1.0]
    # A driver whose convention is "too close" for such a reading (the robot profile says so): near.
    too_close = dataclasses.replace(geometry, conventions=ScanConventions(below_range_min="too_close"))
    weights = near_obstacle_weights(scans, too_close, robot_radius=0.18, distance=0.12, extra=3.0)
    assert weights.tolist() == [4.0, 1.0, 1.0, 4.0, 1.0, 1.0, 4.0]


@pytest.mark.unit
@pytest.mark.parametrize("with_truth", [True, False])
def test_auxiliary_heads_learn_only_from_steps_with_simulator_truth(with_truth: bool) -> None:
    config = get_variant("small")
    model = NavPolicy(config)
    processor = PolicyProcessor(config)
    episodes = [synthetic_episode(12, with_truth, seed) for seed in range(2)]
    dataset = SequenceDataset(episodes, {"go to the red cube": np.zeros(384, np.float32)}, 6, 2)
    geometry = ScanGeometry.full_circle(360, 0.12, 8.0)
    inputs, labels, valid, train_mask, burn, aux = make_batch(dataset, np.arange(len(dataset)), processor, geometry)
    assert aux.shape[-1] == len(AUX_COLUMNS)
    loss, parts = sequence_loss(model, inputs, labels, valid, train_mask, burn, aux, aux_weight=0.5)
    loss.backward()
    view_grad = model.view_head.weight.grad
    assert torch.isfinite(loss) and "action" in parts
    if with_truth:
        assert {"aux_in_view", "aux_bearing", "aux_distance", "aux_seen", "aux_column"} <= parts.keys()
        assert view_grad is not None and view_grad.abs().sum() > 0
    else:
        assert view_grad is None or view_grad.abs().sum() == 0
        assert model.head[-1].weight.grad.abs().sum() > 0  # the action is still learned


@pytest.mark.unit
def test_extra_demonstrations_join_every_stage_of_training(tmp_path: Path, short_sim: Path) -> None:
    """nav train --from-bags: bag demonstrations (no simulator truth) sit beside the collected data."""
    shard = save_episodes(tmp_path / "bags.npz", [synthetic_episode(9, with_truth=False, seed=5)])
    config = tiny_config(tmp_path / "run", short_sim, demonstrations=(str(shard),))
    data_dir = tmp_path / "run" / "data"
    collected = [synthetic_episode(7, with_truth=True, seed=s) for s in range(config.bc_episodes)]
    for chunk in range(0, config.bc_episodes, config.shard_episodes):
        save_episodes(data_dir / f"bc-{chunk // config.shard_episodes:05d}.npz", collected[chunk : chunk + 2])
    episodes = training_episodes(config, 0, data_dir)
    assert [len(e) for e in episodes] == [7] * config.bc_episodes + [9]
    assert episodes[-1].aux is None and all(e.aux is not None for e in episodes[:-1])
    # another run's data folder works as well, with no episodes of its own (bc_episodes 0)
    reuse = tiny_config(tmp_path / "large", short_sim, demonstrations=(str(data_dir),), bc_episodes=0)
    assert [len(e) for e in training_episodes(reuse, 0, tmp_path / "large" / "data")] == [7] * config.bc_episodes
    with pytest.raises(FileNotFoundError, match="nowhere"):
        training_episodes(tiny_config(tmp_path / "x", short_sim, demonstrations=("nowhere",)), 0, data_dir)
    with pytest.raises(ValueError, match="bc_episodes"):
        tiny_config(tmp_path / "y", short_sim, bc_episodes=0)


@pytest.mark.unit
@pytest.mark.parametrize("seed", [4, 0])  # 0: a slow turn inside the radius counts as the success
def test_a_successful_demonstration_ends_holding_still_at_the_goal(seed: int) -> None:
    from policy.data import collect_episode
    from sim.teacher import Teacher

    env = make_env(load_sim_config())
    try:
        teacher = Teacher(env.unwrapped)
        plain = collect_episode(env, teacher, seed=seed)
        held = collect_episode(env, teacher, seed=seed, hold_steps=6)
    finally:
        env.close()
    assert plain.success and held.success
    np.testing.assert_array_equal(held.labels[: len(plain)], plain.labels)
    after = held.labels[len(plain) :]
    assert np.all(after[-6:] == 0.0)  # the teacher's last labels: stand still, hold_steps of them
    if plain.labels[-1].any():  # it was still closing in: it drives on to its own stop first
        assert len(after) > 6 and after[0].any()
    else:
        assert len(after) == 6
    assert held.aux is not None and np.all(held.aux[len(plain) :, 3] <= env.unwrapped.config.task.success_radius)


@pytest.mark.training
def test_nav_train_from_a_lidar_only_bag_trains_on_its_steps_and_writes_a_loadable_model(
    tmp_path: Path, short_sim: Path
) -> None:
    """nav train --from-bags ../shared/bags/turtlebot3_gazebo_walker_sqlite3 --instruction ... (a tiny config)."""
    import json
    import subprocess
    import sys

    from policy.data import load_episodes

    bag = Path(__file__).resolve().parents[1].parent / "shared" / "bags" / "turtlebot3_gazebo_walker_sqlite3"
    assert bag.exists(), f"{bag} is missing: the shared recordings sit in ../shared/bags beside the repository"
    config = tmp_path / "train.yaml"
    fields = dataclasses.asdict(tiny_config(tmp_path / "run", short_sim, bc_episodes=2, dagger_rounds=0))
    config.write_text(yaml.safe_dump({k: list(v) if isinstance(v, tuple) else v for k, v in fields.items()}))
    command = [sys.executable, "-m", "nav.cli", "train", "--config", str(config), "--from-bags", str(bag)]
    run = subprocess.run(
        [*command, "--instruction", "go to the red cube", "--no-progress", "--json"],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert run.returncode == 0, run.stderr[-2000:]
    (episode,) = load_episodes(tmp_path / "run" / "bags" / "bag-episodes.npz")
    # 27.8 s of bag at 10 Hz, every tick with a fresh scan (judged on its Gazebo stamps) and a /cmd_vel command.
    assert 250 <= len(episode) <= 280 and episode.instruction == "go to the red cube"
    assert f"{len(episode)} steps" in run.stderr and "lidar only" in run.stderr
    assert np.all(episode.images == 128)  # the blank image the agent sees in replay
    np.testing.assert_allclose(episode.labels, [[0.0, 0.3]] * len(episode))  # the walker's /cmd_vel: turning in place
    model_dir = Path(json.loads(run.stdout)["model"])
    _, model_config, manifest = load_model(model_dir, device="cpu")
    assert model_config.name == "small"
    assert str(tmp_path / "run" / "bags" / "bag-episodes.npz") in manifest["training_config"]["demonstrations"]
