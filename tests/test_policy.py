"""Specification of ``policy``: the variant registry, the network, its pre-processing and model files."""

from __future__ import annotations

import dataclasses
import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch

from configs import ConfigError
from nav.bench.encoder import EncoderBenchConfig, bench_encoder, format_table
from policy.configuration import PolicyConfig, UnknownVariantError, get_variant, load_variants
from policy.model_io import MANIFEST_FILE, WEIGHTS_FILE, ModelFileError, load_model, save_model, sha256_file
from policy.modeling import NavPolicy, default_device, parameter_count
from policy.processing import PolicyInputs, PolicyProcessor, ScanGeometry

pytestmark = pytest.mark.unit

VARIANTS = list(load_variants())
SIM_GEOMETRY = ScanGeometry.full_circle(360, 0.12, 8.0)


class FakeEncoder:
    """A deterministic stand-in for MiniLM: unit vectors seeded by the text."""

    def encode(self, text: str) -> np.ndarray:
        rng = np.random.default_rng(sum(map(ord, text)))
        v = rng.standard_normal(384).astype(np.float32)
        return v / np.linalg.norm(v)


def raw_observation(seed: int = 0, instruction: str = "go to the red cube") -> dict:
    """What LangNav-v0 returns: 64x64 RGB, 360 REP 117 ranges (with no-returns), text, odometry."""
    rng = np.random.default_rng(seed)
    scan = rng.uniform(0.3, 7.5, 360).astype(np.float32)
    scan[100:140] = np.inf  # a doorway: no return
    return {
        "image": rng.integers(0, 256, (64, 64, 3), dtype=np.uint8),
        "scan": scan,
        "instruction": instruction,
        "odom": np.array([0.25, -0.75], dtype=np.float32),
    }


def model_and_processor(name: str) -> tuple[NavPolicy, PolicyProcessor]:
    torch.manual_seed(0)
    config = get_variant(name)
    return NavPolicy(config).eval(), PolicyProcessor(config, encoder=FakeEncoder())


def batch_of(processor: PolicyProcessor, n: int = 2) -> PolicyInputs:
    observations = [raw_observation(seed) for seed in range(n)]
    return processor.batch(
        np.stack([o["image"] for o in observations]),
        np.stack([o["scan"] for o in observations]),
        SIM_GEOMETRY,
        [o["instruction"] for o in observations],
        np.stack([o["odom"] for o in observations]),
    )


# --------------------------------------------------------------------------------------------------
# Registry


def test_registry_declares_small_medium_large_of_increasing_cost() -> None:
    variants = load_variants()
    assert {"small", "medium", "large"} <= set(variants)
    small, medium, large = variants["small"], variants["medium"], variants["large"]
    assert small.image_size < medium.image_size <= large.image_size
    params = [parameter_count(NavPolicy(v)) for v in (small, medium, large)]
    assert params == sorted(params) and params[2] > 5 * params[0]
    assert len(large.vision_channels) >= len(small.vision_channels)
    assert sum(large.vision_blocks) > sum(small.vision_blocks)


def test_unknown_variant_error_lists_the_known_ones() -> None:
    with pytest.raises(UnknownVariantError, match="huge") as info:
        get_variant("huge")
    for name in ("small", "medium", "large"):
        assert name in str(info.value)
    assert isinstance(info.value, LookupError)


def test_registry_file_rejects_unknown_keys_and_bad_values(tmp_path: Path) -> None:
    path = tmp_path / "models.yaml"
    path.write_text("variants:\n  tiny:\n    image_size: 32\n    widht: 3\n")
    with pytest.raises(ConfigError, match=r"variants\.tiny\.widht"):
        load_variants(path)
    path.write_text("variants:\n  tiny:\n    vision_channels: [8, 16]\n    vision_blocks: [1]\n")
    with pytest.raises(ConfigError, match="one block count per stage"):
        load_variants(path)
    path.write_text("variants:\n  tiny:\n    image_size: '64'\n")
    with pytest.raises(ConfigError, match="must be an integer"):
        load_variants(path)


def test_config_is_frozen_and_validated() -> None:
    config = get_variant("small")
    with pytest.raises(dataclasses.FrozenInstanceError):
        config.image_size = 10  # type: ignore[misc]
    with pytest.raises(ValueError, match="too small"):
        PolicyConfig("x", image_size=16, vision_channels=(8, 8, 8, 8), vision_blocks=(1, 1, 1, 1))
    assert config.with_limits(0.3, 1.0).max_linear == 0.3


# --------------------------------------------------------------------------------------------------
# Network


@pytest.mark.parametrize("name", VARIANTS)
def test_every_variant_maps_the_shared_inputs_to_bounded_actions_and_memory(name: str) -> None:
    model, processor = model_and_processor(name)
    inputs = batch_of(processor, n=2)
    with torch.inference_mode():
        action, hidden = model(*inputs.as_tuple(), None)
        action2, hidden2 = model(*inputs.as_tuple(), hidden)
    assert action.shape == (2, 2) and action.dtype == torch.float32
    assert torch.all(action.abs() <= 1.0) and torch.all(action2.abs() <= 1.0)
    assert hidden.shape == hidden2.shape == (2, model.config.hidden_size)
    assert torch.isfinite(hidden2).all()


def test_variants_share_output_shapes_so_they_can_be_switched_at_run_time() -> None:
    shapes = set()
    for name in VARIANTS:
        model, processor = model_and_processor(name)
        with torch.inference_mode():
            action, _ = model(*processor(raw_observation(), SIM_GEOMETRY).as_tuple())
        shapes.add(tuple(action.shape))
        assert tuple(model.scale_action(action).shape) == (1, 2)
    assert shapes == {(1, 2)}


def test_film_conditions_the_vision_trunk_on_the_instruction() -> None:
    model, processor = model_and_processor("small")
    red = processor(raw_observation(instruction="go to the red cube"), SIM_GEOMETRY)
    other = processor(raw_observation(instruction="find the blue sphere"), SIM_GEOMETRY)
    blue = dataclasses.replace(red, text=other.text)
    assert torch.equal(red.image, blue.image) and not torch.equal(red.text, blue.text)
    with torch.inference_mode():
        assert not torch.allclose(model.encode_vision(red.image, red.text), model.encode_vision(blue.image, blue.text))
        # what the step computes downstream (the action before the stop decision, which an untrained
        # model may take for both)
        assert not torch.allclose(model.step(*red.as_tuple(), None).action, model.step(*blue.as_tuple(), None).action)
    # the image features depend on the text only through FiLM: remove it and they agree
    for film in model.vision.films:
        torch.nn.init.zeros_(film.proj.weight)
        torch.nn.init.zeros_(film.proj.bias)
    with torch.inference_mode():
        assert torch.allclose(model.encode_vision(red.image, red.text), model.encode_vision(blue.image, blue.text))


def test_gru_memory_changes_the_action_for_the_same_observation() -> None:
    model, processor = model_and_processor("small")
    inputs = processor(raw_observation(), SIM_GEOMETRY)
    with torch.inference_mode():
        fresh = model.step(*inputs.as_tuple(), model.initial_hidden())
        remembered = model.step(*inputs.as_tuple(), torch.full((1, model.config.hidden_size), 0.9))
    h1, h2 = fresh.hidden, remembered.hidden
    assert not torch.allclose(fresh.action, remembered.action)
    assert not torch.allclose(h1, h2)


def test_forward_names_a_wrongly_shaped_input() -> None:
    model, processor = model_and_processor("small")
    inputs = processor(raw_observation(), SIM_GEOMETRY)
    with pytest.raises(ValueError, match=r"scan must have shape \(1, 180\)"):
        model(inputs.image, torch.zeros(1, 360), inputs.text, inputs.odom)
    with pytest.raises(ValueError, match=r"hidden must have shape \(1, 96\)"):
        model(*inputs.as_tuple(), torch.zeros(1, 128))


def test_a_forward_command_slower_than_min_linear_is_sent_as_zero() -> None:
    model, processor = model_and_processor("small")
    inputs = processor(raw_observation(), SIM_GEOMETRY)
    limit = model.config.min_linear / model.config.max_linear  # 0.05 m/s of 0.5: 0.1 normalised
    with torch.no_grad():
        model.head[-1].weight.zero_()  # the command is the bias alone
        for linear, sent in ((0.6 * limit, 0.0), (-0.6 * limit, 0.0), (1.5 * limit, 1.5 * limit)):
            model.head[-1].bias.copy_(torch.tensor([math.atanh(linear), math.atanh(0.4), -5.0]))
            action, _ = model(*inputs.as_tuple())
            assert action[0, 0].item() == pytest.approx(sent, abs=1e-6)
            assert action[0, 1].item() == pytest.approx(0.4, abs=1e-6)  # a turn on the spot stays a turn
    with pytest.raises(ValueError, match="min_linear"):
        dataclasses.replace(model.config, min_linear=model.config.max_linear)
    assert get_variant("small").with_limits(0.5, 1.5, 0.02).min_linear == 0.02


def test_every_shipped_model_cuts_off_a_creep_at_the_tasks_stop_speed() -> None:
    """Models trained before ``min_linear`` existed get its default: it must be sim.yaml's stop speed."""
    from policy.evaluation import models_dir
    from sim.config import load_sim_config

    stop_speed = load_sim_config().task.stop_speed
    assert PolicyConfig(name="before-the-option").min_linear == stop_speed
    shipped = [v for v in VARIANTS if (models_dir() / v / MANIFEST_FILE).exists()]
    assert shipped, "no model is shipped in models/"
    for variant in shipped:
        _, config, _ = load_model(models_dir() / variant)
        assert config.min_linear == stop_speed, variant


def test_the_near_field_channel_spreads_the_first_metre_the_scan_channel_squeezes() -> None:
    config = dataclasses.replace(get_variant("small"), lidar_near_range=1.0)
    encoder = NavPolicy(config).lidar
    assert encoder.convs[0].in_channels == 2
    ranges = torch.tensor([[0.2, 0.3, 0.9, 5.0]])
    scan, near = encoder.channels(ranges / config.lidar_range_max)[0]
    # 10 cm of clearance is 0.0125 of the scan channel and 0.1 of the near one; beyond 1 m it reads 1
    assert torch.allclose(scan[1] - scan[0], torch.tensor(0.0125))
    assert torch.allclose(near, torch.tensor([0.2, 0.3, 0.9, 1.0]))
    off = dataclasses.replace(config, lidar_near_range=0.0)  # the default: models trained before the option
    assert NavPolicy(off).lidar.convs[0].in_channels == 1
    with pytest.raises(ValueError, match="lidar_near_range"):
        dataclasses.replace(config, lidar_near_range=8.0)
    with pytest.raises(ValueError, match="lidar_near_range"):
        dataclasses.replace(config, lidar_near_range=-1.0)


def test_scale_action_uses_the_configured_limits() -> None:
    model = NavPolicy(get_variant("small"))
    scaled = model.scale_action(torch.tensor([[1.0, -1.0], [0.5, 2.0]]))
    assert torch.allclose(scaled, torch.tensor([[0.5, -1.5], [0.25, 1.5]]))
    assert default_device().type in ("cpu", "cuda")


# --------------------------------------------------------------------------------------------------
# Processing: the one path from raw observations to tensors


@pytest.mark.parametrize("name", VARIANTS)
def test_processor_output_has_the_config_shapes_in_float32(name: str) -> None:
    config = get_variant(name)
    inputs = PolicyProcessor(config, encoder=FakeEncoder())(raw_observation(), SIM_GEOMETRY)
    assert inputs.image.shape == (1, 3, config.image_size, config.image_size)
    assert inputs.scan.shape == (1, config.lidar_beams)
    assert inputs.text.shape == (1, config.text_dim)
    assert inputs.odom.shape == (1, 2)
    for tensor in inputs.as_tuple():
        assert tensor.dtype == torch.float32
    assert float(inputs.scan.min()) >= 0.0 and float(inputs.scan.max()) == 1.0  # no-returns read as free
    assert torch.allclose(inputs.odom, torch.tensor([[0.5, -0.5]]))


def test_batch_helper_is_the_single_observation_path_row_by_row() -> None:
    processor = PolicyProcessor(get_variant("medium"), encoder=FakeEncoder())
    batch = batch_of(processor, n=3)
    for i in range(3):
        single = processor(raw_observation(i), SIM_GEOMETRY)
        for got, want in zip(batch.as_tuple(), single.as_tuple(), strict=True):
            assert torch.equal(got[i : i + 1], want)


def test_processor_resamples_any_scan_geometry_and_accepts_embeddings() -> None:
    config = get_variant("small")
    processor = PolicyProcessor(config)  # no encoder: an embedding must never load MiniLM
    obs = raw_observation()
    obs["scan"] = np.full(541, 2.0, dtype=np.float32)  # 270 deg, 0.5 deg steps
    obs["instruction"] = FakeEncoder().encode("go to the red cube")
    geometry = ScanGeometry(-math.radians(135), math.radians(0.5), 0.05, 30.0)
    prepared = processor.prepare(obs, geometry)
    assert prepared["scan"].shape == (config.lidar_beams,)
    assert np.isclose(prepared["scan"].min(), 2.0 / config.lidar_range_max)
    assert prepared["scan"][0] == 1.0  # straight behind is outside the field of view: assumed free
    assert processor._encoder is None
    with pytest.raises(ValueError, match=r"shape \(384,\)"):
        processor.text(np.zeros(10, dtype=np.float32))
    assert np.allclose(processor.normalise_action([0.5, -3.0]), [1.0, -1.0])


def test_scan_geometry_from_the_simulator_lidar_config() -> None:
    from sim.config import Lidar2DConfig

    geometry = ScanGeometry.from_lidar_config(Lidar2DConfig())
    assert math.isclose(geometry.angle_min, -math.pi) and math.isclose(geometry.angle_increment, math.radians(1))


# --------------------------------------------------------------------------------------------------
# Model files


@pytest.fixture
def saved(tmp_path: Path) -> tuple[Path, NavPolicy, PolicyInputs]:
    model, processor = model_and_processor("small")
    with torch.no_grad():  # give BatchNorm statistics non-default values, as after training
        for module in model.modules():
            if isinstance(module, torch.nn.modules.batchnorm._BatchNorm):
                module.running_mean.uniform_(-0.1, 0.1)
    folder = save_model(model, model.config, tmp_path / "small", {"epochs": 3, "lr": 1e-3}, {"success_rate": 0.5})
    return folder, model, processor(raw_observation(), SIM_GEOMETRY)


def test_save_load_roundtrip_gives_identical_outputs(saved: tuple[Path, NavPolicy, PolicyInputs]) -> None:
    folder, model, inputs = saved
    assert sorted(p.name for p in folder.iterdir()) == [MANIFEST_FILE, WEIGHTS_FILE]
    loaded, config, manifest = load_model(folder, device="cpu")
    assert config == model.config and not loaded.training
    with torch.inference_mode():
        a1, h1 = model(*inputs.as_tuple())
        a2, h2 = loaded(*inputs.as_tuple())
    assert torch.equal(a1, a2) and torch.equal(h1, h2)
    assert manifest["weights_sha256"] == sha256_file(folder / WEIGHTS_FILE)
    assert manifest["parameter_count"] == parameter_count(model)
    assert manifest["variant"] == "small" and manifest["config"]["vision_channels"] == [16, 32, 64]
    assert manifest["training_config"] == {"epochs": 3, "lr": 1e-3}
    assert manifest["metrics"] == {"success_rate": 0.5}
    assert manifest["format_version"] == 1 and manifest["created"]
    assert load_model(folder / WEIGHTS_FILE, device="cpu")[1] == config  # the weights path works too


def test_the_same_weights_saved_again_give_the_same_file_and_sha256(tmp_path: Path) -> None:
    # safetensors writes its metadata map in a random order; the saved file must not (the docs name models
    # by sha256, and a resumed training run must end with the file an unbroken run writes)
    from safetensors import safe_open

    model, _ = model_and_processor("small")
    files = [save_model(model, model.config, tmp_path / str(i), {}, {}) / WEIGHTS_FILE for i in range(8)]
    assert len({f.read_bytes() for f in files}) == 1
    with safe_open(str(files[0]), "pt") as weights:
        assert weights.metadata() == {"format": "nav-policy", "variant": "small"}


def test_half_precision_storage_halves_the_file_and_loads_into_a_float32_model(tmp_path: Path) -> None:
    model, processor = model_and_processor("small")
    full = save_model(model, model.config, tmp_path / "full", {}, {})
    half = save_model(model, model.config, tmp_path / "half", {}, {}, weights_dtype="float16")
    assert (half / WEIGHTS_FILE).stat().st_size < 0.55 * (full / WEIGHTS_FILE).stat().st_size
    loaded, _, manifest = load_model(half, device="cpu")
    assert manifest["weights_dtype"] == "float16"
    assert all(p.dtype == torch.float32 for p in loaded.parameters())
    inputs = processor(raw_observation(), SIM_GEOMETRY)
    with torch.inference_mode():
        torch.testing.assert_close(loaded(*inputs.as_tuple())[0], model(*inputs.as_tuple())[0], atol=2e-3, rtol=0)
    with pytest.raises(ValueError, match="weights_dtype"):
        save_model(model, model.config, tmp_path / "bad", {}, {}, weights_dtype="int8")


def test_a_tampered_weights_file_is_refused_naming_the_hash(saved: tuple[Path, NavPolicy, PolicyInputs]) -> None:
    folder, _, _ = saved
    weights = folder / WEIGHTS_FILE
    data = bytearray(weights.read_bytes())
    data[len(data) // 2] ^= 0x01
    weights.write_bytes(bytes(data))
    with pytest.raises(ModelFileError, match="sha256") as info:
        load_model(folder, device="cpu")
    assert str(weights) in str(info.value) and sha256_file(weights) in str(info.value)


def test_a_manifest_with_an_unknown_architecture_key_is_refused(saved: tuple[Path, NavPolicy, PolicyInputs]) -> None:
    folder, _, _ = saved
    manifest = json.loads((folder / MANIFEST_FILE).read_text())
    manifest["config"]["attention_heads"] = 4
    (folder / MANIFEST_FILE).write_text(json.dumps(manifest))
    with pytest.raises(ConfigError, match=r"unknown key 'config\.attention_heads'"):
        load_model(folder, device="cpu")


def test_pickle_files_are_never_loaded(saved: tuple[Path, NavPolicy, PolicyInputs], monkeypatch) -> None:
    folder, model, _ = saved

    def no_unpickling(*args: object, **kwargs: object) -> None:
        raise AssertionError("torch.load must never be called")

    pt = folder.parent / "model.pt"
    torch.save(model.state_dict(), pt)
    monkeypatch.setattr(torch, "load", no_unpickling)
    with pytest.raises(ModelFileError, match="pickle"):
        load_model(pt, device="cpu")
    manifest = json.loads((folder / MANIFEST_FILE).read_text())
    manifest["weights_file"] = "model.pt"
    (folder / MANIFEST_FILE).write_text(json.dumps(manifest))
    with pytest.raises(ModelFileError, match="safetensors"):
        load_model(folder, device="cpu")


def test_weights_of_another_variant_are_refused(saved: tuple[Path, NavPolicy, PolicyInputs]) -> None:
    folder, _, _ = saved
    manifest = json.loads((folder / MANIFEST_FILE).read_text())
    manifest["config"] = dataclasses.asdict(get_variant("medium"))
    manifest["variant"] = "medium"
    (folder / MANIFEST_FILE).write_text(json.dumps(manifest))
    with pytest.raises(ModelFileError, match="do not fit variant 'medium'"):
        load_model(folder, device="cpu")


# --------------------------------------------------------------------------------------------------
# Benchmark (a smoke run: no timing is asserted)


def test_bench_encoder_reports_every_requested_variant() -> None:
    result = bench_encoder(EncoderBenchConfig(iters=2, warmup=1, rounds=1, variants=("small", "large"), device="cpu"))
    assert [r["variant"] for r in result["variants"]] == ["small", "large"]
    assert result["cpu_p50_ratio_large_small"] > 0 and result["cpu_threads"] >= 1
    for row in result["variants"]:
        assert row["params"] > 0 and row["cpu_p99_ms"] >= row["cpu_p50_ms"] > 0
    assert format_table(result).startswith("| variant |")
    with pytest.raises(UnknownVariantError, match="huge"):
        bench_encoder(EncoderBenchConfig(iters=1, rounds=1, variants=("huge",)))


def test_nav_bench_encoder_json_is_the_last_line(capsys: pytest.CaptureFixture[str]) -> None:
    from nav.cli import main

    assert main(["bench", "encoder", "--json", "--iters", "2", "--variants", "small"]) == 0
    last = capsys.readouterr().out.strip().splitlines()[-1]
    assert json.loads(last)["variants"][0]["variant"] == "small"


def test_odometry_is_ignored_unless_the_variant_asks_for_it():
    import dataclasses

    import torch

    from policy.configuration import get_variant
    from policy.modeling import NavPolicy

    torch.manual_seed(0)
    for use_odom in (False, True):
        config = dataclasses.replace(get_variant("small"), use_odom=use_odom)
        model = NavPolicy(config).eval()
        image = torch.randn(1, 3, config.image_size, config.image_size)
        scan, text = torch.rand(1, config.lidar_beams), torch.randn(1, config.text_dim)
        with torch.no_grad():
            still = model.step(image, scan, text, torch.zeros(1, 2)).action  # before any stop decision
            moving = model.step(image, scan, text, torch.tensor([[0.9, -0.5]])).action
        assert torch.allclose(still, moving) != use_odom


def test_a_positive_stop_logit_makes_the_command_exactly_zero() -> None:
    model, processor = model_and_processor("small")
    inputs = processor(raw_observation(), SIM_GEOMETRY)
    with torch.no_grad():
        model.head[-1].bias.copy_(torch.tensor([0.8, 0.3, -5.0]))  # go, do not stop
        moving, _ = model(*inputs.as_tuple())
        assert moving.abs().min() > 0.1
        model.head[-1].bias[2] = 5.0  # stop
        stopped, _ = model(*inputs.as_tuple())
        raw = model.step(*inputs.as_tuple())
    assert torch.equal(stopped, torch.zeros_like(stopped))
    assert raw.stop_logit.item() > 0 and raw.action.abs().min() > 0.1  # step() keeps the undecided action


@pytest.mark.unit
def test_a_frame_seen_again_reuses_its_features_and_commands_what_encoding_it_again_would() -> None:
    from policy.controller import PolicyController

    model, processor = model_and_processor("small")
    cached = PolicyController(model, processor, SIM_GEOMETRY)
    fresh = PolicyController(model, processor, SIM_GEOMETRY)
    calls = []
    real = model.encode_vision
    model.encode_vision = lambda *a: calls.append(1) or real(*a)  # type: ignore[method-assign]
    frames = [raw_observation(seed=0)] * 3 + [raw_observation(seed=1)]  # a slow camera: one frame, three ticks
    for k, obs in enumerate(frames):
        scan = np.full(360, 1.0 + 0.5 * k, dtype=np.float32)  # the scan moves on every tick
        a = cached.act({**obs, "scan": scan})
        fresh._vision = None  # forget: encode every frame again
        b = fresh.act({**obs, "scan": scan, "image": obs["image"].copy()})
        np.testing.assert_array_equal(a, b)
    assert len(calls) == 2 + 4  # the cached controller encoded the two frames once each; the other, all four


def test_an_evaluation_run_in_this_process_gives_the_caller_its_torch_thread_count_back() -> None:
    """One worker runs the episodes here: its torch_threads must not stay set for the caller's own models."""
    from perception.threads import torch_threads
    from policy.evaluation import EvalTableConfig, controller_episodes

    config = EvalTableConfig(controllers=("medium",), episodes=1, seed=7, workers=1, torch_threads=1)
    with torch_threads(2):
        _, results, _ = controller_episodes("medium", config)
        assert torch.get_num_threads() == 2
    assert len(results) == 1
